"""How much of a real reference set a synthetic text set covers.

Two families of measures on sentence embeddings (rows of shape (n, d)):

1. k-NN precision / recall / density / coverage (Naeem, Oh, Uh, Choi & Yoo 2020, "Reliable Fidelity and
   Diversity Metrics for Generative Models", ICML; precision/recall after Kynkäänniemi et al. 2019,
   "Improved Precision and Recall Metric for Assessing Generative Models"). Coverage = share of reference
   points whose k-NN ball (radius = distance to the k-th nearest OTHER reference point) holds at least
   one synthetic point. Computed on equal-size seeded subsamples, resampled, mean and std reported.
   Under identical distributions its expectation is exactly
   1 − ∏_{i=1..k} (N−i)/(N+M−i) (`expected_knn_coverage`), ≈ 0.969 for k = 5 and N = M.
2. Cluster coverage: k-means fitted on the REFERENCE only (regions of the reference, ~12 reference rows
   each), synthetic points assigned to those regions; a region is filled when its synthetic share reaches at
   least half of its reference share; figure = reference mass of filled regions. Its expectation for a
   synthetic sample of the reference distribution is Σ_c p_c·P(Bin(M, p_c) ≥ p_c·M/2)
   (`expected_cluster_coverage`). Under-filled regions, worst first with examples (medoid first), are the
   report's `uncovered` list.

Headline `coverage` (0-1) = support coverage (`support_coverage`): the share of the reference mass that
lies inside the synthetic set's support. Let p, q be the reference and synthetic densities, N, M the row
counts, r(x) = M·q(x) / (N·p(x)) the local synthetic:reference odds, and h(r) the probability that a point
finds a synthetic point within its k-th-nearest-REFERENCE radius when the odds around it are r (h increases
with r). Two rates are measured at that one radius:
- reference hit rate: share of reference points with a synthetic point inside (Naeem et al.'s coverage at
  the reference's own resolution); estimates E_p[h(r)];
- synthetic self-hit rate: share of synthetic points with ANOTHER synthetic point inside; estimates E_q[h(r)].
Each is divided by its exact expectation for two i.i.d. samples of one distribution (exchangeability:
1 − ∏_{i=1..k} (N−i)/(N+M−i) and 1 − ∏_{i=1..k} (N+1−i)/(N+M−i)), and
coverage = normalised reference hit rate / normalised self-hit rate ("concentration"), clipped to [0, 1].
Why this and not the previous min(kNN / expectation, regions / expectation):
- Sound at any size. q = p gives 1 at any N, M: both expectations are exact (exchangeability), so no
  empirical calibration is involved. In the local limit (densities roughly constant over a k-NN ball),
  q = p restricted to a part A of reference mass c gives exactly c at any k: inside A the odds rise from
  M/N to M/(cN), which raises the reference hit rate there AND the synthetic self-hit rate by the same
  factor, so it cancels. Any other q gives < 1 (r and h(r) are positively correlated under p, so
  E_q[h] ≥ E_p[h], with equality only when r is constant). What departs from that limit reads HIGH:
  reference points of a missing topic that sit within a k-NN ball of a present one count as hit (topics
  overlap in embedding space), the more so at the coarse k of small sets (1 intent at 160 rows reads 0.15).
- It does not reward a small or concentrated set. Dividing a hit rate by its same-distribution expectation
  alone (the old normalisation) credits a set for piling its rows on fewer topics: on BANKING77 a set of 31
  of 77 intents (620 rows vs 1,540 reference rows) has 5-NN coverage 0.51 against the whole reference
  where a same-size fair sample expects 0.82 (0.51 / 0.82 = 0.62), and fills 0.53 of the region mass where
  a fair sample fills 0.87 (0.61). The synthetic side measures that concentration (1.34 at k = 3) and
  divides it out: 0.48.
- It keeps the resolution of the whole reference. Equal-size subsamples (the `knn` block, as the issue
  specifies) shrink the reference to M rows, and at 620 rows a 5-NN ball spans most of an intent and
  reaches neighbouring ones: a missing intent then counts as covered (kNN coverage 0.72 for the 31-intent
  set). Here the reference is used whole (capped at `max_samples`) and the ratio is exact at any N:M.
- k is the smallest with self-hit expectation ≥ 1/2 (`support_k`): the finest neighbourhood in which the
  synthetic side has power (N = M → 1; 1,540 vs 620 → 3; vs 160 → 8; vs 30 → ~40). Small sets therefore work
  at a coarse resolution and cannot be shown to miss nearby topics; they get the low-power warning.
- Near-copies cover nothing new, and a synthetic set of near-copy pairs would look concentrated: exact
  repeats are dropped per side, then near-copies (cosine ≥ 0.95) are thinned from the POOLED rows in a
  seeded order blind to side, which keeps the two sides exchangeable under identical distributions.
  Limitations: clumps below that similarity (e.g. every query plus a close paraphrase, cosine ≈ 0.94) still
  read as concentration and lower the figure (`support.concentration` shows it); in an embedding space
  whose typical nearest-neighbour cosine nears the threshold, thinning flattens densities
  (`support.thinned_share`, warned above 20%).
- Deterministic given the seed (subsamples and the thinning order are seeded).
Figures on BANKING77 (reference = 20 queries per intent, synthetic from the other 20): disjoint halves 1.00;
31 of 77 intents 0.48; 1 / 4 / 8 / 77 intents at 160 rows 0.15 / 0.19 / 0.22 / 1.00; 30 random real rows 0.93
on average over 20 draws (lowest 0.60: low power, warned). The region figure and the kNN block stay in the
report as diagnostics; they are not averaged into the headline. Unlike the legacy KS score (two independent
clusterings whose sorted cluster sizes are compared, so region identity is lost) the headline is high only
when the same places are covered.

Nothing here builds an N×M distance matrix: every pairwise step works on row blocks (memory
O(block × n)), and kNN and support subsamples are capped (`max_samples`, default 5,000 per side).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import binom, ks_2samp
from sklearn.cluster import KMeans

from hf_synth.quality.diversity import diversity_report, find_near_duplicates

__all__ = [
    "cluster_coverage",
    "coverage_from_embeddings",
    "coverage_report",
    "default_n_clusters",
    "expected_knn_coverage",
    "expected_self_hit",
    "find_near_duplicates",
    "headline_coverage",
    "knn_prdc",
    "kth_neighbour_sq_dist",
    "legacy_ks_score",
    "support_coverage",
    "support_k",
]

BLOCK_CELLS = 1 << 24  # float32 cells per distance block (64 MiB)
LOW_POWER_ROWS = 100


def _rows_per_block(n_cols: int) -> int:
    return max(1, min(4096, BLOCK_CELLS // max(1, n_cols)))


def _sq_dist(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (len(a), len(b)) via ‖a‖² + ‖b‖² − 2ab, clipped at 0."""
    d = (a * a).sum(axis=1)[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)
    np.maximum(d, 0.0, out=d)
    return d


