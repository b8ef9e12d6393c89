"""The long tail named: small reference regions the synthetic set misses entirely (`rare_regions`).

The region list (`regions.cluster_coverage`) ranks k-means regions of ~N/256 reference rows by missing
mass; a topic much smaller than a region vanishes inside it. Here the unit is the reference row: from the
full-resolution witness search (`support.estimate_coverage`, keep_points) every reference row is known to
be witnessed (a synthetic row within its k-th nearest reference radius) or not. Unwitnessed rows linked
by the reference neighbour graph (each row to its k + 1 nearest other reference rows) form groups; a group
is a *rare region* when it is large enough not to be chance and small enough not to be a region:

- chance: if the synthetic rows were a sample of the reference distribution, a given group of s
  neighbouring reference rows would be all unwitnessed with probability about q^s, q = N / (N + M) (its
  rows and the nearby synthetic rows are exchangeable in distance order); over the ~N places a group can
  start, fewer than `alpha` chance groups are expected when s ≥ s_min = ⌈log(N / alpha) / log(1/q)⌉.
  Neighbouring rows are not independent, so this is an approximation; it errs towards large s_min only
  when rows cluster, and it is what the rare list reports as its resolution (`min_rows`).
- region: groups of more than `max_rows` (two mean regions) are regions and belong in `uncovered`.

Each rare region lists its size, share, row numbers and reference texts (medoid first), largest first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["ALPHA", "rare_min_rows", "rare_regions"]

ALPHA = 0.05  # expected chance groups the rare list tolerates
MAX_LISTED = 50  # rare regions listed (all are counted)
MAX_ROWS_LISTED = 200  # row numbers listed per rare region


def rare_min_rows(n_reference: int, n_synthetic: int, alpha: float = ALPHA) -> int:
    """s_min: the smallest group of neighbouring, all-unwitnessed reference rows not expected by chance
    (module docstring), in reference rows. Grows as the synthetic side shrinks (N / M rows per witness)."""
    q = n_reference / (n_reference + n_synthetic)
    return int(np.ceil(np.log(n_reference / alpha) / -np.log(q)))


def rare_regions(
    hit: np.ndarray,
    ref_neighbours: np.ndarray,
    ref_rows: np.ndarray,
    ref_emb: np.ndarray,
    ref_texts: Sequence[str],
    n_synthetic: int,
    *,
    max_rows: int,
    alpha: float = ALPHA,
    n_examples: int = 5,
) -> dict:
    """Rare regions: groups of neighbouring reference rows none of which is witnessed.

    Args:
        hit: (n,) bool, reference row used i is witnessed. ref_neighbours: (n, k + 1) positions (0..n−1,
            −1: none) of each used row's nearest other used reference rows. ref_rows: (n,) row numbers of
            the used rows in ref_emb / ref_texts. ref_emb: (N, d) all reference rows (for medoids).
        n_synthetic: synthetic rows used (M). max_rows: largest group listed (larger: a region).
        alpha: expected chance groups tolerated (sets min_rows). n_examples: texts per region.
    Returns:
        {"min_rows", "max_rows", "alpha", "n_found", "unwitnessed_share", "regions": up to MAX_LISTED of
        {"n_reference", "share" (of the used rows), "rows" (≤ MAX_ROWS_LISTED row numbers ascending),
        "examples" (medoid first)}, largest first}.
    """
    n = len(hit)
    miss = ~np.asarray(hit, dtype=bool)
    min_rows = rare_min_rows(n, n_synthetic, alpha)
    out: dict = {
        "min_rows": int(min_rows),
        "max_rows": int(max_rows),
        "alpha": alpha,
        "n_found": 0,
        "unwitnessed_share": float(miss.mean()) if n else 0.0,
        "regions": [],
    }
    if min_rows > max_rows or not miss.any():
        return out
    src = np.repeat(np.arange(n), ref_neighbours.shape[1])
    dst = ref_neighbours.ravel()
    link = (dst >= 0) & miss[src] & miss[np.maximum(dst, 0)]
    graph = coo_matrix((np.ones(int(link.sum()), np.int8), (src[link], dst[link])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    groups = label[miss]
    sizes = np.bincount(groups)
    picked = np.flatnonzero((sizes >= min_rows) & (sizes <= max_rows))
    picked = picked[np.argsort(-sizes[picked], kind="stable")]
    out["n_found"] = len(picked)
    miss_pos = np.flatnonzero(miss)
    order = np.argsort(groups, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    for g in picked[:MAX_LISTED]:
        rows = np.sort(ref_rows[miss_pos[order[starts[g] : starts[g + 1]]]])
        x = np.asarray(ref_emb[rows], dtype=np.float32)
        medoid_first = rows[np.argsort(((x - x.mean(axis=0)) ** 2).sum(axis=1), kind="stable")]
        out["regions"].append(
            {
                "n_reference": len(rows),
                "share": float(len(rows) / n),
                "rows": [int(i) for i in rows[:MAX_ROWS_LISTED]],
                "examples": [ref_texts[int(i)] for i in medoid_first[:n_examples]],
            }
        )
    return out
