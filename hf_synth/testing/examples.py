"""A loopback "model" that writes like the examples it is shown: for reference-seeded prompts and gap filling.

Install it as the `MessagesServer.responder` (or `--examples` on the command line). A generation request whose
prompt quotes reference texts in the default examples section (`<example>…</example>`) gets items whose
string fields are *derived* from those texts: the n-th item written takes example n mod k and adds a short
tail that changes with every item ("— case 17, thanks"), so it sits next to its example (same words) without
copying it. A `copy_share` of the items (spread evenly over everything written) copies its example verbatim,
to exercise leakage control. Requests without examples are answered by `fallback` (default:
`default_responder`), so unseeded rows read nothing like the reference. Given `labels` ({text: {dimension:
value}}), it also answers the blind label judge: each quoted text gets its labels ("unclear" for a text it
does not know), so gap rows of a reference without label columns can be labelled by the judge.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from hf_synth.generation.audit.request import quoted_texts
from hf_synth.recipe.audit import UNCLEAR
from hf_synth.testing.responder import default_responder, first_text

__all__ = ["ExampleWriter", "quoted_examples"]

_EXAMPLE = re.compile(r"<example>(.*?)</example>", re.DOTALL)
_TAILS = ("thanks", "please help", "any update", "this is urgent", "cheers", "kind regards", "asap", "ok?")


def quoted_examples(prompt: str) -> list[str]:
    """The reference texts a prompt quotes in its examples section, in order."""
    return _EXAMPLE.findall(prompt)


class ExampleWriter:
    """Responder writing texts derived from the prompt's examples (see the module docstring).

    copy_share: share of written items (0..1) that copy their example verbatim; labels: the judge's answers
    per text; fallback: responder for requests without examples. Counters for tests: `written` (items
    derived or copied), `copied`, `unseeded` (requests answered by the fallback), `prompts` (the examples
    of every seeded request), `judged` (texts read as the judge).
    """

    def __init__(
        self,
        copy_share: float = 0.0,
        *,
        labels: Mapping[str, Mapping[str, str]] | None = None,
        fallback: Callable[[dict[str, Any]], dict[str, Any]] = default_responder,
    ) -> None:
        if not 0.0 <= copy_share <= 1.0:
            raise ValueError("copy_share must be within 0..1")
        self.copy_share = copy_share
        self.fallback = fallback
        self.written = 0
        self.copied = 0
        self.unseeded = 0
        self.labels = {t: dict(v) for t, v in (labels or {}).items()}
        self.judged: list[str] = []
        self.prompts: list[list[str]] = []
        self._lock = threading.Lock()

    def _copies(self, n: int) -> bool:
        """True when the n-th item written (0-based) copies: exactly floor(copy_share × items) of the first
        items copy, spread evenly."""
        return math.floor((n + 1) * self.copy_share) > math.floor(n * self.copy_share)

    def _text(self, example: str, n: int) -> str:
        if self._copies(n):
            self.copied += 1
            return example
        return f"{example} — case {n}, {_TAILS[n % len(_TAILS)]}"

    def _judge(self, request_json: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
        texts = [" ".join(t.values()) for t in quoted_texts(first_text(request_json))]
        items = []
        with self._lock:
            self.judged.extend(texts)
        for text in texts:
            known = self.labels.get(text, {})
            items.append(
                {d: known[d] if known.get(d) in (p.get("enum") or []) else UNCLEAR for d, p in props.items()}
            )
        return {"items": items}

    def __call__(self, request_json: dict[str, Any]) -> dict[str, Any]:
        tools = request_json.get("tools") or []
        item_schema = tools[0]["input_schema"]["properties"]["items"]["items"] if tools else {}
        props = item_schema.get("properties") or {}
        if props and all(UNCLEAR in (p.get("enum") or []) for p in props.values()):
            return self._judge(request_json, props)
        examples = quoted_examples(first_text(request_json))
        if not examples:
            with self._lock:
                self.unseeded += 1
            return self.fallback(request_json)
        tool_input = default_responder(request_json)  # every non-string field filled validly
        items = tool_input.get("items")
        if not isinstance(items, list):
            return tool_input
        strings = [
            name
            for name, sub in props.items()
            if "string" in (sub.get("type") if isinstance(sub.get("type"), list) else [sub.get("type")])
            and "enum" not in sub
        ]
        with self._lock:
            self.prompts.append(examples)
            for item in items:
                n = self.written
                self.written += 1
                text = self._text(examples[n % len(examples)], n)
                for name in strings:
                    item[name] = text
        return tool_input
