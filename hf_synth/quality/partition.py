"""Partitioned brute force: the approximate (IVF-style) neighbour search behind `neighbours.Index`.

A key set is split into leaves of ~leaf_rows rows by a two-level k-means (faiss.Kmeans): ~√-many coarse
cells of about 64 leaves each, so that finding a query's nearest leaves costs (coarse cells + the leaves
of a few of them) centroid distances, not all leaves. A query is compared exactly with every key of its
`n_probe` nearest leaves; the queries probing one leaf are searched together in one `faiss.knn` (BLAS)
call, and leaves are grouped into tasks of about equal work that an executor runs (this process, or Ray).

With `stop_sq`, probing runs in rounds (1, 2, 4, … leaves): after each round a query whose k-th
candidate lies within its stop radius stops (it has k keys within the radius; more probing could only
change which).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from hf_synth.quality.faiss_ops import (
    LocalExecutor,
    f32,
    faiss_knn,
    faiss_module,
    merge_topk,
    nearest_centroid,
)

CANDIDATE_CELLS = 1 << 25  # query × probe × k candidates held at once (query chunks bound memory)

__all__ = ["Partition", "build_partition", "nearest_leaves", "probe_search"]

LEAVES_PER_COARSE = 64
N_TASKS = 64  # tasks per round: enough to balance a Ray cluster, few enough to keep overhead small


@dataclass
class Partition:
    """Keys split into leaves. Leaves of coarse cell c are leaf_start[c]:leaf_start[c + 1]; the keys of
    leaf j are order[bounds[j]:bounds[j + 1]] (original row numbers), stored contiguously in `sorted_keys`
    ((n, d) float32, keys in leaf order)."""

    coarse: np.ndarray
    leaf_centroids: np.ndarray
    leaf_start: np.ndarray
    order: np.ndarray
    bounds: np.ndarray
    sorted_keys: np.ndarray

    @property
    def n_leaves(self) -> int:
        return len(self.leaf_centroids)

    @property
    def leaf_sizes(self) -> np.ndarray:
        return np.diff(self.bounds)

    def subset(self, kept: np.ndarray, keys: np.ndarray) -> Partition:
        """The same leaves over keys[kept] only (kept: ascending row numbers of the original keys; the
        new key rows are 0..len(kept)−1 in that order), without a new k-means. keys: the original keys."""
        new_row = np.full(len(self.order), -1, dtype=np.int64)
        new_row[kept] = np.arange(len(kept))
        alive = new_row[self.order] >= 0
        leaf_of = np.repeat(np.arange(self.n_leaves), self.leaf_sizes)[alive]
        order = self.order[alive]
        bounds = np.searchsorted(leaf_of, np.arange(self.n_leaves + 1))
        sorted_keys = np.empty((len(order), keys.shape[1]), dtype=np.float32)
        step = 1 << 16
        for start in range(0, len(order), step):
            sorted_keys[start : start + step] = keys[order[start : start + step]]
        return Partition(
            coarse=self.coarse,
            leaf_centroids=self.leaf_centroids,
            leaf_start=self.leaf_start,
            order=new_row[order],
            bounds=bounds,
            sorted_keys=sorted_keys,
        )


def _kmeans(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    """faiss k-means centroids (n, d) of x (at most 128 training rows per centroid, 10 iterations: leaves
    only need to be compact, not optimal)."""
    faiss = faiss_module()

    if n <= 1 or len(x) <= n:
        return f32(x[:n] if len(x) <= n and n > 1 else x.mean(axis=0, keepdims=True))
    km = faiss.Kmeans(x.shape[1], int(n), niter=10, seed=int(seed), max_points_per_centroid=128)
    km.cp.min_points_per_centroid = 1  # small cells are fine here (no warning)
    km.train(f32(x))
    return f32(km.centroids)


def _seed(seed: int, *parts: int) -> int:
    return int(np.random.SeedSequence([seed, *parts]).generate_state(1)[0] & 0x7FFFFFFF)


def build_partition(keys: np.ndarray, leaf_rows: int, seed: int) -> Partition:
    """Two-level k-means partition of keys (n, d) into ~n/leaf_rows leaves (seeded, deterministic).

    Cost: k-means on ≤ 256 rows per centroid, then one assignment pass over the keys per level
    (O(n · (coarse + leaves per coarse) · d)); memory: one sorted float32 copy of the keys.
    """
    n = len(keys)
    n_leaves = max(1, round(n / leaf_rows))
    n_coarse = max(1, int(np.ceil(n_leaves / LEAVES_PER_COARSE)))
    rng = np.random.default_rng(_seed(seed, 0))
    sample = np.sort(rng.choice(n, min(n, 128 * n_coarse), replace=False))
    coarse = _kmeans(np.asarray(keys[sample]), n_coarse, _seed(seed, 1))
    coarse_lab = nearest_centroid(keys, coarse)[0] if n_coarse > 1 else np.zeros(n, dtype=np.int64)
    leaf_lab = np.empty(n, dtype=np.int64)
    centroids, starts = [], [0]
    for c in range(len(coarse)):
        rows = np.flatnonzero(coarse_lab == c)
        n_sub = max(1, round(len(rows) / leaf_rows)) if len(rows) else 0
        if n_sub == 0:
            starts.append(starts[-1])
            continue
        x = f32(keys[rows])
        cent = _kmeans(x, n_sub, _seed(seed, 2, c))
        leaf_lab[rows] = starts[-1] + (nearest_centroid(x, cent)[0] if len(cent) > 1 else 0)
        centroids.append(cent)
        starts.append(starts[-1] + len(cent))
    order = np.argsort(leaf_lab, kind="stable")
    n_total = starts[-1]
    bounds = np.searchsorted(leaf_lab[order], np.arange(n_total + 1))
    sorted_keys = np.empty((n, keys.shape[1]), dtype=np.float32)
    step = 1 << 16
    for start in range(0, n, step):  # gathered blockwise (bounded extra memory for a memmap)
        sorted_keys[start : start + step] = keys[order[start : start + step]]
    return Partition(
        coarse=coarse,
        leaf_centroids=np.concatenate(centroids),
        leaf_start=np.asarray(starts, dtype=np.int64),
        order=order,
        bounds=bounds,
        sorted_keys=sorted_keys,
    )


def nearest_leaves(part: Partition, queries: np.ndarray, n_probe: int) -> np.ndarray:
    """(q, n_probe) leaf numbers of each query's nearest leaf centroids, nearest first.

    Leaves are looked for in the query's n_probe + 1 nearest coarse cells (all leaves when that is every
    cell); −1 pads a query whose probed cells hold fewer leaves.
    """
    n_probe = min(n_probe, part.n_leaves)
    n_coarse = len(part.coarse)
    p1 = min(n_coarse, n_probe + 1)
    if p1 == n_coarse:
        return faiss_knn(queries, part.leaf_centroids, n_probe)[1]
    _, cells = faiss_knn(queries, part.coarse, p1)
    cand_d = np.full((len(queries), p1 * n_probe), np.inf, np.float32)
    cand_i = np.full((len(queries), p1 * n_probe), -1, np.int64)
    for c in range(n_coarse):
        q_rows, slot = np.nonzero(cells == c)
        lo, hi = part.leaf_start[c], part.leaf_start[c + 1]
        if len(q_rows) == 0 or hi == lo:
            continue
        d, i = faiss_knn(queries[q_rows], part.leaf_centroids[lo:hi], n_probe)
        cols = slot[:, None] * n_probe + np.arange(n_probe)[None, :]
        cand_d[q_rows[:, None], cols] = d
        cand_i[q_rows[:, None], cols] = np.where(i >= 0, i + lo, -1)
    return merge_topk(cand_d, cand_i, n_probe)[1]


def _leaf_task(
    queries: np.ndarray,
    sorted_keys: np.ndarray,
    key_bounds: np.ndarray,
    q_rows: np.ndarray,
    q_offsets: np.ndarray,
    kk: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact kNN of each leaf's queries among that leaf's keys, for a run of leaves.

    key_bounds (L_t + 1,): the leaves' key ranges in sorted_keys; q_rows: the probing queries, leaf after
    leaf, q_offsets (L_t + 1,) their ranges. Returns (distances, sorted-key positions), (len(q_rows), kk).
    """
    d_out = np.full((len(q_rows), kk), np.inf, np.float32)
    i_out = np.full((len(q_rows), kk), -1, np.int64)
    for j in range(len(key_bounds) - 1):
        lo, hi = q_offsets[j], q_offsets[j + 1]
        k_lo, k_hi = key_bounds[j], key_bounds[j + 1]
        if hi == lo or k_hi == k_lo:
            continue
        d, i = faiss_knn(queries[q_rows[lo:hi]], sorted_keys[k_lo:k_hi], kk)
        d_out[lo:hi], i_out[lo:hi] = d, np.where(i >= 0, i + k_lo, -1)
    return d_out, i_out


