"""`hf-synth fill-gaps DIR` on a finished folder: reuses every planned row, adds exactly the capped gap rows,
keeps the planned strata, and a second call sends nothing (real CLI, real SDK, loopback server, MiniLM)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import datasets
import pytest
import yaml

from hf_synth.cli.main import main
from hf_synth.testing.examples import ExampleWriter
from hf_synth.testing.messages_server import MessagesServer
from tests.gaps.common import recipe_data, write_reference

SECRET = "sk-ant-gaps-cli-0000"
pytestmark = [pytest.mark.loopback(api_key=SECRET), pytest.mark.slow]  # loads the bundled MiniLM


def test_fill_gaps_adds_the_capped_rows_to_a_finished_folder(
    server: MessagesServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.responder = ExampleWriter()
    reference = write_reference(tmp_path / "ref.csv")
    data = recipe_data(reference)
    data["reference"]["leakage_threshold"] = 0.999  # no near-copy regeneration: request counts stay exact
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    assert main(["generate", str(recipe), "--out", str(out), "--no-progress"]) == 0
    planned = Counter(r["stratum"] for ds in datasets.load_dataset(str(out)).values() for r in ds)
    server.clear()
    fill = ["fill-gaps", str(out), "--max-rows", "6", "--target", "1.0", "--no-progress"]
    # The folder's recipe names its reference by file name only (no local path is published).
    assert main(fill) == 2
    assert "not found: pass it with --reference PATH" in capsys.readouterr().err
    assert server.count("POST", "/v1/messages") == 0
    fill += ["--reference", str(reference)]
    assert main(fill) == 0
    assert server.count("POST", "/v1/messages") == 6  # the 24 planned rows are reused, not requested again
    report = json.loads((out / "report.json").read_text())
    assert report["gap_fill"]["rows"] == 6 and report["gap_fill"]["stopped"].startswith("max_rows")
    rows = [r for ds in datasets.load_dataset(str(out)).values() for r in ds]
    assert sum(r["gap_fill"] for r in rows) == 6
    assert Counter(r["stratum"] for r in rows if not r["gap_fill"]) == planned
    assert report["validation"]["ok"]
    server.clear()
    assert main(fill) == 0
    assert server.count("POST", "/v1/messages") == 0
