"""End to end: recipe → plan → the real anthropic SDK against a loopback Messages API → Hub-ready folder.

Consumers are checked with the real `datasets.load_dataset`; the resume checks count what the server saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import datasets
import pytest
import yaml

from hf_synth.generation.engine import IncompleteRunError
from hf_synth.pipeline import RunOptions, generate
from hf_synth.recipe import parse_recipe
from hf_synth.testing.messages_server import MessagesServer
from tests.support.runprobe import generate_cmd, kill_when, store_count

SECRET = "sk-ant-test-7f3c9e1d-never-log-me"
pytestmark = pytest.mark.loopback(api_key=SECRET)

RECIPE = {
    "name": "tickets",
    "description": "Support tickets: 'quoted' text, {{ braces }} and ünïcode.",
    "seed": 11,
    "fields": {
        "subject": {"type": "string", "description": "one-line subject"},
        "body": {"type": "string", "description": "the ticket"},
        "priority": {"type": "integer", "minimum": 1, "maximum": 5},
        "tier": {"type": "enum", "values": ["free", "pro"], "optional": True},
    },
    "text_field": "body",
    "dimensions": {
        "product": ["app", "web", "api"],
        "severity": {"low": 1, "high": 1},
        "tone": {"angry": 1, "calm": 2},
    },
    "strata": {
        "by": ["product", "severity"],
        "counts": {
            "app": {"low": 5, "high": 4},
            "web": {"low": 3, "high": 6},
            "api": {"low": 4, "high": 2},
        },
    },
    "splits": {"train": 0.7, "test": 0.3},
    "prompt": "Write a {{ severity }} ticket about the {{ product }}."
    "{% if tone == 'angry' %} The customer is furious.{% else %} The customer is calm.{% endif %}",
    "backend": {"name": "anthropic", "model": "claude-sonnet-4-6", "concurrency": 4, "max_attempts": 3},
    "edge_cases": {"share": 0.2, "kinds": {"empty_field": {"field": "subject"}, "exact_duplicate": {}}},
    "dedup": {"near_threshold": None},
    "max_rounds": 4,
}


def messages_sent(srv: MessagesServer) -> int:
    return srv.count("POST", "/v1/messages")


def run(recipe_data: dict, out: Path) -> datasets.DatasetDict:
    recipe = parse_recipe(recipe_data)
    return generate(recipe, out, RunOptions(backend="anthropic", progress=False, quality=False))


def all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_generate_writes_a_loadable_exact_dataset(server: MessagesServer, tmp_path: Path) -> None:
    out = tmp_path / "tickets"
    dd = run(RECIPE, out)
    assert set(dd) == {"train", "test"}
    total = sum(len(ds) for ds in dd.values())
    assert total == 24

    loaded = datasets.load_dataset(str(out))
    assert {s: len(ds) for s, ds in loaded.items()} == {s: len(ds) for s, ds in dd.items()}
    feats = loaded["train"].features
    assert isinstance(feats["product"], datasets.ClassLabel) and feats["product"].names == [
        "app",
        "web",
        "api",
    ]
    assert feats["severity"].names == ["low", "high"]
    assert feats["edge_case"].names == ["none", "empty_field", "exact_duplicate"]
    assert feats["priority"].dtype == "int64" and feats["slot_id"].dtype == "int64"

    rows = [r for ds in loaded.values() for r in ds]
    assert len({r["slot_id"] for r in rows}) == total
    strata = Counter(r["stratum"] for r in rows)
    assert strata == {
        "app | low": 5,
        "app | high": 4,
        "web | low": 3,
        "web | high": 6,
        "api | low": 4,
        "api | high": 2,
    }
    # Edge rows: exact count (20% of 24), flagged, with the property they claim.
    edge = [r for r in rows if r["is_edge_case"]]
    assert len(edge) == round(0.2 * 24)
    names = feats["edge_case"].names
    for r in edge:
        if names[r["edge_case"]] == "empty_field":
            assert r["subject"] == ""
        else:
            partner = next(p for p in rows if p["slot_id"] == r["edge_case_of"])
            assert (r["subject"], r["body"]) == (partner["subject"], partner["body"])
    assert all(1 <= r["priority"] <= 5 for r in rows if not r["is_edge_case"])

    # The two other configs load by name, with the right counts.
    clean = datasets.load_dataset(str(out), "clean")
    edges = datasets.load_dataset(str(out), "edge_cases")
    assert sum(len(d) for d in clean.values()) == total - len(edge)
    assert sum(len(d) for d in edges.values()) == len(edge)

    report = json.loads((out / "report.json").read_text())
    assert report["validation"]["ok"] is True
    assert report["generation"]["rows"] == total
    assert report["generation"]["requests"] == messages_sent(server)
    assert report["generation"]["input_tokens"] > 0
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "configs:" in card
    assert SECRET.encode() not in all_bytes(out)


def test_rerun_sends_zero_requests(server: MessagesServer, tmp_path: Path) -> None:
    out = tmp_path / "tickets"
    run(RECIPE, out)
    first = messages_sent(server)
    files_before = sorted(p.name for p in (out / "data").iterdir())
    def published_files() -> dict[Path, bytes]:
        return {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and ".hf-synth" not in p.parts}

    published = published_files()
    again = run(RECIPE, out)
    assert messages_sent(server) == first
    assert again.stats.requests == 0 and again.ok
    assert sorted(p.name for p in (out / "data").iterdir()) == files_before
    # Issue 11: re-running a finished run changes no file (report, card, data, recipe).
    assert published_files() == published


def test_prompt_change_invalidates_only_changed_slots(server: MessagesServer, tmp_path: Path) -> None:
    out = tmp_path / "tickets"
    dd = run(RECIPE, out)
    rows = [r for ds in dd.values() for r in ds]
    tone = dd["train"].features["tone"].names
    angry_normal = sum(1 for r in rows if tone[r["tone"]] == "angry" and not r["is_edge_case"])
    before = messages_sent(server)
    changed = dict(RECIPE, prompt=RECIPE["prompt"].replace("furious", "livid"))
    dd2 = run(changed, out)
    resent = messages_sent(server) - before
    # Angry rows changed prompt; exact duplicates of angry partners are re-copied without a request.
    assert angry_normal <= resent <= angry_normal + sum(1 for r in rows if r["is_edge_case"])
    assert resent < len(rows)
    calm = {
        r["slot_id"]: r["body"]
        for ds in dd.values()
        for r in ds
        if tone[r["tone"]] == "calm" and not r["is_edge_case"]
    }
    calm2 = {r["slot_id"]: r["body"] for ds in dd2.values() for r in ds if r["slot_id"] in calm}
    assert calm == calm2


def test_faulty_server_still_gives_exact_counts(server: MessagesServer, tmp_path: Path) -> None:
    server.fault_rates = {"api_error": 0.1, "overloaded": 0.05, "drop": 0.05, "bad_items": 0.1}
    out = tmp_path / "tickets"
    dd = run(RECIPE, out)
    rows = [r for ds in dd.values() for r in ds]
    assert len(rows) == 24 and len({r["slot_id"] for r in rows}) == 24
    report = json.loads((out / "report.json").read_text())
    assert report["validation"]["ok"]


def test_unrecoverable_failures_name_the_short_cells(server: MessagesServer, tmp_path: Path) -> None:
    server.fault_rates = {"api_error": 1.0}
    recipe = dict(RECIPE, max_rounds=2, backend=dict(RECIPE["backend"], max_attempts=1))
    with pytest.raises(IncompleteRunError) as info:
        run(recipe, tmp_path / "tickets")
    assert "app | low" in str(info.value) and "Re-run the same command to resume" in str(info.value)
    assert SECRET not in str(info.value)


def test_kill_minus_nine_then_resume(tmp_path: Path) -> None:
    recipe = dict(RECIPE, strata={"by": ["product", "severity"]}, size=60, edge_cases=None)
    recipe["backend"] = dict(RECIPE["backend"], concurrency=2)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out"
    with MessagesServer(api_key=SECRET, latency=0.15) as srv:
        env = dict(os.environ, ANTHROPIC_API_KEY=SECRET, ANTHROPIC_BASE_URL=srv.url)
        cmd = generate_cmd(path, out)
        kill_when(cmd, env, lambda: store_count(out, "SELECT COUNT(*) FROM slots") >= 15)
        finished = store_count(out, "SELECT COUNT(*) FROM slots")
        assert 15 <= finished < 60
        before = srv.count("POST", "/v1/messages")
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        resent = srv.count("POST", "/v1/messages") - before
        # Finished slots are never re-requested: exactly the missing ones are asked for.
        assert resent == 60 - finished
        assert SECRET not in done.stdout + done.stderr
    loaded = datasets.load_dataset(str(out))
    ids = [i for ds in loaded.values() for i in ds["slot_id"]]
    assert sorted(ids) == list(range(60))
    report = json.loads((out / "report.json").read_text())
    assert report["validation"]["ok"] and report["generation"]["resumed_rows"] == finished


def test_validate_flags_a_tampered_folder(server: MessagesServer, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "tickets"
    run(RECIPE, out)
    ok = subprocess.run(
        [sys.executable, "-m", "hf_synth.cli", "validate", str(out)], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    victim = next((out / "data").glob("train-clean-*.parquet"))
    table = pq.read_table(victim)
    dropped = table.column("stratum")[0].as_py()
    pq.write_table(table.slice(1), victim)
    bad = subprocess.run(
        [sys.executable, "-m", "hf_synth.cli", "validate", str(out), "--json"], capture_output=True, text=True
    )
    assert bad.returncode == 1
    result = json.loads(bad.stdout)
    assert any(f.get("cell") == dropped and f["level"] == "strata" for f in result["failures"])


def test_plan_cli_json_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(dict(RECIPE, strata={"by": ["product", "severity"]}, size=600)))
    res = subprocess.run(
        [sys.executable, "-m", "hf_synth.cli", "plan", str(path), "--json", "--limit", "60"],
        capture_output=True,
        text=True,
        check=True,
    )
    table = json.loads(res.stdout)
    assert table["total"] == 60
    assert sum(c["n"] for c in table["cells"]) == 60
    assert table["marginals"]["product"] == {"app": 20, "web": 20, "api": 20}


def test_recipe_error_exit_code(tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    bad = dict(RECIPE, strata={"by": ["product", "severity"], "counts": {"app": {"low": 1, "urgent": 2}}})
    path.write_text(yaml.safe_dump(bad))
    res = subprocess.run(
        [sys.executable, "-m", "hf_synth.cli", "plan", str(path)], capture_output=True, text=True
    )
    assert res.returncode == 2
    assert "strata.counts.app.urgent: severity has no value urgent" in res.stderr


def test_python_api(server: MessagesServer, tmp_path: Path) -> None:
    import hf_synth

    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    recipe = hf_synth.load_recipe(path)
    plan = hf_synth.plan(recipe, limit=12)
    assert len(plan) == 12 and callable(hf_synth.plan)
    dd = hf_synth.generate(
        path, out=tmp_path / "api", limit=12, backend="anthropic", progress=False, quality=False
    )
    assert sum(len(d) for d in dd.values()) == 12
    assert callable(hf_synth.plan)
