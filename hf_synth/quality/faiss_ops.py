"""Low-level neighbour arithmetic shared by the exact search (`neighbours`) and the partitioned index
(`partition`): faiss's exact k-NN on one block, merging candidate lists, nearest centroids, and the
in-process task executor."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "LocalExecutor",
    "f32",
    "faiss_knn",
    "faiss_module",
    "faiss_threads",
    "merge_topk",
    "nearest_centroid",
]


def f32(x: np.ndarray) -> np.ndarray:
    """C-contiguous float32 view (no copy for a float32 memmap or array already in that form)."""
    return np.ascontiguousarray(x, dtype=np.float32)


def merge_topk(
    dist: np.ndarray, index: np.ndarray, k: int, *, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k smallest candidates of (dist, index) (q, c), ascending; ties broken by key index.

    Candidates with index −1 (padding) never win unless a row has fewer than k real ones (then inf / −1).
    The same key appearing twice (a leaf searched in two rounds never happens, but shards may repeat a
    padding) counts once. `exclude` (q,) drops that key per row (−1: none).
    """
    dist = np.where(index < 0, np.inf, dist).astype(np.float32)
    if exclude is not None:
        dist = np.where(index == exclude[:, None], np.inf, dist)
    # Sort by (distance, index): stable argsort on index first, then on distance.
    by_index = np.argsort(index, axis=1, kind="stable")
    dist = np.take_along_axis(dist, by_index, axis=1)
    index = np.take_along_axis(index, by_index, axis=1)
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    out_d = np.take_along_axis(dist, order, axis=1)
    out_i = np.take_along_axis(index, order, axis=1)
    out_i[~np.isfinite(out_d)] = -1
    if out_d.shape[1] < k:  # fewer candidates than k: pad
        pad = k - out_d.shape[1]
        out_d = np.pad(out_d, ((0, 0), (0, pad)), constant_values=np.inf)
        out_i = np.pad(out_i, ((0, 0), (0, pad)), constant_values=-1)
    return out_d, out_i


def faiss_threads() -> int:
    """OpenMP threads for faiss: $HF_SYNTH_FAISS_THREADS, else every core on an idle machine and one
    when the 1-minute load average already fills the cores.

    faiss's OpenMP threads spin while they wait; on an oversubscribed machine that made one exact search
    16x slower with 2 threads than with 1 (measured: 64 × 262,144 × 256 on 2 shared cores, 13.5 s vs
    0.86 s). Thread counts do not change results (each query's distances are computed the same way).
    """
    env = os.environ.get("HF_SYNTH_FAISS_THREADS")
    if env:
        return max(1, int(env))
    cores = os.cpu_count() or 1
    return 1 if os.getloadavg()[0] >= cores - 0.5 else cores


def faiss_module() -> Any:
    """faiss, set to compute every distance block with BLAS, with `faiss_threads()` threads.

    Below 20 queries faiss switches to its per-vector kernels, which the faiss-cpu 1.15.1 wheel runs
    scalar (~0.7 G multiply-adds/s here against ~30 for BLAS); partitioned searches make many such small
    calls (a leaf probed by few queries).
    """
    import faiss

    faiss.cvar.distance_compute_blas_threshold = 1
    faiss.omp_set_num_threads(faiss_threads())
    return faiss


def faiss_knn(queries: np.ndarray, keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """faiss.knn (squared L2, exact, BLAS) with k clipped to the keys: (q, k) float32, (q, k) int64."""
    faiss = faiss_module()
    kk = min(k, len(keys))
    if kk == 0 or len(queries) == 0:
        return np.full((len(queries), k), np.inf, np.float32), np.full((len(queries), k), -1, np.int64)
    d, i = faiss.knn(f32(queries), f32(keys), int(kk))
    if kk < k:
        d = np.pad(d, ((0, 0), (0, k - kk)), constant_values=np.inf)
        i = np.pad(i, ((0, 0), (0, k - kk)), constant_values=-1)
    return d, i


def nearest_centroid(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels (n,) int64, squared distance to the assigned centroid (n,) float32) of each row of x.

    Blockwise over x (a memmap is read block by block), exact.
    """
    labels = np.empty(len(x), dtype=np.int64)
    dist = np.empty(len(x), dtype=np.float32)
    step = 1 << 16
    for start in range(0, len(x), step):
        d, i = faiss_knn(f32(x[start : start + step]), f32(centroids), 1)
        labels[start : start + step], dist[start : start + step] = i[:, 0], d[:, 0]
    return labels, dist


class LocalExecutor:
    """Runs tasks one after another in this process (faiss and BLAS use every core within a task)."""

    name = "local"

    def put(self, array: np.ndarray) -> np.ndarray:
        """A handle tasks receive in place of the array (here: the array itself)."""
        return array

    def map(
        self,
        fn: Callable[..., Any],
        shared: dict[str, np.ndarray],
        tasks: Sequence[tuple],
        *,
        progress: Any = None,
        weights: Sequence[float] | None = None,
    ) -> list[Any]:
        """[fn(**shared, *task) for task in tasks], in order; `progress.update(weight)` after each."""
        out = []
        for j, task in enumerate(tasks):
            out.append(fn(*shared.values(), *task))
            if progress is not None:
                progress.update(weights[j] if weights is not None else 1)
        return out
