"""Where edge rows go: how many of each kind sit in each stratum, sub-cell and split.

The guarantees for kind k with E_k rows (q_sk = E_k × eligible rows of stratum s / eligible rows of the plan):

- every stratum s gets floor or ceil of q_sk rows of kind k, and floor or ceil of sum_k q_sk edge rows;
- every split j gets floor or ceil of E_k × w_j rows of kind k (w_j: the split's share);
- a kind sits only on sub-cells its `where` allows; stratum sizes, the strata × splits table (floor/ceil of
  n_s × w_j) and the split totals (floor/ceil of N × w_j) are kept.

These are three two-way margins of a strata × splits × kinds table: no network flow expresses them all, and
a rounding meeting every one need not exist. The planner therefore places one kind at a time with a flow
that expresses all of them for that kind (splits → stratum-split → sub-cell → stratum), while the strata's
and the splits' running edge totals stay within floor/ceil of their running shares, so the last kind
closes every total; it tries a few kind orders. When no order works it starts over the safe way: every
kind's strata and sub-cells in one flow over all kinds (this rounding exists whenever the conditions leave
room), then each kind's splits inside those strata, relaxing a split bound by the least amount that works.
If anything was relaxed and the plan is small, `exact.py` solves the whole table as an integer program and
its answer replaces the heuristic's when it relaxes less. The plan's notes name every bound left relaxed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from hf_synth.errors import PlanError
from hf_synth.planning.exact import exact_table, layout_of
from hf_synth.planning.flow import Arcs
from hf_synth.planning.rounding import floor_ceil, per_stratum
from hf_synth.planning.subcells import SubCells
from hf_synth.planning.types import PlanSpec

__all__ = ["EdgeLayout", "place_edges"]


@dataclass
class EdgeLayout:
    """y: int64 (P, K) rows of kind k on sub-cell p; x: int64 (S, J, K) rows of kind k in stratum s, split j;
    split_table: int64 (S, J) rows per stratum and split (the input's, unless the exact search chose
    another with the same guarantees); table: int64 (P, J, K+1) the full table when the exact search made
    it, else None; notes: relaxed bounds, in words."""

    y: np.ndarray
    x: np.ndarray
    split_table: np.ndarray
    table: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class _Problem:
    """What every kind's flow needs (arrays over strata S, sub-cells P, splits J, kinds K)."""

    cells: SubCells
    cell_n: np.ndarray  # (S,)
    elig: np.ndarray  # bool (P, K)
    totals: np.ndarray  # (K,)
    split_table: np.ndarray  # (S, J)
    q: np.ndarray  # float (S, K): proportional rows of kind k in stratum s
    elig_s: np.ndarray  # int64 (S, K): eligible rows of kind k in stratum s
    split_lo: np.ndarray  # (J, K)
    split_hi: np.ndarray  # (J, K)
    w: np.ndarray  # float (J,): split shares


