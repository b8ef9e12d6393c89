"""Exact nearest-neighbour search on embedding rows, blockwise (the one search every coverage figure uses).

`knn_search(queries, keys, k)` is the single replaceable neighbour search: the headline
(`support.estimate_coverage`), the region assignment (`regions`) and the legacy score call it, so a vector
index (faiss, issue 16) can take its place in one function. Everything here is brute force in float32 over
row blocks: memory O(block × len(keys)), never a full distance matrix.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BLOCK_CELLS",
    "knn_search",
    "kth_neighbour_sq_dist",
    "nearest_centroid",
    "rows_per_block",
    "sq_dist",
    "tolerance",
    "unique_index",
]

BLOCK_CELLS = 1 << 24  # float32 cells per distance block (64 MiB)


def rows_per_block(n_cols: int) -> int:
    """Query rows per block so that one (rows, n_cols) float32 block holds about BLOCK_CELLS cells."""
    return max(1, min(4096, BLOCK_CELLS // max(1, n_cols)))


def sq_dist(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (len(a), len(b)) via ‖a‖² + ‖b‖² − 2ab, clipped at 0."""
    d = (a * a).sum(axis=1)[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)
    np.maximum(d, 0.0, out=d)
    return d


def tolerance(x: np.ndarray) -> float:
    """Distance tolerance for ball membership: a tie within float32 rounding counts as inside.

    float32 dot products of length d carry ~√d·ε relative error, so exact duplicates land inside each
    other's balls however the rounding falls.
    """
    return float(1e-5 * max(1.0, float(np.mean((x * x).sum(axis=1))) if len(x) else 1.0))


def knn_search(
    queries: np.ndarray, keys: np.ndarray, k: int, *, exclude_self: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest keys of every query row, exact, blockwise.

    Args:
        queries: (q, d) float. keys: (n, d) float. k: 1 ≤ k ≤ n (n − 1 with exclude_self).
        exclude_self: queries ARE the keys (same rows, same order); row i never counts as its own
            neighbour. Excluded by index, not by distance, so an exact duplicate elsewhere is a neighbour
            at distance 0.
    Returns:
        (squared distances (q, k) float32 ascending, key row numbers (q, k) int64).
    Cost: O(q · n · d) time, O(block · n) memory.
    """
    queries = np.asarray(queries, dtype=np.float32)
    keys = np.asarray(keys, dtype=np.float32)
    n = len(keys) - (1 if exclude_self else 0)
    if not 1 <= k <= n:
        raise ValueError(f"k={k} needs 1 ≤ k ≤ {n} ({len(keys)} keys)")
    keys_sq = (keys * keys).sum(axis=1)
    dist = np.empty((len(queries), k), dtype=np.float32)
    index = np.empty((len(queries), k), dtype=np.int64)
    step = rows_per_block(len(keys))
    for start in range(0, len(queries), step):
        stop = min(start + step, len(queries))
        d = sq_dist(queries[start:stop], keys, keys_sq)
        if exclude_self:
            d[np.arange(stop - start), np.arange(start, stop)] = np.inf
        part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < d.shape[1] else np.argsort(d, axis=1)[:, :k]
        part_d = np.take_along_axis(d, part, axis=1)
        order = np.argsort(part_d, axis=1, kind="stable")
        index[start:stop] = np.take_along_axis(part, order, axis=1)
        dist[start:stop] = np.take_along_axis(part_d, order, axis=1)
    return dist, index


def kth_neighbour_sq_dist(x: np.ndarray, k: int) -> np.ndarray:
    """Squared distance from each row of x (n, d) to its k-th nearest OTHER row → (n,) float32."""
    return knn_search(x, x, k, exclude_self=True)[0][:, k - 1]


def nearest_centroid(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels (n,) int64, squared distance to the assigned centroid (n,) float32) of each row of x."""
    dist, index = knn_search(x, centroids, 1)
    return index[:, 0], dist[:, 0]


def unique_index(x: np.ndarray) -> np.ndarray:
    """Row numbers (ascending) of the first occurrence of every distinct row of x (n, d).

    Rows are hashed blockwise to 64 bits (a random linear form of their bytes, wrapping mod 2^64), so
    memory is O(block + n) rather than a sorted copy of x; every hash-equal pair is then confirmed on the
    rows themselves, and a collision (probability ~n²/2^65) falls back to an exact byte-wise np.unique.
    """
    n = len(x)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    row_bytes = x.dtype.itemsize * x.shape[1]
    if row_bytes % 8:
        view = np.ascontiguousarray(x).view(np.dtype((np.void, row_bytes))).ravel()
        return np.sort(np.unique(view, return_index=True)[1])
    words = row_bytes // 8
    mult = np.random.default_rng(0x5EED).integers(1, 2**63, size=words, dtype=np.uint64) | np.uint64(1)
    hashes = np.empty(n, dtype=np.uint64)
    step = max(1, (1 << 22) // words)
    for start in range(0, n, step):
        block = np.ascontiguousarray(x[start : start + step]).view(np.uint64)
        hashes[start : start + step] = (block * mult).sum(axis=1, dtype=np.uint64)
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    dup = np.flatnonzero(first[inverse] != np.arange(n))
    if len(dup) and not np.array_equal(np.asarray(x[dup]), np.asarray(x[first[inverse[dup]]])):
        view = np.ascontiguousarray(x).view(np.dtype((np.void, row_bytes))).ravel()
        return np.sort(np.unique(view, return_index=True)[1])
    return np.sort(first)