def _tasks(part: Partition, leaf_of_pair: np.ndarray) -> tuple[list[tuple], np.ndarray, list[float]]:
    """Group (query, leaf) pairs by leaf into N_TASKS runs of leaves of about equal work.

    Returns (task argument tuples, pair order (pairs sorted by leaf), work per task)."""
    order = np.argsort(leaf_of_pair, kind="stable")
    counts = np.bincount(leaf_of_pair, minlength=part.n_leaves)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    work = counts * part.leaf_sizes.astype(np.float64)
    cum = np.cumsum(work)
    cuts = np.searchsorted(cum, np.linspace(0, cum[-1], N_TASKS + 1)[1:-1], side="right")
    edges = np.unique(np.concatenate([[0], cuts, [part.n_leaves]]))
    tasks, weights = [], []
    for a, b in itertools.pairwise(edges):
        if offsets[b] == offsets[a]:
            continue
        tasks.append((part.bounds[a : b + 1], offsets[a : b + 1] - offsets[a], (offsets[a], offsets[b])))
        weights.append(float(offsets[b] - offsets[a]))
    return tasks, order, weights


def probe_search(
    part: Partition,
    keys: np.ndarray,
    queries: np.ndarray,
    k: int,
    n_probe: int,
    exclude: np.ndarray | None,
    stop_sq: np.ndarray | None,
    executor: Any = None,
    progress: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """k nearest keys of each query among the keys of its n_probe nearest leaves (see module docstring).

    Returns ((q, k) squared distances ascending, (q, k) original key rows; −1 / inf where fewer found).
    `progress.update(n)` counts (query, leaf) probes, q · n_probe in all.
    """
    executor = executor or LocalExecutor()
    kk = k + (1 if exclude is not None else 0)
    n_probe = min(n_probe, part.n_leaves)
    schedule = [n_probe] if stop_sq is None else sorted({min(n_probe, 2**j) for j in range(12)} | {n_probe})
    chunk = max(256, CANDIDATE_CELLS // max(1, n_probe * kk))
    keys_ref = executor.put(part.sorted_keys)
    out_d = np.empty((len(queries), k), np.float32)
    out_i = np.empty((len(queries), k), np.int64)
    position = None
    if exclude is not None:  # exclusion by sorted-key position
        position = np.empty_like(part.order)
        position[part.order] = np.arange(len(part.order))
    for c0 in range(0, len(queries), chunk):
        q = queries[c0 : c0 + chunk]
        pos_ex = None
        if exclude is not None and position is not None:
            ex = exclude[c0 : c0 + chunk]
            pos_ex = np.where(ex >= 0, position[np.maximum(ex, 0)], -1)
        leaves = nearest_leaves(part, q, n_probe)
        best_d = np.full((len(q), k), np.inf, np.float32)
        best_i = np.full((len(q), k), -1, np.int64)
        active = np.arange(len(q))
        q_ref = executor.put(q)
        prev = 0
        for probes in schedule:
            if len(active) == 0:
                break
            lv = leaves[active, prev:probes]
            q_of_pair = np.repeat(active, lv.shape[1])
            slot_of_pair = np.tile(np.arange(lv.shape[1]), len(active))
            leaf_of_pair = lv.ravel()
            valid = leaf_of_pair >= 0
            q_of_pair, slot_of_pair, leaf_of_pair = q_of_pair[valid], slot_of_pair[valid], leaf_of_pair[valid]
            tasks, pair_order, weights = _tasks(part, leaf_of_pair)
            q_sorted = q_of_pair[pair_order]
            results = executor.map(
                _leaf_task,
                {"queries": q_ref, "sorted_keys": keys_ref},
                [(kb, q_sorted[lo:hi], qo, kk) for kb, qo, (lo, hi) in tasks],
                progress=progress,
                weights=weights,
            )
            cand_d = np.full((len(q), lv.shape[1], kk), np.inf, np.float32)
            cand_i = np.full((len(q), lv.shape[1], kk), -1, np.int64)
            for (_, _, (lo, hi)), (d, i) in zip(tasks, results, strict=True):
                pairs = pair_order[lo:hi]
                cand_d[q_of_pair[pairs], slot_of_pair[pairs]] = d
                cand_i[q_of_pair[pairs], slot_of_pair[pairs]] = i
            sub_d = np.concatenate([best_d[active], cand_d[active].reshape(len(active), -1)], axis=1)
            sub_i = np.concatenate([best_i[active], cand_i[active].reshape(len(active), -1)], axis=1)
            best_d[active], best_i[active] = merge_topk(
                sub_d, sub_i, k, exclude=pos_ex[active] if pos_ex is not None else None
            )
            prev = probes
            if stop_sq is not None:
                done = best_d[active, k - 1] <= stop_sq[c0 + active]
                if progress is not None:  # stopped queries skip their remaining probes
                    progress.update(float(done.sum()) * (n_probe - probes))
                active = active[~done]
        out_d[c0 : c0 + len(q)] = best_d
        out_i[c0 : c0 + len(q)] = np.where(best_i >= 0, part.order[np.maximum(best_i, 0)], -1)
    return out_d, out_i
