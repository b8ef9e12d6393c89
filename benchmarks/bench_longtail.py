"""Benchmark: the long tail named. Does `uncovered` / the rare list name small topics the synthetic set
misses entirely, at full resolution and on the subsample path?

Data (seeded, embeddings made directly; no model): a reference of 400 topics with Zipf sizes
(⌈8000 / i^1.1⌉ rows for topic i: 8,000 down to 11 rows, ~37,000 rows in all), in 64 dimensions with a
hierarchy (40 super-topics; topic centres around them; rows around the topic centre; unit length), so
neighbouring topics are close as in real embeddings. The synthetic set is drawn from the reference
distribution (ratio × N rows) without 20 topics picked at random among those of ≤ 20 reference rows.
Every text is "topic <t> row <j>", so a listed region's rows name their topic.

A missing topic counts as named when a rare region (`rare`) has most of its rows in the topic, or an
`uncovered` region's medoid example (its first) is from the topic. Counted for the full-resolution path
(max_samples=None) and the subsample path (max_samples=5,000, the pre-issue-16 default). A control run
with nothing missing counts the rare regions found by chance.

Target (issue 16): ≥ 18 of the 20 named at full resolution.
Run: .venv/bin/python benchmarks/bench_longtail.py [--ratio 4] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N_TOPICS, BASE, EXPONENT, DIM, N_SUPER, N_MISSING = 400, 8000, 1.1, 64, 40, 20


def make_data(ratio: float, seed: int, missing: bool = True) -> dict:
    """Reference and synthetic embeddings (unit rows, float32), texts, topic of each row, missing topics."""
    rng = np.random.default_rng(seed)
    sizes = np.ceil(BASE / np.arange(1, N_TOPICS + 1) ** EXPONENT).astype(int)
    supers = rng.normal(size=(N_SUPER, DIM))
    centres = supers[rng.integers(0, N_SUPER, N_TOPICS)] + rng.normal(size=(N_TOPICS, DIM))

    def rows(topics: np.ndarray) -> np.ndarray:
        x = centres[topics] + 0.5 * rng.normal(size=(len(topics), DIM))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    ref_topic = np.repeat(np.arange(N_TOPICS), sizes)
    small = np.flatnonzero(sizes <= 20)
    gone = np.sort(rng.choice(small, N_MISSING, replace=False)) if missing else np.array([], int)
    keep = np.setdiff1d(np.arange(N_TOPICS), gone)
    p = sizes[keep] / sizes[keep].sum()
    syn_topic = rng.choice(keep, int(ratio * len(ref_topic)), p=p)
    return {
        "ref": rows(ref_topic),
        "syn": rows(syn_topic),
        "ref_topic": ref_topic,
        "ref_texts": [f"topic {t} row {j}" for j, t in enumerate(ref_topic)],
        "syn_texts": [f"topic {t} synthetic {j}" for j, t in enumerate(syn_topic)],
        "missing": gone,
        "sizes": sizes,
    }


def named(report: dict, ref_topic: np.ndarray, missing: np.ndarray) -> dict:
    """Missing topics named by the rare list and by the uncovered regions."""
    by_rare: set[int] = set()
    for region in (report.get("rare") or {}).get("regions", []):
        top, count = Counter(ref_topic[region["rows"]].tolist()).most_common(1)[0]
        if count * 2 > len(region["rows"]):
            by_rare.add(int(top))
    by_region = {int(r["examples"][0].split()[1]) for r in report["uncovered"] if r["examples"]}
    want = set(missing.tolist())
    return {
        "rare": sorted(by_rare & want),
        "uncovered": sorted(by_region & want),
        "either": len((by_rare | by_region) & want),
        "rare_listed": len((report.get("rare") or {}).get("regions", [])),
        "rare_found": (report.get("rare") or {}).get("n_found"),
        "rare_min_rows": (report.get("rare") or {}).get("min_rows"),
        "rare_false": len(by_rare - want),
    }


def run(data: dict, max_samples: int | None, seed: int) -> tuple[dict, float, dict]:
    from hf_synth.quality.coverage import coverage_from_embeddings

    t0 = time.perf_counter()
    report = coverage_from_embeddings(
        data["syn"], data["ref"], data["syn_texts"], data["ref_texts"], seed=seed, max_samples=max_samples
    )
    return report, time.perf_counter() - t0, named(report, data["ref_topic"], data["missing"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ratio", type=float, default=4.0, help="synthetic rows per reference row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-control", action="store_true")
    args = parser.parse_args()
    data = make_data(args.ratio, args.seed)
    sizes = data["sizes"][data["missing"]]
    print(
        f"reference {len(data['ref']):,} rows in {N_TOPICS} topics (Zipf sizes {data['sizes'].max():,}-"
        f"{data['sizes'].min()}), synthetic {len(data['syn']):,} rows; missing {N_MISSING} topics of "
        f"{sizes.min()}-{sizes.max()} reference rows ({sizes.sum()} rows); load average "
        f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores",
        flush=True,
    )
    out: dict = {"ratio": args.ratio, "seed": args.seed, "missing_sizes": sizes.tolist()}
    for name, cap in (("full", None), ("subsample", 5_000)):
        report, seconds, got = run(data, cap, args.seed)
        nb = report["neighbours"] or {}
        print(
            f"{name:9s} ({'every row' if cap is None else f'max_samples={cap:,}'}): {got['either']} of "
            f"{N_MISSING} named (rare list {len(got['rare'])}, uncovered regions {len(got['uncovered'])}); "
            f"rare list: {got['rare_found']} regions of >= {got['rare_min_rows']} rows, "
            f"{got['rare_false']} not a missing topic; headline {report['coverage']:.3f} "
            f"{report['coverage_interval']}; min recall {nb.get('min_recall', 1.0):.4f}; {seconds:.1f} s",
            flush=True,
        )
        out[name] = {**got, "seconds": seconds, "coverage": report["coverage"]}
        out[name]["recall"] = nb.get("min_recall")
    if not args.no_control:
        control = make_data(args.ratio, args.seed, missing=False)
        report, seconds, got = run(control, None, args.seed)
        print(
            f"control (nothing missing, every row): {got['rare_found']} rare regions found by chance "
            f"(>= {got['rare_min_rows']} rows); headline {report['coverage']:.3f}; {seconds:.1f} s",
            flush=True,
        )
        out["control_rare_found"] = got["rare_found"]
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(json.dumps(out))
    print(f"target >= 18 of 20 at full resolution: {'PASS' if out['full']['either'] >= 18 else 'FAIL'}")


if __name__ == "__main__":
    main()
