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
from hf_synth.planning.rounding import (
    apportion_table,
    controlled_round,
    largest_remainder,
    round_sparse,
    snap,
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

STRATUM_SEP = " | "
NO_EDGE = "none"



@dataclass(frozen=True)
class DimensionSpec:
    """One dimension: its values (strings, recipe order) and their relative weights (> 0)."""

    name: str
    values: tuple[str, ...]
    weights: tuple[float, ...]


@dataclass(frozen=True)
class EdgeKindSpec:
    """One edge-case kind.

    `count` is an exact number of rows when given; otherwise the kind shares the edge budget
    (`PlanSpec.edge_share`) with the other uncounted kinds in proportion to `weight`.
    `partner` is None, "same_stratum" or "across:<dimension>".
    """

    name: str
    count: int | None
    weight: float = 1.0
    partner: str | None = None


@dataclass(frozen=True)
class PlanSpec:
    """Input of `make_plan`; see DESIGN.md."""

    dimensions: tuple[DimensionSpec, ...]
    strata_by: tuple[str, ...]
    cell_counts: dict[tuple[str, ...], int] | None
    size: int | None
    splits: tuple[tuple[str, float], ...]
    edge_share: float
    edge_kinds: tuple[EdgeKindSpec, ...]
    seed: int


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
        return _strata_dims(self.spec)

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
            "cells": cells,
            "marginals": self.targets["marginals"],
            "splits": self.targets["splits"],
            "split_names": split_names,
            "edge_cases": self.targets["edge_cases"],
            "edge_rows": int(np.count_nonzero(self.edge)),
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------------------------------
# Validation


def _strata_dims(spec: PlanSpec) -> tuple[str, ...]:
    return spec.strata_by if spec.strata_by else tuple(d.name for d in spec.dimensions)


def _is_int(x: object) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _validate(spec: PlanSpec) -> None:
    names: set[str] = set()
    for i, dim in enumerate(spec.dimensions):
        where = f"dimension {dim.name!r} (#{i})"
        if not isinstance(dim.name, str) or not dim.name:
            raise PlanError(f"dimension #{i} needs a non-empty string name")
        if dim.name in names:
            raise PlanError(f"duplicate dimension name {dim.name!r}")
        names.add(dim.name)
        if len(dim.values) == 0:
            raise PlanError(f"{where} has no values")
        if len(set(dim.values)) != len(dim.values):
            raise PlanError(f"{where} has duplicate values")
        if not all(isinstance(v, str) for v in dim.values):
            raise PlanError(f"{where}: values must be strings")
        if len(dim.weights) != len(dim.values):
            raise PlanError(f"{where} has {len(dim.values)} values but {len(dim.weights)} weights")
        for v, w in zip(dim.values, dim.weights, strict=True):
            if not isinstance(w, (int, float, np.integer, np.floating)) or isinstance(w, bool):
                raise PlanError(f"{where}: weight of {v!r} must be a number, got {w!r}")
            if not math.isfinite(float(w)) or float(w) <= 0:
                raise PlanError(f"{where}: weight of {v!r} must be finite and > 0, got {w!r}")
    if len(set(spec.strata_by)) != len(spec.strata_by):
        raise PlanError(f"strata_by has duplicates: {list(spec.strata_by)}")
    for name in spec.strata_by:
        if name not in names:
            raise PlanError(f"strata_by names unknown dimension {name!r}")
    dims = {d.name: d for d in spec.dimensions}
    sdims = _strata_dims(spec)
    if spec.cell_counts is not None:
        for key, n in spec.cell_counts.items():
            if not isinstance(key, tuple) or len(key) != len(sdims):
                raise PlanError(
                    f"cell_counts key {key!r} must be a tuple of {len(sdims)} values of {list(sdims)}"
                )
            for dname, v in zip(sdims, key, strict=True):
                if v not in dims[dname].values:
                    raise PlanError(f"cell_counts key {key!r}: {v!r} is not a value of {dname!r}")
            if not _is_int(n) or n < 0:
                raise PlanError(f"cell_counts[{key!r}] must be an integer >= 0, got {n!r}")
    elif spec.size is None:
        raise PlanError("either cell_counts or size must be given")
    elif not _is_int(spec.size) or spec.size < 0:
        raise PlanError(f"size must be an integer >= 0, got {spec.size!r}")
    if len(spec.splits) == 0:
        raise PlanError("at least one split is needed")
    split_names = [name for name, _ in spec.splits]
    if len(set(split_names)) != len(split_names):
        raise PlanError(f"duplicate split names: {split_names}")
    for name, w in spec.splits:
        if not isinstance(name, str) or not name:
            raise PlanError(f"split names must be non-empty strings, got {name!r}")
        if isinstance(w, bool) or not math.isfinite(float(w)) or float(w) <= 0:
            raise PlanError(f"split {name!r}: weight must be finite and > 0, got {w!r}")
    share = float(spec.edge_share)
    if not math.isfinite(share) or not 0.0 <= share <= 1.0:
        raise PlanError(f"edge_share must be in [0, 1], got {spec.edge_share!r}")
    kinds: set[str] = set()
    for kind in spec.edge_kinds:
        if not isinstance(kind.name, str) or not kind.name:
            raise PlanError(f"edge kind names must be non-empty strings, got {kind.name!r}")
        if kind.name == NO_EDGE:
            raise PlanError(f"edge kind name {NO_EDGE!r} is reserved for ordinary rows")
        if kind.name in kinds:
            raise PlanError(f"duplicate edge kind {kind.name!r}")
        kinds.add(kind.name)
        if kind.count is not None and (not _is_int(kind.count) or kind.count < 0):
            raise PlanError(f"edge kind {kind.name!r}: count must be an integer >= 0, got {kind.count!r}")
        if isinstance(kind.weight, bool) or not math.isfinite(float(kind.weight)) or kind.weight <= 0:
            raise PlanError(f"edge kind {kind.name!r}: weight must be finite and > 0, got {kind.weight!r}")
        p = kind.partner
        across_ok = isinstance(p, str) and p.startswith("across:") and p[len("across:") :] in names
        if p is not None and p != "same_stratum" and not across_ok:
            raise PlanError(
                f"edge kind {kind.name!r}: partner must be None, 'same_stratum' or "
                f"'across:<dimension>' with a known dimension, got {p!r}"
            )
    if not _is_int(spec.seed) or spec.seed < 0:
        raise PlanError(f"seed must be an integer >= 0, got {spec.seed!r}")


# --------------------------------------------------------------------------------------------------
# Plan construction


def _cells_from_counts(spec: PlanSpec) -> tuple[np.ndarray, np.ndarray]:
    """Stratum codes (S, d) in recipe order and counts (S,), from explicit cell counts."""
    dims = {d.name: d for d in spec.dimensions}
    sdims = _strata_dims(spec)
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
    for name in _strata_dims(spec):
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


def _within_stratum_perm(stratum: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A permutation that shuffles positions only inside each (contiguous) stratum block."""
    key = stratum.astype(np.float64) + 0.5 * rng.random(stratum.shape[0])
    return np.argsort(key, kind="stable")


def _compose_key(columns: list[tuple[np.ndarray, int]], n: int) -> np.ndarray:
    """Mixed-radix int64 key of several small-integer columns, compressed when it could overflow."""
    key = np.zeros(n, dtype=np.int64)
    bound = 1
    for col, size in columns:
        if bound * size > 2**40:
            _, key = np.unique(key, return_inverse=True)
            key = key.astype(np.int64).ravel()
            bound = int(key.max()) + 1 if n else 1
        key = key * size + col
        bound *= size
    return key


def _pick(
    pool_key: np.ndarray,
    pool_val: np.ndarray,
    pool_ids: np.ndarray,
    q_key: np.ndarray,
    q_val: np.ndarray,
    n_vals: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """For every query, a pool slot with the same key and a different value (-1 when none).

    Values are in -1..n_vals-1 (-1 never occurs in the pool, so a query value of -1 means "any").
    The pool is shuffled; queries of one (key, value) group walk the admissible part of their key's
    pool cyclically, starting just after their own value's block, so partners are distinct while
    the pool lasts and different values start at different places.
    """
    n_q = q_key.shape[0]
    out = np.full(n_q, -1, dtype=np.int64)
    n_p = pool_key.shape[0]
    if n_q == 0 or n_p == 0:
        return out
    # Renumber keys by the (few) distinct query keys and drop pool slots no query can use: the pool
    # is usually most of the plan, so this keeps the sorts below small.
    uq = np.unique(q_key)
    at = np.minimum(np.searchsorted(uq, pool_key), uq.shape[0] - 1)
    usable = uq[at] == pool_key
    pk, pool_val, pool_ids = at[usable].astype(np.int64), pool_val[usable], pool_ids[usable]
    n_p = pk.shape[0]
    if n_p == 0:
        return out
    qk = np.searchsorted(uq, q_key).astype(np.int64)
    pc = pk * (n_vals + 1) + pool_val + 1
    qc = qk * (n_vals + 1) + q_val + 1
    order = np.lexsort((rng.random(n_p), pc))
    pk_s, pc_s, pid_s = pk[order], pc[order], pool_ids[order]
    ks = np.searchsorted(pk_s, qk, "left")
    ke = np.searchsorted(pk_s, qk, "right")
    vs = np.searchsorted(pc_s, qc, "left")
    ve = np.searchsorted(pc_s, qc, "right")
    comp = (ke - ks) - (ve - vs)
    q_order = np.lexsort((rng.random(n_q), qc))
    qc_sorted = qc[q_order]
    rank = np.empty(n_q, dtype=np.int64)
    rank[q_order] = np.arange(n_q) - np.searchsorted(qc_sorted, qc_sorted, "left")
    ok = comp > 0
    j = rank % np.maximum(comp, 1)
    pos = ve + j
    pos = np.where(pos >= ke, ks + (pos - ke), pos)
    out[ok] = pid_s[pos[ok]]
    return out


def _assign_partners(
    spec: PlanSpec,
    codes: dict[str, np.ndarray],
    stratum: np.ndarray,
    split: np.ndarray,
    edge: np.ndarray,
    rng: np.random.Generator,
    notes: list[str],
) -> np.ndarray:
    n = edge.shape[0]
    partner = np.full(n, -1, dtype=np.int64)
    pool = np.flatnonzero(edge == 0).astype(np.int64)
    n_splits = len(spec.splits)
    n_strata = int(stratum.max()) + 1 if n else 1
    sizes = {d.name: len(d.values) for d in spec.dimensions}
    sdims = set(_strata_dims(spec))

    def key_of(idx: np.ndarray, cols: list[str], with_split: bool) -> np.ndarray:
        parts: list[tuple[np.ndarray, int]] = []
        for c in cols:
            if c == "__stratum__":
                parts.append((stratum[idx].astype(np.int64), n_strata))
            else:
                parts.append((codes[c][idx].astype(np.int64), sizes[c]))
        if with_split:
            parts.append((split[idx].astype(np.int64), n_splits))
        return _compose_key(parts, idx.shape[0])

    def resolve(queries: np.ndarray, tiers: list[tuple[list[str], bool]], val_dim: str | None) -> None:
        todo = queries
        for cols, with_split in tiers:
            if todo.shape[0] == 0:
                break
            if val_dim is None:
                pool_val = np.zeros(pool.shape[0], dtype=np.int64)
                q_val = np.full(todo.shape[0], -1, dtype=np.int64)
                n_vals = 1
            else:
                pool_val = codes[val_dim][pool].astype(np.int64)
                q_val = codes[val_dim][todo].astype(np.int64)
                n_vals = sizes[val_dim]
            got = _pick(
                key_of(pool, cols, with_split),
                pool_val,
                pool,
                key_of(todo, cols, with_split),
                q_val,
                n_vals,
                rng,
            )
            found = got >= 0
            partner[todo[found]] = got[found]
            todo = todo[~found]

    same = [k + 1 for k, e in enumerate(spec.edge_kinds) if e.partner == "same_stratum"]
    if same:
        queries = np.flatnonzero(np.isin(edge, same)).astype(np.int64)
        # Same split first (the brief's preference), then a partner with equal values everywhere, since a
        # duplicate copies its partner's row.
        every = ["__stratum__"] + [d.name for d in spec.dimensions if d.name not in sdims]
        resolve(
            queries,
            [(every, True), (["__stratum__"], True), (every, False), (["__stratum__"], False)],
            None,
        )
    for k, e in enumerate(spec.edge_kinds):
        if e.partner is None or not e.partner.startswith("across:"):
            continue
        dim = e.partner[len("across:") :]
        others = [d.name for d in spec.dimensions if d.name != dim]
        strata_others = [d for d in others if d in sdims]
        tiers: list[tuple[list[str], bool]] = []
        for cols, with_split in [
            (others, True),
            (others, False),
            (strata_others, True),
            (strata_others, False),
            ([], True),
            ([], False),
        ]:
            if (cols, with_split) not in tiers:
                tiers.append((cols, with_split))
        resolve(np.flatnonzero(edge == k + 1).astype(np.int64), tiers, dim)

    for k, e in enumerate(spec.edge_kinds):
        if e.partner is None:
            continue
        rows = edge == k + 1
        missing = int(np.count_nonzero(rows & (partner < 0)))
        if missing:
            where = (
                "in the same stratum"
                if e.partner == "same_stratum"
                else (f"with a different {e.partner[len('across:') :]!r}")
            )
            notes.append(
                f"edge kind {e.name!r}: {missing} of {int(np.count_nonzero(rows))} rows have no partner "
                f"(no ordinary slot {where}); partner = -1"
            )
    return partner


def make_plan(spec: PlanSpec, limit: int | None = None) -> Plan:
    """Turn a `PlanSpec` into a `Plan` with exact integer quotas and one slot per row.

    Args:
        spec: the plan specification (validated here; `ValueError` on inconsistencies).
        limit: optional number of slots; when smaller than the full size N the whole plan is scaled
            down proportionally (never "the first `limit` slots"); when >= N the plan is unchanged.

    Returns:
        A `Plan` whose per-slot arrays have length N (or `limit`), deterministic in `spec.seed`.
    """
    _validate(spec)
    if limit is not None and (not _is_int(limit) or limit < 0):
        raise PlanError(f"limit must be an integer >= 0, got {limit!r}")
    # Independent streams per phase: changing one part of a spec does not reshuffle the others.
    streams = np.random.SeedSequence(int(spec.seed)).spawn(8)
    rng_cells, _, rng_splits, rng_edges, rng_mix, rng_shuffle, rng_partner, rng_limit = (
        np.random.default_rng(s) for s in streams
    )
    dim_streams = [np.random.default_rng(s) for s in streams[1].spawn(len(spec.dimensions))]
    notes: list[str] = []
    dims = {d.name: d for d in spec.dimensions}
    sdims = _strata_dims(spec)

    if spec.cell_counts is not None:
        cell_codes, cell_n = _cells_from_counts(spec)
    else:
        assert spec.size is not None
        cell_codes, cell_n = _cells_from_size(spec, int(spec.size), rng_cells)
    full_n = int(cell_n.sum())
    edge_n = _edge_totals(spec, full_n)

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
    strata = [
        tuple(dims[name].values[int(c)] for name, c in zip(sdims, row, strict=True)) for row in cell_codes
    ]
    stratum = np.repeat(np.arange(n_strata, dtype=np.int32), cell_n)

    # Dimension values. Stratum dimensions follow from the stratum; the others are controlled-rounded
    # strata × values and then shuffled inside each stratum so slot order carries no information.
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
            seq = np.repeat(np.tile(np.arange(n_vals, dtype=np.int32), n_strata), table.ravel())
            codes[dim.name] = seq[_within_stratum_perm(stratum, drng)]
        value_tables[dim.name] = table

    # Splits: strata × splits.
    split_w = np.array([w for _, w in spec.splits], dtype=np.float64)
    split_table = apportion_table(cell_n, split_w, rng_splits)

    # Edge kinds: strata × (none + kinds), both margins exact, so the rounding always exists.
    n_edge_cols = len(spec.edge_kinds) + 1
    col_totals = np.concatenate([[n_total - int(edge_n.sum())], edge_n]).astype(np.int64)
    if n_total:
        real = cell_n[:, None].astype(np.float64) * (col_totals / n_total)[None, :]
        edge_table = controlled_round(real, cell_n, col_totals, rng_edges)
    else:
        edge_table = np.zeros((0, n_edge_cols), dtype=np.int64)
    for e, cnt in zip(spec.edge_kinds, edge_n, strict=True):
        if cnt == 0:
            notes.append(f"edge kind {e.name!r} gets 0 rows at this size (N={n_total})")

    # Inside each stratum cross splits with edge columns (splits × edge cols, both margins exact) so
    # edge rows are spread over the splits in proportion; all strata go into one block-diagonal flow.
    n_splits = len(spec.splits)
    s_rep = np.repeat(np.arange(n_strata), n_splits * n_edge_cols)
    j_rep = np.tile(np.repeat(np.arange(n_splits), n_edge_cols), n_strata)
    k_rep = np.tile(np.tile(np.arange(n_edge_cols), n_splits), n_strata)
    if n_total:
        real3 = split_table[s_rep, j_rep].astype(np.float64) * edge_table[s_rep, k_rep] / cell_n[s_rep]
        real3 = snap(real3, float(cell_n.max()))
        base3 = np.floor(real3).astype(np.int64)
        rows = s_rep * n_splits + j_rep
        cols = s_rep * n_edge_cols + k_rep
        row_need = split_table.ravel() - np.bincount(rows, base3, minlength=n_strata * n_splits).astype(
            np.int64
        )
        col_need = edge_table.ravel() - np.bincount(cols, base3, minlength=n_strata * n_edge_cols).astype(
            np.int64
        )
        ups = round_sparse(
            rows,
            cols,
            real3 > base3,
            n_strata * n_splits,
            n_strata * n_edge_cols,
            row_need,
            col_need,
            col_need,
            rng_mix,
        )
        if ups is None:  # pragma: no cover - exact margins always admit a rounding
            raise RuntimeError("internal error: split × edge rounding failed")
        mix = base3 + ups
    else:
        mix = np.zeros(0, dtype=np.int64)
    perm = _within_stratum_perm(stratum, rng_shuffle)
    split = np.repeat(j_rep.astype(np.int32), mix)[perm]
    edge = np.repeat(k_rep.astype(np.int32), mix)[perm]

    partner = _assign_partners(spec, codes, stratum, split, edge, rng_partner, notes)

    sids = [STRATUM_SEP.join(v) for v in strata]
    split_names = [name for name, _ in spec.splits]
    targets = {
        "strata": {sid: int(n) for sid, n in zip(sids, cell_n, strict=True)},
        "marginals": {
            d.name: {v: int(n) for v, n in zip(d.values, value_tables[d.name].sum(axis=0), strict=True)}
            for d in spec.dimensions
        },
        "splits": {name: int(n) for name, n in zip(split_names, split_table.sum(axis=0), strict=True)},
        "edge_cases": {e.name: int(n) for e, n in zip(spec.edge_kinds, edge_n, strict=True)},
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
