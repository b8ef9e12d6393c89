"""The gap-filling loop against the loopback Messages server: it reaches a target, stops at the row cap, the
rounds and the budget, keeps the planned strata exact, flags its rows, and re-runs without a request."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import datasets
import pytest

from hf_synth.planning.gaps import GAP_SLOT_BASE
from hf_synth.testing.examples import ExampleWriter
from hf_synth.testing.messages_server import MessagesServer
from tests.gaps.common import INTENTS, TOPICS, recipe_data, run, write_reference

SECRET = "sk-ant-gaps-fill-0000"
pytestmark = pytest.mark.loopback(api_key=SECRET)


@pytest.fixture()
def reference(tmp_path: Path) -> Path:
    return write_reference(tmp_path / "ref.csv")


@pytest.fixture()
def writer(server: MessagesServer) -> ExampleWriter:
    w = ExampleWriter()
    server.responder = w
    return w


def all_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and ".hf-synth" not in p.parts
    }


def test_the_loop_reaches_its_target_and_keeps_the_planned_strata_exact(
    server: MessagesServer, writer: ExampleWriter, reference: Path, tmp_path: Path
) -> None:
    plain = run(recipe_data(reference), tmp_path / "plain")
    out = tmp_path / "out"
    result = run(recipe_data(reference, fill={"target": 0.5}), out)
    block = result.report.gap_fill
    assert block["stopped"].startswith("target")
    before, after = block["before"]["coverage"], block["after"]["coverage"]
    assert before < 0.5 <= after
    # The report's coverage is the loop's last measurement of the same rows.
    assert result.report.coverage["coverage"] == pytest.approx(after)
    first = block["rounds"][0]
    assert first["before"]["interval"][0] <= before <= first["before"]["interval"][1]
    assert first["rows"] == block["rows"] > 0 and first["cost"]["requests"] >= first["rows"]
    # Every gap row is flagged, points at a filled region and carries a reference label of that region.
    loaded = datasets.load_dataset(str(out))
    rows = [r for ds in loaded.values() for r in ds]
    gap = [r for r in rows if r["gap_fill"]]
    assert len(gap) == block["rows"] and all(r["slot_id"] >= GAP_SLOT_BASE for r in gap)
    filled = {reg["region"] for r in block["rounds"] for reg in r["regions"] if reg["rows"]}
    assert {r["gap_region"] for r in gap} <= filled and all(
        r["gap_region"] is None for r in rows if not r["gap_fill"]
    )
    names = loaded["train"].features["topic"].names
    assert names[: len(TOPICS)] == TOPICS and set(names[len(TOPICS) :]) <= set(INTENTS[len(TOPICS) :])
    assert any(names[r["topic"]] not in TOPICS for r in gap)
    # The planned part is what the same recipe makes without gap filling: same strata, same counts.
    planned = Counter(r["stratum"] for r in rows if not r["gap_fill"])
    assert planned == Counter(r["stratum"] for ds in plain.values() for r in ds)
    assert (
        result.validation.ok and result.report.realised["strata"] == result.report.plan["targets"]["strata"]
    )
    assert len(datasets.load_dataset(str(out), "clean")["train"]) + len(
        datasets.load_dataset(str(out), "clean")["test"]
    ) == sum(planned.values())
    gap_config = datasets.load_dataset(str(out), "gap_fill")
    assert sum(len(ds) for ds in gap_config.values()) == len(gap)
    card = (out / "README.md").read_text()
    assert "## Reference seeding and gap filling" in card and "config_name: gap_fill" in card
    # A finished run re-run sends nothing and rewrites nothing.
    files = all_bytes(out)
    server.clear()
    run(recipe_data(reference, fill={"target": 0.5}), out)
    assert server.count("POST", "/v1/messages") == 0
    assert all_bytes(out) == files


def test_the_row_cap_and_the_rounds_stop_the_loop(
    server: MessagesServer, writer: ExampleWriter, reference: Path, tmp_path: Path
) -> None:
    capped = run(recipe_data(reference, fill={"target": 1.0, "max_rows": 7}), tmp_path / "cap")
    block = capped.report.gap_fill
    assert block["rows"] == 7 and block["stopped"].startswith("max_rows")
    one = run(recipe_data(reference, fill={"target": 1.0, "rounds": 1, "per_round": 5}), tmp_path / "one")
    block = one.report.gap_fill
    assert len(block["rounds"]) == 1 and block["rows"] == 5 and block["stopped"].startswith("rounds")


def test_the_budget_stops_a_round_and_leaves_a_complete_dataset(
    server: MessagesServer, writer: ExampleWriter, reference: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run(recipe_data(reference), out)
    spent = json.loads((out / "report.json").read_text())["generation"]["cost_usd"]
    budget = spent + 0.025  # one request reserves its worst case (~$0.018) and costs ~$0.0012: ~5 rows
    result = run(recipe_data(reference, fill={"target": 1.0}), out, budget_usd=budget)
    block = result.report.gap_fill
    assert block["stopped"].startswith("budget")
    assert 0 < block["rows"] < block["rows"] + block["rounds"][-1]["withdrawn"]
    assert result.report.generation["cost_usd"] <= budget
    assert result.validation.ok and result.report.complete
    server.clear()
    again = run(recipe_data(reference, fill={"target": 1.0}), out, budget_usd=budget)
    assert server.count("POST", "/v1/messages") == 0 and again.report.gap_fill["rows"] == block["rows"]


def test_new_values_false_keeps_the_recipes_labels(
    server: MessagesServer, writer: ExampleWriter, reference: Path, tmp_path: Path
) -> None:
    result = run(recipe_data(reference, fill={"target": 1.0, "new_values": False}), tmp_path / "out")
    block = result.report.gap_fill
    assert set(block["added_per_label"].get("topic", {})) <= set(TOPICS) and not block["new_values"]
    assert result.report.features["topic"]["names"] == TOPICS
    skipped = [reg for r in block["rounds"] for reg in r["regions"] if reg.get("skipped")]
    assert skipped and all("fill.new_values" in reg["skipped"] for reg in skipped)


def _judged_reference(
    server: MessagesServer, reference: Path
) -> tuple[list[dict[str, str]], ExampleWriter, dict[str, Any]]:
    """A reference without label columns, a loopback writer whose judge reads a reference text as its intent
    (when that intent is a topic, else "unclear"), and a one-round gap-filling recipe quoting any texts."""
    rows = list(csv.DictReader(reference.open(encoding="utf-8")))
    writer = ExampleWriter(labels={r["text"]: {"topic": r["intent"]} for r in rows})
    server.responder = writer
    data = recipe_data(
        reference, fill={"target": 1.0, "rounds": 1}, examples={"per_request": 3, "from": "any"}
    )
    data["reference"] = {"path": str(reference), "text_column": "text"}
    return rows, writer, data


def test_without_label_columns_the_blind_judge_labels_the_gap_rows(
    server: MessagesServer, reference: Path, tmp_path: Path
) -> None:
    rows, writer, data = _judged_reference(server, reference)
    # Half the topics appear only in the gap rows: the plan leaves them empty.
    data["strata"] = {"by": ["topic"], "counts": {t: (8 if t in TOPICS[:2] else 0) for t in TOPICS}}
    data.pop("size")
    result = run(data, tmp_path / "out")
    block = result.report.gap_fill
    assert block["labels_from"] == "judge" and block["rows"] > 0
    intent = {r["text"]: r["intent"] for r in rows}
    judged = set(writer.judged)
    assert judged and judged <= set(intent)  # the judge read reference texts of the regions, blind
    gap_rows = [r for ds in result.values() for r in ds if r["gap_fill"]]
    names = result["train"].features["topic"].names
    assert names == TOPICS
    for r in gap_rows:  # each gap row quotes texts the judge read as its topic
        topic = names[r["topic"]]
        assert topic in TOPICS
        assert intent[r["message"].split(" — case ")[0]] == topic
    assert {names[r["topic"]] for r in gap_rows} & set(TOPICS[2:])
    skipped = [reg for r in block["rounds"] for reg in r["regions"] if reg.get("skipped")]
    assert all(reg["skipped"] == "its examples could not be labelled" for reg in skipped)


def test_with_an_audit_block_its_judge_labels_the_gap_rows_and_audits_them(
    server: MessagesServer, reference: Path, tmp_path: Path
) -> None:
    rows, _writer, data = _judged_reference(server, reference)
    data["audit"] = {"on_disagree": "flag", "min_agreement": 0.0}
    out = tmp_path / "out"
    result = run(data, out)
    block = result.report.gap_fill
    assert block["labels_from"] == "judge" and block["rows"] > 0
    loaded = datasets.load_dataset(str(out))
    gap_rows = [r for ds in loaded.values() for r in ds if r["gap_fill"]]
    names = loaded["train"].features["topic"].names
    assert names == TOPICS and len(gap_rows) == block["rows"]
    intent = {r["text"]: r["intent"] for r in rows}
    for r in gap_rows:  # labelled by the audit's judge from the reference texts its prompt quoted
        assert intent[r["message"].split(" — case ")[0]] == names[r["topic"]]
        # ... and audited like every row: the writer's derived text is unknown to the judge
        assert r["label_verified"] is False
    # One judge, one store: a re-run asks nothing again.
    server.clear()
    run(data, out)
    assert server.count("POST", "/v1/messages") == 0
