"""The typed report of a generated folder: every figure of the card, written as `report.json`.

`Report` is what `generate` returns beside the data and what the card renders from; `report.json` is its
`to_json()` form, so a folder can be validated, carded and pushed on its own. Top-level keys are the
dataclass fields; blocks whose shape belongs to another stage (coverage, label fidelity, validation) stay
plain JSON dicts owned by the module that computes them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypedDict

REPORT_NAME = "report.json"


class PlanBlock(TypedDict):
    """`report["plan"]`: the plan's size, the `--limit` it was scaled to, its targets and notes."""

    total: int
    limit: int | None
    targets: dict[str, Any]  # as `Plan.targets`: strata, marginals, splits, edge_cases, strata_splits
    notes: list[str]


class GenerationBlock(TypedDict, total=False):
    """`report["generation"]`: what the run did and cost (totals over every run of the folder)."""

    rows: int
    requests: int
    requests_this_run: int
    resumed_rows: int
    failed_attempts: int
    check_failures: int
    regenerated_duplicates: int
    regenerated_near_duplicates: int
    rounds: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    seconds: float
    backend: str
    model: str


@dataclass
class Report:
    """Everything `report.json` holds (see DESIGN.md for each block)."""

    hf_synth_version: str
    created_at: str
    recipe: dict[str, Any]
    plan: PlanBlock
    generation: GenerationBlock
    files: dict[str, dict[str, list[str]]]  # config → split → data file paths relative to the folder
    split_bytes: dict[str, int]
    features: dict[str, Any]  # `datasets.Features.to_dict()`
    examples: dict[str, dict[str, Any]]  # edge kind → one example row
    validation: dict[str, Any] | None = None
    realised: dict[str, Any] | None = None
    coverage: dict[str, Any] | None = None
    label_fidelity: dict[str, Any] | None = None
    label_fidelity_embedder: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys written by newer versions, kept on rewrite

    def to_json(self) -> dict[str, Any]:
        """The JSON-able dict written as report.json (unknown keys read earlier are kept)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        """A `Report` from report.json's content."""
        names = {f.name for f in fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        return cls(**known, extra={k: v for k, v in data.items() if k not in names})

    def write(self, folder: Path) -> Path:
        """Write folder/report.json atomically (temp file + rename); a crash never leaves half a report."""
        return write_json(Path(folder) / REPORT_NAME, self.to_json())

    @classmethod
    def read(cls, folder: str | Path) -> Report:
        """Read folder/report.json."""
        path = Path(folder) / REPORT_NAME
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


def write_json(path: Path, data: Any) -> Path:
    """Atomic JSON write (temp file + rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path
