"""`generate` with a `reference:` draws the coverage map into the folder, and the card shows it.

Real anthropic SDK against the loopback Messages API, the bundled MiniLM for coverage (slow), the real
`datasets.load_dataset` on the folder and from the loopback Hub after a real `push_folder`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import datasets
import pytest
import yaml
from PIL import Image

from hf_synth.card import release_card
from hf_synth.hub.push import push_folder
from hf_synth.hub.server import running_hub
from hf_synth.pipeline import RunOptions, generate
from hf_synth.recipe import parse_recipe
from hf_synth.testing.messages_server import MessagesServer
from tests.support.hubtools import run_client

ROOT = Path(__file__).resolve().parents[2]
BANKING = ROOT / "hf_synth" / "data" / "banking77" / "test.csv"
TOKEN = "hf_coverageMapToken0123456789abcd"
PNG, HTML = "images/coverage_map.png", "images/coverage_map.html"

RECIPE = {
    "name": "card-queries",
    "description": "Customer messages about cards.",
    "seed": 5,
    "fields": {"message": {"type": "string", "description": "the customer's message"}},
    "text_field": "message",
    "dimensions": {"topic": ["card arrival", "card payment"], "tone": ["polite", "angry"]},
    "size": 24,
    "splits": {"train": 0.75, "test": 0.25},
    "prompt": "Write a {{ tone }} message about {{ topic }}.",
    "backend": {"name": "anthropic", "model": "claude-sonnet-4-6", "concurrency": 4, "max_attempts": 3},
    "dedup": {"near_threshold": None},
}


def reference_csv(folder: Path) -> Path:
    with BANKING.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:400]
    path = folder / "reference.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "category"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def files_of(folder: Path) -> dict[str, tuple[bytes, int]]:
    """{path: (bytes, mtime_ns)} of every file a user sees (the run store excluded)."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file() and ".hf-synth" not in p.parts
    }


def card_configs(readme: str) -> list[dict]:
    return yaml.safe_load(readme.split("---\n")[1])["configs"]


def as_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


@pytest.mark.slow
def test_generate_draws_the_map_into_the_card_and_an_unchanged_rerun_writes_nothing(
    server: MessagesServer, tmp_path: Path
) -> None:
    recipe = dict(RECIPE, reference={"path": str(reference_csv(tmp_path)), "text_column": "text"})
    out = tmp_path / "card-queries"
    options = RunOptions(backend="anthropic", progress=False)
    dd = generate(parse_recipe(recipe), out, options)
    assert dd.ok

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    block = report["coverage"]["map"]
    assert (block["png"], block["html"]) == (PNG, HTML) and block["colour_by"] == "topic"
    assert block["points"]["reference"] == 400
    with Image.open(out / PNG) as img:
        assert img.format == "PNG" and img.size == (1200, 1000)
    page = (out / HTML).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Plotly.newPlot" in page
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert f"![Coverage map: synthetic texts on the density of the reference texts]({PNG})" in readme
    assert f"[interactive map]({HTML})" in readme and "coloured by topic" in readme
    # The images are no data: load_dataset reads the same rows, the card's configs name only parquet.
    configs = card_configs(readme)
    globs = [g for c in configs for f in c["data_files"] for g in as_list(f["path"])]
    assert globs and all(g.endswith(".parquet") for g in globs)
    loaded = datasets.load_dataset(str(out))
    assert {s: d.num_rows for s, d in loaded.items()} == {s: d.num_rows for s, d in dd.items()}

    # Issue 11 with a reference: an unchanged re-run writes no file, the map included.
    before = files_of(out)
    again = generate(parse_recipe(recipe), out, options)
    assert again.stats.requests == 0
    assert files_of(out) == before

    # The release carries the map; a reader of the Hub repo loads the same rows.
    with running_hub(tmp_path / "hub", tokens={TOKEN}) as url:
        pushed = push_folder(out, "org/card-queries", token=TOKEN, endpoint=url, render_card=release_card)
        assert {PNG, HTML} <= set(pushed.added)
        code = """
        import datasets
        dd = datasets.load_dataset("org/card-queries")
        emit({s: d.num_rows for s, d in dd.items()})
        """
        assert run_client(code, url, TOKEN, tmp_path / "client") == {s: d.num_rows for s, d in dd.items()}

    # `reference: {map: false}` turns it off: the files go, the card no longer shows them.
    recipe["reference"] = dict(recipe["reference"], map=False)
    generate(parse_recipe(recipe), out, options)
    assert not (out / PNG).exists() and not (out / HTML).exists()
    assert "coverage_map" not in (out / "README.md").read_text(encoding="utf-8")
    assert "map" not in json.loads((out / "report.json").read_text(encoding="utf-8"))["coverage"]
