"""Rows/s and CPU per request of the generation engine, a py-spy profile of one request, and Bespoke Curator
side by side.

A loopback Messages server in a subprocess answers every request after a fixed latency (default 100 ms), so
concurrency C bounds the rate at C / latency requests/s.

1. Engine levels (in this process, after a warm-up): for each concurrency a fresh run store is filled from
   a 1-item-per-request recipe; rows/s, the share of the bound, and this process's CPU per request
   (engine + SDK + HTTP client + run store; the server's CPU is not ours).
2. `--profile`: the concurrency-32 level in a child process sampled by py-spy; the main thread's samples are
   split into request building, HTTP transport, response parsing, item validation, dedup, run-store
   write, progress bar, rate limiter, engine and event loop, scaled to the child's CPU per request.
3. Whole processes, imports included: `hf-synth generate` (CLI, structured output, parquet + card) beside a
   Bespoke Curator script (plain text answers) for the same rows against the same server, at each
   `--compare` concurrency (median of `--repeat` alternating runs), when `--curator-python` names an
   interpreter with `bespokelabs-curator` (it cannot share hf-synth's environment: it pins anthropic<0.85
   and datasets<4). Curator's tiktoken encoding (a download) is replaced by a 4-characters-per-token count
   in its script: the benchmark is offline.

    python benchmarks/bench_engine.py [--latency 0.1] [--levels 8,32,128] [--seconds 6] [--profile]
                                      [--curator-python .venv-curator/bin/python] [--compare 32,128]
                                      [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from hf_synth.testing.messages_server import spawned_server

RECIPE = {
    "name": "engine-bench",
    "seed": 1,
    "fields": {"text": {"type": "string"}, "label": {"type": "enum", "values": ["a", "b"]}},
    "dimensions": {"topic": [f"t{i}" for i in range(10)], "tone": ["calm", "angry"]},
    "prompt": "A {{ tone }} message about {{ topic }}.",
    "backend": {"name": "anthropic", "model": "claude-haiku-4-5", "max_attempts": 3},
    "dedup": {"near_threshold": None},
}

# py-spy frame substrings → category; the deepest matching frame of a sample decides.
CATEGORIES = [
    ("progress bar", ("tqdm/", "progress.py")),
    ("run-store write", ("RunStore.", "TickWriter.", "sqlite3")),
    ("item validation", ("validate_item", "recipe/schema.py")),
    ("dedup", ("normalise_text", "_seen_texts")),
    (
        "request building",  # our body bytes and the httpx2 Request (was: the SDK's messages.create pipeline)
        (
            "RequestBodies",
            "build_params",
            "Request.__init__ (httpx2",
            "AsyncMessages.create",
            "_build_request",
        ),
    ),
    (
        "HTTP transport",  # the httpx2 client layer, aiohttp (or httpcore2/anyio), the socket and selector
        (
            "AsyncClient.send",
            "Response.",
            "aiohttp/",
            "_SelectorSocketTransport",
            "EpollSelector",
            "httpcore2",
            "anyio/",
            "h11/",
        ),
    ),
    ("response parsing", ("json/decoder", "_items (", "_usage (", "_error_of")),
    ("rate limiter", ("RateLimiter", "AdaptiveConcurrency", "TokenBucket")),
    ("engine", ("Engine.", "RequestBuilder", "Budget", "hf_synth/generation")),
]


def recipe_data(concurrency: int, rows: int, seed: int) -> dict[str, Any]:
    data = json.loads(json.dumps(RECIPE))
    data.update(seed=seed, size=rows)
    data["backend"]["concurrency"] = concurrency
    return data


async def _engine_run(data: dict[str, Any], folder: Path) -> tuple[float, int]:
    from hf_synth.generation.backends.factory import make_backend
    from hf_synth.generation.engine import Engine
    from hf_synth.generation.options import RunOptions
    from hf_synth.generation.runstore import RunStore
    from hf_synth.planning.plan import make_plan
    from hf_synth.planning.spec import plan_spec
    from hf_synth.recipe import parse_recipe

    recipe = parse_recipe(data)
    backend = make_backend(recipe, RunOptions(backend="anthropic", progress=False))
    with RunStore(folder / "run.sqlite") as store:
        engine = Engine(recipe, make_plan(plan_spec(recipe)).slot_specs(), backend, store, progress=False)
        try:
            stats = await engine.run()
        finally:
            await backend.aclose()
    return stats.seconds, stats.requests


def engine_level(concurrency: int, rows: int, folder: Path) -> tuple[float, float, int]:
    """(engine seconds, our CPU seconds, requests) of one run at `concurrency`."""
    cpu0 = time.process_time()
    seconds, requests = asyncio.run(_engine_run(recipe_data(concurrency, rows, concurrency), folder))
    return seconds, time.process_time() - cpu0, requests


def profile_child(concurrency: int, rows: int) -> None:
    """Warm up, say "ready", wait for a line on stdin, run one level, print its JSON figures."""
    with tempfile.TemporaryDirectory() as tmp:
        engine_level(8, 16, Path(tmp) / "warm")
        print("ready", flush=True)
        sys.stdin.readline()
        seconds, cpu, requests = engine_level(concurrency, rows, Path(tmp) / "run")
        print(json.dumps({"seconds": seconds, "cpu": cpu, "requests": requests}), flush=True)


def categorise(raw: Path) -> collections.Counter[str]:
    """py-spy raw (collapsed) samples of the main thread → samples per category."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if len(frames) < 2 or "MainThread" not in frames[0]:
            continue  # another thread, or no Python frame (waiting in native code)
        category = "event loop, other"
        for frame in frames:
            for name, needles in CATEGORIES:
                if any(needle in frame for needle in needles):
                    category = name
                    break
        counts[category] += int(n)
    return counts


