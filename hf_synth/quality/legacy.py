"""The background article's "coverage score", kept only as `legacy_ks_score`. NOT a coverage measure."""

from __future__ import annotations

import numpy as np
from scipy.stats import ks_2samp
from sklearn.cluster import KMeans

from hf_synth.quality.neighbours import nearest_centroid

__all__ = ["legacy_ks_score"]


def _legacy_labels(x: np.ndarray, n_clusters: int, seed: int, max_fit: int = 20_000) -> np.ndarray:
    """KMeans labels of every row; above max_fit rows the fit uses a seeded max_fit-row sample and all rows
    are assigned to its nearest centroid blockwise (≤ max_fit: exactly the article's fit_predict)."""
    if len(x) <= max_fit:
        return KMeans(n_clusters=n_clusters, random_state=seed).fit_predict(np.asarray(x, np.float64))
    sample = np.sort(np.random.default_rng(seed).choice(len(x), max_fit, replace=False))
    km = KMeans(n_clusters=n_clusters, random_state=seed).fit(np.asarray(x[sample], np.float64))
    return nearest_centroid(x, km.cluster_centers_.astype(np.float32))[0]


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
