"""`kill -9` in the middle of a gap-filling round, then a re-run: the stored round is finished with exactly
the rows that were missing, no finished row is requested again, and no slot is planned twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import yaml

from hf_synth.planning.gaps import GAP_SLOT_BASE
from hf_synth.testing.examples import ExampleWriter
from hf_synth.testing.messages_server import MessagesServer
from tests.gaps.common import recipe_data, write_reference
from tests.support.runprobe import kill_when, store_count

SECRET = "sk-ant-gaps-crash-0000"
ROOT = Path(__file__).resolve().parents[2]
RUN = (
    "import sys, yaml; from pathlib import Path; from hf_synth.pipeline import RunOptions, generate; "
    "from hf_synth.recipe import parse_recipe; from tests.gaps.common import WordEmbedder; "
    "generate(parse_recipe(yaml.safe_load(Path(sys.argv[1]).read_text())), Path(sys.argv[2]), "
    "RunOptions(backend='anthropic', progress=False, embedder=WordEmbedder()))"
)
GAP_ROWS = f"SELECT COUNT(*) FROM slots WHERE slot_id >= {GAP_SLOT_BASE}"


@pytest.mark.timeout(600)
def test_kill_9_during_a_gap_round_resumes_without_re_requests(tmp_path: Path) -> None:
    reference = write_reference(tmp_path / "ref.csv")
    data = recipe_data(reference, fill={"target": 1.0, "rounds": 1})
    data["reference"]["leakage_threshold"] = 0.999  # no near-copy regeneration: request counts stay exact
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", RUN, str(recipe), str(out)]
    env = {**os.environ, "ANTHROPIC_API_KEY": SECRET, "PYTHONPATH": str(ROOT)}
    with MessagesServer(api_key=SECRET, latency=0.25, responder=ExampleWriter()) as srv:
        env["ANTHROPIC_BASE_URL"] = srv.url
        kill_when([*cmd], env, lambda: store_count(out, GAP_ROWS) >= 4, timeout=300)
        finished = store_count(out, "SELECT COUNT(*) FROM slots")
        planned_gaps = store_count(out, "SELECT COUNT(*) FROM gap_slots")
        assert store_count(out, GAP_ROWS) >= 4 and planned_gaps > store_count(out, GAP_ROWS)
        before = srv.count("POST", "/v1/messages")
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert done.returncode == 0, done.stderr[-3000:]
        resent = srv.count("POST", "/v1/messages") - before
    # Exactly the missing rows were asked for (one item per request), and the round was not planned again.
    assert resent == 24 + planned_gaps - finished
    assert store_count(out, "SELECT COUNT(*) FROM gap_slots") == planned_gaps
    report = json.loads((out / "report.json").read_text())
    assert report["gap_fill"]["rows"] == planned_gaps and len(report["gap_fill"]["rounds"]) == 1
    assert report["validation"]["ok"]
    loaded = datasets.load_dataset(str(out))
    ids = sorted(i for ds in loaded.values() for i in ds["slot_id"])
    assert ids[:24] == list(range(24)) and len(ids) == 24 + planned_gaps and len(set(ids)) == len(ids)
