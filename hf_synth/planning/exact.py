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
    """table: int64 (P, J, C) rows per sub-cell, split and edge column (0 = none); stratum_off: total rows
    by which strata leave their edge bounds (0 unless competing `where` conditions force it); split_off: total
    rows by which kinds leave their split bounds; proven: HiGHS solved the program to optimality, so neither
    total can be lowered (the stratum total first, then the split total)."""

    table: np.ndarray
    stratum_off: int
    split_off: int
    proven: bool


class _Program:
    """Rows of a sparse integer program: hard bounds, and soft ones whose slack is paid for in the cost."""

    def __init__(self, n_x: int) -> None:
        self.n_var = n_x
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.lo: list[np.ndarray] = []
        self.hi: list[np.ndarray] = []
        self.cost: list[tuple[np.ndarray, float]] = []
        self.n_rows = 0

    def _row(self, row_of: np.ndarray, var: np.ndarray, val: np.ndarray, n: int, lo, hi) -> None:
        self.rows.append(self.n_rows + row_of)
        self.cols.append(var)
        self.vals.append(val)
        self.lo.append(np.broadcast_to(np.asarray(lo, dtype=np.float64).ravel(), (n,)))
        self.hi.append(np.broadcast_to(np.asarray(hi, dtype=np.float64).ravel(), (n,)))
        self.n_rows += n

    def hard(self, row_of: np.ndarray, var: np.ndarray, n: int, lo, hi) -> None:
        """lo[r] <= sum of the variables `var` whose row is `row_of` (n rows) <= hi[r]."""
        self._row(row_of, var, np.ones(var.shape[0]), n, lo, hi)

    def soft(
        self, row_of: np.ndarray, var: np.ndarray, n: int, lo, hi, weight: float
    ) -> tuple[np.ndarray, ...]:
        """The same bounds, each side with a slack variable costing `weight` per row: (under, over)."""
        under = self.n_var + np.arange(n)
        over = under + n
        self.n_var += 2 * n
        ones, rows = np.ones(var.shape[0]), np.arange(n)
        self._row(
            np.concatenate([row_of, rows]),
            np.concatenate([var, under]),
            np.r_[ones, np.ones(n)],
            n,
            lo,
            np.inf,
        )
        self._row(
            np.concatenate([row_of, rows]),
            np.concatenate([var, over]),
            np.r_[ones, -np.ones(n)],
            n,
            -np.inf,
            hi,
        )
        self.cost.append((np.concatenate([under, over]), weight))
        return under, over

    def solve(self) -> tuple[np.ndarray | None, bool]:
        # scipy.optimize costs ~0.3 s of import and this fallback runs only when a bound was relaxed.
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import coo_matrix

        matrix = coo_matrix(
            (np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))),
            shape=(self.n_rows, self.n_var),
        ).tocsr()
        cost = np.zeros(self.n_var)
        for idx, weight in self.cost:
            cost[idx] = weight
        res = milp(
            cost,
            constraints=LinearConstraint(matrix, np.concatenate(self.lo), np.concatenate(self.hi)),
            integrality=np.ones(self.n_var),
            bounds=Bounds(0, np.inf),
            options={"node_limit": NODE_LIMIT, "presolve": True},
        )
        if res.x is None:
            return None, False
        return np.rint(res.x).astype(np.int64), res.status == 0


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
) -> ExactResult | None:
    """Solve the whole table; None when it is too large or HiGHS stops without a solution.

    Hard: sub-cell sizes, stratum × split floor/ceil of n_s × w_j, split totals floor/ceil of N × w_j (the
    plan's guarantee; the largest-remainder totals are not insisted on), kind totals, `where`. Soft: each
    kind's rows per stratum (floor/ceil of q_sk) and each stratum's edge rows (floor/ceil of sum_k q_sk),
    whose slack costs more than every split slack together; then each kind's rows per split (floor/ceil of
    E_k × w_j).

    Args: cells (P sub-cells), cell_n int64 (S,), elig bool (P, K), totals int64 (K,), q float (S, K) the
    proportional rows of kind k per stratum, w float (J,) split shares, split_lo / split_hi int64 (J, K).
    """
    n_p, n_k = elig.shape
    n_s, n_j, n_c = cell_n.shape[0], w.shape[0], n_k + 1
    ok = np.concatenate([np.ones((n_p, 1), dtype=bool), elig], axis=1)  # (P, C)
    p_i, j_i, c_i = np.nonzero(np.broadcast_to(ok[:, None, :], (n_p, n_j, n_c)))
    n_x = p_i.shape[0]
    if n_x + 2 * (n_j * n_k + n_s * n_c) > MAX_VARIABLES:
        return None
    # Variables in random order: the solver's choice among equal solutions then favours no stratum.
    shuffle = rng.permutation(n_x)
    p_i, j_i, c_i = p_i[shuffle], j_i[shuffle], c_i[shuffle]
    s_i = cells.stratum[p_i]
    edge = c_i > 0
    k_i = c_i - 1
    scale = float(max(1, int(cell_n.max(initial=1))))
    var = np.arange(n_x)
    ev = var[edge]
    prog = _Program(n_x)
    prog.hard(p_i, var, n_p, cells.n, cells.n)
    prog.hard(s_i * n_j + j_i, var, n_s * n_j, *floor_ceil(cell_n[:, None] * w[None, :], scale))
    prog.hard(j_i, var, n_j, *floor_ceil(cell_n.sum() * w, scale))
    prog.hard(k_i[edge], ev, n_k, totals, totals)
    heavy = 2.0 * float(totals.sum()) + 1.0  # one stratum row off costs more than any split relaxation
    s_slack = prog.soft(s_i[edge] * n_k + k_i[edge], ev, n_s * n_k, *floor_ceil(q, scale), heavy)
    t_slack = prog.soft(s_i[edge], ev, n_s, *floor_ceil(q.sum(axis=1), scale), heavy)
    j_slack = prog.soft(j_i[edge] * n_k + k_i[edge], ev, n_j * n_k, split_lo, split_hi, 1.0)
    sol, proven = prog.solve()
    if sol is None:
        return None
    table = np.zeros((n_p, n_j, n_c), dtype=np.int64)
    table[p_i, j_i, c_i] = sol[:n_x]
    stratum_off = int(sum(sol[idx].sum() for idx in (*s_slack, *t_slack)))
    return ExactResult(
        table=table, stratum_off=stratum_off, split_off=int(sol[np.r_[j_slack]].sum()), proven=proven
    )


def layout_of(table: np.ndarray, cells: SubCells, n_strata: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y int64 (P, K), x int64 (S, J, K), split_table int64 (S, J)) of a sub-cells × splits × columns
    table."""
    y = table[:, :, 1:].sum(axis=1)
    n_p, n_j, n_c = table.shape
    by_s = per_stratum(cells.stratum, table.reshape(n_p, n_j * n_c), n_strata).reshape(n_strata, n_j, n_c)
    return y, by_s[:, :, 1:], by_s.sum(axis=2)
