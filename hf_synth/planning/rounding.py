"""Integer rounding that keeps totals exact: largest remainder and 2-D controlled rounding.

Every quota is an integer that is the floor or the ceiling of its proportional share. Two-way tables are
rounded with *controlled rounding*: each entry is rounded to an adjacent integer while the row totals and
column totals are kept exact. The rounding is solved as an integral max-flow
(`scipy.sparse.csgraph.maximum_flow`); the flow network is randomly relabelled with the seeded generator so
that it is not always the first cells that round up. Pure numpy-in/numpy-out functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_flow

__all__ = [
    "apportion_table",
    "controlled_round",
    "floor_ceil",
    "largest_remainder",
    "per_stratum",
    "round_sparse",
    "snap",
]

# Real quotas are products and quotients of floats; values this close to an integer are that integer.
_SNAP_ABS = 1e-9
_SNAP_REL = 1e-12


def snap(x: np.ndarray, scale: float) -> np.ndarray:
    """Replace values within float noise of an integer by that integer."""
    nearest = np.round(x)
    tol = _SNAP_ABS + _SNAP_REL * max(1.0, scale)
    return np.where(np.abs(x - nearest) <= tol, nearest, x)


def floor_ceil(real: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """int64 floor and ceil of `real` after float noise near integers is snapped away."""
    r = snap(np.asarray(real, dtype=np.float64), scale)
    return np.floor(r).astype(np.int64), np.ceil(r).astype(np.int64)


def per_stratum(stratum: np.ndarray, table: np.ndarray, n_strata: int) -> np.ndarray:
    """Sum the rows of `table` (shape (P, K)) by their stratum (int (P,)): int64 (n_strata, K)."""
    out = np.zeros((n_strata, table.shape[1]), dtype=np.int64)
    np.add.at(out, stratum, table.astype(np.int64))
    return out


def largest_remainder(total: int, weights: np.ndarray | Sequence[float]) -> np.ndarray:
    """Apportion the integer `total` over `weights` by the largest-remainder (Hamilton) method.

    Args:
        total: number of units to apportion, >= 0.
        weights: shape (k,), finite, >= 0, need not sum to 1; must not all be 0 when total > 0.

    Returns:
        int64 array of shape (k,) summing to `total`; entry i is floor or ceil of total * w_i / sum(w).
        Ties between equal remainders go to the lower index, so the result is deterministic.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1:
        raise ValueError(f"weights must be one-dimensional, got shape {w.shape}")
    total = int(total)
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and >= 0")
    if total == 0:
        return np.zeros(w.shape[0], dtype=np.int64)
    wsum = float(w.sum())
    if wsum <= 0:
        raise ValueError("weights must not all be zero when total > 0")
    quota = snap(total * (w / wsum), total)
    base = np.floor(quota).astype(np.int64)
    missing = total - int(base.sum())
    if missing < 0 or missing > w.shape[0]:  # pragma: no cover - impossible after snapping
        raise ValueError("largest remainder failed: quotas inconsistent with total")
    order = np.argsort(-(quota - base), kind="stable")
    base[order[:missing]] += 1
    return base


