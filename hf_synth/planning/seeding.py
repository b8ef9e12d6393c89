"""Reference-seeded prompts: the reference read with its labels mapped to the recipe's dimensions, and the
real examples each planned slot's prompt quotes.

Examples are drawn with the seed, per *draw*: the slots that share their dimension values are taken in slot-id
order and each run of `backend.items_per_request` of them is one draw (one request), so a request's slots
share their examples (and their request key) and every request of a stratum shows different ones. A draw
depends only on the seed, the values and its number, so a resumed run quotes the same texts and keeps its
request keys.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hf_synth.errors import RecipeError
from hf_synth.generation.slots import SlotSpec
from hf_synth.recipe import Recipe, resolve_data_path

__all__ = ["ReferenceSet", "draw_rng", "read_reference", "seed_plan_slots", "stable_int"]

#: Stream tags, so example draws never share random numbers with the plan or with each other.
_PLAN_EXAMPLES = 0x5EED_E8A
#: At most this many unmapped reference values are named one by one in the report.
_MAX_UNMAPPED_NAMED = 20


def stable_int(obj: Any) -> int:
    """A 64-bit integer from the canonical JSON of `obj` (the same in every process, unlike `hash`)."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little")


def draw_rng(seed: int, stream: int, *parts: Any) -> np.random.Generator:
    """The generator of one seeded draw, keyed by a stream tag and any JSON-able parts."""
    return np.random.default_rng([seed, stream, stable_int(list(parts))])


@dataclass
class ReferenceSet:
    """The reference texts with, per labelled dimension, each row's label as a value string.

    labels[dim][i] is the row's mapped value (a recipe value, or a reference value the recipe lacks), None
    when the cell is empty; `known` holds each dimension's recipe values; `unmapped` counts, per label column,
    the reference values that are no value of their dimension ({column: {value: rows}}).
    """

    path: str
    texts: list[str]
    labels: dict[str, list[str | None]]
    known: dict[str, set[str]]
    columns: dict[str, str]  # dimension → reference column
    unmapped: dict[str, dict[str, int]] = field(default_factory=dict)
    _by_text: dict[str, list[int]] | None = None

    def rows_of(self, text: str) -> list[int]:
        """Row numbers whose text is exactly `text`."""
        if self._by_text is None:
            by_text: dict[str, list[int]] = defaultdict(list)
            for i, t in enumerate(self.texts):
                by_text[t].append(i)
            self._by_text = dict(by_text)
        return self._by_text.get(text, [])

    def label_of(self, text: str) -> dict[str, str] | None:
        """The labels of a reference text (the most common among rows with that text, ties to the first
        row), only the dimensions with a label; None when the text is not in the reference."""
        rows = self.rows_of(text)
        if not rows:
            return None
        out: dict[str, str] = {}
        for dim, column in self.labels.items():
            found = [column[i] for i in rows if column[i] is not None]
            if found:
                out[dim] = Counter(found).most_common(1)[0][0]
        return out

    def summary(self) -> dict[str, Any]:
        """The report's view: rows, the label mapping and the unmapped values (the most frequent first)."""
        unmapped = {}
        for column, counts in self.unmapped.items():
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            unmapped[column] = {
                "values": len(counts),
                "rows": sum(counts.values()),
                "top": dict(ranked[:_MAX_UNMAPPED_NAMED]),
            }
        return {
            "rows": len(self.texts),
            "labels": {col: dim for dim, col in self.columns.items()},
            "unmapped": unmapped,
        }


def read_reference(recipe: Recipe) -> ReferenceSet:
    """Read `recipe.reference` with its label columns mapped to dimension values.

    Raises `RecipeError` naming `reference.path` / `reference.labels.<column>` when the file or a column is
    missing (the error lists the file's columns).
    """
    from hf_synth.quality.labelled import load_labelled

    ref = recipe.reference
    assert ref is not None
    columns = {label.dimension: column for column, label in ref.labels.items()}
    path = str(resolve_data_path(ref.path))
    try:
        table = load_labelled(
            path, ref.text_column, list(ref.labels), max_rows=ref.max_rows, seed=recipe.seed
        )
    except FileNotFoundError as exc:
        raise RecipeError([f"reference.path: {exc}"]) from None
    except ValueError as exc:
        column = next((c for c in ref.labels if f"'{c}'" in str(exc)), None)
        where = f"reference.labels.{column}" if column else "reference.text_column"
        raise RecipeError([f"{where}: {exc}"]) from None
    values = recipe.dimension_values()
    known = {dim: set(values[dim]) for dim in columns}
    labels: dict[str, list[str | None]] = {}
    unmapped: dict[str, dict[str, int]] = {}
    for column, label in ref.labels.items():
        mapped = [label.mapped(v) for v in table.labels[column]]
        labels[label.dimension] = mapped
        missing = Counter(
            raw
            for raw, m in zip(table.labels[column], mapped, strict=True)
            if m is not None and m not in known[label.dimension]
        )
        if missing:
            unmapped[column] = dict(missing)
    return ReferenceSet(path, table.texts, labels, known, columns, unmapped)


