"""Calibration of the coverage headline on BANKING77 (issue 12): is the interval honest at every size?

Data: hf_synth/data/banking77/test.csv (3,080 real queries, 77 intents × 40), embedded once with the
bundled all-MiniLM-L6-v2 (`Embedder`, disk-cached). Every figure is `support.estimate_coverage`, the
function behind `coverage` / `coverage_interval` / `resolution`, with the report's defaults.

(a) Two i.i.d. samples of one distribution: for each seed, a random permutation of the 3,080 rows gives a
    reference of n rows and a disjoint synthetic set of n rows, n ∈ {30, 100, 300, 1000, 1540}.
    Floors: the interval contains 1.0 in ≥ 85% of seeds at every n; the mean point is ≥ 0.9 from 300 rows.
(b) Sets from m of the 77 intents, m ∈ {1, 4, 8, 16, 31, 62} (c = m / 77): each seed splits every intent
    into halves A / B (20 + 20); the reference is half A (1,540 rows, all intents), the synthetic set is
    drawn from half B of m random intents,
    - i.i.d.: n ∈ {10, 30, 100, 300, 1000} rows with replacement (a collapsed generator repeats rows);
    - spread: one or two rows per intent: n ∈ {m, 2m} and every n ∈ {10, 30, 100} ≤ 2m, rows dealt to
      the intents in turn (n < m: one row in each of n intents), random rows within an intent.
    Floors: the highest lower end over seeds is ≤ c + 0.15 at every n; the mean point is ≤ c + 0.15
    from 100 rows.

Run: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_calibration.py [--seeds 40] [--out table.md]
Prints a Markdown table per design and a PASS/FAIL line per floor; exit code 1 when a floor fails.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BANKING = ROOT / "hf_synth" / "data" / "banking77" / "test.csv"

from hf_synth.quality.support import estimate_coverage  # noqa: E402

SIZES_A = (30, 100, 300, 1000, 1540)
INTENTS_B = (1, 4, 8, 16, 31, 62)
SIZES_B = (10, 30, 100, 300, 1000)


def load() -> tuple[np.ndarray, np.ndarray]:
    """(embeddings (3080, 384) float32, intent index per row (3080,))."""
    from hf_synth.quality.embed.sentence import Embedder

    with BANKING.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    names = sorted({r["category"] for r in rows})
    emb = Embedder(progress=True).encode([r["text"] for r in rows])
    return emb, np.array([names.index(r["category"]) for r in rows])


def design_a(emb: np.ndarray, seeds: int) -> list[dict]:
    out = []
    for n in SIZES_A:
        runs = []
        for seed in tqdm(range(seeds), desc=f"(a) n={n}", file=sys.stderr, leave=False):
            perm = np.random.default_rng(seed).permutation(len(emb))
            runs.append(estimate_coverage(emb[perm[:n]], emb[perm[n : 2 * n]], seed=seed))
        out.append({"n": n, "runs": runs})
    return out


def _halves(intent: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a, b = [], []
    for c in range(intent.max() + 1):
        idx = rng.permutation(np.flatnonzero(intent == c))
        a.append(idx[: len(idx) // 2])
        b.append(idx[len(idx) // 2 :])
    return np.concatenate(a), np.concatenate(b)


def _spread(pool_by_intent: list[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """n rows dealt to the intents in turn (random intent order), random distinct rows within each."""
    order = rng.permutation(len(pool_by_intent))
    shuffled = [rng.permutation(pool_by_intent[i]) for i in order]
    return np.array([shuffled[j % len(order)][j // len(order)] for j in range(n)])


def design_b(emb: np.ndarray, intent: np.ndarray, seeds: int) -> list[dict]:
    out = []
    n_intents = int(intent.max() + 1)
    for m in INTENTS_B:
        spread_sizes = sorted({s for s in SIZES_B if s <= 2 * m} | {m, 2 * m} - {1})
        designs = [("i.i.d.", n) for n in SIZES_B] + [("spread", n) for n in spread_sizes]
        results: dict[tuple[str, int], list[dict]] = {d: [] for d in designs}
        for seed in tqdm(range(seeds), desc=f"(b) {m} intents", file=sys.stderr, leave=False):
            rng = np.random.default_rng([seed, m])
            ref, half_b = _halves(intent, rng)
            chosen = rng.permutation(n_intents)[:m]
            pool = half_b[np.isin(intent[half_b], chosen)]
            by_intent = [pool[intent[pool] == c] for c in chosen]
            for kind, n in designs:
                syn = rng.choice(pool, n, replace=True) if kind == "i.i.d." else _spread(by_intent, n, rng)
                results[(kind, n)].append(estimate_coverage(emb[ref], emb[syn], seed=seed))
        for (kind, n), runs in results.items():
            out.append({"m": m, "c": m / n_intents, "kind": kind, "n": n, "runs": runs})
    return out


def table_a(rows: list[dict]) -> tuple[list[str], bool]:
    lines = [
        "| rows per side | mean point | interval contains 1.0 | mean interval | mean resolution (rows) "
        "| floors |",
        "|---:|---:|---:|:---:|---:|:---:|",
    ]
    ok_all = True
    for row in rows:
        runs = row["runs"]
        point = float(np.mean([r["coverage"] for r in runs]))
        contains = float(np.mean([r["interval"][0] <= 1.0 <= r["interval"][1] for r in runs]))
        low = float(np.mean([r["interval"][0] for r in runs]))
        high = float(np.mean([r["interval"][1] for r in runs]))
        res = float(np.mean([r["resolution"] for r in runs]))
        ok = contains >= 0.85 and (row["n"] < 300 or point >= 0.9)
        ok_all &= ok
        lines.append(
            f"| {row['n']:,} | {point:.3f} | {contains:.0%} | {low:.2f}-{high:.2f} | {res:.0f} | "
            f"{'PASS' if ok else 'FAIL'} |"
        )
    return lines, ok_all


def table_b(rows: list[dict]) -> tuple[list[str], bool]:
    lines = [
        "| intents (c) | set | rows | mean point | highest lower end | highest upper end | c + 0.15 "
        "| floors |",
        "|---:|:---|---:|---:|---:|---:|---:|:---:|",
    ]
    ok_all = True
    for row in rows:
        runs, bound = row["runs"], row["c"] + 0.15
        point = float(np.mean([r["coverage"] for r in runs]))
        top_low = float(max(r["interval"][0] for r in runs))
        top_high = float(max(r["interval"][1] for r in runs))
        ok = top_low <= bound and (row["n"] < 100 or point <= bound)
        ok_all &= ok
        lines.append(
            f"| {row['m']} ({row['c']:.3f}) | {row['kind']} | {row['n']:,} | {point:.3f} | {top_low:.3f} | "
            f"{top_high:.3f} | {bound:.3f} | {'PASS' if ok else 'FAIL'} |"
        )
    return lines, ok_all


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=40, help="seeds per design (default 40)")
    parser.add_argument("--out", default=None, help="also write the Markdown tables to this file")
    args = parser.parse_args()
    t0 = time.perf_counter()
    emb, intent = load()
    print(f"embedded {len(emb):,} BANKING77 queries in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    t0 = time.perf_counter()
    lines_a, ok_a = table_a(design_a(emb, args.seeds))
    lines_b, ok_b = table_b(design_b(emb, intent, args.seeds))
    seconds = time.perf_counter() - t0
    text = "\n".join(
        [
            f"(a) two i.i.d. samples of BANKING77, {args.seeds} seeds per size:",
            "",
            *lines_a,
            "",
            f"(b) sets from m of 77 intents against a 1,540-row reference, {args.seeds} seeds per row:",
            "",
            *lines_b,
            "",
            f"floors (a): {'PASS' if ok_a else 'FAIL'}; floors (b): {'PASS' if ok_b else 'FAIL'}; "
            f"{seconds:.0f} s for the estimates",
        ]
    )
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0 if ok_a and ok_b else 1


if __name__ == "__main__":
    raise SystemExit(main())
