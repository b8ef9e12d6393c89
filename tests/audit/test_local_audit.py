"""`hf-synth audit` on a folder the local backend made: offline, the embedded model judges (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hf_synth
from hf_synth.cli.main import main
from hf_synth.recipe import parse_recipe

RECIPE = {
    "name": "local-audit",
    "seed": 11,
    "fields": {"message": {"type": "string", "description": "a customer's message to the bank"}},
    "dimensions": {"topic": ["card not arrived", "exchange rate", "top up failed"]},
    "size": 6,
    "prompt": "Write one short message from a bank customer about: {{ topic }}.",
    "backend": {"name": "local", "max_tokens": 32, "temperature": 0.7, "concurrency": 6},
    "dedup": {"near_threshold": None},
    "max_rounds": 2,
}


@pytest.mark.slow
def test_audit_of_a_local_folder_runs_offline_with_the_local_judge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # No key and an unreachable API: anything but the embedded model would fail.
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    out = tmp_path / "out"
    hf_synth.generate(parse_recipe(RECIPE), out, backend="local", progress=False, quality=False)
    before = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert before["generation"]["backend"] == "local" and before["audit"] is None

    code = main(["audit", str(out), "--min-agreement", "0", "--no-progress", "--no-quality"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    audit = report["audit"]
    assert audit["judge"]["backend"] == "local"
    assert audit["rows"]["judged"] == 6 and audit["rows"]["not_judged"] == 0
    # The rows kept are the generated ones or their regenerations, never more requests than the rounds allow.
    assert report["generation"]["rows"] == 6
    assert audit["regenerated"] <= 6
    agreement = audit["per_dimension"]["topic"]["agreement"]
    assert agreement["rows"] == 6 and 0.0 <= agreement["rate"] <= 1.0
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "## Label audit" in card and "a weak reader" in card
    assert "audit       judged agreement topic=" in printed
    # Re-running the audit finds every row judged: nothing is generated or judged again.
    capsys.readouterr()
    assert main(["audit", str(out), "--min-agreement", "0", "--no-progress", "--no-quality"]) == 0
    again = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert again["audit"]["cost"]["requests"] == audit["cost"]["requests"]
    assert again["generation"]["requests"] == report["generation"]["requests"]
