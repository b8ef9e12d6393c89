"""Exact, stratified quotas: `PlanSpec` → `Plan`, one slot per dataset row.

Every quota is an integer that is the floor or the ceiling of its proportional share. Two-way tables
(strata × dimension values, strata × splits, strata × edge kinds) are rounded with *controlled rounding*:
each entry is rounded to an adjacent integer while the row totals and column totals are kept exact.
The rounding is solved as an integral max-flow (`scipy.sparse.csgraph.maximum_flow`); the flow network
is randomly relabelled with the seeded generator so that it is not always the first cells that round up.

Everything here is pure and deterministic given `PlanSpec.seed`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hf_synth.errors import PlanError
from hf_synth.generation.slots import SlotSpec
from hf_synth.planning.assemble import cell_table, slots_of
from hf_synth.planning.edges import place_edges
from hf_synth.planning.partners import assign_partners, within_stratum_perm
from hf_synth.planning.rounding import apportion_table, controlled_round, largest_remainder
from hf_synth.planning.strata import possible_strata, strata_notes
from hf_synth.planning.subcells import eligibility, refine, where_dims
from hf_synth.planning.types import (
    NO_EDGE,
    STRATUM_SEP,
    DimensionSpec,
    EdgeKindSpec,
    PlanSpec,
    is_int,
    strata_dims,
    validate_spec,
)

__all__ = [
    "DimensionSpec",
    "EdgeKindSpec",
    "Plan",
    "PlanSpec",
    "controlled_round",
    "largest_remainder",
    "make_plan",
]


@dataclass(eq=False)
class Plan:
    """Output of `make_plan`: per-slot arrays of length N, ordered by slot id."""

    spec: PlanSpec
    slot_id: np.ndarray
    codes: dict[str, np.ndarray]
    stratum: np.ndarray
    strata: list[tuple[str, ...]]
    split: np.ndarray
    edge: np.ndarray
    partner: np.ndarray
    targets: dict
    notes: list[str]

    def __len__(self) -> int:
        return int(self.slot_id.shape[0])

    @property
    def strata_dims(self) -> tuple[str, ...]:
        """Names of the stratum dimensions (`strata_by`, or every dimension when that is empty)."""
        return strata_dims(self.spec)

    def stratum_ids(self) -> list[str]:
        """Stratum ids (values joined with " | "), indexed like `self.strata`."""
        return [STRATUM_SEP.join(values) for values in self.strata]

    def stratum_id(self, slot: int) -> str:
        """Stratum id of one slot."""
        return STRATUM_SEP.join(self.strata[int(self.stratum[slot])])

    def values_of(self, slot: int) -> dict[str, str]:
        """Dimension name → value (string) of one slot, in dimension order."""
        return {dim.name: dim.values[int(self.codes[dim.name][slot])] for dim in self.spec.dimensions}

    def split_of(self, slot: int) -> str:
        """Split name of one slot."""
        return self.spec.splits[int(self.split[slot])][0]

    def edge_kind_of(self, slot: int) -> str:
        """Edge kind name of one slot, "none" for an ordinary slot."""
        k = int(self.edge[slot])
        return NO_EDGE if k == 0 else self.spec.edge_kinds[k - 1].name

    def slot_specs(self) -> list[SlotSpec]:
        """One `SlotSpec` per slot (what the generation engine fills), ordered by slot id."""
        dims = self.spec.dimensions
        strata = self.stratum_ids()
        codes = [self.codes[d.name].tolist() for d in dims]
        return [
            SlotSpec(
                slot_id=int(sid),
                values={d.name: d.values[c[i]] for d, c in zip(dims, codes, strict=True)},
                stratum_id=strata[int(st)],
                edge_index=int(e),
                partner=int(p),
            )
            for i, (sid, st, e, p) in enumerate(
                zip(
                    self.slot_id.tolist(),
                    self.stratum.tolist(),
                    self.edge.tolist(),
                    self.partner.tolist(),
                    strict=True,
                )
            )
        ]

    def to_table(self) -> dict:
        """JSON-able summary for `hf-synth plan`: cells, marginals, splits, edge kinds, notes."""
        split_names = [name for name, _ in self.spec.splits]
        stratum_splits = self.targets["strata_splits"]
        cells = [
            {"stratum": sid, "values": list(values), "n": n, "splits": stratum_splits[sid]}
            for (sid, n), values in zip(self.targets["strata"].items(), self.strata, strict=True)
        ]
        return {
            "total": len(self),
            "seed": self.spec.seed,
            "strata_by": list(self.strata_dims),
            "n_strata": len(self.strata),
            "n_strata_possible": possible_strata(self.spec),
            "cells": cells,
            "marginals": self.targets["marginals"],
            "splits": self.targets["splits"],
            "split_names": split_names,
            "edge_cases": self.targets["edge_cases"],
            "edge_cases_splits": self.targets["edge_cases_splits"],
            "edge_where": {
                e.name: {dim: list(values) for dim, values in e.where}
                for e in self.spec.edge_kinds
                if e.where
            },
            "edge_rows": int(np.count_nonzero(self.edge)),
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------------------------------
# Plan construction


def _cells_from_counts(spec: PlanSpec) -> tuple[np.ndarray, np.ndarray]:
    """Stratum codes (S, d) in recipe order and counts (S,), from explicit cell counts."""
    dims = {d.name: d for d in spec.dimensions}
    sdims = strata_dims(spec)
    index = [{v: i for i, v in enumerate(dims[name].values)} for name in sdims]
    assert spec.cell_counts is not None
    items = [
        (tuple(ix[v] for ix, v in zip(index, key, strict=True)), int(n))
        for key, n in spec.cell_counts.items()
        if n > 0
    ]
    items.sort()
    codes = np.array([c for c, _ in items], dtype=np.int64).reshape(len(items), len(sdims))
    counts = np.array([n for _, n in items], dtype=np.int64)
    return codes, counts


def _cells_from_size(spec: PlanSpec, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sequential 2-D controlled rounding over the stratum dimensions.

    The first dimension is split by largest remainder; each further dimension splits every current
    cell (rows) over its values (columns) with column totals = its largest-remainder marginal. Hence
    every stratum dimension's marginal is exactly floor/ceil of size × weight.
    """
    dims = {d.name: d for d in spec.dimensions}
    codes = np.zeros((1, 0), dtype=np.int64)
    counts = np.array([size], dtype=np.int64)
    for name in strata_dims(spec):
        w = np.asarray(dims[name].weights, dtype=np.float64)
        keep = counts > 0
        codes, counts = codes[keep], counts[keep]
        table = apportion_table(counts, w, rng)
        n_vals = w.shape[0]
        codes = np.concatenate(
            [np.repeat(codes, n_vals, axis=0), np.tile(np.arange(n_vals), codes.shape[0])[:, None]], axis=1
        )
        counts = table.ravel()
    keep = counts > 0
    return codes[keep], counts[keep]


