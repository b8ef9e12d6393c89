"""Nearest-neighbour search on embedding rows (faiss): the one search every coverage figure uses.

`knn_search(queries, keys, k)` is exact; `NeighbourSearch` is what the coverage figures call: per key set an
`Index` that answers `knn(queries, k, ...)` either

- exactly: `faiss.knn` (BLAS inner products + a heap per query), key shards of SHARD_ROWS rows searched
  one after another and merged, or
- approximately, IVF-style ("partitioned brute force"): the keys are split into leaves of ~LEAF_ROWS rows
  by a two-level k-means (`partition.py`); a query is compared exactly with the keys of its `n_probe`
  nearest leaves. All queries probing one leaf go through one `faiss.knn` call, so the arithmetic is BLAS,
  not faiss's per-vector IVF scanners (in the faiss-cpu 1.15.1 wheel those run scalar, ~0.7 G
  multiply-adds/s on the benchmark machine against 30-40 for BLAS).

`auto` (the default) is exact while queries × keys × dim ≤ `exact_muladds` and partitioned beyond. A
partitioned search first searches a seeded sample of `check_queries` queries both exactly and with 1, 2,
4, … probes, and uses the fewest probes whose recall reaches `target_recall` (0.95 by default; at most a
quarter of the leaves). A caller that only reads decisions from the answer (is there a key within this
radius?) passes `decide`, and the recall is then the share of checked queries whose decisions equal exact
search's. The recall it reaches is recorded (`Index.records`, `NeighbourSearch.report()`) and shown with
every figure computed from the search; the exact answers on the sample are kept for callers that check
their own decisions (`Found.check`).

Early stop: a search may pass `stop_sq` (squared distance per query): a query whose k nearest found so far
all lie within it stops probing further leaves. Its answer is then "k keys within stop_sq" (certain), not
necessarily the k nearest: what a caller that only needs "are there k within this radius" asks for.

The work is cut into tasks (key shards, groups of leaves) that an executor runs: in this process
(`LocalExecutor`) or as Ray tasks (`ray_search.RayExecutor`, `--engine ray`). Both run the same
arithmetic on the same tasks and merge their results in task order, so both engines give the same
neighbours.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hf_synth.quality.faiss_ops import LocalExecutor, f32, faiss_knn, merge_topk, nearest_centroid
from hf_synth.quality.partition import build_partition, probe_search

__all__ = [
    "BLOCK_CELLS",
    "Found",
    "Index",
    "LocalExecutor",
    "NeighbourSearch",
    "SearchOptions",
    "knn_search",
    "kth_neighbour_sq_dist",
    "merge_topk",
    "nearest_centroid",
    "rows_per_block",
    "sq_dist",
    "tolerance",
    "unique_index",
]

BLOCK_CELLS = 1 << 24  # query rows × key rows per exact block (64 MiB of float32 distances)
SHARD_ROWS = 1 << 18  # key rows per exact task (one Ray task, or one step of the local loop)
LEAF_ROWS = 1024  # key rows per leaf of a partitioned index (BLAS shapes stay efficient)
EXACT_MULADDS = 2e11  # auto: exact up to this many multiply-adds (~5 s of BLAS on 2 CPU cores)
EXACT_PAIRS = 3e8  # ... and up to this many query × key pairs (faiss's per-pair top-k selection: ~10 s)
MAX_PROBE_SHARE = 0.25  # a partitioned search probes at most this share of the leaves
MODES = ("auto", "exact", "approximate")
CHECK_PAIRS = 2e8  # query × key pairs the exact recall check may cost (~3 s)
MIN_CHECK_QUERIES = 200  # ... but never fewer check queries than this


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


def _exact_shard_task(queries: np.ndarray, keys: np.ndarray, start: int, stop: int, k: int) -> tuple:
    """One exact task: the k nearest of keys[start:stop] for every query, key numbers global."""
    d_all, i_all = [], []
    step = rows_per_block(stop - start)
    for q0 in range(0, len(queries), step):
        d, i = faiss_knn(queries[q0 : q0 + step], keys[start:stop], k)
        d_all.append(d)
        i_all.append(np.where(i >= 0, i + start, -1))
    return np.concatenate(d_all), np.concatenate(i_all)


def knn_search(
    queries: np.ndarray, keys: np.ndarray, k: int, *, exclude_self: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest keys of every query row, exact (faiss, blockwise; no progress bar).

    Args:
        queries: (q, d) float. keys: (n, d) float. k: 1 ≤ k ≤ n (n − 1 with exclude_self).
        exclude_self: queries ARE the keys (same rows, same order); row i never counts as its own
            neighbour. Excluded by index, not by distance, so an exact duplicate elsewhere is a neighbour
            at distance 0.
    Returns:
        (squared distances (q, k) float32 ascending, key row numbers (q, k) int64).
    Cost: O(q · n · d) time, O(block · n) memory.
    """
    n = len(keys) - (1 if exclude_self else 0)
    if not 1 <= k <= n:
        raise ValueError(f"k={k} needs 1 ≤ k ≤ {n} ({len(keys)} keys)")
    exclude = np.arange(len(queries)) if exclude_self else None
    return _exact(f32(queries), f32(keys), k, exclude, LocalExecutor(), None)


