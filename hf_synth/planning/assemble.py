"""From quota tables to slots: rows per (sub-cell, split, edge column), then one slot per row."""

from __future__ import annotations

import numpy as np

from hf_synth.planning.edges import EdgeLayout
from hf_synth.planning.flow import Arcs
from hf_synth.planning.rounding import floor_ceil, per_stratum
from hf_synth.planning.subcells import SubCells

__all__ = ["cell_table", "slots_of"]


def cell_table(
    cells: SubCells, split_table: np.ndarray, layout: EdgeLayout, rng: np.random.Generator
) -> np.ndarray:
    """int64 (P, J, K+1): rows of sub-cell p in split j with edge column c (0 = no edge case).

    Inside every stratum and edge column this is a sub-cells × splits table whose margins are fixed (the
    column's rows per sub-cell, `layout.y`, and per split, `layout.x`); it is filled by controlled rounding
    of the proportional table, which exists because both margins are integers."""
    if layout.table is not None:
        return layout.table
    n_p = cells.n.shape[0]
    n_s, n_j = split_table.shape
    y = np.concatenate([(cells.n - layout.y.sum(axis=1))[:, None], layout.y], axis=1)  # (P, C)
    x = np.concatenate([(split_table - layout.x.sum(axis=2))[:, :, None], layout.x], axis=2)  # (S, J, C)
    n_c = y.shape[1]
    if n_p == n_s:  # one sub-cell per stratum: the split margins are the table
        return x.astype(np.int64)
    e = per_stratum(cells.stratum, y, n_s)
    p_i, j_i, c_i = np.nonzero((y[:, None, :] > 0) & (x[cells.stratum] > 0))
    s_i = cells.stratum[p_i]
    real = y[p_i, c_i] * x[s_i, j_i, c_i] / e[s_i, c_i]
    lo, hi = floor_ceil(real, float(max(1, int(e.max(initial=1)))))
    arcs = Arcs()
    src, dst = arcs.nodes(2)
    row = arcs.nodes(n_p * n_c).reshape(n_p, n_c)
    col = arcs.nodes(n_s * n_j * n_c).reshape(n_s, n_j, n_c)
    total = int(cells.n.sum())
    arcs.add(dst, src, total, total)
    rp, rc = np.nonzero(y > 0)
    arcs.add(src, row[rp, rc], y[rp, rc], y[rp, rc])
    entries = arcs.add(row[p_i, c_i], col[s_i, j_i, c_i], lo, hi)
    cs, cj, cc = np.nonzero(x > 0)
    arcs.add(col[cs, cj, cc], dst, x[cs, cj, cc], x[cs, cj, cc])
    flow = arcs.solve(rng)
    if flow is None:  # pragma: no cover - integer margins always admit a controlled rounding
        raise RuntimeError("internal error: sub-cell × split rounding failed")
    out = np.zeros((n_p, n_j, n_c), dtype=np.int64)
    out[p_i, j_i, c_i] = flow[entries]
    return out


def slots_of(table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One entry per row of `table` (int64 (P, J, C)), in sub-cell order: (sub-cell, split, edge column)."""
    n_p, n_j, n_c = table.shape
    counts = table.ravel()
    p = np.repeat(np.repeat(np.arange(n_p, dtype=np.int64), n_j * n_c), counts)
    j = np.repeat(np.tile(np.repeat(np.arange(n_j, dtype=np.int32), n_c), n_p), counts)
    c = np.repeat(np.tile(np.arange(n_c, dtype=np.int32), n_p * n_j), counts)
    return p, j, c
