"""Sub-cells: strata refined by the dimensions that `where:` conditions name, and which kinds each may hold.

An edge kind with ``where: {sentiment: negative}`` may only sit on negative rows. When ``sentiment`` is a
stratum dimension that is a property of the stratum; when it is not, the planner must know, inside every
stratum, how many rows carry each sentiment *before* it places edge rows. So every stratum is split into
sub-cells by the joint values of the condition dimensions outside the strata. Each such dimension's
strata × values table is the one the plan already guarantees (exact, ±1 inside every stratum); the joint
table of several of them is built by 2-D controlled rounding inside each stratum, which keeps every one of
those tables exact. The slots of a sub-cell later get exactly its values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hf_synth.planning.flow import Arcs
from hf_synth.planning.rounding import snap
from hf_synth.planning.types import PlanSpec, strata_dims

__all__ = ["SubCells", "eligibility", "refine", "where_dims"]


@dataclass
class SubCells:
    """P sub-cells, grouped by stratum in stratum order.

    stratum: int64 (P,) the stratum of each sub-cell; n: int64 (P,) its rows (> 0); codes: int64 (P, d) the
    value codes of `dims` (the condition dimensions outside the strata), in that order.
    """

    stratum: np.ndarray
    n: np.ndarray
    codes: np.ndarray
    dims: tuple[str, ...]


def where_dims(spec: PlanSpec) -> tuple[str, ...]:
    """Dimensions outside the strata that some kind's `where` names, in dimension order."""
    sdims = set(strata_dims(spec))
    named = {dim for kind in spec.edge_kinds for dim, _ in kind.where}
    return tuple(d.name for d in spec.dimensions if d.name in named and d.name not in sdims)


def _block_round(
    rows_n: np.ndarray,
    rows_block: np.ndarray,
    table: np.ndarray,
    block_n: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Split every row (size rows_n[i], in block rows_block[i]) over the columns of its block's table row so
    that each entry is floor/ceil of rows_n[i] × table[b, v] / block_n[b], rows keep their sizes and each
    block's column sums equal table[b]. Returns int64 (len(rows_n), n_cols)."""
    n_rows, n_cols = rows_n.shape[0], table.shape[1]
    real = rows_n[:, None] * table[rows_block].astype(np.float64) / block_n[rows_block][:, None]
    real = snap(real, float(max(1, int(block_n.max(initial=1)))))
    arcs = Arcs()
    src, dst = arcs.nodes(2)
    row_node = arcs.nodes(n_rows)
    col_node = arcs.nodes(table.size).reshape(table.shape)
    total = int(rows_n.sum())
    arcs.add(dst, src, total, total)
    arcs.add(src, row_node, rows_n, rows_n)
    r, c = np.nonzero(real > 0)
    entries = arcs.add(row_node[r], col_node[rows_block[r], c], np.floor(real[r, c]), np.ceil(real[r, c]))
    b, v = np.nonzero(table > 0)
    arcs.add(col_node[b, v], dst, table[b, v], table[b, v])
    flow = arcs.solve(rng)
    if flow is None:  # pragma: no cover - integer margins of a real table always admit this rounding
        raise RuntimeError("internal error: sub-cell rounding failed")
    out = np.zeros((n_rows, n_cols), dtype=np.int64)
    out[r, c] = flow[entries]
    return out


def refine(
    cell_n: np.ndarray, tables: dict[str, np.ndarray], dims: tuple[str, ...], rng: np.random.Generator
) -> SubCells:
    """Sub-cells of the strata (sizes `cell_n`, (S,)) by the joint values of `dims`, whose strata × values
    tables (int64 (S, V_d), rows summing to cell_n) are `tables[d]`; every table stays exact."""
    n_strata = cell_n.shape[0]
    stratum = np.arange(n_strata, dtype=np.int64)
    n = cell_n.astype(np.int64)
    codes = np.zeros((n_strata, 0), dtype=np.int64)
    for dim in dims:
        table = tables[dim]
        split = _block_round(n, stratum, table, cell_n, rng) if n.shape[0] else np.zeros((0, table.shape[1]))
        p, v = np.nonzero(split > 0)  # row-major: stays grouped by stratum
        stratum, n = stratum[p], split[p, v].astype(np.int64)
        codes = np.concatenate([codes[p], v[:, None].astype(np.int64)], axis=1)
    return SubCells(stratum=stratum, n=n, codes=codes, dims=dims)


def eligibility(spec: PlanSpec, cell_codes: np.ndarray, cells: SubCells) -> np.ndarray:
    """bool (P, K): may kind k sit on sub-cell p (its `where` holds for the sub-cell's values)."""
    sdims = strata_dims(spec)
    dims = {d.name: d for d in spec.dimensions}
    n_sub = cells.stratum.shape[0]
    out = np.ones((n_sub, len(spec.edge_kinds)), dtype=bool)
    for k, kind in enumerate(spec.edge_kinds):
        for dim, allowed in kind.where:
            ok = np.zeros(len(dims[dim].values), dtype=bool)
            ok[[dims[dim].values.index(v) for v in allowed]] = True
            if dim in sdims:
                col = cell_codes[cells.stratum, sdims.index(dim)]
            else:
                col = cells.codes[:, cells.dims.index(dim)]
            out[:, k] &= ok[col]
    return out
