"""Who labels a gap row: the reference's own labels (`reference.labels`), else a blind judge.

A gap slot is labelled before it is generated, from the reference texts of the region it fills: each example
text gets labels, the region's rows go to those labels, and the slot's prompt quotes examples with its label.
`ReferenceLabeller` reads the labels of the examples from the reference (mapped by `reference.labels`);
`JudgeLabeller` asks a blind judge (the label audit's `Judge`) to read them, for a reference without labels.
Both answer, per text, {dimension: value} for the dimensions they label, or None.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from hf_synth.planning.seeding import ReferenceSet

__all__ = ["JudgeLabeller", "Labeller", "ReferenceLabeller"]


class Labeller(Protocol):
    """Labels reference texts for gap rows."""

    source: str  # what the report names as the labels' origin
    dimensions: list[str]  # the dimensions it labels

    async def label(self, texts: Sequence[str]) -> list[dict[str, str] | None]: ...


class ReferenceLabeller:
    """Labels from the reference's label columns (a text's most common labels among its rows)."""

    source = "reference.labels"

    def __init__(self, ref: ReferenceSet) -> None:
        self.ref = ref
        self.dimensions = list(ref.labels)

    async def label(self, texts: Sequence[str]) -> list[dict[str, str] | None]:
        """{dimension: value} per text (values may be reference labels the recipe lacks); None when the text
        is not a reference text or has no label."""
        out: list[dict[str, str] | None] = []
        for text in texts:
            labels = self.ref.label_of(text)
            out.append(labels or None)
        return out


class JudgeLabeller:
    """Labels read by a blind judge: `judge.judge([{field: text}])` → {dimension: value or "unclear"} per row
    (the label audit's `Judge`); a text read as "unclear" on any dimension is left unlabelled.

    unclear: the judge's answer for "cannot tell"; text_field: the row field the judge is shown.
    """

    source = "judge"

    def __init__(self, judge: Any, dimensions: Sequence[str], text_field: str, unclear: str) -> None:
        self.judge = judge
        self.dimensions = list(dimensions)
        self.text_field = text_field
        self.unclear = unclear

    async def label(self, texts: Sequence[str]) -> list[dict[str, str] | None]:
        verdicts = await self.judge.judge([{self.text_field: t} for t in texts])
        out: list[dict[str, str] | None] = []
        for verdict in verdicts:
            if verdict is None or any(verdict.get(d) in (None, self.unclear) for d in self.dimensions):
                out.append(None)
            else:
                out.append({d: verdict[d] for d in self.dimensions})
        return out
