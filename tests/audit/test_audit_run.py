"""The blind label audit end to end: the real `anthropic` SDK against the loopback Messages server, whose
`LabelWorld` responder writes a quarter of the rows with a wrong label and judges rows by what they say."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from hf_synth.cli.main import main
from hf_synth.dataset.validate import validate_folder
from hf_synth.errors import BudgetExceededError, IncompleteRunError
from hf_synth.testing.judge import LabelWorld
from hf_synth.testing.messages_server import MessagesServer
from tests.audit.common import DIMS, KEY, RECIPE, recipe, rows, run, written_wrong

pytestmark = pytest.mark.loopback(api_key=KEY)


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def _stratum_counts(out: Path) -> Counter:
    return Counter(r["stratum"] for r in rows(out))


def test_regenerate_reaches_full_agreement_with_exact_quotas(server: MessagesServer, tmp_path: Path) -> None:
    world = server.responder = LabelWorld(DIMS, wrong_share=0.25)
    out = tmp_path / "out"
    result = run(out)
    assert world.written_wrong >= 10  # the server really wrote wrong rows (a quarter of what it wrote)
    audit = result.report.audit
    for dim in DIMS:
        assert audit["per_dimension"][dim]["agreement"]["rate"] >= 0.98, dim
    assert result.validation.ok, result.validation.failures
    # Every stratum count is still exactly the plan's, and no written row states a wrong label.
    assert _stratum_counts(out) == Counter(result.report.plan["targets"]["strata"])
    written = rows(out)
    assert not [r for r in written if written_wrong(r)]
    assert audit["regenerated"] >= world.written_wrong - 5
    # The judge's reading reached the regeneration requests.
    follow_ups = [
        b["messages"][0]["content"][1]["text"]
        for b in server.bodies()
        if len(b["messages"][0]["content"]) > 1
    ]
    readings = [t for t in follow_ups if "a reader took your previous text" in t]
    assert readings and all("write it so that it is clearly" in t for t in readings)


def test_flag_marks_exactly_the_rows_written_wrong(server: MessagesServer, tmp_path: Path) -> None:
    world = server.responder = LabelWorld(DIMS, wrong_share=0.25)
    out = tmp_path / "out"
    result = run(out, recipe(on_disagree="flag", min_agreement=0.5))
    written = rows(out)
    judged = [r for r in written if r["edge_case"] != "empty_field"]
    wrong = {r["slot_id"] for r in judged if written_wrong(r)}
    assert len(wrong) >= 8
    assert {r["slot_id"] for r in judged if r["label_verified"] is False} == wrong
    assert {r["slot_id"] for r in judged if r["label_verified"] is True} == {
        r["slot_id"] for r in judged
    } - wrong
    # Rows whose point is an unreadable text are skipped, counted, and never shown to the judge.
    skipped = [r for r in written if r["edge_case"] == "empty_field"]
    assert skipped and all(r["label_verified"] is None and r["judged_tone"] is None for r in skipped)
    assert result.report.audit["rows"]["skipped"] == {"empty_field": len(skipped)}
    assert "" not in world.judged
    # Nothing was regenerated: the server wrote each generated row once.
    assert result.report.audit["regenerated"] == 0
    # The judge's columns are ClassLabels with "unclear", and they say what the text says.
    features = _report(out)["features"]
    assert features["judged_tone"]["names"] == [*DIMS["tone"], "unclear"]
    for r in judged:
        assert (r["judged_tone"], r["judged_topic"]) != (None, None)
    assert result.validation.ok
    # The card states the audit's figures and what its columns are (not "recipe fields").
    card = (out / "README.md").read_text(encoding="utf-8")
    tone = result.report.audit["per_dimension"]["tone"]["agreement"]
    assert "## Label audit" in card and "Confusion matrix of tone" in card
    assert f"| tone | {tone['agree']} / {tone['rows']} |" in card
    assert (
        "| judged\\_tone | class label: polite, angry, confused, unclear | The value of tone a blind judge"
        in card
    )
    assert "weak reader" not in card  # the caveat is for the embedded local judge only


def test_validation_fails_naming_the_dimension_below_min_agreement(
    server: MessagesServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.responder = LabelWorld(DIMS, wrong_share=0.25)
    out = tmp_path / "out"
    result = run(out, recipe(on_disagree="flag", min_agreement=0.95))
    assert not result.ok and result.exit_code == 1
    failing = {f["level"] for f in result.validation.failures}
    assert failing == {"audit.tone", "audit.topic"}
    code = main(["validate", str(out)])
    printed = capsys.readouterr().out
    assert code == 1
    assert "judged agreement on 'tone'" in printed and "below min_agreement 95%" in printed


def test_rerunning_a_finished_audited_run_sends_nothing_and_changes_no_file(
    server: MessagesServer, tmp_path: Path
) -> None:
    server.responder = LabelWorld(DIMS, wrong_share=0.25)
    out = tmp_path / "out"
    run(out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and ".hf-synth" not in p.parts}
    sent = server.count("POST", "/v1/messages")
    again = run(out)
    assert server.count("POST", "/v1/messages") == sent
    assert again.stats.requests == 0
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and ".hf-synth" not in p.parts}
    assert after == before


def test_rows_left_disagreeing_are_settled_not_regenerated_forever(
    server: MessagesServer, tmp_path: Path
) -> None:
    # Every row is written wrong: regeneration can never fix them, so after max_rounds they are kept,
    # flagged, and a re-run sends nothing.
    server.responder = LabelWorld(DIMS, wrong_share=1.0)
    out = tmp_path / "out"
    data = recipe(min_agreement=0.0)
    data["max_rounds"] = 2
    result = run(out, data)
    audit = result.report.audit
    judged = audit["rows"]["judged"]
    assert audit["rows"]["disagreeing"] == judged == audit["settled"]
    assert all(r["label_verified"] is False for r in rows(out) if r["edge_case"] != "empty_field")
    sent = server.count("POST", "/v1/messages")
    run(out, data)
    assert server.count("POST", "/v1/messages") == sent


def test_drop_and_refill_keeps_wrong_rows_out_and_refills_their_cells(
    server: MessagesServer, tmp_path: Path
) -> None:
    world = server.responder = LabelWorld(DIMS, wrong_share=0.25)
    out = tmp_path / "out"
    data = recipe(on_disagree="drop-and-refill")
    data["max_rounds"] = 1  # judge once, no regeneration round: every disagreeing row is dropped
    with pytest.raises(IncompleteRunError) as info:
        run(out, data)
    report = _report(out)
    assert report["complete"] is False
    written = rows(out)
    assert not [r for r in written if written_wrong(r)]
    assert all(r["label_verified"] is not False for r in written)
    dropped = report["audit"]["dropped"]
    assert dropped == sum(info.value.short_cells.values()) == report["incomplete"]["missing_rows"] > 0
    # A re-run refills the dropped cells, each regeneration carrying the judge's reading from the store.
    feedback_before = world.feedback_requests
    data["max_rounds"] = 6
    result = run(out, data)
    assert result.validation.ok and result.report.complete
    assert world.feedback_requests - feedback_before >= dropped
    assert _stratum_counts(out) == Counter(result.report.plan["targets"]["strata"])
    assert not [r for r in rows(out) if written_wrong(r)]


def test_audit_spending_counts_toward_the_budget(server: MessagesServer, tmp_path: Path) -> None:
    server.responder = LabelWorld(DIMS, wrong_share=0.25)
    out = tmp_path / "out"
    plain = dict(RECIPE)
    plain.pop("audit")
    first = run(out, plain)
    spent = first.report.generation["cost_usd"]
    assert spent > 0
    sent = server.count("POST", "/v1/messages")
    # The folder already spent more than this budget: the judge may not send a single request.
    with pytest.raises(BudgetExceededError):
        run(out, RECIPE, budget_usd=spent * 0.99)
    assert server.count("POST", "/v1/messages") == sent
    # With room, the audit runs, and its cost is reported apart from generation's.
    result = run(out, RECIPE, budget_usd=spent + 1.0)
    audit_cost = result.report.audit["cost"]["cost_usd"]
    assert audit_cost > 0
    assert result.report.generation["cost_usd"] > spent  # regenerations are generation spending
    assert result.report.generation["cost_usd"] + audit_cost <= spent + 1.0


def test_hf_synth_audit_on_an_existing_folder(
    server: MessagesServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = server.responder = LabelWorld(DIMS, wrong_share=0.25)
    out = tmp_path / "out"
    plain = dict(RECIPE)
    plain.pop("audit")
    run(out, plain, limit=30)
    assert "label_verified" not in _report(out)["features"]
    written_before = world.written
    code = main(
        [
            "audit",
            str(out),
            "--on-disagree",
            "flag",
            "--min-agreement",
            "0.5",
            "--no-progress",
            "--no-quality",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert world.written == written_before  # no row was generated again (same backend, model and --limit)
    assert world.judge_requests > 0
    report = _report(out)
    assert report["plan"]["limit"] == 30 and report["generation"]["rows"] == 30
    assert report["audit"]["on_disagree"] == "flag"
    assert "audit       judged agreement tone=" in printed
    flagged = {r["slot_id"] for r in rows(out) if r["label_verified"] is False}
    assert flagged == {
        r["slot_id"] for r in rows(out) if r["edge_case"] != "empty_field" and written_wrong(r)
    }
    assert not validate_folder(out).failures


def test_generate_audit_flag_turns_on_the_default_audit(server: MessagesServer, tmp_path: Path) -> None:
    server.responder = LabelWorld(DIMS, wrong_share=0.25)
    plain = dict(RECIPE)
    plain.pop("audit")
    recipe_path = tmp_path / "recipe.yaml"
    import yaml

    recipe_path.write_text(yaml.safe_dump(plain), encoding="utf-8")
    out = tmp_path / "out"
    code = main(
        [
            "generate",
            str(recipe_path),
            "--out",
            str(out),
            "--backend",
            "anthropic",
            "--audit",
            "--no-progress",
            "--no-quality",
        ]
    )
    assert code == 0
    report = _report(out)
    assert report["audit"]["dimensions"] == ["tone", "topic"]  # the stratum dimensions
    assert report["audit"]["on_disagree"] == "regenerate"
    assert "audit:" in (out / "recipe.yaml").read_text(encoding="utf-8")


def test_judge_batches(server: MessagesServer, tmp_path: Path) -> None:
    server.responder = LabelWorld(DIMS, wrong_share=0.25)
    server.batch_delay = 0.05
    data = recipe(
        on_disagree="flag",
        min_agreement=0.5,
        backend={
            "name": "anthropic",
            "model": "claude-haiku-4-5",
            "batch": True,
            "batch_poll_interval": 0.05,
        },
    )
    out = tmp_path / "out"
    run(out, data)
    assert server.count("POST", "/v1/messages/batches") >= 1
    written = [r for r in rows(out) if r["edge_case"] != "empty_field"]
    assert {r["slot_id"] for r in written if r["label_verified"] is False} == {
        r["slot_id"] for r in written if written_wrong(r)
    }
