"""k-NN precision, recall, density and coverage (Naeem, Oh, Uh, Choi & Yoo 2020, "Reliable Fidelity and
Diversity Metrics for Generative Models", ICML; precision/recall after Kynkäänniemi et al. 2019).

A diagnostic beside the headline: computed on equal-size seeded subsamples of both sides (all four
metrics shift with the N:M ratio), resampled, mean and std reported. Under identical distributions the
expected coverage is exactly 1 − ∏_{i=1..k} (N−i)/(N+M−i) (`expected_knn_coverage`), ≈ 0.969 for k = 5
and N = M.
"""

from __future__ import annotations

import numpy as np

from hf_synth.quality.neighbours import kth_neighbour_sq_dist, rows_per_block, sq_dist, tolerance

__all__ = ["expected_knn_coverage", "knn_prdc"]


def _prdc_once(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[dict[str, float], np.ndarray]:
    """One evaluation of Naeem et al.'s four metrics with inclusive (≤) ball membership.

    Returns (metrics, covered (n_real,) bool: the real point's k-NN ball holds a fake point). Needs every
    real ball's membership of every fake (density counts them), so it runs its own blockwise pass.
    """
    r_rad = kth_neighbour_sq_dist(real, k)
    f_rad = kth_neighbour_sq_dist(fake, k)
    tol = tolerance(np.concatenate([real[:1000], fake[:1000]]))
    f_sq = (fake * fake).sum(axis=1)
    covered = np.zeros(len(real), dtype=bool)
    recalled = np.zeros(len(real), dtype=bool)
    balls_holding_fake = np.zeros(len(fake), dtype=np.int64)
    step = rows_per_block(len(fake))
    for start in range(0, len(real), step):
        stop = min(start + step, len(real))
        d = sq_dist(real[start:stop], fake, f_sq)  # (block of reals, all fakes)
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
    i = np.arange(1, k + 1, dtype=np.float64)
    return float(1.0 - np.prod((n_real - i) / (n_real + n_fake - i)))


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