def _edge_totals(spec: PlanSpec, n: int) -> np.ndarray:
    """Rows per edge kind at plan size n (int64, shape (K,))."""
    k = len(spec.edge_kinds)
    out = np.zeros(k, dtype=np.int64)
    counted = [i for i, e in enumerate(spec.edge_kinds) if e.count is not None]
    free = [i for i, e in enumerate(spec.edge_kinds) if e.count is None]
    for i in counted:
        out[i] = int(spec.edge_kinds[i].count)  # type: ignore[arg-type]
    if free:
        budget = max(0, math.floor(n * float(spec.edge_share) + 0.5) - int(out.sum()))
        weights = np.array([spec.edge_kinds[i].weight for i in free], dtype=np.float64)
        out[free] = largest_remainder(budget, weights)
    if int(out.sum()) > n:
        raise PlanError(f"edge-case counts add up to {int(out.sum())} rows, more than the plan size {n}")
    return out


def _eligible_totals(
    spec: PlanSpec, edge_n: np.ndarray, eligible: np.ndarray, limited: bool, notes: list[str]
) -> np.ndarray:
    """`edge_n` checked against the rows each kind's `where` allows (int64 (K,) each).

    A kind that needs more rows than its condition allows is a `PlanError` naming the condition's key path;
    under `--limit` the scaled-down plan may round a kind above its scaled-down eligible rows, and then the
    kind is cut to them with a note."""
    out = edge_n.copy()
    for k, kind in enumerate(spec.edge_kinds):
        if not kind.where or out[k] <= eligible[k]:
            continue
        cond = ", ".join(f"{d}: {'/'.join(v)}" for d, v in kind.where)
        if not limited:
            raise PlanError(
                f"{kind.where_path}: only {int(eligible[k])} rows match ({cond}), fewer than the "
                f"{int(out[k])} rows of edge kind {kind.name!r}; lower its count (or the edge share) or "
                "widen the condition"
            )
        notes.append(
            f"edge kind {kind.name!r}: {int(eligible[k])} rows match its condition ({cond}) at this limit, "
            f"so it gets {int(eligible[k])} rows instead of {int(out[k])}"
        )
        out[k] = eligible[k]
    return out