def _exact(
    queries: np.ndarray,
    keys: np.ndarray,
    k: int,
    exclude: np.ndarray | None,
    executor: Any,
    progress: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact kNN over key shards of SHARD_ROWS rows, merged in shard order."""
    kk = k + (1 if exclude is not None else 0)
    shards = [(s, min(s + SHARD_ROWS, len(keys))) for s in range(0, len(keys), SHARD_ROWS)]
    results = executor.map(
        _exact_shard_task,
        {"queries": executor.put(queries), "keys": executor.put(keys)},
        [(s, e, kk) for s, e in shards],
        progress=progress,
        weights=[len(queries) * (e - s) for s, e in shards],
    )
    d = np.concatenate([r[0] for r in results], axis=1)
    i = np.concatenate([r[1] for r in results], axis=1)
    return merge_topk(d, i, k, exclude=exclude)


def kth_neighbour_sq_dist(x: np.ndarray, k: int) -> np.ndarray:
    """Squared distance from each row of x (n, d) to its k-th nearest OTHER row → (n,) float32."""
    return knn_search(x, x, k, exclude_self=True)[0][:, k - 1]


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


# ---------------------------------------------------------------- executors


# ---------------------------------------------------------------- the search object


@dataclass(frozen=True)
class SearchOptions:
    """How `NeighbourSearch` searches.

    mode: "auto" (exact up to `exact_muladds` multiply-adds per search, partitioned beyond), "exact" or
        "approximate" (partitioned whenever the keys span more than one leaf).
    target_recall: recall@k the probe count is tuned to reach on the check sample (0-1).
    check_queries: seeded sample of queries searched exactly to measure the recall (fewer, down to
        MIN_CHECK_QUERIES, when the exact check would exceed CHECK_PAIRS query × key pairs).
    seed: seeds the partitions' k-means and the check sample.
    executor: None → `LocalExecutor`; `ray_search.RayExecutor()` for --engine ray.
    progress: show tqdm bars on stderr for searches that take a while.
    """

    mode: str = "auto"
    target_recall: float = 0.95
    check_queries: int = 500
    seed: int = 0
    exact_muladds: float = EXACT_MULADDS
    leaf_rows: int = LEAF_ROWS
    executor: Any = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"search mode {self.mode!r}: use one of {', '.join(MODES)}")
        if not 0 < self.target_recall <= 1:
            raise ValueError(f"target_recall {self.target_recall} must be in (0, 1]")


@dataclass
class Found:
    """The answer of one search: (q, k) squared distances ascending and key row numbers (−1: none).

    `check`: when the search was approximate, {"rows": sampled query numbers, "dist", "index": their
    exact answers} (the same k), for callers that compare their own decisions with exact search.
    `record`: what `NeighbourSearch.report()` lists for this search.
    """

    dist: np.ndarray
    index: np.ndarray
    record: dict[str, Any]
    check: dict[str, np.ndarray] | None = None


def _recall(approx_d: np.ndarray, exact_d: np.ndarray, stop_sq: np.ndarray | None, tol: float) -> float:
    """Share of the k answers per query that are right, by distance (ties count as right).

    The j-th answer is right when it is no farther than the exact j-th neighbour; with an early stop, a
    query whose exact k-th neighbour lies within its stop radius may answer any keys within that radius.
    """
    limit = exact_d.astype(np.float64)
    if stop_sq is not None:
        settled = exact_d[:, -1] <= stop_sq
        limit = np.where(settled[:, None], np.maximum(limit, stop_sq[:, None]), limit)
    real = np.isfinite(exact_d)
    if not real.any():
        return 1.0
    ok = (approx_d <= limit + tol) & real
    return float(ok.sum() / real.sum())


class Index:
    """A key set (n, d) that answers k-nearest-neighbour queries (see the module docstring)."""

    def __init__(self, keys: np.ndarray, name: str, search: NeighbourSearch) -> None:
        self.source = keys
        self.keys = f32(keys)
        self.name = name
        self.search = search
        self.records: list[dict[str, Any]] = []
        self._partition: Any = None

    @property
    def partition(self) -> Any:
        """The keys' two-level k-means partition (built on first use)."""
        if self._partition is None:
            opts = self.search.options
            self._partition = build_partition(self.keys, opts.leaf_rows, opts.seed)
        return self._partition

    def _approximate(self, n_queries: int, k: int) -> bool:
        opts = self.search.options
        n_leaves_min = len(self.keys) > 2 * opts.leaf_rows
        if opts.mode == "exact" or not n_leaves_min:
            return False
        if opts.mode == "approximate":
            return True
        pairs = float(n_queries) * len(self.keys)
        cost = pairs * self.keys.shape[1]
        # The recall check costs check_queries exact queries; below ~8x that, exact is as cheap.
        return (cost > opts.exact_muladds or pairs > EXACT_PAIRS) and n_queries > 8 * opts.check_queries

    def knn(
        self,
        queries: np.ndarray,
        k: int,
        *,
        exclude: np.ndarray | None = None,
        stop_sq: np.ndarray | None = None,
        label: str = "",
        decide: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    ) -> Found:
        """The k nearest keys of every query.

        Args:
            queries: (q, d) float (a memmap is fine). k: 1 ≤ k ≤ n keys (n − 1 with exclude).
            exclude: (q,) int, a key row each query must not return (its own row when the queries are
                keys; −1: none). By index, so an exact duplicate elsewhere is still a neighbour.
            stop_sq: (q,) squared distances: a query with k keys found within it may stop early (then
                the answer is k keys within stop_sq, not necessarily the nearest).
            label: names the search in the report ("reference → synthetic").
            decide: what the caller decides from the answer: (distances (c, k), query rows (c,)) →
                (c, j) bool. When given, an approximate search is tuned to, and reports, the share of
                checked queries whose decisions all equal those from exact search ("decisions"), in
                place of the share of right neighbours ("neighbours").
        Returns: `Found` ((q, k) distances ascending, key rows, the record, the exact check sample).
        """
        n_avail = len(self.keys) - (1 if exclude is not None else 0)
        if not 1 <= k <= n_avail:
            raise ValueError(f"k={k} needs 1 ≤ k ≤ {n_avail} ({len(self.keys)} {self.name} keys)")
        queries = f32(queries)
        t0 = time.perf_counter()
        record: dict[str, Any] = {
            "search": label or f"→ {self.name}",
            "queries": len(queries),
            "keys": len(self.keys),
            "k": int(k),
        }
        if not self._approximate(len(queries), k):
            cost = len(queries) * len(self.keys) * self.keys.shape[1]
            with self.search.bar(record["search"], len(queries) * len(self.keys), cost) as bar:
                d, i = _exact(queries, self.keys, k, exclude, self.search.executor, bar)
            record.update(method="exact", recall=1.0)
            found = Found(d, i, record)
        else:
            found = self._partitioned(queries, k, exclude, stop_sq, record, decide)
        # Seconds are kept apart from the record: the report must be the same for the same inputs.
        self.search.seconds.append((record["search"], time.perf_counter() - t0))
        self.records.append(record)
        self.search.records.append(record)
        return found

    def _partitioned(
        self,
        queries: np.ndarray,
        k: int,
        exclude: np.ndarray | None,
        stop_sq: np.ndarray | None,
        record: dict[str, Any],
        decide: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
    ) -> Found:
        opts = self.search.options
        part = self.partition
        rng = np.random.default_rng([opts.seed, 0xC4EC])
        # The exact check is the costliest part against a large key set: bound its pairs.
        affordable = max(MIN_CHECK_QUERIES, int(CHECK_PAIRS // max(1, len(self.keys))))
        n_check = min(opts.check_queries, affordable, len(queries))
        rows = np.sort(rng.choice(len(queries), n_check, replace=False))
        sub_ex = exclude[rows] if exclude is not None else None
        sub_stop = stop_sq[rows] if stop_sq is not None else None
        tol = tolerance(self.keys[:1000])
        cost = n_check * len(self.keys) * self.keys.shape[1]
        with self.search.bar(f"{record['search']}: exact check", n_check * len(self.keys), cost) as bar:
            exact_d, exact_i = _exact(queries[rows], self.keys, k, sub_ex, self.search.executor, bar)
        max_probe = max(1, int(np.ceil(MAX_PROBE_SHARE * part.n_leaves)))
        n_probe, recall = 1, 0.0
        truth = decide(exact_d, rows) if decide is not None else None
        while True:
            d, _ = probe_search(part, self.keys, queries[rows], k, n_probe, sub_ex, sub_stop, LocalExecutor())
            if decide is not None:
                same = decide(d, rows) == truth
                recall = float(np.mean(same.reshape(len(rows), -1).all(axis=1)))
            else:
                recall = _recall(d, exact_d, sub_stop, tol)
            if recall >= opts.target_recall or n_probe >= max_probe:
                break
            n_probe = min(max_probe, 2 * n_probe)
        with self.search.bar(record["search"], len(queries) * n_probe, 1e12) as bar:
            d, i = probe_search(
                part, self.keys, queries, k, n_probe, exclude, stop_sq, self.search.executor, bar
            )
        record.update(
            method="partitioned",
            leaves=int(part.n_leaves),
            probes=int(n_probe),
            recall=round(recall, 5),
            measure="decisions" if decide is not None else "neighbours",
            target_recall=opts.target_recall,
            checked_queries=int(n_check),
            early_stop=stop_sq is not None,
        )
        return Found(d, i, record, {"rows": rows, "dist": exact_d, "index": exact_i})


class NeighbourSearch:
    """One coverage run's neighbour searches: an `Index` per key set, and the record of every search."""

    def __init__(self, options: SearchOptions | None = None) -> None:
        self.options = options or SearchOptions()
        self.executor = self.options.executor or LocalExecutor()
        self.records: list[dict[str, Any]] = []
        self._indexes: dict[str, Index] = {}
        self.seconds: list[tuple[str, float]] = []  # (search, wall seconds), for benchmarks

    def index(self, keys: np.ndarray, name: str, partition: Any = None) -> Index:
        """An index over `keys` (n, d) (the same one for the same array and name, so its partition is
        built once, on its first approximate search). partition: one already built over these keys
        (`partition.Partition`), e.g. while thinning near-copies."""
        known = self._indexes.get(name)
        if known is None or known.source is not keys:
            known = self._indexes[name] = Index(keys, name, self)
        if partition is not None:
            known._partition = partition
        return known

    @property
    def approximate(self) -> bool:
        """True when any search so far was approximate."""
        return any(r["method"] != "exact" for r in self.records)

    def report(self) -> dict[str, Any]:
        """{"engine", "mode", "approximate", "min_recall", "searches": [records]} (JSON-able)."""
        recalls = [r["recall"] for r in self.records if r["method"] != "exact"]
        return {
            "engine": self.executor.name,
            "mode": self.options.mode,
            "approximate": bool(recalls),
            "min_recall": min(recalls) if recalls else 1.0,
            "searches": list(self.records),
        }

    def bar(self, desc: str, total: float, muladds: float) -> Any:
        """A tqdm bar on stderr (counting `total`) for work above ~3e10 multiply-adds (~1 s), else a
        silent stand-in."""
        return _bar(desc, total, self.options.progress and muladds > 3e10)


@dataclass
class _Silent:
    n: float = 0.0
    extra: dict = field(default_factory=dict)

    def update(self, x: float = 1) -> None:
        self.n += x

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _bar(desc: str, total: float, show: bool) -> Any:
    if not show:
        return _Silent()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, unit_scale=True, leave=False, mininterval=0.5)
