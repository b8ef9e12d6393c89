"""The exact fallback: an integer program over every edge and split bound at once (small plans only).

The flow heuristic in `edges.py` places one kind at a time; when it has to relax a split bound, a rounding
that meets every bound may still exist. For plans small enough (`MAX_VARIABLES`) the planner then solves the
whole sub-cells × splits × edge columns table as a mixed-integer program (HiGHS, through
`scipy.optimize.milp`) that keeps every stratum, split and edge bound and minimises the total amount by which
kinds leave their split bounds. Its answer is exact: either no relaxation at all, or a proof that none of
that size can be avoided, which is what the plan's note then says.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from hf_synth.planning.rounding import floor_ceil, per_stratum
from hf_synth.planning.subcells import SubCells

__all__ = ["MAX_VARIABLES", "ExactResult", "exact_table", "layout_of"]

#: Above this many table entries the integer program is not attempted (it is meant for the small, dense
#: plans where the heuristic can fail; large plans leave it enough room).
MAX_VARIABLES = 20_000
#: Branch-and-bound nodes HiGHS may explore: a deterministic budget (a time limit would not be).
NODE_LIMIT = 20_000


@dataclass
class ExactResult:
    """table: int64 (P, J, C) rows per sub-cell, split and edge column (0 = none); excess: int64 (J, K) rows
    above the kind's split ceiling (positive) or below its floor (negative); proven: the program was solved
    to optimality (so `excess` cannot be reduced in total)."""

    table: np.ndarray
    excess: np.ndarray
    proven: bool


def exact_table(
    cells: SubCells,
    cell_n: np.ndarray,
    elig: np.ndarray,
    totals: np.ndarray,
    q: np.ndarray,
    w: np.ndarray,
    split_lo: np.ndarray,
    split_hi: np.ndarray,
    rng: np.random.Generator,
    fixed_y: np.ndarray | None = None,
) -> ExactResult | None:
    """Solve the whole table; None when it is too large, the stratum bounds alone are infeasible, or HiGHS
    stops without a solution.

    Split totals are only held to floor/ceil of their share (the plan's guarantee), so the table may move a
    row between splits that the largest-remainder split totals would not.

    Args: cells (P sub-cells), cell_n int64 (S,), elig bool (P, K), totals int64 (K,), q float (S, K) the
    proportional rows of kind k per stratum, w float (J,) split shares,
    split_lo / split_hi int64 (J, K) the floor/ceil of E_k × w_j; fixed_y int64 (P, K): when given, the rows
    of every kind on every sub-cell are these (used when competing `where` conditions already forced a
    placement outside the stratum bounds, which are then not imposed).
    """
    n_p, n_k = elig.shape
    n_s, n_j, n_c = cell_n.shape[0], w.shape[0], n_k + 1
    ok = np.concatenate([np.ones((n_p, 1), dtype=bool), elig], axis=1)  # (P, C)
    p_i, j_i, c_i = np.nonzero(np.broadcast_to(ok[:, None, :], (n_p, n_j, n_c)))
    n_x = p_i.shape[0]
    if n_x + 2 * n_j * n_k > MAX_VARIABLES:
        return None
    # Variables in random order: the solver's choice among equal solutions then favours no stratum.
    shuffle = rng.permutation(n_x)
    p_i, j_i, c_i = p_i[shuffle], j_i[shuffle], c_i[shuffle]
    s_i = cells.stratum[p_i]
    edge = c_i > 0
    k_i = c_i - 1
    scale = float(max(1, int(cell_n.max(initial=1))))
    a_lo, a_hi = floor_ceil(cell_n[:, None] * w[None, :], scale)
    q_lo, q_hi = floor_ceil(q, scale)
    t_lo, t_hi = floor_ceil(q.sum(axis=1), scale)

    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    lo: list[np.ndarray] = []
    hi: list[np.ndarray] = []
    n_rows = 0

    def block(row_of: np.ndarray, var: np.ndarray, n: int, b_lo: np.ndarray, b_hi: np.ndarray) -> None:
        nonlocal n_rows
        rows.append(n_rows + row_of)
        cols.append(var)
        lo.append(np.asarray(b_lo, dtype=np.float64).ravel())
        hi.append(np.asarray(b_hi, dtype=np.float64).ravel())
        n_rows += n

    var = np.arange(n_x)
    ev = var[edge]
    block(p_i, var, n_p, cells.n, cells.n)
    block(s_i * n_j + j_i, var, n_s * n_j, a_lo, a_hi)
    block(j_i, var, n_j, *floor_ceil(cell_n.sum() * w, scale))
    if fixed_y is None:
        block(s_i[edge] * n_k + k_i[edge], ev, n_s * n_k, q_lo, q_hi)
        block(s_i[edge], ev, n_s, t_lo, t_hi)
    else:
        block(p_i[edge] * n_k + k_i[edge], ev, n_p * n_k, fixed_y, fixed_y)
    block(k_i[edge], ev, n_k, totals, totals)
    # Split bounds of every kind, softened by slack variables u (rows below the floor), v (above the ceil).
    jk = j_i[edge] * n_k + k_i[edge]
    u = n_x + np.arange(n_j * n_k)
    v = u + n_j * n_k
    inf = np.full(n_j * n_k, np.inf)
    block(np.concatenate([jk, np.arange(n_j * n_k)]), np.concatenate([ev, u]), n_j * n_k, split_lo, inf)
    block(np.concatenate([jk, np.arange(n_j * n_k)]), np.concatenate([ev, v]), n_j * n_k, -inf, split_hi)
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    vals = np.ones(r.shape[0])
    vals[-n_j * n_k :] = -1.0  # the v columns of the last block
    n_var = n_x + 2 * n_j * n_k
    matrix = coo_matrix((vals, (r, c)), shape=(n_rows, n_var)).tocsr()
    cost = np.concatenate([np.zeros(n_x), np.ones(2 * n_j * n_k)])
    res = milp(
        cost,
        constraints=LinearConstraint(matrix, np.concatenate(lo), np.concatenate(hi)),
        integrality=np.ones(n_var),
        bounds=Bounds(0, np.inf),
        options={"node_limit": NODE_LIMIT, "presolve": True},
    )
    if res.x is None:
        return None
    sol = np.rint(res.x).astype(np.int64)
    table = np.zeros((n_p, n_j, n_c), dtype=np.int64)
    table[p_i, j_i, c_i] = sol[:n_x]
    excess = (sol[v] - sol[u]).reshape(n_j, n_k)
    return ExactResult(table=table, excess=excess, proven=res.status == 0)


def layout_of(table: np.ndarray, cells: SubCells, n_strata: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y int64 (P, K), x int64 (S, J, K), split_table int64 (S, J)) of a sub-cells × splits × columns
    table."""
    y = table[:, :, 1:].sum(axis=1)
    n_p, n_j, n_c = table.shape
    by_s = per_stratum(cells.stratum, table.reshape(n_p, n_j * n_c), n_strata).reshape(n_strata, n_j, n_c)
    return y, by_s[:, :, 1:], by_s.sum(axis=2)
