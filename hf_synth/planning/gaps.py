"""Gap rows: the under-filled reference regions a coverage measurement names, turned into new slots.

A round of `n` gap rows is apportioned over the regions by largest remainder, in proportion to each
region's missing reference mass (its reference share minus its synthetic share). Inside a region the rows go
to the labels its example texts carry (in proportion to how many examples carry each), and each slot's
prompt quotes examples of its region with that label. Dimensions the labels do not give (a tone, say) follow
the recipe's weights exactly within the round (largest remainder, shuffled with the seed), and so do the
splits. Gap slot ids start at `GAP_SLOT_BASE`, far above any plan's, and are never reused: a gap slot is
stored once (`gap_store`) and keeps its id, values, split and examples on every resume.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hf_synth.generation.slots import SlotSpec
from hf_synth.planning.rounding import largest_remainder
from hf_synth.planning.seeding import draw_rng, pick_examples
from hf_synth.planning.types import STRATUM_SEP
from hf_synth.recipe import Recipe
from hf_synth.recipe.reference import DEFAULT_PER_REQUEST

__all__ = ["GAP_SLOT_BASE", "GapSlot", "RegionFill", "plan_round", "round_size"]

#: The first gap slot id (plans number their slots from 0; no plan comes near 10^12 rows).
GAP_SLOT_BASE = 1_000_000_000_000
_GAP_EXAMPLES = 0x6A9_E8A
_GAP_SPREAD = 0x6A9_5D


@dataclass(frozen=True)
class GapSlot:
    """One gap row to generate: its slot, split, the reference region it fills and the round that added it."""

    slot_id: int
    values: dict[str, str]
    stratum_id: str
    split: str
    region: int
    round: int
    examples: tuple[str, ...]

    def spec(self) -> SlotSpec:
        """The engine's view of the slot (an ordinary row quoting its examples)."""
        return SlotSpec(self.slot_id, dict(self.values), self.stratum_id, examples=self.examples)

    def to_json(self) -> dict[str, Any]:
        return {
            "values": self.values,
            "stratum_id": self.stratum_id,
            "split": self.split,
            "region": self.region,
            "round": self.round,
            "examples": list(self.examples),
        }

    @classmethod
    def from_json(cls, slot_id: int, data: Mapping[str, Any]) -> GapSlot:
        return cls(
            slot_id,
            dict(data["values"]),
            data["stratum_id"],
            data["split"],
            int(data["region"]),
            int(data["round"]),
            tuple(data["examples"]),
        )


@dataclass
class RegionFill:
    """What a round does for one under-filled region (for the report)."""

    region: int
    share: float
    synthetic_share: float
    n_reference: int
    examples: list[str]
    rows: int = 0
    labels: dict[str, int] = field(default_factory=dict)  # "dim=value, ..." → rows
    skipped: str | None = None  # why the region gets no rows

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        if out["skipped"] is None:
            del out["skipped"]
        return out


def round_size(uncovered: Sequence[Mapping[str, Any]], n_synthetic: int) -> int:
    """Rows that would bring every under-filled region to its reference share: R with
    Σ_c (n_c + x_c) = P·(M + R), i.e. R = (P·M − N)/(1 − P), P = the regions' reference mass, N = their
    synthetic rows, M = synthetic rows; at least one row per region, and M when P reaches 1."""
    p = sum(float(r["share"]) for r in uncovered)
    have = sum(float(r["synthetic_share"]) for r in uncovered) * n_synthetic
    if not uncovered:
        return 0
    if p >= 1.0 - 1e-9:
        return max(len(uncovered), n_synthetic)
    return max(len(uncovered), int(np.ceil((p * n_synthetic - have) / (1.0 - p))))


def _why_skipped(labels: Sequence[Mapping[str, str] | None], dims: Sequence[str], new_values: bool) -> str:
    if not dims:
        return "no dimension is labelled (reference.labels)"
    if all(lab is None for lab in labels):
        return "its examples could not be labelled"
    if not new_values:
        return "its labels are not all values of the recipe (fill.new_values: false)"
    return "none of its examples carries every labelled dimension"


def _label_key(labels: Mapping[str, str], dims: Sequence[str]) -> str:
    return ", ".join(f"{d}={labels[d]}" for d in dims)


def _spread(
    total: int, names: Sequence[str], weights: Sequence[float], rng: np.random.Generator
) -> list[str]:
    """`total` names with exact largest-remainder counts by `weights`, in a seeded order."""
    counts = largest_remainder(total, np.asarray(weights, dtype=np.float64))
    seq = [name for name, n in zip(names, counts.tolist(), strict=True) for _ in range(n)]
    return [seq[i] for i in rng.permutation(len(seq))]


