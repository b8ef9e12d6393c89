"""Claude at scale through the real SDK: Message Batches (resumable), budget stops, sustained 429s."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import datasets
import pytest
import yaml

from hf_synth.generation.engine import BudgetExceededError
from hf_synth.pipeline import RunOptions, generate
from hf_synth.recipe import parse_recipe
from hf_synth.testing.messages_server import MessagesServer
from tests.support.runprobe import generate_cmd, kill_when, store_count

KEY = "sk-ant-scale-test-0123456789"
pytestmark = pytest.mark.loopback(api_key=KEY, batch_delay=0.5)

RECIPE = {
    "name": "scale",
    "seed": 5,
    "fields": {"text": {"type": "string"}},
    "dimensions": {"topic": ["cards", "transfers", "fees"], "tone": ["calm", "angry"]},
    "size": 30,
    "splits": {"train": 0.8, "test": 0.2},
    "prompt": "Write a {{ tone }} customer message about {{ topic }}.",
    "backend": {
        "name": "anthropic",
        "model": "claude-sonnet-4-6",
        "concurrency": 4,
        "max_attempts": 3,
        "batch_poll_interval": 0.2,
        "max_tokens": 200,
    },
    "dedup": {"near_threshold": None},
}


def options(**kw) -> RunOptions:
    return RunOptions(backend="anthropic", progress=False, quality=False, **kw)


def test_batch_mode_generates_exact_dataset_at_discount(server: MessagesServer, tmp_path: Path) -> None:
    out = tmp_path / "b"
    dd = generate(parse_recipe(RECIPE), out, options(batch=True))
    assert sum(len(d) for d in dd.values()) == 30
    assert server.count("POST", "/v1/messages/batches") == 1
    assert server.count("POST", "/v1/messages") == 0
    report = json.loads((out / "report.json").read_text())
    assert report["validation"]["ok"]
    online = generate(parse_recipe(RECIPE), tmp_path / "o", options())
    assert sum(len(d) for d in online.values()) == 30
    online_cost = json.loads((tmp_path / "o" / "report.json").read_text())["generation"]["cost_usd"]
    assert report["generation"]["cost_usd"] == pytest.approx(online_cost / 2, rel=0.05)


def test_batch_failures_are_refilled_online(server: MessagesServer, tmp_path: Path) -> None:
    server.batch_outcome = lambda custom_id, params: "errored" if custom_id[-1] in "0123" else "succeeded"
    dd = generate(parse_recipe(RECIPE), tmp_path / "b", options(batch=True))
    assert sum(len(d) for d in dd.values()) == 30
    assert server.count("POST", "/v1/messages/batches") == 1
    assert server.count("POST", "/v1/messages") > 0  # the errored requests were refilled online
    ids = [i for d in dd.values() for i in d["slot_id"]]
    assert sorted(ids) == list(range(30))


def test_kill_during_batch_poll_resumes_without_resubmitting(tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    out = tmp_path / "out"
    with MessagesServer(api_key=KEY, batch_delay=4.0) as srv:
        env = dict(os.environ, ANTHROPIC_API_KEY=KEY, ANTHROPIC_BASE_URL=srv.url)
        cmd = generate_cmd(path, out, "--batch")
        kill_when(cmd, env, lambda: store_count(out, "SELECT COUNT(*) FROM batches WHERE open = 1") > 0)
        assert srv.count("POST", "/v1/messages/batches") == 1
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert srv.count("POST", "/v1/messages/batches") == 1  # polled, not resubmitted
        assert srv.count("POST", "/v1/messages") == 0
    loaded = datasets.load_dataset(str(out))
    assert sorted(i for d in loaded.values() for i in d["slot_id"]) == list(range(30))


def test_budget_stops_cleanly_and_resumes(server: MessagesServer, tmp_path: Path) -> None:
    out = tmp_path / "b"
    recipe = parse_recipe(RECIPE)
    with pytest.raises(BudgetExceededError) as info:
        generate(recipe, out, options(budget_usd=0.02))
    sent = server.count("POST", "/v1/messages")
    assert 0 < sent < 30
    assert "Re-run with a larger --budget" in str(info.value)
    with sqlite3.connect(out / ".hf-synth" / "run.sqlite") as con:
        spent = con.execute("SELECT SUM(cost_usd) FROM usage").fetchone()[0]
    assert spent <= 0.02
    dd = generate(recipe, out, options(budget_usd=10.0))
    assert sum(len(d) for d in dd.values()) == 30
    assert server.count("POST", "/v1/messages") == 30  # nothing finished was asked again


def test_sustained_429_slows_but_completes(server: MessagesServer, tmp_path: Path) -> None:
    recipe = parse_recipe({**RECIPE, "backend": {**RECIPE["backend"], "max_attempts": 8}})
    server.fail_for("rate_limit", 3.0)
    server.retry_after = 0.5
    start = time.monotonic()
    dd = generate(recipe, tmp_path / "r", options())
    assert sum(len(d) for d in dd.values()) == 30
    assert time.monotonic() - start >= 2.5


def test_batch_budget_reserves_the_batch_price(server: MessagesServer, tmp_path: Path) -> None:
    from hf_synth.generation.backends.base import Usage
    from hf_synth.generation.pricing import cost_usd

    data = {**RECIPE, "backend": {**RECIPE["backend"], "max_tokens": 1000}}
    full = cost_usd("claude-sonnet-4-6", Usage(1, 0, 1000)) or 0.0
    # 30 requests' worst case is ~30 × full at the online price but ~15 × full at the batch discount.
    budget = 22.5 * full
    dd = generate(parse_recipe(data), tmp_path / "b", options(batch=True, budget_usd=budget))
    assert sum(len(d) for d in dd.values()) == 30
    assert server.count("POST", "/v1/messages/batches") == 1
    assert server.count("POST", "/v1/messages") == 0


def test_paid_batch_results_are_used_after_the_chunking_changed(tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    recipe = {**RECIPE, "backend": {**RECIPE["backend"], "items_per_request": 4}}
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out"
    with MessagesServer(api_key=KEY, batch_delay=4.0) as srv:
        env = dict(os.environ, ANTHROPIC_API_KEY=KEY, ANTHROPIC_BASE_URL=srv.url)
        cmd = generate_cmd(path, out, "--batch")
        kill_when(cmd, env, lambda: store_count(out, "SELECT COUNT(*) FROM batches WHERE open = 1") > 0)
        (batch,) = srv.bodies("/v1/messages/batches")
        paid = len(batch["requests"])
        # The resumed run chunks the same slots differently: none of the batch's custom_ids match.
        recipe["backend"]["items_per_request"] = 3
        path.write_text(yaml.safe_dump(recipe))
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert srv.count("POST", "/v1/messages/batches") == 1  # nothing resubmitted
        assert srv.count("POST", "/v1/messages") == 0  # every slot filled from the paid results
    loaded = datasets.load_dataset(str(out))
    assert sorted(i for d in loaded.values() for i in d["slot_id"]) == list(range(30))
    report = json.loads((out / "report.json").read_text())
    assert report["generation"]["requests"] == paid
