"""Checks of the edge-case guarantees every plan must meet, shared by the planning property tests.

They read only the plan's slots and notes, never the planner's internals: a count is recomputed from the
slot arrays, and a relaxed bound must be named in `plan.notes` with the amount it is off by.
"""

from __future__ import annotations

import re

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import lil_matrix

EPS = 1e-9


def bounds(real: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """floor and ceil of `real`; a real within float noise (EPS) of an integer has that integer as both."""
    real = np.asarray(real, dtype=np.float64)
    nearest = np.round(real)
    near = np.abs(real - nearest) <= EPS
    return (
        np.where(near, nearest, np.floor(real)).astype(np.int64),
        np.where(near, nearest, np.ceil(real)).astype(np.int64),
    )


def split_shares(spec) -> np.ndarray:
    w = np.array([w for _, w in spec.splits], dtype=np.float64)
    return w / w.sum()


def where_mask(plan, kind) -> np.ndarray:
    """bool (N,): the slots whose values satisfy the kind's `where` (all slots without one)."""
    ok = np.ones(len(plan), dtype=bool)
    dims = {d.name: d for d in plan.spec.dimensions}
    for dim, values in kind.where:
        codes = [dims[dim].values.index(v) for v in values]
        ok &= np.isin(plan.codes[dim], codes)
    return ok


def check_edge_spread(plan) -> None:
    """Every kind's rows per split are floor/ceil of E_k × split share, or a note names the kind, says by how
    much the spread is relaxed (exactly the largest excess) and names every split outside its bounds."""
    spec = plan.spec
    names = [name for name, _ in spec.splits]
    w = split_shares(spec)
    for k, kind in enumerate(spec.edge_kinds, start=1):
        counts = np.bincount(plan.split[plan.edge == k], minlength=len(names))
        assert plan.targets["edge_cases_splits"][kind.name] == dict(zip(names, counts.tolist(), strict=True))
        lo, hi = bounds(counts.sum() * w)
        off = np.maximum(lo - counts, counts - hi)
        notes = [
            n for n in plan.notes if n.startswith(f"edge kind {kind.name!r}: spread over splits relaxed")
        ]
        if not np.any(off > 0):
            assert not notes, notes
            continue
        assert len(notes) == 1, (kind.name, counts, lo, hi, plan.notes)
        assert int(re.search(r"relaxed by (\d+)", notes[0]).group(1)) == int(off.max())
        for j in np.flatnonzero(off > 0):
            assert f"{names[j]} gets {int(counts[j])} " in notes[0]


def check_edge_strata(plan) -> None:
    """Per stratum, each kind gets floor/ceil of its share of the rows its `where` allows there, and the
    stratum's edge rows floor/ceil of the sum of those shares; a note names every kind (and the totals)
    when competing conditions made that impossible. Rows of a kind, and its partners, satisfy its `where`."""
    spec = plan.spec
    n_strata = len(plan.strata)
    total_share = np.zeros(n_strata)
    for k, kind in enumerate(spec.edge_kinds, start=1):
        mask = where_mask(plan, kind)
        rows = plan.edge == k
        assert np.all(mask[rows]), f"{kind.name}: a row outside its where"
        partners = plan.partner[rows]
        assert np.all(mask[partners[partners >= 0]]), f"{kind.name}: a partner outside its where"
        eligible = np.bincount(plan.stratum[mask], minlength=n_strata)
        share = eligible * rows.sum() / max(int(eligible.sum()), 1)
        total_share += share
        per = np.bincount(plan.stratum[rows], minlength=n_strata)
        head = f"edge kind {kind.name!r}: its rows are not within ±1 of their share in "
        if _check_off(plan, per, share, head):
            assert any(k2.where for k2 in spec.edge_kinds), "only competing conditions relax a stratum"
    per = np.bincount(plan.stratum[plan.edge > 0], minlength=n_strata)
    if _check_off(plan, per, total_share, "edge rows per stratum: "):
        assert any(k2.where for k2 in spec.edge_kinds), "only competing conditions relax a stratum"


def _check_off(plan, per: np.ndarray, share: np.ndarray, head: str) -> bool:
    """`per` (rows per stratum) is floor/ceil of `share`, or exactly one note starting with `head` gives
    the number of strata outside and the largest excess. Returns whether a bound was relaxed."""
    lo, hi = bounds(share)
    off = np.maximum(lo - per, per - hi)
    notes = [n for n in plan.notes if n.startswith(head)]
    if not np.any(off > 0):
        assert not notes, notes
        return False
    assert len(notes) == 1, (head, plan.notes)
    n_off, most = re.search(r"(\d+) strata .*\(at most (\d+) beyond ±1", notes[0]).groups()
    assert (int(n_off), int(most)) == (int((off > 0).sum()), int(off.max())), notes[0]
    return True


def exact_table_exists(plan) -> bool:
    """Independent oracle: is there a strata × splits × edge-columns table meeting every bound at once?

    For plans whose `where` conditions name stratum dimensions only (so eligibility is per stratum). Bounds:
    stratum sizes exact; stratum × split floor/ceil of n_s × w_j; split totals floor/ceil of N × w_j; kind
    totals exact; stratum × kind floor/ceil of the kind's share of the stratum's eligible rows; stratum edge
    totals floor/ceil of the sum of those shares; kind × split floor/ceil of E_k × w_j.
    """
    spec = plan.spec
    n_s = np.bincount(plan.stratum, minlength=len(plan.strata))
    n_strata, n_j, n_k = n_s.shape[0], len(spec.splits), len(spec.edge_kinds)
    w = split_shares(spec)
    e = np.array([plan.targets["edge_cases"][kind.name] for kind in spec.edge_kinds], dtype=np.int64)
    eligible = np.zeros((n_strata, n_k), dtype=np.int64)
    for k, kind in enumerate(spec.edge_kinds):
        eligible[:, k] = np.bincount(plan.stratum[where_mask(plan, kind)], minlength=n_strata)
    share = eligible * (e / np.maximum(eligible.sum(axis=0), 1))[None, :]
    n_c = n_k + 1

    def var(s: int, j: int, c: int) -> int:
        return (s * n_j + j) * n_c + c

    rows: list[tuple[list[int], float, float]] = []

    def add(cells: list[int], real_or_lo, hi=None) -> None:
        if hi is None:
            lo_, hi_ = bounds(real_or_lo)
            rows.append((cells, float(lo_), float(hi_)))
        else:
            rows.append((cells, float(real_or_lo), float(hi)))

    for s in range(n_strata):
        add([var(s, j, c) for j in range(n_j) for c in range(n_c)], n_s[s], n_s[s])
        for j in range(n_j):
            add([var(s, j, c) for c in range(n_c)], n_s[s] * w[j])
        for k in range(n_k):
            add([var(s, j, k + 1) for j in range(n_j)], share[s, k])
            if eligible[s, k] == 0:
                add([var(s, j, k + 1) for j in range(n_j)], 0, 0)
        add([var(s, j, c) for j in range(n_j) for c in range(1, n_c)], share[s].sum())
    for j in range(n_j):
        add([var(s, j, c) for s in range(n_strata) for c in range(n_c)], n_s.sum() * w[j])
        for k in range(n_k):
            add([var(s, j, k + 1) for s in range(n_strata)], e[k] * w[j])
    for k in range(n_k):
        add([var(s, j, k + 1) for s in range(n_strata) for j in range(n_j)], e[k], e[k])
    n_var = n_strata * n_j * n_c
    if n_var == 0:
        return True
    matrix = lil_matrix((len(rows), n_var))
    for i, (cells, _, _) in enumerate(rows):
        for v in cells:
            matrix[i, v] = 1
    res = milp(
        np.zeros(n_var),
        constraints=LinearConstraint(matrix.tocsr(), [r[1] for r in rows], [r[2] for r in rows]),
        integrality=np.ones(n_var),
        bounds=Bounds(0, np.inf),
    )
    return res.status == 0
