"""Throughput of `AnthropicBackend` over real HTTP against the loopback Messages server.

The server runs in a subprocess (so its CPU is not charged to us) with a fixed latency per call and no
faults. For each concurrency level we send a bounded number of requests and report requests/s, the share
of the latency bound (concurrency / latency) reached, and our own process CPU time per request.

    .venv/bin/python benchmarks/bench_engine_http.py [--latency 0.1] [--levels 8,32,128] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

import psutil

from hf_synth.generation.backends.anthropic import AnthropicBackend
from hf_synth.generation.backends.base import GenerationRequest, GenerationResult
from hf_synth.recipe.fields import FieldSpec
from hf_synth.testing.messages_server import spawned_server

FIELDS = {
    "text": FieldSpec(type="string"),
    "label": FieldSpec(type="enum", values=["a", "b", "c"]),
    "score": FieldSpec(type="number", minimum=0, maximum=1),
}


def request(i: int) -> GenerationRequest:
    return GenerationRequest(
        key=f"{i:064x}",
        slot_ids=(i,),
        system="You write short synthetic support tickets.",
        prompt=f"Write ticket number {i} about a failed card payment.",
        n_items=1,
        fields=FIELDS,
        max_tokens=256,
        temperature=1.0,
    )


async def run_level(concurrency: int, n: int) -> tuple[float, float, int]:
    """(wall seconds, our CPU seconds, failures) for `n` requests at `concurrency` in flight."""
    backend = AnthropicBackend(
        "claude-haiku-4-5", concurrency=concurrency, max_attempts=3, timeout=30, adaptive_concurrency=False
    )
    # Warm-up: open the connections and import lazily loaded SDK parts outside the measurement.
    await asyncio.gather(*(backend.generate(request(-1 - i)) for i in range(concurrency)))
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> bool:
        async with sem:
            try:
                return isinstance(await backend.generate(request(i)), GenerationResult)
            except Exception:
                return False

    cpu0, t0 = time.process_time(), time.perf_counter()
    ok = await asyncio.gather(*(one(i) for i in range(n)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await backend.aclose()
    return wall, cpu, ok.count(False)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--latency", type=float, default=0.1, help="server latency per call (s)")
    p.add_argument("--levels", default="8,32,128", help="comma-separated concurrency levels")
    p.add_argument("--seconds", type=float, default=3.0, help="ideal duration per level (bounds the count)")
    args = p.parse_args()

    with spawned_server(args.latency) as server:
        url = server.url
        proc = psutil.Process(server.pid)
        os.environ["ANTHROPIC_BASE_URL"] = url
        os.environ.setdefault("ANTHROPIC_API_KEY", "bench-key")
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"loopback server {url}, latency {args.latency * 1000:.0f} ms, no faults")
        print(f"{os.cpu_count()} CPUs, load average {load} (other processes share these cores)")
        print(
            f"{'concurrency':>11} {'requests':>8} {'req/s':>8} {'bound':>7} {'share':>6} "
            f"{'CPU ms/req':>10} {'server CPU ms/req':>17}"
        )
        for c in (int(x) for x in args.levels.split(",")):
            bound = c / args.latency
            n = max(c * 4, int(bound * args.seconds))
            server_cpu0 = sum(proc.cpu_times()[:2])
            wall, cpu, failed = asyncio.run(run_level(c, n))
            server_cpu = sum(proc.cpu_times()[:2]) - server_cpu0
            rps = n / wall
            print(
                f"{c:>11} {n:>8} {rps:>8.1f} {bound:>7.0f} {rps / bound:>6.0%} "
                f"{cpu / n * 1000:>10.2f} {server_cpu / n * 1000:>17.2f}"
                + (f"  ({failed} failed)" if failed else "")
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
