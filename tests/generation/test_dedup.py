"""Unrequested duplicates are regenerated with quotas kept; k items per request; the cost estimate."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import datasets
import pytest
import yaml

from hf_synth.edge_cases import normalise_text
from hf_synth.pipeline import RunOptions, generate
from hf_synth.recipe import parse_recipe
from hf_synth.testing.messages_server import MessagesServer, default_responder

KEY = "sk-ant-dedup-test-000111222333"
pytestmark = pytest.mark.loopback(api_key=KEY)

RECIPE = {
    "name": "dups",
    "seed": 9,
    "fields": {"text": {"type": "string"}, "score": {"type": "integer", "minimum": 0, "maximum": 9}},
    "dimensions": {"topic": ["cards", "loans", "fees"], "tone": ["calm", "angry"]},
    "size": 24,
    "splits": {"train": 0.5, "test": 0.5},
    "prompt": "A {{ tone }} message about {{ topic }}.",
    "backend": {"name": "anthropic", "model": "claude-sonnet-4-6", "concurrency": 3},
    "dedup": {"near_threshold": None},
}


def run(data: dict, out: Path, **kw: Any) -> datasets.DatasetDict:
    return generate(parse_recipe(data), out, RunOptions(backend="anthropic", progress=False, **kw))


def test_unrequested_exact_duplicates_are_regenerated(server: MessagesServer, tmp_path: Path) -> None:
    calls = itertools.count()

    def responder(body: dict) -> dict:
        out = default_responder(body)
        # The first eight answers all carry the same text, differing only in case and spacing.
        if next(calls) < 8:
            for item in out["items"]:
                item["text"] = "  My CARD   was declined  " if len(out["items"]) else item["text"]
        return out

    server.responder = responder
    dd = run(RECIPE, tmp_path / "d", quality=False)
    texts = [normalise_text(t) for d in dd.values() for t in d["text"]]
    assert len(texts) == 24 and len(set(texts)) == 24
    report = json.loads((tmp_path / "d" / "report.json").read_text())
    assert report["generation"]["regenerated_duplicates"] >= 7
    assert report["validation"]["ok"]


def test_several_items_per_request_with_short_answers(server: MessagesServer, tmp_path: Path) -> None:
    calls = itertools.count()

    def responder(body: dict) -> dict:
        out = default_responder(body)
        n = next(calls)
        if n % 3 == 0:
            out["items"] = out["items"][:-1]  # one item short: the missing slot is refilled
        elif n % 3 == 1:
            out["items"] = out["items"] + out["items"][:1]  # one extra: discarded
        return out

    server.responder = responder
    data = {**RECIPE, "backend": {**RECIPE["backend"], "items_per_request": 4}}
    dd = run(data, tmp_path / "k", quality=False)
    assert sorted(i for d in dd.values() for i in d["slot_id"]) == list(range(24))
    sent = server.count("POST", "/v1/messages")
    assert sent < 24  # batched k per request
    prompts = [json.dumps(b) for b in server.bodies()]
    assert any('"minItems": 4' in p or '"minItems":4' in p for p in prompts)


@pytest.mark.slow
def test_near_duplicates_within_a_stratum_are_regenerated(server: MessagesServer, tmp_path: Path) -> None:
    calls = itertools.count()

    distinct = iter(
        [
            "How long does a transfer to Germany take?",
            "Why is there a fee on my statement?",
            "I want to close my savings account.",
            "Can I change my PIN in the app?",
            "My salary has not arrived this month.",
            "Is Apple Pay supported for business accounts?",
            "Please increase my daily withdrawal limit.",
            "What exchange rate do you use for yen?",
            "The app crashes when I open statements.",
            "Who do I call about a stolen phone?",
            "Can my teenager get a debit card?",
            "I was charged twice for one coffee.",
        ]
    )

    def responder(body: dict) -> dict:
        out = default_responder(body)
        n = next(calls)
        for item in out["items"]:
            # Six answers paraphrase one complaint (only the punctuation differs); the rest are distinct.
            declined = f"My card was declined at the shop today and I do not know why{'!' * (n + 1)}"
            item["text"] = declined if n < 6 else next(distinct)
        return out

    server.responder = responder
    data = {
        **RECIPE,
        "strata": {"by": ["topic"]},
        "dimensions": {"topic": ["cards"], "tone": ["calm", "angry"]},
        "size": 8,
        "dedup": {"near_threshold": 0.95},
    }
    dd = run(data, tmp_path / "n")
    report = json.loads((tmp_path / "n" / "report.json").read_text())
    assert report["generation"]["regenerated_near_duplicates"] >= 4
    assert sum(len(d) for d in dd.values()) == 8
    declined = [t for d in dd.values() for t in d["text"] if "declined" in t]
    assert len(declined) <= 1


def test_plan_estimate_prints_requests_tokens_and_dollars(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({**RECIPE, "size": 1000}))
    env = {"PATH": "/usr/bin:/bin"}
    res = subprocess.run(
        [sys.executable, "-m", "hf_synth.cli", "plan", str(path), "--estimate", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    est = json.loads(res.stdout)["estimate"]
    assert est["requests"] == 1000 and est["rows"] == 1000
    assert est["input_tokens"] > 1000 * 20
    assert 0 < est["cost_usd_batch_expected"] < est["cost_usd_expected"] <= est["cost_usd_max"]
    assert est["method"].startswith("heuristic")


@pytest.mark.slow
def test_reference_block_puts_coverage_and_fidelity_in_report_and_card(
    server: MessagesServer, tmp_path: Path
) -> None:
    import csv

    source = Path(__file__).resolve().parents[2] / "hf_synth" / "data" / "banking77" / "test.csv"
    with source.open(newline="") as f:
        rows = list(csv.DictReader(f))[::15]  # ~200 real queries across the intents
    ref = tmp_path / "reference.csv"
    with ref.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "category"])
        writer.writeheader()
        writer.writerows(rows)
    data = {**RECIPE, "reference": {"path": str(ref), "text_column": "text"}}
    run(data, tmp_path / "c")
    report = json.loads((tmp_path / "c" / "report.json").read_text())
    cov = report["coverage"]
    assert 0.0 <= cov["coverage"] <= 1.0
    assert cov["sizes"]["reference"] == len(rows) and cov["sizes"]["synthetic"] == 24
    assert cov["uncovered"] and all(e in {r["text"] for r in rows} for e in cov["uncovered"][0]["examples"])
    assert set(report["label_fidelity"]) == {"topic", "tone"}
    card = (tmp_path / "c" / "README.md").read_text()
    assert "## Coverage and diversity" in card and "## Label fidelity" in card
