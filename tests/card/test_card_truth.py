"""Issue 11: the card states only what is true (incomplete runs, validation, provenance, edge-case spread,
non-Latin chart labels), read from real parquet files and report.json."""

from __future__ import annotations

import copy
import logging
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from hf_synth import fonts
from hf_synth.card import BEGIN, END, render_card
from hf_synth.card.charts import bar_chart
from tests.card.test_card import load_report, write_parquet_files
from tests.card.tiny import make_folder, spread_rows

CHANCE_WARNING = "label fidelity: 'tone' cannot be read from the texts better than chance"


def block(folder: Path, report: dict[str, Any]) -> str:
    text = render_card(folder, report).read_text(encoding="utf-8")
    return text[text.index(BEGIN) : text.index(END)]


def section(text: str, heading: str) -> str:
    """The text from ``heading`` to the next ``## `` heading."""
    start = text.index(heading)
    nxt = text.find("\n## ", start + len(heading))
    return text[start : nxt if nxt != -1 else len(text)]


def unescape(md: str) -> str:
    return re.sub(r"\\(.)", r"\1", md)


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path / "support-tickets"
    folder.mkdir()
    report = load_report()
    write_parquet_files(folder, report)
    return folder, report


def incomplete(report: dict[str, Any]) -> dict[str, Any]:
    report = copy.deepcopy(report)
    report["complete"] = False
    report["incomplete"] = {
        "reason": "3 rows could not be generated; short cells: billing | sarcastic (short 2), returns | "
        "confused (short 1). Re-run the same command to resume.",
        "missing_rows": 3,
        "short_cells": {"returns | confused": 1, "billing | sarcastic": 2},
    }
    report["validation"]["complete"] = False
    report["validation"]["failures"].insert(
        0, {"level": "complete", "cell": "the run stopped short: 3 rows missing"}
    )
    return report


# ------------------------------------------------------------------------------------------------ incomplete


def test_incomplete_run_opens_with_a_banner_and_claims_no_exact_quota(sample: tuple[Path, dict]) -> None:
    folder, report = sample
    text = block(folder, incomplete(report))
    top = text[: text.index("## Summary")]
    assert "**INCOMPLETE: 297 of 300 rows (3 missing); not for release.**" in top
    assert top.count("billing \\| sarcastic (short 2)") == 1  # named by the reason, not repeated
    budget = incomplete(report)
    budget["incomplete"]["reason"] = "budget $0.20 reached; 3 rows not generated"
    top = block(folder, budget).split("## Summary")[0]
    assert "Short strata: billing \\| sarcastic (short 2); returns \\| confused (short 1)." in top
    assert "every cell gets an exact quota (this incomplete run does not reach them)" in text
    counts = section(text, "## Validation")
    assert "every exact quota holds" not in counts
    assert (
        "- **Counts:** not exact: the run stopped short and the data holds 297 of the 300 planned rows"
        in counts
    )
    assert "This run is incomplete: 3 planned rows are missing" in section(text, "## Limitations")
    # The same report, complete: no banner, no incomplete wording anywhere.
    complete = block(folder, report)
    assert "INCOMPLETE" not in complete and "incomplete" not in complete.lower()


def test_incomplete_flag_reaches_the_yaml_metadata(sample: tuple[Path, dict]) -> None:
    import yaml

    folder, report = sample
    for rep, flag in ((report, True), (incomplete(report), False)):
        text = render_card(folder, rep).read_text(encoding="utf-8")
        meta = yaml.safe_load(text.split("---\n")[1])
        assert meta["hf_synth"]["complete"] is flag


# ------------------------------------------------------------------------------------------------ validation


def test_counts_content_and_labels_are_stated_apart(tmp_path: Path) -> None:
    rows = spread_rows(
        {"train": 8, "test": 4}, {"negation": {"train": 1, "test": 1}, "very_short": {"train": 2}}
    )
    report = make_folder(tmp_path / "cities", rows)
    report["validation"]["content"]["edge_cases"]["very_short"]["failed"] = 1
    report["validation"]["content"]["fields"]["failed"] = 2
    report["validation"]["content"]["duplicates"] = 3
    text = block(tmp_path / "cities", report)
    val = unescape(section(text, "## Validation"))
    assert (
        "- **Counts:** every exact quota holds (2 strata, the values of 2 dimensions, 2 splits, 2 edge kinds)"
        in val
    )
    content = next(line for line in val.splitlines() if line.startswith("- **Content**"))
    assert "14 of 16 rows match their declared field types" in content
    # negation has an instruction but no check: the card must not say its rows "pass".
    assert "negation 2 rows, no automatic check" in content and "very_short 1/2" in content
    assert "3 ordinary rows repeat another of their stratum" in content
    assert "- **Labels:** not measured: nothing on this card checks that the texts carry their labels." in val
    assert "**passed**" not in text and "Result:" not in text


