"""Coverage report assembly: every figure of one synthetic set against one reference set.

`coverage_from_embeddings` combines the headline (`support`), the k-NN diagnostics (`knn`), the reference
regions and the `uncovered` list (`regions`), diversity and leakage (`diversity`) and the legacy article
score (`legacy`) into one JSON-able dict; `coverage_report` embeds texts first. The entry point that picks
in-memory / out-of-core / Ray is `hf_synth.quality.measure.measure_coverage`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hf_synth.quality.diversity import diversity_report, find_near_duplicates
from hf_synth.quality.knn import expected_knn_coverage, knn_prdc
from hf_synth.quality.legacy import legacy_ks_score
from hf_synth.quality.neighbours import kth_neighbour_sq_dist
from hf_synth.quality.regions import cluster_coverage, default_n_clusters
from hf_synth.quality.support import expected_self_hit, support_coverage, support_k

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

LOW_POWER_ROWS = 100


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
    from hf_synth.quality.embed.static import describe_embedder

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
    report["embedder"] = describe_embedder(embedder)
    return report