def _kind_flow(
    pb: _Problem,
    k: int,
    delta: int,
    j_bounds: tuple[np.ndarray, np.ndarray],
    s_bounds: tuple[np.ndarray, np.ndarray],
    p_bounds: tuple[np.ndarray, np.ndarray],
    a_room: np.ndarray,
    spread: bool,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Place kind k: x_k int64 (S, J) and y_k int64 (P,), or None when the bounds admit no placement.

    Network: T → R [E_k] → split j [j_bounds widened by delta] → (s, j) [room of the split table]
    → sub-cell p [p_bounds] → stratum s [s_bounds] → T. With `spread`, a stratum's rows of the kind are
    also spread over its splits in proportion (at most ceil of their share in each)."""
    n_s, n_j = pb.split_table.shape
    e_k = int(pb.totals[k])
    x_k = np.zeros((n_s, n_j), dtype=np.int64)
    y_k = np.zeros(pb.cells.n.shape[0], dtype=np.int64)
    s_lo, s_hi = s_bounds
    p_lo, p_hi = p_bounds
    if e_k == 0:
        return (x_k, y_k) if not np.any(s_lo > 0) and not np.any(p_lo > 0) else None
    active = np.flatnonzero(s_hi > 0)
    if np.any(s_lo[s_hi <= 0] > 0):
        return None
    arcs = Arcs()
    t_node, r_node = arcs.nodes(2)
    j_node = arcs.nodes(n_j)
    where = np.full(n_s, -1, dtype=np.int64)
    where[active] = np.arange(active.shape[0])
    sj_node = arcs.nodes(active.shape[0] * n_j).reshape(active.shape[0], n_j)
    s_node = arcs.nodes(active.shape[0])
    sub = np.flatnonzero((p_hi > 0) & (where[pb.cells.stratum] >= 0))
    p_node = arcs.nodes(sub.shape[0])

    lo = np.maximum(j_bounds[0] - delta, 0)
    hi = j_bounds[1] + delta
    arcs.add(t_node, r_node, e_k, e_k)
    arcs.add(r_node, j_node, lo, hi)
    cap = a_room[active]
    if spread:
        share = s_hi[active, None] * pb.split_table[active] / np.maximum(pb.cell_n[active], 1)[:, None]
        cap = np.minimum(cap, floor_ceil(share, float(e_k))[1])
    a_i, a_j = np.nonzero(cap > 0)
    to_sj = arcs.add(j_node[a_j], sj_node[a_i, a_j], 0, cap[a_i, a_j])
    p_str = where[pb.cells.stratum[sub]]
    m_p, m_j = np.nonzero(cap[p_str] > 0)
    arcs.add(sj_node[p_str[m_p], m_j], p_node[m_p], 0, np.minimum(cap[p_str[m_p], m_j], p_hi[sub[m_p]]))
    to_s = arcs.add(p_node, s_node[p_str], p_lo[sub], p_hi[sub])
    arcs.add(s_node, t_node, s_lo[active], s_hi[active])
    flow = arcs.solve(rng)
    if flow is None:
        return None
    x_k[active[a_i], a_j] = flow[to_sj]
    y_k[sub] = flow[to_s]
    return x_k, y_k


def _place_kind(
    pb: _Problem,
    k: int,
    j_bounds: tuple[np.ndarray, np.ndarray],
    s_bounds: tuple[np.ndarray, np.ndarray],
    p_bounds: tuple[np.ndarray, np.ndarray],
    a_room: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, int] | None:
    """`_kind_flow` with the least split relaxation delta that works: (x_k, y_k, delta), None if none does.

    `j_bounds` are the kind's split bounds (int64 (J,) each, within floor/ceil of E_k × w_j); a relaxed
    placement widens the floor/ceil bounds themselves."""
    for spread in (True, False):
        got = _kind_flow(pb, k, 0, j_bounds, s_bounds, p_bounds, a_room, spread, rng)
        if got is not None:
            return (*got, 0)
    e_k = int(pb.totals[k])
    j_bounds = (pb.split_lo[:, k], pb.split_hi[:, k])
    best = _kind_flow(pb, k, e_k, j_bounds, s_bounds, p_bounds, a_room, False, rng)
    if best is None:
        return None
    lo, hi = 0, e_k  # infeasible at lo, feasible at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        got = _kind_flow(pb, k, mid, j_bounds, s_bounds, p_bounds, a_room, False, rng)
        if got is None:
            lo = mid
        else:
            hi, best = mid, got
    return (*best, hi)


def _kind_order(spec: PlanSpec, pb: _Problem) -> list[int]:
    """Most constrained first: kinds with a condition (fewest eligible rows first), then the largest."""
    elig_total = pb.elig_s.sum(axis=0)
    return sorted(
        range(len(spec.edge_kinds)),
        key=lambda k: (not spec.edge_kinds[k].where, int(elig_total[k]), -int(pb.totals[k]), k),
    )


def _joint(
    pb: _Problem, order: list[int], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict] | None:
    """Every kind placed by its own flow (strata, sub-cells and splits at once); None when one fails."""
    n_s, n_j = pb.split_table.shape
    n_k = pb.totals.shape[0]
    x = np.zeros((n_s, n_j, n_k), dtype=np.int64)
    y = np.zeros((pb.cells.n.shape[0], n_k), dtype=np.int64)
    a_room = pb.split_table.astype(np.int64).copy()
    p_room = pb.cells.n.astype(np.int64).copy()
    done = np.zeros(n_s, dtype=np.int64)
    cum = np.zeros(n_s, dtype=np.float64)
    j_done = np.zeros(n_j, dtype=np.int64)
    j_cum = np.zeros(n_j, dtype=np.float64)
    deltas: dict[int, int] = {}
    scale = float(max(1, int(pb.cell_n.max(initial=1))))
    for k in order:
        # Running totals stay within floor/ceil of their running shares, per stratum and per split, so
        # what is left for the later kinds stays proportional too (and the last kind closes the totals).
        cum = cum + pb.q[:, k]
        j_cum = j_cum + pb.totals[k] * pb.w
        jc_lo, jc_hi = floor_ceil(j_cum, scale)
        j_lo = np.maximum(pb.split_lo[:, k], jc_lo - j_done)
        j_hi = np.minimum(pb.split_hi[:, k], jc_hi - j_done)
        q_lo, q_hi = floor_ceil(pb.q[:, k], scale)
        c_lo, c_hi = floor_ceil(cum, scale)
        room_s = np.bincount(pb.cells.stratum, p_room * pb.elig[:, k], minlength=n_s).astype(np.int64)
        s_lo = np.maximum(np.maximum(q_lo, c_lo - done), 0)
        s_hi = np.minimum(np.minimum(q_hi, c_hi - done), room_s)
        if np.any(s_lo > s_hi):
            return None
        p_hi = np.where(pb.elig[:, k], p_room, 0)
        got = _place_kind(pb, k, (j_lo, j_hi), (s_lo, s_hi), (np.zeros_like(p_hi), p_hi), a_room, rng)
        if got is None:
            return None
        x[:, :, k], y[:, k], deltas[k] = got
        a_room -= got[0]
        p_room -= got[1]
        done += got[0].sum(axis=1)
        j_done += got[0].sum(axis=0)
    return x, y, deltas


def _hall_violation(spec: PlanSpec, pb: _Problem) -> str:
    """Words for the smallest set of kinds that need more rows than their conditions allow together."""
    n_k = pb.totals.shape[0]
    for size in range(1, min(n_k, 12) + 1):
        for group in itertools.combinations(range(n_k), size):
            need = int(pb.totals[list(group)].sum())
            rows = int(pb.cells.n[pb.elig[:, list(group)].any(axis=1)].sum())
            if need > rows:
                names = ", ".join(repr(spec.edge_kinds[k].name) for k in group)
                return (
                    f"edge kinds {names} need {need} rows together, but their `where` conditions allow "
                    f"only {rows} rows; lower their counts or widen a condition"
                )
    return "the edge kinds need more rows than their `where` conditions allow together"


def _sub_cell_quotas(spec: PlanSpec, pb: _Problem, rng: np.random.Generator) -> np.ndarray:
    """Rows of every kind on every sub-cell (int64 (P, K)), all kinds in one flow.

    Tier 1 keeps every stratum bound and spreads a kind over the sub-cells of a stratum in proportion; it
    provably succeeds when, on every sub-cell, the shares of the kinds allowed there add up to at most 1.
    Tier 2 drops the spread inside strata (no stated guarantee). Tier 3 keeps only the conditions and says
    which stratum bounds it gave up; when even that fails, no plan exists and `PlanError` says why."""
    cells, n_s = pb.cells, pb.cell_n.shape[0]
    n_k = pb.totals.shape[0]
    scale = float(max(1, int(pb.cell_n.max(initial=1))))
    total = int(pb.cell_n.sum())
    q_all = np.concatenate([(pb.cell_n - pb.q.sum(axis=1))[:, None], pb.q], axis=1)
    elig_all = np.concatenate([np.ones((cells.n.shape[0], 1), dtype=bool), pb.elig], axis=1)
    elig_s_all = np.concatenate([pb.cell_n[:, None], pb.elig_s], axis=1).astype(np.float64)
    totals_all = np.concatenate([[total - int(pb.totals.sum())], pb.totals])
    p_i, k_i = np.nonzero(elig_all)
    s_i = cells.stratum[p_i]
    real = q_all[s_i, k_i] * cells.n[p_i] / np.maximum(elig_s_all[s_i, k_i], 1)
    for tier in (1, 2, 3):
        arcs = Arcs()
        t_node, r_node = arcs.nodes(2)
        k_node = arcs.nodes(n_k + 1)
        sk_node = arcs.nodes(n_s * (n_k + 1)).reshape(n_s, n_k + 1)
        p_node = arcs.nodes(cells.n.shape[0])
        arcs.add(t_node, r_node, total, total)
        arcs.add(r_node, k_node, totals_all, totals_all)
        if tier < 3:
            s_lo, s_hi = floor_ceil(q_all, scale)
        else:
            s_lo, s_hi = np.zeros_like(elig_s_all, dtype=np.int64), elig_s_all.astype(np.int64)
        ss, kk = np.nonzero(s_hi > 0)
        arcs.add(k_node[kk], sk_node[ss, kk], s_lo[ss, kk], s_hi[ss, kk])
        if tier == 1:
            e_lo, e_hi = floor_ceil(real, scale)
        else:
            e_lo, e_hi = np.zeros_like(p_i), cells.n[p_i]
        entries = arcs.add(sk_node[s_i, k_i], p_node[p_i], e_lo, e_hi)
        arcs.add(p_node, t_node, cells.n, cells.n)
        flow = arcs.solve(rng)
        if flow is None:
            continue
        y = np.zeros((cells.n.shape[0], n_k + 1), dtype=np.int64)
        y[p_i, k_i] = flow[entries]
        return y[:, 1:]
    raise PlanError(_hall_violation(spec, pb))


def _stratum_off(pb: _Problem, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows beyond floor/ceil per stratum: (int64 (S, K) per kind, int64 (S,) of the stratum's edge rows)."""
    scale = float(max(1, int(pb.cell_n.max(initial=1))))
    per_s = per_stratum(pb.cells.stratum, y, pb.cell_n.shape[0])
    lo, hi = floor_ceil(pb.q, scale)
    tot = per_s.sum(axis=1)
    t_lo, t_hi = floor_ceil(pb.q.sum(axis=1), scale)
    return np.maximum(np.maximum(lo - per_s, per_s - hi), 0), np.maximum(
        np.maximum(t_lo - tot, tot - t_hi), 0
    )


def _stratum_notes(spec: PlanSpec, pb: _Problem, y: np.ndarray) -> list[str]:
    """Notes for strata off their edge bounds; only competing `where` conditions cause that, and only after
    a flow proved that no placement keeps them (tier 2 of `_sub_cell_quotas`)."""
    off, t_off = _stratum_off(pb, y)
    notes = []
    for k in np.flatnonzero((off > 0).any(axis=0)):
        notes.append(
            f"edge kind {spec.edge_kinds[k].name!r}: its rows are not within ±1 of their share in "
            f"{int((off[:, k] > 0).sum())} strata (at most {int(off[:, k].max())} beyond ±1): the `where` "
            "conditions of several kinds compete for the same rows, and no placement keeps every stratum "
            "within ±1"
        )
    if np.any(t_off > 0):
        notes.append(
            f"edge rows per stratum: {int((t_off > 0).sum())} strata are not within ±1 of their share "
            f"(at most {int(t_off.max())} beyond ±1; competing `where` conditions)"
        )
    return notes


def _split_notes(spec: PlanSpec, pb: _Problem, per: np.ndarray, proven: bool) -> list[str]:
    """One note per kind whose rows per split (`per`: int64 (J, K)) leave floor/ceil of E_k × w_j."""
    names = [name for name, _ in spec.splits]
    notes = []
    why = (
        "an exact search proved that no rounding keeps every kind within ±1 in every split together with "
        "the stratum and split quotas"
        if proven
        else "no rounding was found that keeps it within ±1 in every split together with the stratum and "
        "split quotas"
    )
    for k in range(per.shape[1]):
        off = np.maximum(pb.split_lo[:, k] - per[:, k], per[:, k] - pb.split_hi[:, k])
        if not np.any(off > 0):
            continue
        bad = [
            f"{names[j]} gets {int(per[j, k])} (share {pb.totals[k] * pb.w[j]:.2f}, ±1 allows "
            f"{int(pb.split_lo[j, k])}–{int(pb.split_hi[j, k])})"
            for j in np.flatnonzero(off > 0)
        ]
        notes.append(
            f"edge kind {spec.edge_kinds[k].name!r}: spread over splits relaxed by {int(off.max())}: "
            f"{'; '.join(bad)}; {why}"
        )
    return notes


def _relaxed(pb: _Problem, x: np.ndarray) -> int:
    """Total rows by which the kinds leave their split bounds."""
    per = x.sum(axis=0)
    return int(np.maximum(pb.split_lo - per, 0).sum() + np.maximum(per - pb.split_hi, 0).sum())


def _heuristic(
    spec: PlanSpec, pb: _Problem, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(x, y, notes) from the per-kind flows: a few kind orders, else the safe two-step placement."""
    n_s, n_j = pb.split_table.shape
    n_k = pb.totals.shape[0]
    order = _kind_order(spec, pb)
    orders = [
        order,
        order[::-1],
        [order[i] for i in rng.permutation(n_k)],
        [order[i] for i in rng.permutation(n_k)],
    ]
    best: tuple[np.ndarray, np.ndarray] | None = None
    for o in orders[: 1 if n_k == 1 else len(orders)]:
        joint = _joint(pb, o, rng)
        if joint is not None and (best is None or _relaxed(pb, joint[0]) < _relaxed(pb, best[0])):
            best = joint[0], joint[1]
        if best is not None and _relaxed(pb, best[0]) == 0:
            return best
    if best is not None:
        return best
    y = _sub_cell_quotas(spec, pb, rng)
    x = np.zeros((n_s, n_j, n_k), dtype=np.int64)
    a_room = pb.split_table.astype(np.int64).copy()
    for k in order:
        e_sk = np.bincount(pb.cells.stratum, y[:, k], minlength=n_s).astype(np.int64)
        j_bounds = (pb.split_lo[:, k], pb.split_hi[:, k])
        got = _place_kind(pb, k, j_bounds, (e_sk, e_sk), (y[:, k], y[:, k]), a_room, rng)
        if got is None:  # pragma: no cover - a stratum always has room for its own edge rows
            raise RuntimeError("internal error: edge rows do not fit their strata's splits")
        x[:, :, k] = got[0]
        a_room -= got[0]
    return x, y


def place_edges(
    spec: PlanSpec,
    cells: SubCells,
    cell_n: np.ndarray,
    elig: np.ndarray,
    totals: np.ndarray,
    split_table: np.ndarray,
    rng: np.random.Generator,
) -> EdgeLayout:
    """Place `totals[k]` rows of every kind (int64 (K,)) on the sub-cells (`elig`: bool (P, K)) and splits
    (`split_table`: int64 (S, J), fixed) of the strata (`cell_n`: int64 (S,)). Raises `PlanError` when the
    kinds cannot all fit their conditions (callers check each kind alone first)."""
    n_s, n_j = split_table.shape
    n_k = totals.shape[0]
    w = np.array([float(wt) for _, wt in spec.splits])
    w = w / w.sum()
    elig_s = per_stratum(cells.stratum, cells.n[:, None] * elig, n_s)
    elig_total = elig_s.sum(axis=0)
    q = elig_s * (totals / np.maximum(elig_total, 1))[None, :]
    lo, hi = floor_ceil(totals[None, :] * w[:, None], float(max(1, int(totals.max(initial=1)))))
    pb = _Problem(
        cells, cell_n, elig, totals, split_table, q, elig_s, lo.reshape(n_j, n_k), hi.reshape(n_j, n_k), w
    )
    if n_k == 0 or not int(totals.sum()):
        return EdgeLayout(
            np.zeros((cells.n.shape[0], n_k), np.int64), np.zeros((n_s, n_j, n_k), np.int64), split_table
        )
    x, y = _heuristic(spec, pb, rng)
    layout = EdgeLayout(y=y, x=x, split_table=split_table)
    split_proven = False
    off = (int(sum(a.sum() for a in _stratum_off(pb, y))), _relaxed(pb, x))
    if any(off):
        exact = exact_table(cells, cell_n, elig, totals, q, w, pb.split_lo, pb.split_hi, rng)
        if exact is not None and (exact.stratum_off, exact.split_off) <= off:
            y, x, table_split = layout_of(exact.table, cells, n_s)
            layout = EdgeLayout(y=y, x=x, split_table=table_split, table=exact.table)
            split_proven = exact.proven and exact.stratum_off == 0
    layout.notes = _stratum_notes(spec, pb, layout.y) + _split_notes(
        spec, pb, layout.x.sum(axis=0), split_proven
    )
    return layout
