"""Integer rounding that keeps totals exact: largest remainder and 2-D controlled rounding.

Every quota is an integer that is the floor or the ceiling of its proportional share. Two-way tables are
rounded with *controlled rounding*: each entry is rounded to an adjacent integer while the row totals and
column totals are kept exact. The rounding is solved as an integral flow with bounds (`flow.py`), whose
network is randomly relabelled with the seeded generator so that it is not always the first cells that
round up. Pure numpy-in/numpy-out functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hf_synth.planning.flow import Arcs

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
    """Choose which fractional entries round up, as a flow with lower bounds on column sums.

    Entry e (row r_idx[e], column c_idx[e]; each (row, column) pair at most once) may add 0 or 1 over its
    floor (`up_room` marks entries that are fractional). Row i must receive exactly row_need[i] round-ups,
    column j between col_lo[j] and col_hi[j]. Returns a 0/1 int64 vector over the entries, or None when
    infeasible.
    """
    frac = np.flatnonzero(up_room)
    total_need = int(row_need.sum())
    if np.any(row_need < 0) or np.any(col_lo > col_hi):
        return None
    arcs = Arcs()
    src, dst = arcs.nodes(2)
    row = arcs.nodes(n_rows)
    col = arcs.nodes(n_cols)
    arcs.add(dst, src, total_need, total_need)
    arcs.add(src, row, row_need, row_need)
    ups = arcs.add(row[r_idx[frac]], col[c_idx[frac]], 0, 1)
    arcs.add(col, dst, np.maximum(col_lo, 0), col_hi)
    flow = arcs.solve(rng)
    if flow is None:
        return None
    out = np.zeros(r_idx.shape[0], dtype=np.int64)
    out[frac] = flow[ups]
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
