"""Shared recipe and readers of the label-audit tests (loopback Messages server + `LabelWorld`)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

import hf_synth
from hf_synth.recipe import parse_recipe
from hf_synth.testing.judge import stated_labels

KEY = "sk-ant-audit-test-0123456789"
DIMS = {"tone": ["polite", "angry", "confused"], "topic": ["billing", "delivery"]}

RECIPE: dict[str, Any] = {
    "name": "audited",
    "seed": 3,
    "fields": {"body": {"type": "string"}},
    "dimensions": DIMS,
    "size": 48,
    "splits": {"train": 0.75, "test": 0.25},
    "prompt": "Write a {{ tone }} customer message about {{ topic }}.",
    "backend": {"name": "anthropic", "model": "claude-haiku-4-5", "concurrency": 8, "max_attempts": 2},
    "edge_cases": {"share": 0.15, "kinds": {"empty_field": {"field": "body"}, "exact_duplicate": {}}},
    "dedup": {"near_threshold": None},
    "audit": {"on_disagree": "regenerate", "items_per_request": 5},
}


def recipe(**audit: Any) -> dict[str, Any]:
    """RECIPE with `audit` keys replaced (a deep copy)."""
    data = copy.deepcopy(RECIPE)
    data["audit"].update(audit)
    return data


def run(out: Path, data: dict[str, Any] | None = None, **options: Any) -> hf_synth.pipeline.GeneratedDataset:
    """Generate `data` (default RECIPE) into `out` through the anthropic backend, without quality pass."""
    return hf_synth.generate(
        parse_recipe(data or RECIPE), out, backend="anthropic", progress=False, quality=False, **options
    )


def rows(out: Path) -> list[dict[str, Any]]:
    """Every written row of the default config, labels decoded to their names."""
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    features = report["features"]
    tables = [pq.read_table(out / p) for paths in report["files"]["default"].values() for p in paths]
    table = pa.concat_tables(tables)
    out_rows = []
    for row in table.to_pylist():
        for name, feat in features.items():
            if feat.get("_type") == "ClassLabel" and row.get(name) is not None:
                row[name] = feat["names"][row[name]]
        out_rows.append(row)
    return out_rows


def written_wrong(row: dict[str, Any]) -> bool:
    """Whether a row's text states a label other than its planned one (what `LabelWorld` wrote wrong)."""
    stated = stated_labels(row["body"] or "")
    return any(stated.get(d, row[d]) != row[d] for d in DIMS)