def _full_eligible(spec: PlanSpec, cell_codes: np.ndarray, cell_n: np.ndarray) -> np.ndarray:
    """Rows each kind's `where` allows (int64 (K,)) in the plan of these cells, computed with the random
    streams `make_plan` gives the value tables and sub-cells, so it equals that plan's count."""
    streams = np.random.SeedSequence(int(spec.seed)).spawn(8)
    dim_streams = streams[1].spawn(len(spec.dimensions))
    wdims = where_dims(spec)
    tables = {
        d.name: apportion_table(cell_n, np.asarray(d.weights), np.random.default_rng(s))
        for d, s in zip(spec.dimensions, dim_streams, strict=True)
        if d.name in wdims
    }
    cells = refine(cell_n, tables, wdims, np.random.default_rng(streams[4]))
    return (cells.n[:, None] * eligibility(spec, cell_codes, cells)).sum(axis=0).astype(np.int64)


def make_plan(spec: PlanSpec, limit: int | None = None) -> Plan:
    """Turn a `PlanSpec` into a `Plan` with exact integer quotas and one slot per row.

    Args:
        spec: the plan specification (validated here; `PlanError` on inconsistencies).
        limit: optional number of slots; when smaller than the full size N the whole plan is scaled
            down proportionally (never "the first `limit` slots"); when >= N the plan is unchanged.

    Returns:
        A `Plan` whose per-slot arrays have length N (or `limit`), deterministic in `spec.seed`.
    """
    validate_spec(spec)
    if limit is not None and (not is_int(limit) or limit < 0):
        raise PlanError(f"limit must be an integer >= 0, got {limit!r}")
    # Independent streams per phase: changing one part of a spec does not reshuffle the others.
    streams = np.random.SeedSequence(int(spec.seed)).spawn(8)
    rng_cells, _, rng_splits, rng_edges, rng_mix, rng_shuffle, rng_partner, rng_limit = (
        np.random.default_rng(s) for s in streams
    )
    dim_streams = [np.random.default_rng(s) for s in streams[1].spawn(len(spec.dimensions))]
    notes: list[str] = list(spec.notes)
    dims = {d.name: d for d in spec.dimensions}
    sdims = strata_dims(spec)

    if spec.cell_counts is not None:
        cell_codes, cell_n = _cells_from_counts(spec)
    else:
        assert spec.size is not None
        cell_codes, cell_n = _cells_from_size(spec, int(spec.size), rng_cells)
    full_n = int(cell_n.sum())
    full_strata = int(cell_n.shape[0])
    edge_n = _edge_totals(spec, full_n)
    limited = limit is not None and limit < full_n
    if limited and any(e.where for e in spec.edge_kinds):
        # A condition the full plan cannot meet is the recipe's error, also when only a slice is planned.
        _eligible_totals(spec, edge_n, _full_eligible(spec, cell_codes, cell_n), False, notes)

    if limit is not None and limit < full_n:
        if spec.cell_counts is None:
            cell_codes, cell_n = _cells_from_size(spec, int(limit), rng_limit)
        else:
            cell_n = largest_remainder(int(limit), cell_n.astype(np.float64))
            keep = cell_n > 0
            cell_codes, cell_n = cell_codes[keep], cell_n[keep]
        if all(e.count is None for e in spec.edge_kinds):
            edge_n = _edge_totals(spec, int(limit))
        else:
            full_edges = int(edge_n.sum())
            scaled = math.floor(full_edges * limit / full_n + 0.5) if full_n else 0
            edge_n = (
                largest_remainder(scaled, edge_n.astype(np.float64)) if full_edges else np.zeros_like(edge_n)
            )
        notes.append(f"limit {limit}: plan scaled down proportionally from {full_n} to {limit} slots")

    n_total = int(cell_n.sum())
    n_strata = int(cell_n.shape[0])
    notes += strata_notes(spec, n_total, n_strata, full_strata, limit if limited else None)
    strata = [
        tuple(dims[name].values[int(c)] for name, c in zip(sdims, row, strict=True)) for row in cell_codes
    ]
    stratum = np.repeat(np.arange(n_strata, dtype=np.int32), cell_n)

    # Dimension values. Stratum dimensions follow from the stratum; the others are controlled-rounded
    # strata × values and then shuffled inside each stratum so slot order carries no information. The
    # dimensions a `where` names are placed with the edge rows instead (see subcells.py).
    wdims = where_dims(spec)
    codes: dict[str, np.ndarray] = {}
    value_tables: dict[str, np.ndarray] = {}
    for dim, drng in zip(spec.dimensions, dim_streams, strict=True):
        n_vals = len(dim.values)
        if dim.name in sdims:
            col = sdims.index(dim.name)
            codes[dim.name] = np.repeat(cell_codes[:, col], cell_n).astype(np.int32)
            table = np.zeros((n_strata, n_vals), dtype=np.int64)
            table[np.arange(n_strata), cell_codes[:, col]] = cell_n
        else:
            table = apportion_table(cell_n, np.asarray(dim.weights), drng)
            if dim.name not in wdims:
                seq = np.repeat(np.tile(np.arange(n_vals, dtype=np.int32), n_strata), table.ravel())
                codes[dim.name] = seq[within_stratum_perm(stratum, drng)]
        value_tables[dim.name] = table

    # Splits: strata × splits.
    split_w = np.array([w for _, w in spec.splits], dtype=np.float64)
    split_table = apportion_table(cell_n, split_w, rng_splits)

    # Edge rows: per kind over strata, sub-cells and splits (see edges.py), then one slot per row.
    cells = refine(cell_n, value_tables, wdims, rng_mix)
    elig = eligibility(spec, cell_codes, cells)
    eligible = (cells.n[:, None] * elig).sum(axis=0).astype(np.int64)
    edge_n = _eligible_totals(spec, edge_n, eligible, limited, notes)
    if int(edge_n.sum()) > n_total:
        raise PlanError(
            f"edge-case counts add up to {int(edge_n.sum())} rows, more than the plan size {n_total}"
        )
    for e, cnt in zip(spec.edge_kinds, edge_n, strict=True):
        if cnt == 0:
            notes.append(f"edge kind {e.name!r} gets 0 rows at this size (N={n_total})")
    layout = place_edges(spec, cells, cell_n, elig, edge_n, split_table, rng_edges)
    notes += layout.notes
    split_table = layout.split_table
    sub, split_rep, edge_rep = slots_of(cell_table(cells, split_table, layout, rng_mix))
    perm = within_stratum_perm(stratum, rng_shuffle)
    split, edge = split_rep[perm], edge_rep[perm]
    for i, name in enumerate(wdims):
        codes[name] = cells.codes[sub[perm], i].astype(np.int32)
    codes = {d.name: codes[d.name] for d in spec.dimensions}

    partner = assign_partners(spec, codes, stratum, split, edge, rng_partner, notes)

    sids = [STRATUM_SEP.join(v) for v in strata]
    split_names = [name for name, _ in spec.splits]
    edge_splits = layout.x.sum(axis=0)  # (J, K)
    targets = {
        "strata": {sid: int(n) for sid, n in zip(sids, cell_n, strict=True)},
        "marginals": {
            d.name: {v: int(n) for v, n in zip(d.values, value_tables[d.name].sum(axis=0), strict=True)}
            for d in spec.dimensions
        },
        "splits": {name: int(n) for name, n in zip(split_names, split_table.sum(axis=0), strict=True)},
        "edge_cases": {e.name: int(n) for e, n in zip(spec.edge_kinds, edge_n, strict=True)},
        "edge_cases_splits": {
            e.name: {name: int(edge_splits[j, k]) for j, name in enumerate(split_names)}
            for k, e in enumerate(spec.edge_kinds)
        },
        "strata_splits": {
            sid: {name: int(n) for name, n in zip(split_names, row, strict=True)}
            for sid, row in zip(sids, split_table, strict=True)
        },
    }
    return Plan(
        spec=spec,
        slot_id=np.arange(n_total, dtype=np.int64),
        codes=codes,
        stratum=stratum,
        strata=strata,
        split=split,
        edge=edge,
        partner=partner,
        targets=targets,
        notes=notes,
    )
