"""Benchmark: every coverage metric on 100,000 synthetic × 100,000 reference 384-d embeddings, then the
embedding throughput of the default model.

Targets: all metrics < 60 s and peak RSS < 4 GB (measured before the model is loaded: ru_maxrss only grows).
Run: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_coverage.py [--n 100000] [--texts 1000]
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hf_synth.quality.coverage import coverage_from_embeddings  # noqa: E402
from hf_synth.quality.diversity import find_near_duplicates  # noqa: E402


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux reports KiB


def clustered(n: int, centres: np.ndarray, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors around the given centres (random-but-clustered, like sentence embeddings)."""
    lab = rng.choice(len(centres), size=n, p=weights / weights.sum())
    x = centres[lab] + rng.normal(scale=0.04, size=(n, centres.shape[1])).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def bench_metrics(n: int) -> None:
    rng = np.random.default_rng(0)
    d, k = 384, 300
    centres = rng.normal(size=(k, d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = rng.uniform(0.5, 2.0, size=k)
    ref = clustered(n, centres, weights, rng)
    syn_weights = weights.copy()
    syn_weights[: k // 5] = 0.0  # the synthetic set misses a fifth of the reference modes
    syn = clustered(n, centres, syn_weights, rng)
    syn_texts = [f"synthetic text {i} about topic {i % 997}" for i in range(n)]
    ref_texts = [f"reference text {i} about topic {i % 991}" for i in range(n)]
    print(
        f"data ready: {n:,} synthetic x {n:,} reference, d={d}; peak RSS {peak_rss_gb():.2f} GB", flush=True
    )

    t0 = time.perf_counter()
    report = coverage_from_embeddings(syn, ref, syn_texts, ref_texts, seed=0)
    t1 = time.perf_counter()
    groups = rng.integers(0, 500, size=n)  # strata of ~200 rows, as the engine would pass
    dups = find_near_duplicates(syn, groups, threshold=0.95)
    t2 = time.perf_counter()
    knn, cl = report["knn"], report["clusters"]
    print(
        f"coverage_from_embeddings: {t1 - t0:.1f} s  (headline {report['coverage']:.3f}, 90% "
        f"{report['coverage_interval'][0]:.3f}-{report['coverage_interval'][1]:.3f}, resolution "
        f"{report['resolution']:,} rows (the syn set misses 1/5 of the modes); "
        f"kNN coverage {knn['coverage']:.3f}/{knn['expected_coverage']:.3f} "
        f"on {knn['n_per_side']:,} per side "
        f"x {knn['n_resamples']}; regions {cl['coverage']:.3f}/{cl['expected_coverage']:.3f} of "
        f"{cl['n_clusters']}; legacy {report['legacy_ks_score']['value']})"
    )
    print(f"find_near_duplicates ({n:,} rows, 500 groups): {t2 - t1:.1f} s, {len(dups):,} flagged")
    total = t2 - t0
    rss = peak_rss_gb()
    print(f"ALL METRICS: {total:.1f} s (target < 60), peak RSS {rss:.2f} GB (target < 4)", flush=True)


def bench_embedding(n_texts: int) -> None:
    from hf_synth.quality.embed.sentence import Embedder

    path = ROOT / "hf_synth" / "data" / "banking77" / "test.csv"
    with path.open(encoding="utf-8") as f:
        texts = [row["text"] for row in csv.DictReader(f)][:n_texts]
    with tempfile.TemporaryDirectory() as cache:
        embedder = Embedder(cache_dir=cache, progress=False)
        embedder.encode(["warm-up: load the model"])
        t0 = time.perf_counter()
        embedder.encode(texts)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        Embedder(cache_dir=cache).encode(texts)
        warm = time.perf_counter() - t0
    print(
        f"embedding ({len(texts)} banking77 texts, default model, CPU): {len(texts) / cold:.0f} texts/s; "
        f"from the disk cache: {len(texts) / warm:.0f} texts/s"
    )


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--texts", type=int, default=1000)
    args = parser.parse_args()
    bench_metrics(args.n)
    bench_embedding(args.texts)


if __name__ == "__main__":
    main()