def profile(url: str, concurrency: int, rows: int, keep: str | None = None) -> None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    env = dict(os.environ, ANTHROPIC_BASE_URL=url, ANTHROPIC_API_KEY="bench-key")
    child = subprocess.Popen(
        [sys.executable, __file__, "--profile-child", str(concurrency), str(rows)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdin is not None and child.stdout is not None
    if child.stdout.readline().strip() != "ready":
        raise RuntimeError("profile child did not start")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "samples.txt"
        cmd = [
            spy,
            "record",
            "--pid",
            str(child.pid),
            "--format",
            "raw",
            "-r",
            "250",
            "--threads",
            "-o",
            str(raw),
        ]
        sampler = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        child.stdin.write("go\n")
        child.stdin.flush()
        figures = json.loads(child.stdout.readline())
        child.wait()
        sampler.wait()
        counts = categorise(raw)
        if keep:
            shutil.copy(raw, keep)
    per_request = figures["cpu"] / figures["requests"] * 1000
    total = sum(counts.values()) or 1
    print(
        f"\nprofile, concurrency {concurrency}: {figures['requests']} requests, {per_request:.2f} ms CPU each"
    )
    print("(share of the main thread's py-spy samples, scaled to that CPU per request)")
    for name, n in counts.most_common():
        print(f"  {name:<22} {n / total:6.1%}  {n / total * per_request:5.2f} ms")


def whole_process(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - t0


CURATOR_SCRIPT = """
import sys, time
import tiktoken
class _Chars:  # cl100k_base is a download; Curator only estimates tokens with it
    def encode(self, text, disallowed_special=()):
        return [0] * max(1, len(text) // 4)
tiktoken.get_encoding = lambda name: _Chars()
from bespokelabs import curator
from datasets import Dataset
url, rows, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
class Gen(curator.LLM):
    def prompt(self, row):
        return row["prompt"]
    def parse(self, row, response):
        return {"text": response}
big = 10**9
llm = Gen(model_name="claude-haiku-4-5", backend="anthropic", generation_params={"max_tokens": 256},
          backend_params={"base_url": url + "/v1", "max_concurrent_requests": conc,
                          "max_requests_per_minute": big, "max_input_tokens_per_minute": big,
                          "max_output_tokens_per_minute": big, "max_retries": 3})
topics = [f"t{i}" for i in range(10)]
prompts = [f"A {'calm' if i % 2 else 'angry'} message about {topics[i % 10]}." for i in range(rows)]
result = llm(Dataset.from_dict({"prompt": prompts}))
assert len(getattr(result, "dataset", result)) == rows
"""


def compare(
    url: str, levels: list[int], rows: int, curator_python: str | None, latency: float, repeat: int
) -> None:
    print(
        f"\nwhole processes, imports included, {rows} rows, latency {latency * 1000:.0f} ms, "
        f"median of {repeat} alternating runs (min-max)"
    )
    print("concurrency  hf-synth rows/s        curator rows/s         ratio")
    with tempfile.TemporaryDirectory() as tmp:
        for c in levels:
            recipe = Path(tmp) / f"r{c}.yaml"
            recipe.write_text(yaml.safe_dump(recipe_data(c, rows, c)))
            env = dict(os.environ, ANTHROPIC_BASE_URL=url, ANTHROPIC_API_KEY="bench-key")
            ours_s: list[float] = []
            theirs_s: list[float] = []
            for r in range(repeat):
                out = Path(tmp) / f"out{c}-{r}"  # a fresh folder: a re-run would resume, not generate
                cli = ["generate", str(recipe), "--out", str(out), "--backend", "anthropic"]
                ours_cmd = [sys.executable, "-m", "hf_synth.cli", *cli, "--no-progress", "--no-quality"]
                ours_s.append(whole_process(ours_cmd, env))
                if curator_python:
                    cenv = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "ANTHROPIC_BASE_URL")}
                    cenv.update(
                        TELEMETRY_ENABLED="false",
                        CURATOR_DISABLE_CACHE="1",
                        HOME=tmp,
                        CURATOR_CACHE_DIR=str(Path(tmp) / f"cur{c}-{r}"),
                        LITELLM_LOCAL_MODEL_COST_MAP="True",
                        HF_HUB_OFFLINE="1",
                        HF_DATASETS_OFFLINE="1",
                    )
                    cmd = [curator_python, "-c", CURATOR_SCRIPT, url, str(rows), str(c)]
                    theirs_s.append(whole_process(cmd, cenv))
            ours = rows / statistics.median(ours_s)
            shown = f"{ours:>6.1f} ({rows / max(ours_s):.0f}-{rows / min(ours_s):.0f})"
            if theirs_s:
                theirs = rows / statistics.median(theirs_s)
                shown += f"  {theirs:>8.1f} ({rows / max(theirs_s):.0f}-{rows / min(theirs_s):.0f})"
                shown += f"  {ours / theirs:>5.2f}x"
            else:
                shown += "  (curator not installed)"
            print(f"{c:>11}  {shown}", flush=True)


def find_curator(given: str | None) -> str | None:
    if given:
        return given
    try:
        import bespokelabs.curator  # noqa: F401
    except ImportError:
        return os.environ.get("CURATOR_PYTHON")
    return sys.executable


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--levels", default="8,32,128")
    ap.add_argument("--seconds", type=float, default=6.0, help="target duration of each level")
    ap.add_argument("--profile", action="store_true", help="py-spy breakdown of the concurrency-32 level")
    ap.add_argument("--profile-out", default=None, help="also keep py-spy's raw samples in this file")
    ap.add_argument("--curator-python", default=None, help="interpreter with bespokelabs-curator installed")
    ap.add_argument("--compare", default="32,128", help="concurrency levels of the whole-process comparison")
    ap.add_argument("--compare-rows", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3, help="whole-process runs per side and level")
    ap.add_argument("--profile-child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.profile_child:
        profile_child(*args.profile_child)
        return
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    with spawned_server(args.latency) as server:
        url = server.url
        os.environ.update(ANTHROPIC_BASE_URL=url, ANTHROPIC_API_KEY="bench-key")
        print(f"loopback Messages API at {url}, latency {args.latency * 1000:.0f} ms")
        print(
            f"{os.cpu_count()} CPUs, load average {load} before the run (other processes share these cores)"
        )
        print("concurrency   rows  seconds  rows/s   bound  share  our CPU ms/request")
        with tempfile.TemporaryDirectory() as tmp:
            # Warm-up: the first request imports and builds the SDK's lazy resources; the figures below
            # are the sustained rate, not the start-up.
            engine_level(8, 16, Path(tmp) / "warmup")
            for c in (int(x) for x in args.levels.split(",")):
                bound = c / args.latency
                rows = int(bound * args.seconds)
                seconds, cpu, requests = engine_level(c, rows, Path(tmp) / f"c{c}")
                rate = rows / seconds
                print(
                    f"{c:>11}  {rows:>5}  {seconds:>7.2f}  {rate:>6.1f}  {bound:>6.0f}  {rate / bound:>5.0%}"
                    f"  {cpu / requests * 1000:>6.2f}",
                    flush=True,
                )
        if args.profile:
            profile(url, 32, int(32 / args.latency * args.seconds), args.profile_out)
        levels = [int(x) for x in args.compare.split(",") if x]
        if levels:
            compare(
                url, levels, args.compare_rows, find_curator(args.curator_python), args.latency, args.repeat
            )
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
