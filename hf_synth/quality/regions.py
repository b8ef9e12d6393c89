"""Reference regions: k-means fitted on the REFERENCE only, synthetic rows assigned to its regions.

A diagnostic beside the headline, and the source of the report's `uncovered` list: a region is filled
when its synthetic share reaches at least half of its reference share; the figure is the reference mass
of filled regions. Its expectation for a synthetic sample of the reference distribution is
Σ_c p_c·P(Bin(M, p_c) ≥ p_c·M/2) (`expected_cluster_coverage`). Under-filled regions, worst first, with
reference examples (medoid first), are what a user reads to see which topics are missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import binom
from sklearn.cluster import KMeans

from hf_synth.quality.neighbours import nearest_centroid

__all__ = ["cluster_coverage", "default_n_clusters", "expected_cluster_coverage", "fit_reference_regions"]


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
        "under_filled": list, worst (largest missing reference mass, share − synthetic_share) first, of
        {"cluster", "share", "synthetic_share", "missing_share", "n_reference", "n_synthetic", "examples"}.
    The medoid under squared Euclidean distance is exactly the member nearest the region's mean
    (Σ_j ‖x_i − x_j‖² = n‖x_i − x̄‖² + const), so examples are ordered by distance to the member mean.
    """
    ref_emb = np.asarray(ref_emb, dtype=np.float32)
    syn_emb = np.asarray(syn_emb, dtype=np.float32)
    n_clusters = default_n_clusters(len(ref_emb)) if n_clusters is None else n_clusters
    n_clusters = max(1, min(n_clusters, len(ref_emb)))
    centroids = fit_reference_regions(ref_emb, n_clusters, seed)
    ref_lab, _ = nearest_centroid(ref_emb, centroids)
    syn_lab, _ = nearest_centroid(syn_emb, centroids)
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
                "missing_share": float(max(0.0, deficit[c])),
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
