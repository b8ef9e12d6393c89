"""Resume overhead: a finished 100,000-row run re-run must send zero requests and take seconds.

Generates 100,000 rows against the loopback Messages API (50 items per request), then re-runs the same
command and reports how long the engine takes to find that nothing is pending, and the whole command
(including rewriting parquet, report and card). Usage: python benchmarks/bench_resume.py [ROWS]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

KEY = "sk-ant-bench-resume"


def main(rows: int = 100_000) -> None:
    from hf_synth.pipeline import RunOptions, generate
    from hf_synth.recipe import parse_recipe
    from hf_synth.testing.messages_server import MessagesServer

    recipe = parse_recipe(
        {
            "name": "resume-bench",
            "seed": 1,
            "fields": {"text": {"type": "string"}},
            "dimensions": {"topic": [f"topic {i}" for i in range(20)], "tone": ["calm", "angry", "confused"]},
            "size": rows,
            "splits": {"train": 0.9, "test": 0.1},
            "prompt": "A {{ tone }} message about {{ topic }}.",
            "backend": {
                "name": "anthropic",
                "model": "claude-haiku-4-5",
                "concurrency": 32,
                "items_per_request": 50,
            },
            "dedup": {"near_threshold": None},
        }
    )
    with MessagesServer(api_key=KEY, keep_bodies=False) as srv, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(ANTHROPIC_API_KEY=KEY, ANTHROPIC_BASE_URL=srv.url)
        out = Path(tmp) / "out"
        options = RunOptions(backend="anthropic", progress=False, quality=False)
        t0 = time.perf_counter()
        generate(recipe, out, options)
        first = time.perf_counter() - t0
        sent = srv.count("POST", "/v1/messages")
        t0 = time.perf_counter()
        # An unchanged re-run rewrites no file (report.json keeps the first run's figures): time it from
        # the result, not from the report.
        rerun = generate(recipe, out, options)
        again = time.perf_counter() - t0
        resent = srv.count("POST", "/v1/messages") - sent
        print(f"rows: {rows}; first run {first:.1f} s with {sent} requests")
        print(
            f"re-run: {resent} requests, engine {rerun.stats.seconds:.2f} s to resume, "
            f"{again:.1f} s for the whole command (plan, engine, parquet, validation, card)"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