def test_label_at_chance_is_a_warning_at_the_top_and_in_validation(sample: tuple[Path, dict]) -> None:
    """The demo's failure: **Validation: passed** while its own fidelity table shows a dimension at chance."""
    folder, report = sample
    report = copy.deepcopy(report)
    report["validation"] = {**report["validation"], "ok": True, "failures": [], "warnings": []}
    report["label_fidelity"]["tone"]["accuracy"] = 0.21  # majority share 0.202 over 297 rows: chance
    text = block(folder, report)
    top = text[: text.index("## Summary")]
    val = section(text, "## Validation")
    for part in (top, val):
        assert "⚠️ **Warning:** " + CHANCE_WARNING in unescape(part)
    assert "- **Labels:** **1 of 3 dimensions cannot be read from the texts better than chance**" in val
    assert "Verdict of `hf-synth validate`: passed, with 1 warning (above)." in val
    fid = {
        r.split("|")[1].strip(): r
        for r in section(text, "## Label fidelity").splitlines()
        if r.startswith("| ")
    }
    assert "**no** ⚠️" in fid["tone"] and "| yes |" in fid["topic"]
    # Above chance everywhere: no warning at all.
    report["label_fidelity"]["tone"]["accuracy"] = 0.6094
    clean = block(folder, report)
    assert "Warning" not in clean[: clean.index("## Summary")]
    assert "better than chance (3 dimensions" in section(clean, "## Validation")


def test_every_validation_warning_is_shown(sample: tuple[Path, dict]) -> None:
    folder, report = sample
    report = copy.deepcopy(report)
    report["validation"]["warnings"] = ["edge kind 'x' <b>matched</b> nothing", CHANCE_WARNING + " (p=0.41)"]
    text = block(folder, report)
    for part in (text[: text.index("## Summary")], section(text, "## Validation")):
        assert "edge kind 'x' &lt;b&gt;matched&lt;/b&gt; nothing" in part
        assert part.count("**Warning:**") == 2  # the recorded fidelity warning is not repeated by the card


# ------------------------------------------------------------------------------------------------ provenance


def test_provenance_covers_the_whole_life_of_the_run(sample: tuple[Path, dict]) -> None:
    folder, report = sample
    text = unescape(block(folder, report))
    prov = section(text, "## Provenance")
    rows = dict(re.findall(r"^\| ([^|]+?) \| (.+?) \|$", prov, re.M))
    assert rows["first run started"] == "2026-11-25T11:30:00Z"
    assert rows["last run finished"] == "2026-11-25T12:02:41Z"
    assert rows["runs"] == "3 (1 did not finish)"
    assert rows["generation time, all runs"] == "1,064 s (17.7 min)"
    assert rows["failed attempts"] == "7"
    assert (
        "Cost: $0.2671 estimated from hf-synth's price table (not an invoice), over all 3 runs of this "
        "dataset, 7 failed attempts included." in prov
    )
    assert (
        "Prompt caching was not used: the cacheable prefix (tool schema + system prompt, ~1,230 tokens) is "
        "below claude-haiku-4-5's minimum of 4,096 tokens" in prov
    )
    # The citation year and the YAML created_at come from the first start too.
    assert "year         = {2026}" in text


def test_cache_note_only_when_caching_was_skipped(sample: tuple[Path, dict]) -> None:
    folder, report = sample
    report = copy.deepcopy(report)
    report["generation"]["cache_note"] = None
    assert "Prompt caching" not in block(folder, report)
    report["generation"].update(
        cache_note="the local backend has no prompt cache", cache_requested=0, cache_skipped=12
    )
    assert (
        "Prompt caching was not used for 12 of 12 requests: the local backend has no prompt cache."
        in block(folder, report)
    )


def test_local_model_paths_never_reach_the_card(sample: tuple[Path, dict]) -> None:
    folder, report = sample
    report = copy.deepcopy(report)
    report["coverage"]["model"] = "path:/home/someone/models/minilm-ft"
    text = block(folder, report)
    assert "/home/someone" not in text
    assert "local model minilm-ft" in text


# --------------------------------------------------------------------------------------------- edge spread


def edge_section(text: str) -> str:
    return unescape(section(text, "## Edge cases"))


def test_edges_all_in_one_split_are_not_said_to_be_in_every_split(tmp_path: Path) -> None:
    """The demo: all 4 edge rows in train, and the card said they were "in every split"."""
    rows = spread_rows(
        {"train": 10, "validation": 3, "test": 3}, {"negation": {"train": 2}, "very_short": {"train": 2}}
    )
    text = edge_section(block(tmp_path / "cities", make_folder(tmp_path / "cities", rows)))
    assert "in every split" not in text.replace("not in every split", "")
    assert "Edge-case rows are not in every split: validation, test have none." in text
    assert "The plan of this dataset sets no per-split target for edge kinds" in text
    table = [line for line in text.splitlines() if line.startswith("| ") and "kind |" not in line][-3:]
    assert table == [
        "| negation | 2 | 0 | 0 |",
        "| very_short | 2 | 0 | 0 |",
        "| all kinds (share of split) | 4 (28.6%) | 0 (0.0%) | 0 (0.0%) |",
    ]


