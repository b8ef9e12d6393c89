"""`kill -9` in the middle of the label audit, then a re-run: judged rows are not judged again."""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
import yaml

from hf_synth.generation.audit.request import content_key
from hf_synth.testing.judge import LabelWorld
from hf_synth.testing.messages_server import MessagesServer
from tests.audit.common import DIMS, KEY, recipe, rows, run, written_wrong
from tests.support.runprobe import generate_cmd, kill_when, store_count

pytestmark = pytest.mark.loopback(api_key=KEY)

JUDGE = "anthropic:claude-haiku-4-5"


def test_kill_during_the_audit_resumes_without_rejudging(server: MessagesServer, tmp_path: Path) -> None:
    world = server.responder = LabelWorld(DIMS, wrong_share=0.25)
    data = recipe(items_per_request=2)
    data["backend"]["concurrency"] = 1
    recipe_path = tmp_path / "recipe.yaml"
    recipe_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "out"
    server.latency = 0.15

    def mid_audit() -> bool:
        return store_count(out, "SELECT COUNT(*) FROM audit_verdicts") >= 8

    kill_when(generate_cmd(recipe_path, out), dict(os.environ), mid_audit)
    with sqlite3.connect(out / ".hf-synth" / "run.sqlite") as db:
        stored = {k for (k,) in db.execute("SELECT content_key FROM audit_verdicts")}
    assert len(stored) >= 8
    judged_before = len(world.judged)
    assert world.judge_requests > 0

    server.latency = 0.0
    result = run(out, data)
    again = world.judged[judged_before:]
    keys_again = [content_key({"body": text}, DIMS, JUDGE) for text in again]
    assert again and not set(keys_again) & stored  # nothing judged before the kill was sent again
    assert result.validation.ok, result.validation.failures
    assert Counter(r["stratum"] for r in rows(out)) == Counter(result.report.plan["targets"]["strata"])
    assert not [r for r in rows(out) if written_wrong(r)]