def _tolerance(x: np.ndarray) -> float:
    # float32 dot products of length d carry ~√d·ε relative error; a tie inside this tolerance is a tie
    # (so exact duplicates land inside each other's balls however the rounding falls).
    return float(1e-5 * max(1.0, float(np.mean((x * x).sum(axis=1))) if len(x) else 1.0))


def kth_neighbour_sq_dist(x: np.ndarray, k: int) -> np.ndarray:
    """Squared distance from each row to its k-th nearest OTHER row, blockwise.

    Args:
        x: (n, d) float. k: 1 ≤ k ≤ n − 1.
    Returns:
        (n,) float32. The row itself is excluded by index, not by distance, so an exact duplicate elsewhere
        is a neighbour at distance 0 (the reference implementation's self-exclusion would drop it).
    """
    x = np.asarray(x, dtype=np.float32)
    n = len(x)
    if not 1 <= k <= n - 1:
        raise ValueError(f"k={k} needs 1 ≤ k ≤ n−1 with n={n}")
    x_sq = (x * x).sum(axis=1)
    out = np.empty(n, dtype=np.float32)
    step = _rows_per_block(n)
    for start in range(0, n, step):
        stop = min(start + step, n)
        d = _sq_dist(x[start:stop], x, x_sq)
        d[np.arange(stop - start), np.arange(start, stop)] = np.inf
        out[start:stop] = d.min(axis=1) if k == 1 else np.partition(d, k - 1, axis=1)[:, k - 1]
    return out


