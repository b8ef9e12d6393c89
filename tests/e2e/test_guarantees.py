"""Issue 11 from the folder's side: ownership, incomplete runs, content validation, provenance, no leaks.

Everything runs the real pipeline through the real `anthropic` SDK against the loopback Messages server.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq
import pytest
import yaml

import hf_synth
from hf_synth.dataset.validate import fidelity_warnings, validate_folder
from hf_synth.errors import IncompleteRunError, OutputFolderError
from hf_synth.testing.messages_server import MessagesServer, default_responder
from tests.support.runprobe import generate_cmd

KEY = "sk-ant-guarantee-test-0123456789"

RECIPE: dict[str, Any] = {
    "name": "guarantees",
    "seed": 5,
    "fields": {"title": {"type": "string"}, "body": {"type": "string"}},
    "text_field": "body",
    "dimensions": {"topic": ["a", "b", "c"]},
    "size": 18,
    "splits": {"train": 0.5, "test": 0.5},
    "prompt": "Write about {{ topic }}.",
    "backend": {"name": "anthropic", "model": "claude-sonnet-4-6", "concurrency": 4, "max_attempts": 1},
    "edge_cases": {"share": 0.2, "kinds": {"empty_field": {"field": "title"}, "exact_duplicate": {}}},
    "dedup": {"near_threshold": None},
    "max_rounds": 2,
}


pytestmark = pytest.mark.loopback(api_key=KEY)


def run(out: Path, recipe: dict[str, Any] | None = None, **kw: Any) -> hf_synth.pipeline.GeneratedDataset:
    from hf_synth.recipe import parse_recipe

    return hf_synth.generate(
        parse_recipe(recipe or RECIPE), out, backend="anthropic", progress=False, quality=False, **kw
    )


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hf_synth.cli", *args], capture_output=True, text=True)


# --- point 3: the output folder belongs to one recipe -----------------------------------------------------


def test_another_recipe_is_refused_and_the_folder_is_untouched(
    server: MessagesServer, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run(out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    sent = server.count("POST", "/v1/messages")
    with pytest.raises(OutputFolderError) as info:
        run(out, dict(RECIPE, name="someone-else"))
    assert "guarantees" in str(info.value) and "someone-else" in str(info.value)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert server.count("POST", "/v1/messages") == sent  # nothing was sent for the refused recipe
    recipe = tmp_path / "other.yaml"
    recipe.write_text(yaml.safe_dump(dict(RECIPE, name="someone-else")))
    res = cli("generate", str(recipe), "--out", str(out), "--backend", "anthropic", "--no-quality")
    assert res.returncode == 2 and "--overwrite" in res.stderr


def test_a_foreign_non_empty_folder_is_refused_unless_overwrite(
    server: MessagesServer, tmp_path: Path
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("six years of work")
    with pytest.raises(OutputFolderError, match="not made by hf-synth"):
        run(out)
    assert (out / "thesis.tex").read_text() == "six years of work"
    dd = run(out, overwrite=True)
    assert not (out / "thesis.tex").exists() and dd.ok


def test_overwrite_says_what_it_removes(server: MessagesServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run(out)
    recipe = tmp_path / "other.yaml"
    recipe.write_text(yaml.safe_dump(dict(RECIPE, name="replacement")))
    res = cli(
        "generate",
        str(recipe),
        "--out",
        str(out),
        "--backend",
        "anthropic",
        "--no-quality",
        "--no-progress",
        "--overwrite",
    )
    assert res.returncode == 0, res.stderr
    assert "--overwrite: removed" in res.stderr and "data/" in res.stderr and "report.json" in res.stderr
    assert json.loads((out / "report.json").read_text())["recipe"]["name"] == "replacement"


def test_same_recipe_with_a_new_prompt_still_resumes(server: MessagesServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run(out)
    dd = run(out, dict(RECIPE, prompt="Write briefly about {{ topic }}."))
    assert dd.ok and dd.report.recipe["prompt"] == "Write briefly about {{ topic }}."


def test_a_second_process_is_kept_out(server: MessagesServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(dict(RECIPE, size=60)))
    server.latency = 0.3
    env = dict(os.environ, ANTHROPIC_API_KEY=KEY, ANTHROPIC_BASE_URL=server.url)
    first = subprocess.Popen(generate_cmd(recipe, out), env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not (out / ".hf-synth" / "run.sqlite").exists() and time.time() < deadline:
            time.sleep(0.05)
        second = subprocess.run(generate_cmd(recipe, out), env=env, capture_output=True, text=True)
        assert second.returncode == 2 and "in use by process" in second.stderr, second.stderr
    finally:
        first.wait(timeout=120)
    assert first.returncode == 0


# --- point 4: an incomplete run still writes its finished rows --------------------------------------------


def _fails_topic_c(request_json: dict[str, Any]) -> dict[str, Any]:
    answer = default_responder(request_json)
    if "about c" in json.dumps(request_json.get("messages")):
        return {"items": [{"title": "no body"}]}  # a required field missing: never accepted
    return answer


def test_incomplete_run_writes_a_marked_dataset(server: MessagesServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    server.responder = _fails_topic_c
    with pytest.raises(IncompleteRunError) as info:
        run(out)
    assert "c" in info.value.short_cells
    report = json.loads((out / "report.json").read_text())
    assert report["complete"] is False and report["incomplete"]["missing_rows"] > 0
    loaded = datasets.load_dataset(str(out))
    rows = sum(len(d) for d in loaded.values())
    assert 0 < rows == 18 - report["incomplete"]["missing_rows"]
    names = loaded["train"].features["topic"].names
    assert all(names[t] != "c" for d in loaded.values() for t in d["topic"])
    result = validate_folder(out)
    assert not result.ok and not result.complete
    res = cli("validate", str(out))
    assert res.returncode == 3 and "INCOMPLETE" in res.stdout
    server.responder = default_responder  # the cause goes away: the same command resumes
    dd = run(out)
    assert dd.ok and dd.report.complete and sum(len(d) for d in dd.values()) == 18


# --- point 9: validation checks the written rows, not the plan --------------------------------------------


def test_validation_rechecks_edge_rows_and_duplicates(server: MessagesServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    dd = run(out)
    assert dd.ok and dd.validation.content["edge_cases"]["empty_field"]["failed"] == 0
    # Tamper with the data as a careless edit would: an empty_field row gets its title back, and an ordinary
    # row copies another of its stratum.
    report = json.loads((out / "report.json").read_text())
    for path in {p for split in report["files"]["default"].values() for p in split}:
        table = pq.read_table(out / path).to_pylist()
        for row in table:
            if row["edge_case"] == 1:  # empty_field
                row["title"] = "not empty any more"
        clean = [r for r in table if not r["is_edge_case"]]
        by_stratum: dict[str, list[dict]] = {}
        for r in clean:
            by_stratum.setdefault(r["stratum"], []).append(r)
        pair = next((rows for rows in by_stratum.values() if len(rows) > 1), None)
        if pair:
            pair[1]["body"] = pair[0]["body"]
        pq.write_table(
            pq.read_table(out / path).from_pylist(table, schema=pq.read_schema(out / path)), out / path
        )
    result = validate_folder(out)
    levels = {f["level"] for f in result.failures}
    assert not result.ok and "edge_cases.empty_field" in levels and "duplicates" in levels


def test_labels_at_chance_are_a_visible_warning() -> None:
    at_chance = {"sentiment": {"accuracy": 0.5, "majority_share": 0.5, "n_rows": 24}}
    readable = {"topic": {"accuracy": 0.95, "majority_share": 0.34, "n_rows": 60}}
    assert len(fidelity_warnings(at_chance)) == 1 and "sentiment" in fidelity_warnings(at_chance)[0]
    assert fidelity_warnings(readable) == []


# --- point 10: provenance and leaks -----------------------------------------------------------------------


def test_provenance_spans_every_run_and_nothing_leaks(
    server: MessagesServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_PROJECT_TOKEN", "tok-very-secret-value-42")
    ref = tmp_path / "ref.csv"
    ref.write_text("text\nhello\nworld\n")
    recipe = dict(RECIPE, description="Set tok-very-secret-value-42 here", reference={"path": str(ref)})
    out = tmp_path / "out"
    run(out, recipe, limit=9)
    dd = run(out, recipe)
    prov = dd.report.provenance
    assert prov["runs"] == 2 and prov["first_started_at"] == dd.report.created_at
    assert prov["history"][0]["started_at"] <= prov["history"][1]["started_at"]
    for name in ("report.json", "recipe.yaml", "README.md"):
        text = (out / name).read_text()
        assert "tok-very-secret-value-42" not in text, name
        assert str(tmp_path) not in text, f"{name} names a local absolute path"
    assert yaml.safe_load((out / "recipe.yaml").read_text())["reference"]["path"] == "ref.csv"


# --- point 11: smaller promises ---------------------------------------------------------------------------


def test_data_files_are_readable_by_others(server: MessagesServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run(out)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (out / "data").glob("*.parquet")}
    umask = os.umask(0)
    os.umask(umask)
    assert modes and all(m == 0o666 & ~umask for m in modes.values()), modes


def test_yaml_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nfields: [unclosed\n")
    res = cli("plan", str(path))
    assert res.returncode == 2 and str(path) in res.stderr and "<unicode string>" not in res.stderr


def test_no_progress_silences_every_bar(server: MessagesServer, tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    env = dict(os.environ, ANTHROPIC_API_KEY=KEY, ANTHROPIC_BASE_URL=server.url)
    res = subprocess.run(generate_cmd(recipe, tmp_path / "out"), env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "Creating parquet" not in res.stderr and "it/s" not in res.stderr and "%|" not in res.stderr


def test_lock_is_released_when_a_run_ends(tmp_path: Path) -> None:
    from hf_synth.dataset.folder import claim_folder

    out = tmp_path / "out"
    with claim_folder(out, "x", "f"):
        errors = []

        def second() -> None:
            try:
                with claim_folder(out, "x", "f"):
                    pass
            except OutputFolderError as exc:
                errors.append(exc)

        t = threading.Thread(target=second)
        t.start()
        t.join()
        # flock is per open file description: a second claim in this process is refused too.
        assert errors and "in use" in str(errors[0])
    with claim_folder(out, "x", "f"):
        pass