def test_edge_spread_against_the_plans_per_split_targets(tmp_path: Path) -> None:
    rows = spread_rows(
        {"train": 8, "test": 4}, {"negation": {"train": 2, "test": 1}, "very_short": {"train": 1, "test": 1}}
    )
    report = make_folder(tmp_path / "cities", rows)
    planned = {"negation": {"train": 2, "test": 1}, "very_short": {"train": 1, "test": 1}}
    report["plan"]["targets"]["edge_cases_splits"] = planned
    text = edge_section(block(tmp_path / "cities", report))
    assert "Every split has rows of every edge kind." in text
    assert "The plan spreads each kind over the splits in proportion to their sizes" in text
    assert "Every cell below holds its planned count." in text
    # A plan keyed split first reads the same; a cell off its target shows the target.
    report["plan"]["targets"]["edge_cases_splits"] = {
        "train": {"negation": 1, "very_short": 1},
        "test": {"negation": 2, "very_short": 1},
    }
    text = edge_section(block(tmp_path / "cities", report))
    assert "Cells that miss their planned count show the target." in text
    assert "| negation | 2 (target 1) | 1 (target 2) |" in text
    assert "| very_short | 1 | 1 |" in text


def test_one_kind_missing_from_a_split_is_said(tmp_path: Path) -> None:
    rows = spread_rows(
        {"train": 8, "test": 4}, {"negation": {"train": 1, "test": 1}, "very_short": {"train": 2}}
    )
    text = edge_section(block(tmp_path / "cities", make_folder(tmp_path / "cities", rows)))
    assert "Every split has edge-case rows, but not every kind is in every split." in text


# ------------------------------------------------------------------------------------------------ charts


def test_cjk_values_are_drawn_without_missing_glyphs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert fonts.cjk_font_file() is not None, "noto-cjk-sans-jp-regular is a dependency (setup.cfg)"
    assert fonts.undrawable("東京 大阪 한국어 简体中文 繁體中文 Zürich") == ""
    assert set(fonts.undrawable("กรุงเทพ")) == set("กรุงเทพ")  # Thai: no chart font has it
    with caplog.at_level(logging.DEBUG, logger="hf_synth.card.charts"):
        bar_chart(
            tmp_path / "cjk.png", "都市: target vs realised", ["東京", "大阪", "서울"], [2, 3, 1], [2, 3, 1]
        )
    assert not [r for r in caplog.records if "missing" in r.getMessage()], caplog.text
    # The check can fail: a script no chart font has is reported by matplotlib, and by the card.
    with caplog.at_level(logging.DEBUG, logger="hf_synth.card.charts"):
        bar_chart(tmp_path / "thai.png", "city", ["กรุงเทพ"], [1], [1])
    assert [r for r in caplog.records if "missing" in r.getMessage()]


def test_card_names_characters_the_charts_cannot_draw(tmp_path: Path) -> None:
    rows = spread_rows({"train": 4}, {})
    report = make_folder(tmp_path / "cities", rows)
    assert "No chart font has a glyph" not in block(tmp_path / "cities", report)
    report["recipe"]["dimensions"]["tone"]["values"] = ["calm", "กรุงเทพ"]
    note = [line for line in block(tmp_path / "cities", report).splitlines() if "No chart font" in line]
    assert len(note) == 1 and "ก" in note[0] and "calm" not in note[0]


def test_without_the_font_package_cjk_is_reported_not_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, fonts.CJK_PACKAGE, None)  # how Python spells "not installed"
    fonts.chart_families.cache_clear()
    fonts._drawable_codepoints.cache_clear()
    try:
        assert fonts.cjk_font_file() is None
        assert fonts.chart_families() == ("DejaVu Sans",)
        report = make_folder(tmp_path / "cities", spread_rows({"train": 4}, {}))
        text = block(tmp_path / "cities", report)
        assert (tmp_path / "cities" / "images" / "city.png").is_file()
        assert "No chart font has a glyph for 東 京 大 阪" in text
    finally:
        fonts.chart_families.cache_clear()
        fonts._drawable_codepoints.cache_clear()


def test_dollar_signs_in_values_are_text_not_mathtext(tmp_path: Path) -> None:
    """A value such as ``$\\notacommand$ deal`` once made matplotlib's mathtext parser abort the card."""
    labels = [r"$\notacommand$ deal", "$5 or $10"]
    path = bar_chart(tmp_path / "dollars.png", r"price $\tau$: target vs realised", labels, [1, 2], [1, 2])
    assert path.stat().st_size > 0


def test_a_dimension_named_like_the_coverage_map_gets_its_own_chart_file(tmp_path: Path) -> None:
    from hf_synth.card.charts import dimension_charts
    from hf_synth.quality.map import PNG_NAME

    paths = dimension_charts(tmp_path, {"coverage_map": {"a": 1.0}, "tone": {"b": 2.0}}, {})
    assert paths["coverage_map"] != PNG_NAME
    assert len(set(paths.values())) == 2 and all((tmp_path / p).is_file() for p in paths.values())
