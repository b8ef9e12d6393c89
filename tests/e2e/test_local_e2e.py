"""The embedded default end to end: the local SmolLM2 model generates a tiny plan into a loadable folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import yaml

DEMO = Path(__file__).resolve().parents[2] / "hf_synth" / "data" / "demo.yaml"


@pytest.mark.slow
def test_local_backend_generates_the_demo_plan(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    # The recipe asks for Claude; without ANTHROPIC_API_KEY the embedded local model stands in.
    recipe = yaml.safe_load(DEMO.read_text())
    recipe["backend"]["name"] = "anthropic"
    recipe["reference"]["path"] = str(DEMO.parent / "banking77" / "test.csv")
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True))
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "hf_synth.cli",
            "generate",
            str(path),
            "--out",
            str(out),
            "--limit",
            "6",
            "--no-progress",
            "--no-quality",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    assert "using the embedded local model" in res.stderr  # no key: the documented fallback
    assert "validation  OK" in res.stdout
    loaded = datasets.load_dataset(str(out))
    rows = [r for d in loaded.values() for r in d]
    assert len(rows) == 6
    assert all(isinstance(r["urgent"], bool) for r in rows)
    assert all(r["message"].strip() for r in rows if not r["is_edge_case"])
    report = json.loads((out / "report.json").read_text())
    assert report["generation"]["backend"] == "local" and report["generation"]["output_tokens"] > 0
