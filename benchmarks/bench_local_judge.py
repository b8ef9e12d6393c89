"""How good a reader is the embedded local judge? Agreement of the SmolLM2-135M judge with the human labels
of real BANKING77 queries (the figure the card and README quote when the label audit runs offline).

Four topics, `--per-topic` real queries each (the first ones of the bundled test split), judged blind by
`hf_synth.generation.audit.Judge` over the local backend exactly as `hf-synth audit` judges rows. Prints the
agreement with its 90% Wilson interval, the confusion matrix, chance, and wall time.

    python benchmarks/bench_local_judge.py [--per-topic 20]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from hf_synth.generation.audit.judge import Judge
from hf_synth.generation.audit.stats import dimension_summary
from hf_synth.generation.audit.store import VerdictStore
from hf_synth.generation.backends.local import LocalBackend

DATA = Path(__file__).resolve().parents[1] / "hf_synth" / "data" / "banking77" / "test.csv"
TOPICS = {
    "card_arrival": "card not arrived",
    "lost_or_stolen_card": "lost or stolen card",
    "exchange_rate": "exchange rate",
    "top_up_failed": "top up failed",
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--per-topic", type=int, default=20, help="real queries per topic")
    args = p.parse_args()
    by_topic: dict[str, list[str]] = defaultdict(list)
    with DATA.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            topic = TOPICS.get(row["category"])
            if topic and len(by_topic[topic]) < args.per_topic:
                by_topic[topic].append(row["text"])
    texts = [{"message": t} for topic in TOPICS.values() for t in by_topic[topic]]
    planned = [topic for topic in TOPICS.values() for _ in by_topic[topic]]
    with tempfile.TemporaryDirectory() as tmp:
        backend = LocalBackend(max_concurrency=8, num_threads=1)
        store = VerdictStore(Path(tmp) / "run.sqlite")
        judge = Judge(backend, store, {"topic": list(TOPICS.values())}, seed=0, progress=True)

        async def go() -> list:
            load = await backend.warmup()
            start = time.perf_counter()
            try:
                return [
                    load,
                    time.perf_counter() - start,
                    await judge.judge(texts),
                    time.perf_counter() - start,
                ]
            finally:
                await backend.aclose()

        load, _, verdicts, seconds = asyncio.run(go())
        store.close()
    judged = [v["topic"] if v else None for v in verdicts]
    summary = dimension_summary(planned, judged, list(TOPICS.values()), 0.0)
    agree = summary["agreement"]
    lo, hi = agree["interval"]
    print(f"local judge ({backend.model}) on {len(texts)} real BANKING77 queries, {len(TOPICS)} topics")
    print(
        f"agreement {agree['agree']}/{agree['rows']} = {agree['rate']:.1%} (90% Wilson {lo:.1%}-{hi:.1%}); "
        f"chance {1 / len(TOPICS):.0%}"
    )
    print(f"judged: {summary['judged']}")
    for p_value, row in summary["confusion"].items():
        print(f"  {p_value:<20} {row}")
    print(f"model load {load:.1f} s, judging {seconds:.1f} s ({len(texts) / seconds:.1f} rows/s)")


if __name__ == "__main__":
    main()
