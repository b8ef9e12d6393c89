"""The map of a measured coverage: the report's uncovered regions found again row for row, and label
columns read aligned with the texts the coverage kept (no model, no layout: fast)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hf_synth.quality.coverage import coverage_from_embeddings
from hf_synth.quality.map.from_coverage import (
    default_colour_column,
    folder_map_request,
    read_labels,
    uncovered_regions,
)
from hf_synth.quality.textsource import load_texts


def clustered(n_topics: int, per_topic: list[int], rng: np.random.Generator, centres: np.ndarray):
    lab = np.repeat(np.arange(n_topics), per_topic)
    x = centres[lab] + rng.normal(scale=0.03, size=(len(lab), centres.shape[1]))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), lab


def test_uncovered_regions_are_the_reports_rows_with_their_medoid_label() -> None:
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(8, 32))
    ref, ref_lab = clustered(8, [30] * 8, rng, centres)
    syn, _ = clustered(8, [0, 0, 25, 25, 25, 25, 25, 25], rng, centres)  # topics 0 and 1 missing
    ref_texts = [f"ref {i} topic {t}" for i, t in enumerate(ref_lab)]
    syn_texts = [f"syn {i}" for i in range(len(syn))]
    report = coverage_from_embeddings(syn, ref, syn_texts, ref_texts, seed=4, n_clusters=8)
    assert report["uncovered"], "the test needs uncovered regions"

    regions, notes = uncovered_regions(ref, report)
    assert notes == [] and len(regions) == len(report["uncovered"])
    for region, entry in zip(regions, report["uncovered"], strict=True):
        members = np.asarray(region["members"])
        assert len(members) == entry["n_reference"]
        assert region["label"] == entry["examples"][0] and region["missing"] is True
        assert region["label"] in [ref_texts[i] for i in members]  # the medoid is one of its own rows
    outlined = {int(t) for r in regions for t in ref_lab[np.asarray(r["members"])]}
    assert {0, 1} <= outlined

    # A report whose counts the regions do not reproduce is not outlined, and says so.
    forged = json.loads(json.dumps(report))
    forged["uncovered"][0]["n_reference"] += 1
    regions, notes = uncovered_regions(ref, forged)
    assert len(regions) == len(report["uncovered"]) - 1
    assert len(notes) == 1 and "not outlined" in notes[0]


def test_labels_are_aligned_with_the_texts_coverage_keeps(tmp_path: Path) -> None:
    path = tmp_path / "syn.csv"
    rows = [
        {"text": "a", "category": "x", "is_edge_case": "false"},
        {"text": "", "category": "y", "is_edge_case": "False"},  # empty text: kept
        {"text": "edge", "category": "z", "is_edge_case": "true"},  # edge case: left out
        {"text": "b", "category": "", "is_edge_case": "0"},
        {"text": "c ünï", "category": "東京", "is_edge_case": "no"},
    ]
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "category", "is_edge_case"])
        writer.writeheader()
        writer.writerows(rows)
    kept = load_texts(path, "text", exclude_flag="is_edge_case").texts
    labels = read_labels(path, "text", ["category"], "is_edge_case")
    assert len(labels["category"]) == len(kept)
    assert dict(zip(kept, labels["category"], strict=True))["c ünï"] == "東京"
    assert "z" not in labels["category"]
    with pytest.raises(ValueError, match=r"no column 'tone'.*category"):
        read_labels(path, "text", ["tone"], None)


def test_generated_folder_labels_are_class_names_and_colour_defaults_to_the_first_dimension(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "gen"
    (folder / "data").mkdir(parents=True)
    table = pa.table(
        {
            "message": ["m0", None, "m2", "m3"],
            "tone": [1, 0, 0, 1],
            "is_edge_case": [False, False, True, False],
        }
    )
    pq.write_table(table, folder / "data" / "train-clean-0000.parquet")
    report = {
        "recipe": {"text_field": "message", "dimensions": {"tone": ["calm", "angry"], "topic": ["a"]}},
        "features": {"tone": {"_type": "ClassLabel", "names": ["calm", "angry"]}},
    }
    (folder / "report.json").write_text(json.dumps(report), encoding="utf-8")
    assert default_colour_column(folder) == "tone"
    assert default_colour_column(tmp_path / "missing.csv") is None
    labels = read_labels(folder, "message", ["tone"], "is_edge_case")
    assert labels == {"tone": ["angry", "angry"]}  # m0 and m3; the null text and the edge row are dropped


def test_turning_the_map_off_removes_an_earlier_runs_files(tmp_path: Path) -> None:
    request = folder_map_request(tmp_path, True, {"topic": ["a"], "tone": ["b"]})
    assert request is not None and request.colour_by == "topic" and request.out_dir == tmp_path
    (tmp_path / "images").mkdir()
    for name in (request.png_name, request.html_name):
        (tmp_path / name).write_bytes(b"old")
    (tmp_path / "images" / "topic.png").write_bytes(b"chart")
    assert folder_map_request(tmp_path, False, {"topic": ["a"]}) is None
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["topic.png"]