def round_sparse(
    r_idx: np.ndarray,
    c_idx: np.ndarray,
    up_room: np.ndarray,
    n_rows: int,
    n_cols: int,
    row_need: np.ndarray,
    col_lo: np.ndarray,
    col_hi: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray | None:
    """Choose which fractional entries round up, as a max-flow with lower bounds on column sums.

    Entry e (row r_idx[e], column c_idx[e]) may add 0 or 1 over its floor (`up_room` marks entries
    that are fractional). Row i must receive exactly row_need[i] round-ups, column j between
    col_lo[j] and col_hi[j]. Returns a 0/1 int64 vector over the entries, or None when infeasible.

    The lower bounds are removed by the usual reduction to a circulation with a super source and
    super sink; that keeps a single `maximum_flow` call even when column totals are free.
    """
    frac = np.flatnonzero(up_room)
    total_need = int(row_need.sum())
    if total_need == 0:
        if np.any(col_lo > 0):
            return None
        return np.zeros(r_idx.shape[0], dtype=np.int64)
    # Relabel rows and columns randomly: the flow algorithm scans nodes in label order, so this is
    # what makes the choice of round-ups unbiased instead of favouring early cells.
    row_node = 1 + rng.permutation(n_rows)
    col_node = 1 + n_rows + rng.permutation(n_cols)
    s, t = 0, n_rows + n_cols + 1
    ss, tt = t + 1, t + 2
    lo_sum = int(col_lo.sum())
    rows_pos = np.flatnonzero(row_need > 0)
    slack = col_hi - col_lo
    slack_pos = np.flatnonzero(slack > 0)
    lo_pos = np.flatnonzero(col_lo > 0)
    src = np.concatenate(
        [
            np.full(rows_pos.shape[0], ss),
            row_node[r_idx[frac]],
            col_node[slack_pos],
            col_node[lo_pos],
            [s, ss, t],
        ]
    )
    dst = np.concatenate(
        [
            row_node[rows_pos],
            col_node[c_idx[frac]],
            np.full(slack_pos.shape[0], t),
            np.full(lo_pos.shape[0], tt),
            [tt, t, s],
        ]
    )
    cap = np.concatenate(
        [
            row_need[rows_pos],
            np.ones(frac.shape[0], dtype=np.int64),
            slack[slack_pos],
            col_lo[lo_pos],
            [total_need, lo_sum, total_need],
        ]
    )
    keep = cap > 0
    n_nodes = t + 3
    graph = csr_matrix(
        (cap[keep].astype(np.int32), (src[keep].astype(np.int32), dst[keep].astype(np.int32))),
        shape=(n_nodes, n_nodes),
    )
    result = maximum_flow(graph, ss, tt, method="dinic")
    if int(result.flow_value) != total_need + lo_sum:
        return None
    out = np.zeros(r_idx.shape[0], dtype=np.int64)
    if frac.shape[0]:
        flows = np.asarray(result.flow[row_node[r_idx[frac]], col_node[c_idx[frac]]]).ravel()
        out[frac] = flows > 0
    return out


def controlled_round(
    real: np.ndarray,
    row_totals: np.ndarray | Sequence[int],
    col_totals: np.ndarray | Sequence[int] | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Round a 2-D table entrywise to floor/ceil while hitting given row and column totals.

    Args:
        real: shape (r, c), finite, >= 0; real-valued counts (e.g. stratum size × value share).
        row_totals: shape (r,), integers; each must be floor or ceil of the row sum of `real`.
        col_totals: shape (c,), integers summing to sum(row_totals), or None to let each column total
            be chosen freely as floor or ceil of the column sum of `real`.
        rng: seeded generator; it decides which of the admissible roundings is returned.

    Returns:
        int64 array of shape (r, c): every entry is floor(real) or ceil(real) (exact integers stay
        unchanged), rows sum to `row_totals`, columns to `col_totals` (or floor/ceil of column sums).

    Raises:
        ValueError: on bad shapes/values, or when no such rounding exists for the given totals.
    """
    x = np.asarray(real, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"real must be two-dimensional, got shape {x.shape}")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise ValueError("real must be finite and >= 0")
    n_rows, n_cols = x.shape
    rt = np.asarray(row_totals, dtype=np.int64)
    if rt.shape != (n_rows,):
        raise ValueError(f"row_totals must have shape ({n_rows},), got {rt.shape}")
    x = snap(x, float(x.max()) if x.size else 1.0)
    base = np.floor(x).astype(np.int64)
    fractional = (x - base) > 0
    row_need = rt - base.sum(axis=1)
    if np.any(row_need < 0) or np.any(row_need > fractional.sum(axis=1)):
        raise ValueError("a row total is not reachable by rounding its entries to floor/ceil")
    col_base = base.sum(axis=0)
    if col_totals is None:
        col_sum = snap(x.sum(axis=0), float(rt.sum()))
        col_lo = np.floor(col_sum).astype(np.int64) - col_base
        col_hi = np.ceil(col_sum).astype(np.int64) - col_base
        col_lo = np.clip(col_lo, 0, None)
        col_hi = np.minimum(col_hi, fractional.sum(axis=0))
    else:
        ct = np.asarray(col_totals, dtype=np.int64)
        if ct.shape != (n_cols,):
            raise ValueError(f"col_totals must have shape ({n_cols},), got {ct.shape}")
        if int(ct.sum()) != int(rt.sum()):
            raise ValueError(f"row totals sum to {int(rt.sum())} but column totals to {int(ct.sum())}")
        col_lo = col_hi = ct - col_base
        if np.any(col_lo < 0) or np.any(col_lo > fractional.sum(axis=0)):
            raise ValueError("a column total is not reachable by rounding its entries to floor/ceil")
    r_idx, c_idx = np.divmod(np.arange(n_rows * n_cols, dtype=np.int64), n_cols)
    ups = round_sparse(r_idx, c_idx, fractional.ravel(), n_rows, n_cols, row_need, col_lo, col_hi, rng)
    if ups is None:
        raise ValueError("no controlled rounding exists for these row and column totals")
    return base + ups.reshape(n_rows, n_cols)


def apportion_table(row_totals: np.ndarray, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows × values table: entry (i, j) is floor/ceil of row_totals[i] × share_j, rows exact,
    column totals the largest-remainder marginal (or, if that is infeasible, another floor/ceil)."""
    w = np.asarray(weights, dtype=np.float64)
    share = w / w.sum()
    real = row_totals[:, None].astype(np.float64) * share[None, :]
    total = int(row_totals.sum())
    try:
        return controlled_round(real, row_totals, largest_remainder(total, w), rng)
    except ValueError:
        # Largest-remainder margins have always been feasible for these rank-one tables in our
        # experiments, but the theorem only promises *some* floor/ceil margins; fall back to that.
        return controlled_round(real, row_totals, None, rng)
