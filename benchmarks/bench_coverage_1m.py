"""Benchmark: coverage at a million rows on CPU with the static (model2vec) embedder, end to end.

1. Writes 1,000,000 synthetic and 100,000 reference short texts to parquet (10 + 1 files) under a temp
   folder: BANKING77 queries recombined with random words from the BANKING77 vocabulary, so texts are
   distinct but realistic. The reference draws from all 77 intents; the synthetic set from 62 of them
   (it should miss ~20% of the reference).
2. Times `measure.coverage_from_sources` with `StaticEmbedder` (read parquet in batches → embed →
   float32 memmap stores → every metric of `coverage_from_embeddings`). Prints seconds per stage and the
   peak RSS of the process (ru_maxrss; data generation runs in a child process so it does not count).
3. MiniLM (default embedder) throughput on a subsample of the same texts, and the extrapolated time to
   embed 100,000 + 100,000 texts (metrics excluded; measured separately by bench_coverage.py).

Full resolution (issue 16): the headline, its interval, the regions and the rare list use every row; the
neighbour searches are exact where they fit the time and approximate beyond (recall printed). CPU time
(user + system, this process and its threads) and the load average are printed with the wall time, so a
run on a shared machine can be read.

Targets: step 2 < 120 s and < 6 GB on 2 CPU cores.
Run: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_coverage_1m.py [--n-syn 1000000] [--n-ref 100000]
     [--minilm-texts 2000] [--engine local|ray]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BANKING = ROOT / "hf_synth" / "data" / "banking77" / "test.csv"


def cpu_seconds() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux reports KiB


def make_texts(n: int, intents: list[str] | None, seed: int) -> list[str]:
    """n distinct-ish short texts: a BANKING77 query of the given intents with 2-4 random vocabulary words
    inserted at random positions, plus a random number 1/3 of the time."""
    with BANKING.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    vocab = sorted({w.strip("?.,!").lower() for r in rows for w in r["text"].split()} - {""})
    base = [r["text"].split() for r in rows if intents is None or r["category"] in intents]
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(base), n)
    n_ins = rng.integers(2, 5, n)
    words = rng.integers(0, len(vocab), (n, 4))
    numbers = rng.integers(0, 10_000, n)
    with_number = rng.random(n) < 1 / 3
    out = []
    for i in range(n):
        toks = list(base[pick[i]])
        for j in range(n_ins[i]):
            toks.insert(int(words[i, j]) % (len(toks) + 1), vocab[words[i, j]])
        if with_number[i]:
            toks.append(str(numbers[i]))
        out.append(" ".join(toks))
    return out


def write_data(folder: Path, n_syn: int, n_ref: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with BANKING.open(encoding="utf-8") as f:
        intents = sorted({r["category"] for r in csv.DictReader(f)})
    kept = set(np.random.default_rng(7).permutation(intents)[:62])
    (folder / "synthetic").mkdir(parents=True)
    (folder / "reference").mkdir(parents=True)
    per_file = 100_000
    for part, start in enumerate(range(0, n_syn, per_file)):
        texts = make_texts(min(per_file, n_syn - start), sorted(kept), seed=1000 + part)
        pq.write_table(pa.table({"text": texts}), folder / "synthetic" / f"train-{part:05d}.parquet")
    ref = make_texts(n_ref, None, seed=1)
    pq.write_table(pa.table({"text": ref}), folder / "reference" / "test-00000.parquet")


def bench_static(folder: Path, engine: str) -> dict:
    from hf_synth.quality.embed.static import StaticEmbedder
    from hf_synth.quality.measure import coverage_from_sources

    embedder = StaticEmbedder()
    t0 = time.perf_counter()
    embedder.encode(["load the model"])  # distils on the first ever run (cached afterwards)
    load = time.perf_counter() - t0
    timings: dict[str, float] = {}
    vector_source = None
    if engine == "ray":
        from hf_synth.quality.embed.ray_engine import ray_vector_source

        vector_source = ray_vector_source("static", None)
    load_before = os.getloadavg()
    t0, c0 = time.perf_counter(), cpu_seconds()
    report, _ = coverage_from_sources(
        folder / "synthetic",
        folder / "reference",
        embedder,
        store_dirs=(folder / "store-syn", folder / "store-ref"),
        timings=timings,
        vector_source=vector_source,
        seed=0,
    )
    total, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    sizes = report["sizes"]
    print(
        f"CPU time {cpu:.1f} s over {total:.1f} s wall (load average before {load_before[0]:.2f}, after "
        f"{os.getloadavg()[0]:.2f}; {os.cpu_count()} cores)",
        flush=True,
    )
    nb = report["neighbours"] or {}
    for rec in nb.get("searches", []):
        extra = (
            f", {rec['probes']} of {rec['leaves']} leaves, recall {rec['recall']:.4f}"
            if rec.get("probes")
            else ""
        )
        print(
            f"  search {rec['search']}: {rec['queries']:,} queries x {rec['keys']:,} keys, "
            f"{rec['method']}{extra}"
        )
    rare = report.get("rare") or {}
    print(
        f"  full resolution: {report['support']['n_reference']:,} reference x "
        f"{report['support']['n_synthetic']:,} "
        f"synthetic rows used (subsampled: {report['support']['subsampled']}); min recall "
        f"{nb.get('min_recall', 1.0):.4f}; rare regions {rare.get('n_found')} ({rare.get('min_rows')}-"
        f"{rare.get('max_rows')} rows); uncovered regions {len(report['uncovered'])}",
        flush=True,
    )
    print(
        f"static end to end ({engine}): {sizes['synthetic']:,} synthetic x {sizes['reference']:,} reference, "
        f"d={sizes['dim']}: {total:.1f} s (target < 120); "
        + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        + f"; model load {load:.1f} s (not counted); peak RSS {peak_rss_gb():.2f} GB (target < 6)",
        flush=True,
    )
    print(
        f"  headline {report['coverage']:.3f} (90% {report['coverage_interval'][0]:.3f}-"
        f"{report['coverage_interval'][1]:.3f}; resolution {report['resolution']:,} reference rows; the "
        f"synthetic side uses 62 of 77 intents), kNN coverage {report['knn']['coverage']:.3f} "
        f"(expected {report['knn']['expected_coverage']:.3f}), regions {report['clusters']['coverage']:.3f}, "
        f"model {report['model']}",
        flush=True,
    )
    return {
        "seconds": total,
        "cpu_seconds": cpu,
        "min_recall": nb.get("min_recall"),
        "timings": timings,
        "peak_rss_gb": peak_rss_gb(),
        "coverage": report["coverage"],
    }


def bench_minilm(folder: Path, n_texts: int, n_syn: int, n_ref: int) -> dict:
    import pyarrow.parquet as pq

    from hf_synth.quality.embed.sentence import Embedder

    texts = pq.read_table(folder / "reference" / "test-00000.parquet").column("text").to_pylist()[:n_texts]
    with tempfile.TemporaryDirectory() as cache:
        embedder = Embedder(cache_dir=cache, progress=False)
        embedder.encode(["warm-up: load the model"])
        t0 = time.perf_counter()
        embedder.encode(texts)
        dt = time.perf_counter() - t0
    rate = len(texts) / dt
    print(
        f"MiniLM (default) on {len(texts):,} of these texts, CPU: {rate:.0f} texts/s → embedding "
        f"100,000 + 100,000 texts ≈ {200_000 / rate / 60:.1f} min, {n_syn:,} + {n_ref:,} ≈ "
        f"{(n_syn + n_ref) / rate / 3600:.1f} h (extrapolated linearly from the subsample)",
        flush=True,
    )
    return {"texts_per_s": rate, "extrapolated_100k_x_100k_embed_s": 200_000 / rate}


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-syn", type=int, default=1_000_000)
    parser.add_argument("--n-ref", type=int, default=100_000)
    parser.add_argument("--minilm-texts", type=int, default=2_000)
    parser.add_argument("--engine", choices=["local", "ray"], default="local")
    parser.add_argument("--data", default=None, help="reuse/keep the generated parquet data here")
    parser.add_argument("--generate-only", action="store_true")
    args = parser.parse_args()
    tmp = None
    if args.data:
        folder = Path(args.data)
    else:
        tmp = tempfile.TemporaryDirectory()
        folder = Path(tmp.name)
    if not (folder / "synthetic").is_dir():
        t0 = time.perf_counter()
        if args.generate_only:
            write_data(folder, args.n_syn, args.n_ref)
        else:
            # A child process writes the data, so its memory does not count in this process's peak RSS.
            cmd = [
                sys.executable,
                __file__,
                "--data",
                str(folder),
                "--generate-only",
                "--n-syn",
                str(args.n_syn),
                "--n-ref",
                str(args.n_ref),
            ]
            subprocess.run(cmd, check=True)
        print(f"data written in {time.perf_counter() - t0:.1f} s (not counted)", flush=True)
    if args.generate_only:
        return
    result = {"static": bench_static(folder, args.engine)}
    if args.minilm_texts:
        result["minilm"] = bench_minilm(folder, args.minilm_texts, args.n_syn, args.n_ref)
    print(json.dumps(result))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