def _prdc_once(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[dict[str, float], np.ndarray]:
    """One evaluation of Naeem et al.'s four metrics with inclusive (≤) ball membership.

    Returns (metrics, covered (n_real,) bool: the real point's k-NN ball holds a fake point).
    """
    r_rad = kth_neighbour_sq_dist(real, k)
    f_rad = kth_neighbour_sq_dist(fake, k)
    tol = _tolerance(np.concatenate([real[:1000], fake[:1000]]))
    f_sq = (fake * fake).sum(axis=1)
    covered = np.zeros(len(real), dtype=bool)
    recalled = np.zeros(len(real), dtype=bool)
    balls_holding_fake = np.zeros(len(fake), dtype=np.int64)
    step = _rows_per_block(len(fake))
    for start in range(0, len(real), step):
        stop = min(start + step, len(real))
        d = _sq_dist(real[start:stop], fake, f_sq)  # (block of reals, all fakes)
        inside_real_ball = d <= (r_rad[start:stop, None] + tol)
        covered[start:stop] = inside_real_ball.any(axis=1)
        balls_holding_fake += inside_real_ball.sum(axis=0)
        recalled[start:stop] = (d <= (f_rad[None, :] + tol)).any(axis=1)
    metrics = {
        "precision": float(np.mean(balls_holding_fake > 0)),
        "recall": float(np.mean(recalled)),
        "density": float(balls_holding_fake.sum() / (k * len(fake))),
        "coverage": float(np.mean(covered)),
    }
    return metrics, covered


def expected_knn_coverage(n_real: int, n_fake: int, k: int) -> float:
    """Expected kNN coverage when real and fake are i.i.d. from one continuous distribution.

    For a real point, its N−1 other reals and the M fakes are exchangeable in distance order, and it is
    covered unless its k nearest among them are all real: P = ∏_{i=1..k} (N−i)/(N+M−i).
    Returns 1 − P (0-1). N = M, k = 5 → ≈ 0.969 for large N.
    """
    if n_real <= k:
        raise ValueError(f"need n_real > k (got n_real={n_real}, k={k})")
    p = 1.0
    for i in range(1, k + 1):
        p *= (n_real - i) / (n_real + n_fake - i)
    return 1.0 - p


def knn_prdc(
    real: np.ndarray,
    fake: np.ndarray,
    k: int = 5,
    *,
    max_samples: int = 5_000,
    n_resamples: int = 5,
    seed: int = 0,
    keep_points: bool = False,
) -> dict:
    """k-NN precision, recall, density and coverage (Naeem et al. 2020), on equal-size subsamples.

    Args:
        real: (N, d) reference embeddings. fake: (M, d) synthetic embeddings. k: neighbours (paper: 5).
        max_samples: per-side subsample cap n = min(N, M, max_samples); both sides use n rows, because
            all four metrics shift with the N:M ratio.
        n_resamples: seeded subsample draws (1 when no side is subsampled); means reported.
    Returns:
        {"precision", "recall", "density", "coverage"} (means over resamples; density may exceed 1),
        "std" {same keys}, "expected_coverage" (identical-distribution expectation at n vs n),
        "coverage_normalised" (coverage / expected, clipped to 1), "n_per_side", "n_resamples", "k";
        with keep_points, "points": per resample (real row indices (n,), covered flags (n,) bool) — not
        JSON-able, for callers that combine point-level coverage with other criteria.
    Cost: O(n_resamples · n² · d) time, O(block · n) memory.
    """
    real = np.asarray(real, dtype=np.float32)
    fake = np.asarray(fake, dtype=np.float32)
    n = min(len(real), len(fake), max_samples)
    if n <= k:
        raise ValueError(f"kNN metrics need more than k={k} rows per side (got {n})")
    draws = n_resamples if max(len(real), len(fake)) > n else 1
    rng = np.random.default_rng(seed)
    runs, points = [], []
    for _ in range(draws):
        ri = rng.choice(len(real), n, replace=False) if len(real) > n else np.arange(n)
        fi = rng.choice(len(fake), n, replace=False) if len(fake) > n else np.arange(n)
        metrics, covered = _prdc_once(real[ri], fake[fi], k)
        runs.append(metrics)
        points.append((ri, covered))
    keys = ("precision", "recall", "density", "coverage")
    out: dict = {key: float(np.mean([r[key] for r in runs])) for key in keys}
    out["std"] = {key: float(np.std([r[key] for r in runs], ddof=1)) if draws > 1 else 0.0 for key in keys}
    expected = expected_knn_coverage(n, n, k)
    out["expected_coverage"] = expected
    out["coverage_normalised"] = min(1.0, out["coverage"] / expected)
    out.update(n_per_side=int(n), n_resamples=int(draws), k=int(k))
    if keep_points:
        out["points"] = points
    return out


def _cross_nearest(x: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """One blockwise pass over x-y distances, 1 ≤ k ≤ len(x).

    Returns (squared distance from each x row to its nearest y row (len(x),), squared distance from each
    y row to its k-th nearest x row (len(y),)).
    """
    y_sq = (y * y).sum(axis=1)
    nearest = np.empty(len(x), dtype=np.float32)
    best = np.full((0, len(y)), np.inf, dtype=np.float32)  # ≤ k smallest distances per y row so far
    step = _rows_per_block(len(y))
    for start in range(0, len(x), step):
        d = _sq_dist(x[start : start + step], y, y_sq)
        nearest[start : start + step] = d.min(axis=1)
        both = np.concatenate([best, d])
        best = both if len(both) <= k else np.partition(both, k - 1, axis=0)[:k]
    return nearest, best.max(axis=0)


def expected_self_hit(n_real: int, n_fake: int, k: int) -> float:
    """Expected share of fake points with ANOTHER fake inside their k-th-nearest-real radius, i.i.d. case.

    A fake point sees N reals and M − 1 other fakes, exchangeable in distance order; it misses unless its
    first k neighbours are all real: 1 − ∏_{i=1..k} (N+1−i)/(N+M−i). 0-1.
    """
    if n_fake < 2 or not 1 <= k <= n_real:
        raise ValueError(f"need n_fake ≥ 2 and 1 ≤ k ≤ n_real (got {n_fake}, {k}, {n_real})")
    p = 1.0
    for i in range(1, k + 1):
        p *= (n_real + 1 - i) / (n_real + n_fake - i)
    return 1.0 - p


def support_k(n_real: int, n_fake: int, target: float = 0.5) -> int:
    """Smallest k with `expected_self_hit(N, M, k)` ≥ target − 1/(N+M) (capped at N − 1).

    The neighbourhood of k reference points is then the one in which a synthetic point of an identical
    distribution has even odds of meeting another synthetic point: N = M → k = 1; N = 1540, M = 620 → 3;
    M = 30 → 37. Finer neighbourhoods separate nearby topics better, coarser ones are needed for power.
    """
    for k in range(1, n_real):
        if expected_self_hit(n_real, n_fake, k) >= target - 1.0 / (n_real + n_fake):
            return k
    return max(1, n_real - 1)


def _unique_index(x: np.ndarray) -> np.ndarray:
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


def _unique_rows(x: np.ndarray) -> np.ndarray:
    """Rows of x without exact repeats, in first-occurrence order."""
    return x[_unique_index(x)] if len(x) else x


def _thin_pooled(
    r: np.ndarray, f: np.ndarray, threshold: float | None, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Drop near-copies from the POOLED rows, blind to which side a row is on.

    Rows are visited in a seeded random order and a row is dropped when its cosine to an earlier-visited
    row of either side is ≥ threshold (`find_near_duplicates`, one group). The visiting order does not
    depend on the side, so for two samples of one distribution the surviving rows' sides stay
    exchangeable and the i.i.d. expectations hold at the surviving sizes.
    """
    if threshold is None:
        return r, f
    pooled = np.concatenate([r, f])
    order = rng.permutation(len(pooled))
    keep = np.ones(len(pooled), dtype=bool)
    keep[order[find_near_duplicates(pooled[order], np.zeros(len(pooled), dtype=np.int8), threshold)]] = False
    return r[keep[: len(r)]], f[keep[len(r) :]]


def support_coverage(
    real: np.ndarray,
    fake: np.ndarray,
    *,
    k: int | None = None,
    max_samples: int = 5_000,
    n_resamples: int = 3,
    seed: int = 0,
    near_duplicate_threshold: float | None = 0.95,
) -> dict:
    """Reference mass inside the synthetic set's support: the headline (see the module docstring).

    For each REFERENCE point: hit when a synthetic point lies within its k-th-nearest-reference radius
    (Naeem et al.'s coverage, at the reference's own resolution). For each SYNTHETIC point: hit when
    another synthetic point lies within its k-th-nearest-reference radius. With r(x) = M·q(x) / (N·p(x))
    the local synthetic:reference odds and h(r) the hit probability at odds r (increasing in r), the two
    rates estimate E_p[h(r)] and E_q[h(r)]. Each is divided by its exact expectation for two i.i.d.
    samples of one distribution (`expected_knn_coverage`, `expected_self_hit`), and

        coverage = (reference hit rate / its expectation) / (synthetic self-hit rate / its expectation).

    q = p gives 1; q = p restricted to a region A of reference mass c gives c at any k and any size (r is
    raised by 1/c on A; the synthetic-side rate measures exactly that rise and divides it out); any other
    q gives less (E_q[h(r)] ≥ E_p[h(r)], as r and h(r) are positively correlated under p). So a small or
    concentrated set is not rewarded, and an honest sample is not penalised for its size.

    Args:
        real: (N, d) reference; fake: (M, d) synthetic.
        k: None → `support_k(n_reference, n_synthetic)` (finest neighbourhood with enough power).
        max_samples: per-side cap. Sides are NOT equalised: the ratio is exact at any N:M, and the whole
            reference keeps the finest resolution. n_resamples seeded draws when a side is capped.
        near_duplicate_threshold: exact repeats are dropped on each side; then, after subsampling,
            near-copies (cosine ≥ threshold) are thinned from the pooled rows, blind to side
            (`_thin_pooled`; None: keep). Near-copies cover nothing new, and a synthetic set made of
            near-copy pairs would otherwise read as concentrated.
    Returns:
        {"coverage" (0-1), "k", "reference_hit_rate", "expected_reference_hit_rate",
        "synthetic_self_hit_rate", "expected_self_hit_rate", "concentration" (self-hit rate / its
        expectation: ≈ 1 for a sample of the reference, > 1 when synthetic mass is piled on part of it),
        "n_reference", "n_synthetic" (rows used, first draw, after thinning), "n_resamples",
        "thinned_share" (pooled rows removed as near-copies; large values mean the embedding space is
        denser than the threshold and the thinning flattens densities: raise it or pass None)}; rates and
        expectations are means over draws.
    Cost: O(n_resamples · n² · d) time, O(block · n) memory.
    """
    real = np.asarray(real, dtype=np.float32)
    fake = np.asarray(fake, dtype=np.float32)
    # Row numbers of distinct rows; a side is copied only after subsampling (a memmap stays on disk).
    real_ix, fake_ix = _unique_index(real), _unique_index(fake)
    cap_r, cap_f = min(len(real_ix), max_samples), min(len(fake_ix), max_samples)
    draws = n_resamples if len(real_ix) > cap_r or len(fake_ix) > cap_f else 1
    rng = np.random.default_rng(seed)
    runs: list[tuple[float, float, float, float]] = []
    sizes: list[tuple[int, int]] = []
    thinned: list[float] = []
    for _ in range(draws):
        r_ix = real_ix
        if len(real_ix) > cap_r:
            r_ix = real_ix[np.sort(rng.choice(len(real_ix), cap_r, replace=False))]
        f_ix = fake_ix
        if len(fake_ix) > cap_f:
            f_ix = fake_ix[np.sort(rng.choice(len(fake_ix), cap_f, replace=False))]
        r, f = real[r_ix], fake[f_ix]
        before = len(r) + len(f)
        r, f = _thin_pooled(r, f, near_duplicate_threshold, rng)
        thinned.append(1.0 - (len(r) + len(f)) / before)
        if len(r) < 2 or len(f) < 2:
            raise ValueError(f"support coverage needs ≥ 2 distinct rows per side (got {len(r)}, {len(f)})")
        if k is None:
            k = support_k(len(r), len(f))
        k = min(int(k), len(r) - 1)
        tol = _tolerance(np.concatenate([r[:1000], f[:1000]]))
        r_rad = kth_neighbour_sq_dist(r, k)  # k-th nearest other reference point
        r_to_f, f_rad = _cross_nearest(r, f, k)  # nearest synthetic point; k-th nearest reference point
        hit_r = float(np.mean(r_to_f <= r_rad + tol))
        hit_f = float(np.mean(kth_neighbour_sq_dist(f, 1) <= f_rad + tol))
        runs.append(
            (hit_r, expected_knn_coverage(len(r), len(f), k), hit_f, expected_self_hit(len(r), len(f), k))
        )
        sizes.append((len(r), len(f)))
    hit_r, e_r, hit_f, e_f = (float(v) for v in np.mean(runs, axis=0))
    concentration = float(np.mean([h / e for _, _, h, e in runs]))
    normalised = float(np.mean([h / e for h, e, _, _ in runs]))
    value = normalised / concentration if concentration > 0 else 0.0
    return {
        "coverage": float(np.clip(value, 0.0, 1.0)),
        "k": int(k),
        "reference_hit_rate": hit_r,
        "expected_reference_hit_rate": e_r,
        "synthetic_self_hit_rate": hit_f,
        "expected_self_hit_rate": e_f,
        "concentration": concentration,
        "n_reference": sizes[0][0],
        "n_synthetic": sizes[0][1],
        "n_resamples": int(draws),
        "thinned_share": float(np.mean(thinned)),
    }


def default_n_clusters(n_reference: int) -> int:
    """Regions of the reference: about 12 reference rows each, between 2 and 256.

    Fine regions are needed to see missing intents (coarse k-means regions mix several topics, and a region
    passes the half-share rule as soon as one of its topics is present); the identical-distribution
    normalisation (`expected_cluster_coverage`) removes the small-sample bias fine regions bring. Depends on
    the reference only, so figures of different synthetic sets against one reference compare.
    """
    return int(np.clip(round(n_reference / 12), 2, 256))


def expected_cluster_coverage(ref_share: np.ndarray, n_synthetic: int, fill_ratio: float = 0.5) -> float:
    """Expected cluster coverage when the M synthetic rows are drawn from the reference distribution.

    Region c (reference share p_c) is filled when Binomial(M, p_c) ≥ fill_ratio·p_c·M, so the expectation is
    Σ_c p_c · P(Bin(M, p_c) ≥ ⌈fill_ratio·p_c·M⌉). Treats the reference shares as exact. 0-1.
    """
    p = np.asarray(ref_share, dtype=np.float64)
    need = np.ceil(fill_ratio * p * n_synthetic - 1e-9)
    return float((p * binom(n_synthetic, p).sf(need - 1)).sum())


def _nearest_centroid(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels (n,), squared distance to the assigned centroid (n,)), blockwise."""
    c_sq = (centroids * centroids).sum(axis=1)
    labels = np.empty(len(x), dtype=np.int64)
    dist = np.empty(len(x), dtype=np.float32)
    step = _rows_per_block(len(centroids))
    for start in range(0, len(x), step):
        d = _sq_dist(x[start : start + step], centroids, c_sq)
        labels[start : start + step] = d.argmin(axis=1)
        dist[start : start + step] = d.min(axis=1)
    return labels, dist


def fit_reference_regions(
    ref_emb: np.ndarray, n_clusters: int, seed: int = 0, max_fit: int = 20_000
) -> np.ndarray:
    """k-means centroids (n_clusters, d) of the reference (fitted on ≤ max_fit seeded rows)."""
    ref_emb = np.asarray(ref_emb, dtype=np.float32)
    fit = ref_emb
    if len(ref_emb) > max_fit:
        fit = ref_emb[np.random.default_rng(seed).choice(len(ref_emb), max_fit, replace=False)]
    # Several restarts are cheap on small references and steady the regions; large ones get one.
    # float64 input: sklearn's float32 path upcasts distance chunks in k-means++ and runs ~4x slower.
    km = KMeans(n_clusters=n_clusters, n_init=3 if len(fit) <= 10_000 else 1, random_state=seed)
    km.fit(fit.astype(np.float64))
    return km.cluster_centers_.astype(np.float32)


def cluster_coverage(
    ref_emb: np.ndarray,
    syn_emb: np.ndarray,
    ref_texts: Sequence[str],
    n_clusters: int | None = None,
    seed: int = 0,
    *,
    fill_ratio: float = 0.5,
    n_examples: int = 5,
) -> dict:
    """Regional coverage: k-means on the reference only, synthetic rows assigned to its regions.

    Args:
        ref_emb: (N, d); syn_emb: (M, d); ref_texts: N reference texts (for examples).
        n_clusters: regions; None → `default_n_clusters(N)`.
        fill_ratio: a region is filled when synthetic share ≥ fill_ratio × reference share.
        n_examples: reference texts listed per under-filled region, medoid first.
    Returns:
        "coverage": reference mass of filled regions (0-1); "expected_coverage": its expectation for a
        synthetic set drawn from the reference distribution at this size (`expected_cluster_coverage`);
        "coverage_normalised": coverage / expected, clipped to 1; "filled_regions", "n_clusters",
        "fill_ratio";
        "total_variation": ½ Σ |ref share − syn share| (0-1) over regions;
        "under_filled": list, worst (largest share − synthetic_share) first, of {"cluster", "share",
        "synthetic_share", "n_reference", "n_synthetic", "examples"}.
    The medoid under squared Euclidean distance is exactly the member nearest the region's mean
    (Σ_j ‖x_i − x_j‖² = n‖x_i − x̄‖² + const), so examples are ordered by distance to the member mean.
    """
    ref_emb = np.asarray(ref_emb, dtype=np.float32)
    syn_emb = np.asarray(syn_emb, dtype=np.float32)
    n_clusters = default_n_clusters(len(ref_emb)) if n_clusters is None else n_clusters
    n_clusters = max(1, min(n_clusters, len(ref_emb)))
    centroids = fit_reference_regions(ref_emb, n_clusters, seed)
    ref_lab, _ = _nearest_centroid(ref_emb, centroids)
    syn_lab, _ = _nearest_centroid(syn_emb, centroids)
    ref_count = np.bincount(ref_lab, minlength=n_clusters)
    syn_count = np.bincount(syn_lab, minlength=n_clusters)
    ref_share = ref_count / max(1, len(ref_emb))
    syn_share = syn_count / max(1, len(syn_emb))
    filled = syn_share >= fill_ratio * ref_share
    deficit = ref_share - syn_share
    under = []
    for c in np.argsort(-deficit, kind="stable"):
        if filled[c] or ref_count[c] == 0:
            continue
        members = np.flatnonzero(ref_lab == c)
        centre = ref_emb[members].mean(axis=0)
        order = np.argsort(((ref_emb[members] - centre) ** 2).sum(axis=1), kind="stable")[:n_examples]
        under.append(
            {
                "cluster": int(c),
                "share": float(ref_share[c]),
                "synthetic_share": float(syn_share[c]),
                "n_reference": int(ref_count[c]),
                "n_synthetic": int(syn_count[c]),
                "examples": [ref_texts[i] for i in members[order]],
            }
        )
    observed = float(ref_share[filled].sum())
    expected = expected_cluster_coverage(ref_share, len(syn_emb), fill_ratio)
    return {
        "coverage": observed,
        "expected_coverage": expected,
        "coverage_normalised": min(1.0, observed / expected) if expected > 0 else 0.0,
        "filled_regions": int(filled.sum()),
        "n_clusters": int(n_clusters),
        "fill_ratio": fill_ratio,
        "total_variation": float(0.5 * np.abs(ref_share - syn_share).sum()),
        "under_filled": under,
    }


def _legacy_labels(x: np.ndarray, n_clusters: int, seed: int, max_fit: int = 20_000) -> np.ndarray:
    """KMeans labels of every row; above max_fit rows the fit uses a seeded max_fit-row sample and all rows
    are assigned to its nearest centroid blockwise (≤ max_fit: exactly the article's fit_predict)."""
    if len(x) <= max_fit:
        return KMeans(n_clusters=n_clusters, random_state=seed).fit_predict(np.asarray(x, np.float64))
    sample = np.sort(np.random.default_rng(seed).choice(len(x), max_fit, replace=False))
    km = KMeans(n_clusters=n_clusters, random_state=seed).fit(np.asarray(x[sample], np.float64))
    return _nearest_centroid(x, km.cluster_centers_.astype(np.float32))[0]


def legacy_ks_score(syn_emb: np.ndarray, ref_emb: np.ndarray, seed: int = 0) -> dict:
    """The background article's "coverage score", computed as it describes. NOT a coverage measure.

    n_clusters = min(10, M // 50); KMeans fitted separately on synthetic and on reference; the two
    cluster-size vectors (bincount) are compared with a two-sample Kolmogorov-Smirnov test; score =
    1 − KS statistic. Statistically broken: the two clusterings' labels are unrelated, so it compares
    the distribution of cluster SIZES only (any two sets with balanced clusters score 1, whatever they
    contain), with ≤ 10 "samples" per side. Returns {"value" (None when M < 50), "n_clusters", "note"}.
    """
    n_clusters = min(10, len(syn_emb) // 50)
    note = (
        "legacy article score (1 - KS statistic between cluster-size vectors of two separate KMeans fits); "
        "not a coverage measure: it ignores which regions the clusters are in"
    )
    if n_clusters < 1:
        return {"value": None, "n_clusters": n_clusters, "is_coverage_measure": False, "note": note}
    syn_lab = _legacy_labels(syn_emb, n_clusters, seed)
    ref_lab = _legacy_labels(ref_emb, n_clusters, seed)
    stat = ks_2samp(np.bincount(syn_lab, minlength=n_clusters), np.bincount(ref_lab, minlength=n_clusters))
    return {
        "value": float(1.0 - stat.statistic),
        "n_clusters": int(n_clusters),
        "is_coverage_measure": False,
        "note": note,
    }


def headline_coverage(support: dict | None, clusters: dict) -> float:
    """The headline: `support_coverage`'s figure (0-1).

    Falls back to the region figure normalised by its expectation when support coverage could not be
    computed (fewer than 2 distinct rows on a side).
    """
    if support is None:
        return float(clusters["coverage_normalised"])
    return float(support["coverage"])


def coverage_from_embeddings(
    syn_emb: np.ndarray,
    ref_emb: np.ndarray,
    syn_texts: Sequence[str],
    ref_texts: Sequence[str],
    *,
    seed: int = 0,
    k: int = 5,
    n_clusters: int | None = None,
    max_samples: int = 5_000,
    n_resamples: int = 5,
    n_examples: int = 5,
    fill_ratio: float = 0.5,
    near_duplicate_threshold: float = 0.95,
    leakage_threshold: float = 0.95,
) -> dict:
    """Every coverage figure from precomputed embeddings (see `coverage_report` for the keys)."""
    syn_emb = np.asarray(syn_emb, dtype=np.float32)
    ref_emb = np.asarray(ref_emb, dtype=np.float32)
    if len(syn_emb) != len(syn_texts) or len(ref_emb) != len(ref_texts):
        raise ValueError("each embedding array needs one row per text")
    if len(syn_emb) < 2 or len(ref_emb) < 2:
        raise ValueError(
            f"need at least 2 rows per side (synthetic {len(syn_emb)}, reference {len(ref_emb)})"
        )
    warnings: list[str] = []
    m, n = len(syn_emb), len(ref_emb)
    if m < LOW_POWER_ROWS:
        warnings.append(
            f"low statistical power: only {m} synthetic rows (< {LOW_POWER_ROWS}); "
            "coverage figures are rough and regions look under-filled by chance"
        )
    if n < LOW_POWER_ROWS:
        warnings.append(f"low statistical power: only {n} reference rows (< {LOW_POWER_ROWS})")
    try:
        knn = knn_prdc(ref_emb, syn_emb, k, max_samples=max_samples, n_resamples=n_resamples, seed=seed)
    except ValueError as exc:
        knn = None
        warnings.append(f"kNN metrics skipped: {exc}")
    clusters = cluster_coverage(
        ref_emb, syn_emb, ref_texts, n_clusters, seed, fill_ratio=fill_ratio, n_examples=n_examples
    )
    try:
        support = support_coverage(
            ref_emb,
            syn_emb,
            max_samples=max_samples,
            # Draws differ only when a side exceeds max_samples, and each then averages max_samples rows
            # of it (one draw's sd ≈ 0.01 on the 100k benchmark); 3 keep 100k×100k inside its budget.
            n_resamples=min(n_resamples, 3),
            seed=seed,
            near_duplicate_threshold=near_duplicate_threshold,
        )
    except ValueError as exc:
        support = None
        warnings.append(f"support coverage skipped, headline falls back to the region figure: {exc}")
    if support is not None and support["thinned_share"] > 0.2:
        warnings.append(
            f"{support['thinned_share']:.0%} of rows were thinned as near-copies (cosine >= "
            f"{near_duplicate_threshold}); the headline is unreliable, raise near_duplicate_threshold"
        )
    if clusters["expected_coverage"] < 0.8:
        warnings.append(
            f"{m} synthetic rows for {clusters['n_clusters']} reference regions: "
            "even a sample of the reference "
            f"would fill only {clusters['expected_coverage']:.0%} of the reference mass; the region test has "
            "low power (its normalised figure is divided by that expectation)"
        )
    diversity = diversity_report(
        syn_texts,
        syn_emb,
        ref_texts,
        ref_emb,
        seed=seed,
        near_duplicate_threshold=near_duplicate_threshold,
        leakage_threshold=leakage_threshold,
    )
    if diversity["leakage"]["rate"] > 0:
        warnings.append(
            f"{diversity['leakage']['rate']:.1%} of checked synthetic rows are near-copies of "
            "reference texts "
            f"(cosine ≥ {leakage_threshold})"
        )
    return {
        "coverage": headline_coverage(support, clusters),
        "coverage_definition": (
            "reference mass inside the synthetic set's support: (share of reference points with a synthetic "
            "point within their k-th-nearest-reference radius / its expectation for two samples of one "
            "distribution) / (share of synthetic points with another synthetic point within their "
            "k-th-nearest-reference radius / its expectation), clipped to [0, 1]; k = smallest with that "
            "second expectation >= 1/2; exact repeats dropped per side, near-copies (cosine >= "
            f"{near_duplicate_threshold:g}) thinned from the pooled rows blind to side"
        ),
        "support": support,
        "knn": knn,
        "clusters": {key: value for key, value in clusters.items() if key != "under_filled"},
        "uncovered": clusters["under_filled"],
        "legacy_ks_score": legacy_ks_score(syn_emb, ref_emb, seed),
        "diversity": diversity,
        "sizes": {"synthetic": m, "reference": n, "dim": int(syn_emb.shape[1])},
        "seed": seed,
        "warnings": warnings,
    }


def coverage_report(
    synthetic_texts: list[str],
    reference_texts: list[str],
    *,
    embedder=None,
    seed: int = 0,
    k: int = 5,
    n_clusters: int | None = None,
    max_samples: int = 5_000,
    n_resamples: int = 5,
    n_examples: int = 5,
    fill_ratio: float = 0.5,
    near_duplicate_threshold: float = 0.95,
    leakage_threshold: float = 0.95,
) -> dict:
    """Coverage of `reference_texts` by `synthetic_texts`, as a JSON-able dict.

    Args:
        synthetic_texts, reference_texts: ≥ 2 texts each (any length or script; empty strings allowed).
        embedder: `hf_synth.quality.embed.sentence.Embedder`; None → the bundled all-MiniLM-L6-v2 with
            the disk cache.
        seed: seeds every subsample and k-means; same seed and inputs → same numbers.
        k: neighbours for the kNN metrics (Naeem et al. use 5).
    Returns keys: coverage (headline 0-1, `support_coverage`), coverage_definition, support, knn, clusters,
        uncovered (worst first:
        share, synthetic_share, examples — reference texts verbatim, medoid first), legacy_ks_score,
        diversity, sizes, model, seed, warnings.
    """
    if embedder is None:
        from hf_synth.quality.embed.sentence import Embedder

        embedder = Embedder()
    syn_texts = ["" if t is None else str(t) for t in synthetic_texts]
    ref_texts = ["" if t is None else str(t) for t in reference_texts]
    report = coverage_from_embeddings(
        embedder.encode(syn_texts),
        embedder.encode(ref_texts),
        syn_texts,
        ref_texts,
        seed=seed,
        k=k,
        n_clusters=n_clusters,
        max_samples=max_samples,
        n_resamples=n_resamples,
        n_examples=n_examples,
        fill_ratio=fill_ratio,
        near_duplicate_threshold=near_duplicate_threshold,
        leakage_threshold=leakage_threshold,
    )
    report["model"] = getattr(embedder, "model_id", str(embedder))
    from hf_synth.quality.embed.static import describe_embedder

    report["embedder"] = describe_embedder(embedder)
    return report
