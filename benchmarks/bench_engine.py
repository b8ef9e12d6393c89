"""Rows/s of the whole generation engine (plan → requests → validated rows in the run store).

A loopback Messages server in a subprocess answers every request after a fixed latency (default 100 ms),
so concurrency C bounds the rate at C / latency requests/s. A short warm-up run loads the SDK first. For
each concurrency level a fresh folder is generated from a 1-item-per-request recipe; we report rows/s, the
share of the bound reached, and the CPU time of our process per request (engine + SDK + HTTP client).

    .venv/bin/python benchmarks/bench_engine.py [--latency 0.1] [--levels 8,32,128] [--seconds 6]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from hf_synth.testing.messages_server import spawned_server


def run_level(concurrency: int, rows: int, out: Path) -> tuple[float, float, int]:
    from hf_synth.pipeline import RunOptions, generate
    from hf_synth.recipe import parse_recipe

    recipe = parse_recipe(
        {
            "name": "engine-bench",
            "seed": concurrency,
            "fields": {"text": {"type": "string"}, "label": {"type": "enum", "values": ["a", "b"]}},
            "dimensions": {"topic": [f"t{i}" for i in range(10)], "tone": ["calm", "angry"]},
            "size": rows,
            "prompt": "A {{ tone }} message about {{ topic }}.",
            "backend": {
                "name": "anthropic",
                "model": "claude-haiku-4-5",
                "concurrency": concurrency,
                "max_attempts": 3,
            },
            "dedup": {"near_threshold": None},
        }
    )
    cpu0 = time.process_time()
    generate(recipe, out, RunOptions(backend="anthropic", progress=False, quality=False))
    import json

    report = json.loads((out / "report.json").read_text())
    seconds = report["generation"]["seconds"]
    return seconds, time.process_time() - cpu0, report["generation"]["requests"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--levels", default="8,32,128")
    ap.add_argument("--seconds", type=float, default=6.0, help="target duration of each level")
    args = ap.parse_args()
    with spawned_server(args.latency) as server:
        url = server.url
        os.environ.update(ANTHROPIC_BASE_URL=url, ANTHROPIC_API_KEY="bench-key")
        print(f"loopback Messages API at {url}, latency {args.latency * 1000:.0f} ms")
        print("concurrency  rows   seconds  rows/s   bound  share  our CPU ms/request")
        with tempfile.TemporaryDirectory() as tmp:
            # Warm-up: the first request imports and builds the SDK's lazy resources (~1 s); the figures
            # below are the sustained rate, not the start-up.
            run_level(8, 16, Path(tmp) / "warmup")
            for c in (int(x) for x in args.levels.split(",")):
                bound = c / args.latency
                rows = int(bound * args.seconds)
                seconds, cpu, requests = run_level(c, rows, Path(tmp) / f"c{c}")
                rate = rows / seconds
                print(
                    f"{c:>11}  {rows:>5}  {seconds:>7.2f}  {rate:>6.1f}  {bound:>6.0f}  {rate / bound:>5.0%}"
                    f"  {cpu / requests * 1000:>6.2f}"
                )


if __name__ == "__main__":
    main()
