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
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import hf_synth
from hf_synth.dataset.build import build_features, data_bytes
from hf_synth.secrets import scrub

if TYPE_CHECKING:
    import datasets

    from hf_synth.dataset.provenance import RunHistory
    from hf_synth.dataset.validate import ValidationResult
    from hf_synth.errors import BudgetExceededError, IncompleteRunError
    from hf_synth.generation.engine import GenerationStats
    from hf_synth.planning.plan import Plan
    from hf_synth.recipe import Recipe

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
    requests: int  # every request over the folder's life (failed attempts included)
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
    cache_note: str | None


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
    complete: bool = True  # False: the run stopped short (quotas or budget); `incomplete` says why
    incomplete: dict[str, Any] | None = None  # {"reason", "missing_rows", "short_cells": {stratum: n}}
    provenance: dict[str, Any] | None = None  # `RunHistory.summary()`: first start, total time, every run
    validation: dict[str, Any] | None = None
    realised: dict[str, Any] | None = None
    coverage: dict[str, Any] | None = None
    label_fidelity: dict[str, Any] | None = None
    label_fidelity_embedder: dict[str, Any] | None = None
    audit: dict[str, Any] | None = None  # the blind label audit (`generation.audit.setup.audit_report_block`)
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
    """Atomic JSON write (temp file + rename), secrets scrubbed; an unchanged file is not rewritten."""
    return write_if_changed(path, json.dumps(scrub(data), indent=2, ensure_ascii=False, default=str))


def write_if_changed(path: Path, text: str) -> Path:
    """Write `text` to `path` atomically, unless the file already holds exactly that text."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return path
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


# Keys that describe this invocation rather than the data; a re-run that differs only in them changed nothing.
_VOLATILE_GENERATION = ("requests_this_run", "resumed_rows", "rounds", "seconds", "cache_note")


def _content(report: Report) -> dict[str, Any]:
    data = report.to_json()
    for key in ("created_at", "provenance", "validation", "realised", "coverage", "label_fidelity",
                "label_fidelity_embedder"):
        data.pop(key, None)
    data["generation"] = {k: v for k, v in data["generation"].items() if k not in _VOLATILE_GENERATION}
    return json.loads(json.dumps(data, default=str))


def same_content(old: Report, new: Report) -> bool:
    """True when `new` (before validation and quality) describes the same data, recipe and spend as `old`."""
    return old.complete and _content(old) == _content(new)


def targets_realised(validation: ValidationResult) -> dict[str, Any]:
    """Realised counts in the shape of `Plan.targets` (strata, splits, edge_cases, marginals)."""
    tables = validation.tables
    return {
        "strata": {k: v["realised"] for k, v in tables["strata"].items()},
        "splits": {k: v["realised"] for k, v in tables["splits"].items()},
        "edge_cases": {k: v["realised"] for k, v in tables["edge_cases"].items()},
        "marginals": {d: {k: v["realised"] for k, v in t.items()} for d, t in tables["marginals"].items()},
    }


def _examples(recipe: Recipe, dd: datasets.DatasetDict) -> dict[str, dict[str, Any]]:
    """One example row per edge kind (the card quotes it)."""
    out: dict[str, dict[str, Any]] = {}
    names = ["none", *recipe.edge_kind_names()]
    for ds in dd.values():
        for code, row in zip(ds["edge_case"], ds.select_columns(list(recipe.fields)), strict=True):
            if code and names[code] not in out:
                out[names[code]] = row
    return out


def _recipe_block(recipe: Recipe, plan: Plan, stats: GenerationStats) -> dict[str, Any]:
    return {
        "name": recipe.name,
        "pretty_name": recipe.pretty_name,
        "description": recipe.description,
        "license": recipe.license,
        "language": recipe.language,
        "task_categories": recipe.task_categories,
        "version": recipe.version,
        "repo_id": recipe.repo_id,
        "seed": recipe.seed,
        "fingerprint": recipe.fingerprint(),
        "fields": {n: f.model_dump(mode="json", exclude_none=True) for n, f in recipe.fields.items()},
        "text_field": recipe.main_text_field,
        "dimensions": {
            n: {"values": v, "weights": recipe.dimension_weights()[n]}
            for n, v in recipe.dimension_values().items()
        },
        "strata_by": list(plan.spec.strata_by) or list(recipe.dimensions),
        "splits": dict(recipe.splits),
        "prompt": recipe.prompt,
        "system": recipe.system,
        "backend": {**recipe.backend.model_dump(mode="json"), "name": stats.backend, "model": stats.model},
        "edge_cases": recipe.edge_cases.model_dump(mode="json") if recipe.edge_cases else None,
        "dedup": recipe.dedup.model_dump(mode="json"),
    }


def _generation_block(
    stats: GenerationStats, rows: int, seconds_total: float, failed_attempts: int
) -> GenerationBlock:
    total = stats.total_usage
    return {
        "rows": rows,
        "requests": total.requests,
        "requests_this_run": stats.requests,
        "resumed_rows": stats.resumed,
        "failed_attempts": failed_attempts,
        "check_failures": stats.check_failures,
        "regenerated_duplicates": stats.regenerated_duplicates,
        "regenerated_near_duplicates": stats.regenerated_near_duplicates,
        "rounds": stats.rounds,
        "input_tokens": total.input_tokens,
        "output_tokens": total.output_tokens,
        "cache_read_tokens": total.cache_read_tokens,
        "cache_write_tokens": total.cache_write_tokens,
        "cost_usd": round(total.cost_usd, 6),
        "seconds": round(seconds_total, 3),
        "backend": stats.backend,
        "model": stats.model,
        # Why prompt caching was not used (prefix below the model's minimum), or None.
        "cache_note": getattr(stats, "cache_note", None),
    }


def build_report(
    recipe: Recipe,
    plan: Plan,
    stats: GenerationStats,
    files: dict[str, dict[str, list[str]]],
    dd: datasets.DatasetDict,
    folder: Path,
    *,
    limit: int | None = None,
    history: RunHistory | None = None,
    failed_attempts: int | None = None,
    stopped: IncompleteRunError | BudgetExceededError | None = None,
) -> Report:
    """Every number of the card, machine-readably (validation and quality blocks are filled in later).

    `history` gives the provenance (first start, total seconds over every run); `failed_attempts` counts every
    failed attempt of the folder's life (default: this run's); `stopped` marks the report incomplete.
    """
    provenance = history.summary() if history is not None else None
    first = (provenance or {}).get("first_started_at")
    seconds = (provenance or {}).get("seconds_total", stats.seconds)
    rows = sum(len(ds) for ds in dd.values())
    incomplete = None
    if stopped is not None:
        short = dict(getattr(stopped, "short_cells", {}) or {})
        incomplete = {"reason": str(stopped), "missing_rows": len(plan.slot_id) - rows, "short_cells": short}
    return Report(
        hf_synth_version=hf_synth.__version__,
        created_at=first or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        recipe=_recipe_block(recipe, plan, stats),
        plan={"total": len(plan.slot_id), "limit": limit, "targets": plan.targets, "notes": list(plan.notes)},
        generation=_generation_block(
            stats, rows, seconds, stats.failed_attempts if failed_attempts is None else failed_attempts
        ),
        files=files,
        split_bytes=data_bytes(folder, files),
        features=build_features(recipe).to_dict(),
        examples=_examples(recipe, dd),
        complete=stopped is None,
        incomplete=incomplete,
        provenance=provenance,
    )
