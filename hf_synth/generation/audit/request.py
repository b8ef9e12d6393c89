"""Judge requests: rows quoted blind (text fields only, never the planned label) and asked, per audited
dimension, which value a reader takes them to have.

A judge request is an ordinary `GenerationRequest` whose `fields` are one enum field per audited dimension
(named after the dimension; its values in an order shuffled per request from the seed, then "unclear") and
whose items are the verdicts on the quoted rows, in order. So the Anthropic backend forces a tool with one
enum property per dimension, and the local backend scores every value by log-likelihood.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hf_synth.generation.backends.base import GenerationRequest
from hf_synth.generation.request_builder import content_hash
from hf_synth.recipe.audit import UNCLEAR
from hf_synth.recipe.fields import FieldSpec
from hf_synth.recipe.schema import validate_item

__all__ = [
    "JUDGE_VERSION",
    "SYSTEM",
    "JudgeRequestBuilder",
    "content_key",
    "quoted_texts",
    "verdicts_from_items",
]

#: Bumped when the judge's prompt changes meaning, so stored verdicts of the old prompt are not reused.
JUDGE_VERSION = 1

SYSTEM = (
    "You are a careful reader labelling texts. You see only the texts, never how they were meant to be "
    "labelled. Judge each text on its own, from what it says, as an ordinary reader would."
)

_QUOTE = re.compile(r'<text n="(\d+)">\n(.*?)\n</text n="\1">', re.DOTALL)
_FIELD = re.compile(r'<field name="([^"]*)">\n(.*?)\n</field>', re.DOTALL)


def content_key(texts: Mapping[str, str], dimensions: Mapping[str, Sequence[str]], judge: str) -> str:
    """The verdict key of one row: a hash of its text fields, the audited dimensions with their values, the
    judge ("backend:model") and the prompt version. Equal texts share a verdict; a changed text does not."""
    return content_hash(
        {
            "v": JUDGE_VERSION,
            "texts": dict(texts),
            "dimensions": {d: list(v) for d, v in dimensions.items()},
            "judge": judge,
        }
    )


def _quote(n: int, texts: Mapping[str, str]) -> str:
    if len(texts) == 1:
        body = next(iter(texts.values()))
    else:
        body = "\n".join(f'<field name="{name}">\n{value}\n</field>' for name, value in texts.items())
    return f'<text n="{n}">\n{body}\n</text n="{n}">'


def quoted_texts(prompt: str) -> list[dict[str, str]]:
    """The rows a judge prompt quotes, in order: {field: text} ({"text": ...} for one-field rows)."""
    out = []
    for _, body in _QUOTE.findall(prompt):
        fields = dict(_FIELD.findall(body))
        out.append(fields or {"text": body})
    return out


class JudgeRequestBuilder:
    """Builds the blind requests of one judge: audited dimensions {name: values}, the seed, the judge id.

    `concise` (for a small local model, one row per request) quotes the row with no system prompt, no
    instructions and no field descriptions: on 40 real BANKING77 queries of 4 topics the 135M model answered
    "unclear" to 38 when the instructions explained "unclear"; without them it read 36% of 80 right
    (chance 25%; benchmarks/bench_local_judge.py).
    """

    def __init__(
        self, dimensions: Mapping[str, Sequence[str]], seed: int, judge: str, *, concise: bool = False
    ) -> None:
        self.dimensions = {d: list(v) for d, v in dimensions.items()}
        self.seed = seed
        self.judge = judge
        self.concise = concise
        # Equal value orders share one fields dict: backends memoise the tool per fields object.
        self._fields: dict[tuple[tuple[str, ...], ...], dict[str, FieldSpec]] = {}
        #: Every value plus "unclear", in recipe order: what a verdict is validated against.
        self.answer_fields = self._fields_for({d: [*v, UNCLEAR] for d, v in self.dimensions.items()})

    def _fields_for(self, orders: Mapping[str, list[str]]) -> dict[str, FieldSpec]:
        key = tuple(tuple(v) for v in orders.values())
        fields = self._fields.get(key)
        if fields is None:
            described = f"the {{}} a reader takes the text to have ('{UNCLEAR}': cannot tell)"
            fields = {
                d: FieldSpec(
                    type="enum", values=list(values), description="" if self.concise else described.format(d)
                )
                for d, values in orders.items()
            }
            self._fields[key] = fields
        return fields

    def value_orders(self, request_key: str) -> dict[str, list[str]]:
        """Each dimension's values in the order this request lists them (shuffled from the seed and the
        request), then "unclear"."""
        rng = np.random.default_rng([self.seed, int(request_key[:15], 16)])
        return {
            d: [values[i] for i in rng.permutation(len(values))] + [UNCLEAR]
            for d, values in self.dimensions.items()
        }

    def request(
        self, keys: Sequence[str], texts: Sequence[Mapping[str, str]], max_tokens: int | None = None
    ) -> GenerationRequest:
        """The request judging the rows `texts` (their content keys `keys`, same order); item i of the answer
        is the verdict on text i. `max_tokens` defaults to a budget that fits every verdict."""
        n = len(texts)
        key = content_hash({"judge_request": list(keys)})
        orders = self.value_orders(key)
        if max_tokens is None:
            max_tokens = 64 + n * (8 + 24 * len(self.dimensions))
        if self.concise:
            if n != 1:
                raise ValueError("a concise judge request quotes exactly one row")
            (row,) = texts
            if len(row) == 1:
                prompt = f'Text: "{next(iter(row.values()))}"'
            else:
                prompt = "\n".join(f'{name}: "{value}"' for name, value in row.items())
            return GenerationRequest(
                key=key,
                slot_ids=(0,),
                system=None,
                prompt=prompt,
                n_items=1,
                fields=self._fields_for(orders),
                max_tokens=max_tokens,
                temperature=0.0,
            )
        lines = "\n".join(f"- {d}: {', '.join(values)}" for d, values in orders.items())
        what = "the text below" if n == 1 else f"each of the {n} texts below"
        prompt = (
            f"Read {what} and say, for every dimension, which value the text itself shows. Judge only from "
            f"the text; when it does not let a reader tell, answer '{UNCLEAR}'.\n\n"
            f"Dimensions and their possible values:\n{lines}\n\n"
            + "\n\n".join(_quote(i + 1, t) for i, t in enumerate(texts))
        )
        if n > 1:
            prompt += (
                f"\n\nGive one item per text, in the order of the texts: item 1 is your reading of text 1, "
                f"item {n} of text {n}. Items may be equal: two texts can have the same reading."
            )
        return GenerationRequest(
            key=key,
            slot_ids=tuple(range(n)),
            system=SYSTEM,
            prompt=prompt,
            n_items=n,
            fields=self._fields_for(orders),
            max_tokens=max_tokens,
            temperature=0.0,
        )


def verdicts_from_items(
    items: Sequence[Any], n: int, fields: Mapping[str, FieldSpec]
) -> list[dict[str, str] | None]:
    """The verdicts of one answer, aligned with the n quoted texts: {dimension: value or "unclear"}, None
    for a text whose item is missing or names no allowed value."""
    out: list[dict[str, str] | None] = []
    for i in range(n):
        if i >= len(items):
            out.append(None)
            continue
        clean, errors = validate_item(items[i], dict(fields))
        out.append(None if errors or clean is None else {d: str(v) for d, v in clean.items()})
    return out
