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
from hf_synth.quality.longtail import rare_regions
from hf_synth.quality.neighbours import NeighbourSearch, kth_neighbour_sq_dist
from hf_synth.quality.regions import cluster_coverage, default_n_clusters
from hf_synth.quality.support import K_WITNESS, estimate_coverage, expected_self_hit

__all__ = [
    "cluster_coverage",
    "coverage_from_embeddings",
    "coverage_report",
    "default_n_clusters",
    "estimate_coverage",
    "expected_knn_coverage",
    "expected_self_hit",
    "find_near_duplicates",
    "headline",
    "knn_prdc",
    "kth_neighbour_sq_dist",
    "legacy_ks_score",
]

LOW_POWER_ROWS = 100
KNN_MAX_SAMPLES = 5_000  # the k-NN diagnostics run on equal-size subsamples of at most this many rows


def headline(support: dict | None, clusters: dict, n_reference: int) -> tuple[float, list[float], int]:
    """(point 0-1, 90% interval [low, high], resolution in reference rows) of the report.

    From `support.estimate_coverage`; when it could not run (fewer than 2 distinct rows on a side) the
    point falls back to the region figure normalised by its expectation, with the interval [0, 1] and a
    resolution of the whole reference: nothing is claimed.
    """
    if support is None:
        return float(clusters["coverage_normalised"]), [0.0, 1.0], int(n_reference)
    return float(support["coverage"]), list(support["interval"]), int(support["resolution"])


def coverage_from_embeddings(
    syn_emb: np.ndarray,
    ref_emb: np.ndarray,
    syn_texts: Sequence[str],
    ref_texts: Sequence[str],
    *,
    seed: int = 0,
    k: int = 5,
    n_clusters: int | None = None,
    max_samples: int | None = None,
    n_resamples: int = 5,
    n_examples: int = 5,
    fill_ratio: float = 0.5,
    near_duplicate_threshold: float = 0.95,
    leakage_threshold: float = 0.95,
    search: NeighbourSearch | None = None,
) -> dict:
    """Every coverage figure from precomputed embeddings (see `coverage_report` for the keys).

    k is the neighbour count of the k-NN diagnostics; the headline has its own (`support.K_WITNESS`).
    max_samples: None (default) → the headline, its interval, the regions and the rare list use every
    row (full resolution, `search` decides exact or approximate); a number → the headline and the rare
    list run on seeded subsamples of that many rows per side (the subsample path). The k-NN diagnostics
    always use equal-size subsamples (of max_samples or KNN_MAX_SAMPLES rows).
    search: the neighbour search (None: local engine, auto exact/approximate); its record is `neighbours`.
    """
    search = search or NeighbourSearch()
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
    try:
        cap = max_samples or KNN_MAX_SAMPLES
        knn = knn_prdc(ref_emb, syn_emb, k, max_samples=cap, n_resamples=n_resamples, seed=seed)
    except ValueError as exc:
        knn = None
        warnings.append(f"kNN diagnostics skipped: {exc}")
    clusters = cluster_coverage(
        ref_emb, syn_emb, ref_texts, n_clusters, seed, fill_ratio=fill_ratio, n_examples=n_examples
    )
    try:
        support = estimate_coverage(
            ref_emb,
            syn_emb,
            max_samples=max_samples,
            seed=seed,
            near_duplicate_threshold=near_duplicate_threshold,
            search=search,
            keep_points=True,
        )
    except ValueError as exc:
        support = None
        warnings.append(f"headline falls back to the region figure, interval [0, 1]: {exc}")
    rare = None
    if support is not None:
        pts = support.pop("points")
        rare = rare_regions(
            pts["hit"],
            pts["ref_neighbours"],
            pts["ref_rows"],
            ref_emb,
            ref_texts,
            support["n_synthetic"],
            max_rows=2 * int(np.ceil(n / clusters["n_clusters"])),
            n_examples=n_examples,
        )
        recall = support["neighbours"]["min_recall"]
        if support["neighbours"]["approximate"]:
            warnings.append(
                f"neighbours found with an approximate index: recall {recall:.1%} of exact search on a "
                "seeded sample (see `neighbours`)"
            )
    point, interval, resolution = headline(support, clusters, n)
    if m < LOW_POWER_ROWS or n < LOW_POWER_ROWS:
        warnings.append(
            f"low statistical power: {m} synthetic and {n} reference rows (< {LOW_POWER_ROWS} on a side); "
            f"the interval is wide and only missing topics of >= {resolution} reference rows can be seen"
        )
    for side, share in (support or {}).get("thinned_share", {}).items():
        if share > 0.2:
            warnings.append(
                f"{share:.0%} of the {side} rows sit on another {side} row (cosine >= "
                f"{near_duplicate_threshold} and within a quarter of their distance to the reference) and "
                "were counted once: the set repeats itself, and its headline is that of its distinct rows"
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
            f"{diversity['leakage']['rate']:.1%} of checked synthetic rows are near-copies of reference "
            f"texts (cosine ≥ {leakage_threshold})"
        )
    return {
        "coverage": point,
        "coverage_interval": interval,
        "resolution": resolution,
        "coverage_definition": (
            f"share of the reference the synthetic set covers: reference rows with a synthetic row within "
            f"their {K_WITNESS} nearest reference neighbours, set against what a sample covering a share c "
            "would witness; point = median of the c that fit, with a 90% interval"
        ),
        "support": support,
        "knn": knn,
        "clusters": {key: value for key, value in clusters.items() if key != "under_filled"},
        "uncovered": clusters["under_filled"],
        "rare": rare,
        "neighbours": support["neighbours"] if support is not None else None,
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
    max_samples: int | None = None,
    n_resamples: int = 5,
    n_examples: int = 5,
    fill_ratio: float = 0.5,
    near_duplicate_threshold: float = 0.95,
    leakage_threshold: float = 0.95,
    search: NeighbourSearch | None = None,
) -> dict:
    """Coverage of `reference_texts` by `synthetic_texts`, as a JSON-able dict.

    Args:
        synthetic_texts, reference_texts: ≥ 2 texts each (any length or script; empty strings allowed).
        embedder: `hf_synth.quality.embed.sentence.Embedder`; None → the bundled all-MiniLM-L6-v2 with
            the disk cache.
        seed: seeds every subsample and k-means; same seed and inputs → same numbers.
        k: neighbours for the kNN metrics (Naeem et al. use 5).
        max_samples, search: see `coverage_from_embeddings` (default: full resolution, local search).
    Returns keys: coverage (headline point 0-1), coverage_interval ([low, high], 90%), resolution
        (reference rows), coverage_definition, support (`support.estimate_coverage`), knn, clusters,
        uncovered (worst first:
        share, synthetic_share, missing_share, examples — reference texts verbatim, medoid first), rare
        (`longtail.rare_regions`), neighbours (`NeighbourSearch.report()`), legacy_ks_score,
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
        search=search,
    )
    report["model"] = getattr(embedder, "model_id", str(embedder))
    report["embedder"] = describe_embedder(embedder)
    return report