def plan_round(
    recipe: Recipe,
    uncovered: Sequence[Mapping[str, Any]],
    example_labels: Sequence[Sequence[Mapping[str, str] | None]],
    rows: int,
    first_id: int,
    round_no: int,
    known: Mapping[str, set[str]],
) -> tuple[list[GapSlot], list[RegionFill]]:
    """The gap slots of one round and what each region gets.

    Args:
        uncovered: the coverage result's under-filled regions ({"cluster", "share", "synthetic_share",
            "n_reference", "examples"}), worst first.
        example_labels: per region, per example text, its labels ({dimension: value}, the labelled
            dimensions only) or None when it could not be labelled.
        rows: gap rows to add this round; first_id: the first slot id to use.
        known: the recipe's values per labelled dimension; a label outside them is used only with
            `fill.new_values`.
    """
    assert recipe.fill is not None
    per_request = recipe.examples.per_request if recipe.examples else DEFAULT_PER_REQUEST
    k = max(1, recipe.backend.items_per_request)
    dims = [d for d in recipe.dimensions if d in known]
    regions: list[RegionFill] = []
    groups: list[dict[tuple[str, ...], list[str]]] = []
    for region, labels in zip(uncovered, example_labels, strict=True):
        fill = RegionFill(
            int(region["cluster"]),
            float(region["share"]),
            float(region["synthetic_share"]),
            int(region.get("n_reference", 0)),
            list(region["examples"])[:3],
        )
        by_label: dict[tuple[str, ...], list[str]] = {}
        for text, lab in zip(region["examples"], labels, strict=True):
            if lab is None or any(d not in lab for d in dims):
                continue
            if not recipe.fill.new_values and any(lab[d] not in known[d] for d in dims):
                continue
            by_label.setdefault(tuple(lab[d] for d in dims), []).append(text)
        if not by_label:
            fill.skipped = _why_skipped(labels, dims, recipe.fill.new_values)
        regions.append(fill)
        groups.append(by_label)
    usable = [i for i, g in enumerate(groups) if g]
    if not usable or rows <= 0:
        return [], regions
    deficits = [max(regions[i].share - regions[i].synthetic_share, 1e-12) for i in usable]
    quotas = largest_remainder(rows, deficits)
    # Every slot: (region index, label tuple, rank inside its region and label).
    drafts: list[tuple[int, tuple[str, ...], int]] = []
    for i, quota in zip(usable, quotas.tolist(), strict=True):
        keys = list(groups[i])
        sizes = [len(groups[i][key]) for key in keys]
        for key, n in zip(keys, largest_remainder(quota, sizes).tolist(), strict=True):
            drafts += [(i, key, r) for r in range(n)]
            if n:
                regions[i].labels[_label_key(dict(zip(dims, key, strict=True)), dims)] = n
        regions[i].rows = quota
    rng = draw_rng(recipe.seed, _GAP_SPREAD, round_no)
    free = {
        d: _spread(len(drafts), recipe.dimension_values()[d], recipe.dimension_weights()[d], rng)
        for d in recipe.dimensions
        if d not in known
    }
    splits = _spread(len(drafts), list(recipe.splits), list(recipe.splits.values()), rng)
    by = list(recipe.strata.by) if recipe.strata else list(recipe.dimensions)
    slots = []
    for n, (i, key, rank) in enumerate(drafts):
        values = {}
        for d in recipe.dimensions:
            values[d] = key[dims.index(d)] if d in known else free[d][n]
        region = regions[i].region
        texts = groups[i][key]
        ex_rng = draw_rng(recipe.seed, _GAP_EXAMPLES, round_no, region, list(key), rank // k)
        picked = pick_examples(ex_rng, np.arange(len(texts)), per_request)
        slots.append(
            GapSlot(
                first_id + n,
                values,
                STRATUM_SEP.join(values[d] for d in by),
                splits[n],
                region,
                round_no,
                tuple(texts[j] for j in picked),
            )
        )
    return slots, regions


def labels_added(slots: Sequence[GapSlot], dims: Sequence[str]) -> dict[str, dict[str, int]]:
    """Gap rows per value of each dimension: {dimension: {value: rows}} (the card's "added per label")."""
    out: dict[str, dict[str, int]] = {}
    for d in dims:
        out[d] = dict(Counter(s.values[d] for s in slots).most_common())
    return out
