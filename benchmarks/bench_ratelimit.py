"""The engine against a rate-limited stand-in of the Messages API: how much of the output-token limit it uses.

The loopback server enforces token buckets like the real API's (600 requests/min, 30,000 output tokens/min
by default; input unlimited in practice), sends the `anthropic-ratelimit-*` headers and answers after
1 s + 10 ms per output token; answers are ~150 output tokens, `max_tokens` is 512. hf-synth is told no
limit: it learns them from the headers. Scenarios: `empty` (the key is busy, every bucket starts empty) and
`full` (a fresh key).

Figures, from the server's request log:
- used: output tokens of the admitted requests / the allowance while the client was sending, i.e. the
  initial bucket + the refill from the moment the buckets were set (just before `generate` starts, with
  the SDK already imported) to the last admitted request;
- steady: the same from the first admitted request on (after the start-up probe), against the bucket
  at that moment + the refill after it;
- 429s; the longest gap between two consecutive requests reaching the server after the start-up probe was
  answered, beside the longest `retry-after` the server gave (a sender paused longer than that would show
  as a wider gap), and the probe's round trip (the one wait at the start).

    python benchmarks/bench_ratelimit.py [--rows 450] [--scenarios empty,full] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from hf_synth.pipeline import RunOptions, generate
from hf_synth.recipe import parse_recipe
from hf_synth.testing.messages_server import MessagesServer, default_responder

KEY = "sk-ant-bench-ratelimit"


def responder(body: dict[str, Any]) -> dict[str, Any]:
    """~150 output tokens per answer (a 560-character text), like a short generated row."""
    out = default_responder(body)
    for i, item in enumerate(out["items"]):
        item["text"] = f"({i}) " + "A customer writes about a delayed card payment. " * 11
    return out


def run(scenario: str, rows: int, concurrency: int, rpm: float, otpm: float) -> dict[str, float]:
    recipe = parse_recipe(
        {
            "name": "ratelimit-bench",
            "seed": 3,
            "fields": {"text": {"type": "string"}},
            "dimensions": {"topic": [f"t{i}" for i in range(15)], "tone": ["calm", "angry", "curt"]},
            "size": rows,
            "prompt": "A {{ tone }} message about {{ topic }}.",
            "backend": {
                "name": "anthropic",
                "model": "claude-haiku-4-5",
                "concurrency": concurrency,
                "max_tokens": 512,
                "max_attempts": 20,
            },
            "dedup": {"exact": False, "near_threshold": None},
        }
    )
    fill = 0.0 if scenario == "empty" else 1.0
    server = MessagesServer(
        api_key=KEY,
        responder=responder,
        latency=1.0,
        latency_per_output_token=0.010,
        keep_bodies=False,
    )
    import aiohttp  # noqa: F401  (imported before the buckets are set: a real run has them loaded)
    import anthropic  # noqa: F401

    with server, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(ANTHROPIC_API_KEY=KEY, ANTHROPIC_BASE_URL=server.url)
        server.set_rate_limits(requests_per_minute=rpm, output_tokens_per_minute=otpm, initial_fill=fill)
        reset = time.time()
        t0 = time.perf_counter()
        generate(recipe, Path(tmp) / "out", RunOptions(backend="anthropic", progress=False, quality=False))
        wall = time.perf_counter() - t0
        calls = [r for r in server.requests if r.path == "/v1/messages"]
    admitted = [r for r in calls if r.status == 200]
    used = sum(r.output_tokens or 0 for r in admitted)
    rate = otpm / 60.0
    last, first_ok = admitted[-1].time, admitted[0].time
    allowance = fill * otpm + rate * (last - reset)
    # The bucket when the first request was admitted (capped at a full bucket) + the refill after it.
    at_first = min(otpm, fill * otpm + rate * (first_ok - reset))
    steady_used = sum(r.output_tokens or 0 for r in admitted)
    steady_allowance = at_first + rate * (last - first_ok)
    # The first call is the probe: the others wait for its answer (its round trip), then go.
    gaps = [b.time - a.time for a, b in itertools.pairwise(calls[1:])]
    return {
        "wall": wall,
        "used": used,
        "share": used / allowance if allowance else float("nan"),
        "steady": steady_used / steady_allowance if steady_allowance else float("nan"),
        "429s": sum(1 for r in calls if r.status == 429),
        "max_gap": max(gaps, default=0.0),
        "max_retry_after": max((r.retry_after or 0.0 for r in calls), default=0.0),
        "per_request": used / len(admitted),
        "probe": calls[1].time - calls[0].time if len(calls) > 1 else 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=450)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--scenarios", default="empty,full")
    ap.add_argument("--rpm", type=float, default=600)
    ap.add_argument("--otpm", type=float, default=30_000)
    args = ap.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{args.rows} rows, {args.rpm:g} RPM / {args.otpm:g} OTPM, 1 s + 10 ms/token; load average {load}")
    print(
        "scenario  seconds  output tokens  per request  used   steady  429s  probe wait  longest gap after"
        "  max retry-after"
    )
    for scenario in args.scenarios.split(","):
        r = run(scenario, args.rows, args.concurrency, args.rpm, args.otpm)
        print(
            f"{scenario:<8}  {r['wall']:>7.1f}  {r['used']:>13.0f}  {r['per_request']:>11.0f}  "
            f"{r['share']:>5.1%}  {r['steady']:>6.1%}  {r['429s']:>4}  {r['probe']:>8.2f} s"
            f"  {r['max_gap']:>15.2f} s  {r['max_retry_after']:>13.2f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