def _pools(ref: ReferenceSet, by_label: bool) -> dict[tuple[str, ...], np.ndarray]:
    """Label tuple (over `ref.labels` in order) → its row numbers; () → every row when not by label."""
    if not by_label:
        return {(): np.arange(len(ref.texts))}
    dims = list(ref.labels)
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i in range(len(ref.texts)):
        key = tuple(ref.labels[d][i] for d in dims)
        if all(v is not None and v in ref.known[d] for d, v in zip(dims, key, strict=True)):
            groups[key].append(i)  # type: ignore[index]
    return {k: np.asarray(v) for k, v in groups.items()}


def pick_examples(
    rng: np.random.Generator, pool: np.ndarray, n: int, unit: np.ndarray | None = None
) -> list[int]:
    """`n` row numbers of `pool` (all when it is smaller): a seeded sample, or with `unit` (normalised
    embeddings of every reference row) a seeded anchor and its nearest pool rows, anchor first."""
    if len(pool) <= n:
        return [int(i) for i in rng.permutation(pool)]
    if unit is None:
        return [int(i) for i in rng.choice(pool, size=n, replace=False)]
    anchor = int(pool[rng.integers(len(pool))])
    sims = unit[pool] @ unit[anchor]
    order = np.argsort(-sims, kind="stable")
    chosen = [anchor] + [int(pool[j]) for j in order if int(pool[j]) != anchor]
    return chosen[:n]


def seed_plan_slots(
    specs: Sequence[SlotSpec],
    recipe: Recipe,
    ref: ReferenceSet,
    embed: Callable[[list[str]], np.ndarray] | None = None,
) -> tuple[list[SlotSpec], dict[str, Any]]:
    """The plan's slots with their examples (`recipe.examples`), and what was drawn for the report.

    Returns (specs, {"per_request", "from", "draws", "slots_without_examples": {stratum: n}}). A stratum
    whose values match no labelled reference row gets no examples (and is named). `same_region` needs
    `embed` (texts → (n, d) embeddings of the reference).
    """
    cfg = recipe.examples
    if cfg is None:
        return list(specs), {}
    by_label = cfg.from_ in ("same_stratum", "same_region") and bool(ref.labels)
    pools = _pools(ref, by_label)
    unit = None
    if cfg.from_ == "same_region":
        if embed is None:
            raise RecipeError(["examples.from: same_region needs embeddings; run with quality on"])
        from hf_synth.quality.diversity import normalise

        unit = normalise(embed(ref.texts))
    dims = list(ref.labels) if by_label else []
    k = max(1, recipe.backend.items_per_request)
    rank: Counter[tuple[str, ...]] = Counter()
    drawn: dict[tuple[tuple[str, ...], int], tuple[str, ...]] = {}
    without: Counter[str] = Counter()
    out = []
    for spec in sorted(specs, key=lambda s: s.slot_id):
        values = tuple(spec.values.values())
        draw = rank[values] // k
        rank[values] += 1
        pool = pools.get(tuple(spec.values[d] for d in dims), np.zeros(0, dtype=np.int64))
        if len(pool) == 0:
            without[spec.stratum_id] += 1
            out.append(spec)
            continue
        texts = drawn.get((values, draw))
        if texts is None:
            rng = draw_rng(recipe.seed, _PLAN_EXAMPLES, spec.values, draw)
            texts = tuple(ref.texts[i] for i in pick_examples(rng, pool, cfg.per_request, unit))
            drawn[(values, draw)] = texts
        out.append(replace(spec, examples=texts))
    return out, {
        "per_request": cfg.per_request,
        "from": cfg.from_,
        "draws": len(drawn),
        "slots_without_examples": dict(without),
    }
