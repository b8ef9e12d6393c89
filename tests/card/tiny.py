"""A small, self-consistent generated folder (parquet files + report.json) for card tests.

Rows are given as (split, city, tone, edge kind or "none"); the report's realised counts are counted from
them, so every figure the card reads from the files agrees with the report unless a test changes one.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import datasets

CITIES = ["東京", "大阪"]
TONES = ["calm", "angry"]
KINDS = ["none", "negation", "very_short"]
Row = tuple[str, str, str, str]


def spread_rows(per_split: dict[str, int], edges: dict[str, dict[str, int]]) -> list[Row]:
    """``per_split`` ordinary rows per split (cities, tones alternate) plus ``edges`` {kind: {split: n}}."""
    rows: list[Row] = []
    for split, n in per_split.items():
        rows += [(split, CITIES[i % 2], TONES[(i // 2) % 2], "none") for i in range(n)]
    for kind, splits in edges.items():
        for split, n in splits.items():
            rows += [(split, CITIES[i % 2], TONES[i % 2], kind) for i in range(n)]
    return rows


def _features() -> datasets.Features:
    return datasets.Features(
        {
            "city": datasets.ClassLabel(names=CITIES),
            "tone": datasets.ClassLabel(names=TONES),
            "text": datasets.Value("string"),
            "edge_case": datasets.ClassLabel(names=KINDS),
            "is_edge_case": datasets.Value("bool"),
            "edge_case_of": datasets.Value("int64"),
            "stratum": datasets.Value("string"),
            "slot_id": datasets.Value("int64"),
        }
    )


def make_folder(folder: Path, rows: list[Row], **overrides: Any) -> dict[str, Any]:
    """Write ``folder/data/*.parquet`` and ``folder/report.json`` for ``rows``; return the report.

    Targets equal the realised counts (a complete, exact run) unless ``overrides`` replace top-level report
    keys (``plan``, ``validation``, ``complete`` …).
    """
    import json

    folder.mkdir(parents=True, exist_ok=True)
    features = _features()
    files: dict[str, dict[str, list[str]]] = {"default": {}, "clean": {}, "edge_cases": {}}
    splits = list(dict.fromkeys(r[0] for r in rows))
    for split in splits:
        for config, want_edge in (("clean", False), ("edge_cases", True)):
            part = [
                {
                    "city": c,
                    "tone": t,
                    "text": f"{k} ticket {i} from {c}",
                    "edge_case": k,
                    "is_edge_case": k != "none",
                    "edge_case_of": None,
                    "stratum": c,
                    "slot_id": i,
                }
                for i, (s, c, t, k) in enumerate(rows)
                if s == split and (k != "none") == want_edge
            ]
            if not part:
                continue
            rel = f"data/{split}-{config}.parquet"
            (folder / "data").mkdir(exist_ok=True)
            datasets.Dataset.from_list(part, features=features).to_parquet(str(folder / rel))
            files[config][split] = [rel]
            files["default"].setdefault(split, []).append(rel)
    strata = Counter(r[1] for r in rows)
    realised = {
        "strata": dict(strata),
        "marginals": {"city": dict(Counter(r[1] for r in rows)), "tone": dict(Counter(r[2] for r in rows))},
        "splits": dict(Counter(r[0] for r in rows)),
        "edge_cases": dict(Counter(r[3] for r in rows if r[3] != "none")),
    }
    report: dict[str, Any] = {
        "hf_synth_version": "0.1.0",
        "created_at": "2026-01-02T03:04:05Z",
        "recipe": {
            "name": "cities",
            "repo_id": "org/cities",
            "fields": {"text": {"type": "string", "description": "the ticket"}},
            "text_field": "text",
            "dimensions": {"city": {"values": CITIES}, "tone": {"values": TONES}},
            "strata_by": ["city"],
            "edge_cases": {
                "kinds": {
                    "negation": {"instruction": "Say what is not wrong.", "check": None},
                    "very_short": {},
                }
            },
        },
        "plan": {"total": len(rows), "limit": None, "targets": copy.deepcopy(realised), "notes": []},
        "generation": {"rows": len(rows), "backend": "anthropic", "model": "claude-sonnet-4-6"},
        "files": {c: s for c, s in files.items() if s},
        "features": features.to_dict(),
        "examples": {},
        "realised": realised,
        "complete": True,
        "incomplete": None,
        "validation": {
            "ok": True,
            "chi_square": {},
            "failures": [],
            "complete": True,
            "content": {
                "fields": {"rows": len(rows), "failed": 0},
                "edge_cases": {k: {"rows": n, "failed": 0} for k, n in realised["edge_cases"].items()},
                "duplicates": 0,
                "edge_kinds_checked": dict(realised["edge_cases"]),
            },
            "warnings": [],
        },
        "coverage": None,
        "label_fidelity": None,
    }
    report.update(overrides)
    (folder / "report.json").write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    return report
