"""`generate`: recipe → plan → rows (resumable) → DatasetDict → Hub-ready folder with report and card."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import datasets
import yaml

import hf_synth
from hf_synth.card.card import render_card
from hf_synth.dataset.build import build_dataset_dict, build_features, data_bytes, write_data_files
from hf_synth.dataset.report import Report
from hf_synth.dataset.validate import ValidationResult, validate_folder
from hf_synth.errors import EXIT_OK, EXIT_VALIDATION
from hf_synth.generation.backends.base import Backend
from hf_synth.generation.backends.factory import make_backend
from hf_synth.generation.engine import Engine, GenerationStats
from hf_synth.generation.options import RunOptions
from hf_synth.generation.runstore import RunStore
from hf_synth.planning.plan import Plan, make_plan
from hf_synth.planning.spec import plan_spec
from hf_synth.recipe import Recipe, load_recipe

log = logging.getLogger(__name__)

STORE_NAME = ".hf-synth/run.sqlite"


def recipe_yaml(recipe: Recipe) -> str:
    """The recipe as run, as YAML (written next to the data for provenance)."""
    data = recipe.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _targets_realised(validation: ValidationResult) -> dict[str, Any]:
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


def build_report(
    recipe: Recipe,
    plan: Plan,
    stats: GenerationStats,
    files: dict[str, dict[str, list[str]]],
    dd: datasets.DatasetDict,
    folder: Path,
    limit: int | None = None,
) -> Report:
    """Every number of the card, machine-readably (see DESIGN.md for the keys)."""
    total = stats.total_usage
    return Report.from_json({
        "hf_synth_version": hf_synth.__version__,
        "created_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "recipe": {
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
            "backend": {
                **recipe.backend.model_dump(mode="json"),
                "name": stats.backend,
                "model": stats.model,
            },
            "edge_cases": recipe.edge_cases.model_dump(mode="json") if recipe.edge_cases else None,
        },
        "plan": {
            "total": len(plan.slot_id),
            "limit": limit,
            "targets": plan.targets,
            "notes": list(plan.notes),
        },
        "generation": {
            "rows": sum(len(ds) for ds in dd.values()),
            "requests": total.requests,
            "requests_this_run": stats.requests,
            "resumed_rows": stats.resumed,
            "failed_attempts": stats.failed_attempts,
            "check_failures": stats.check_failures,
            "regenerated_duplicates": stats.regenerated_duplicates,
            "regenerated_near_duplicates": stats.regenerated_near_duplicates,
            "rounds": stats.rounds,
            "input_tokens": total.input_tokens,
            "output_tokens": total.output_tokens,
            "cache_read_tokens": total.cache_read_tokens,
            "cache_write_tokens": total.cache_write_tokens,
            "cost_usd": round(total.cost_usd, 6),
            "seconds": round(stats.seconds, 3),
            "backend": stats.backend,
            "model": stats.model,
        },
        "files": files,
        "split_bytes": data_bytes(folder, files),
        "features": build_features(recipe).to_dict(),
        "examples": _examples(recipe, dd),
    })


def _quality(
    recipe: Recipe, dd: datasets.DatasetDict, report: Report, embedder: Any, include_edge_cases: bool = False
) -> None:
    """Coverage against the recipe's reference set and label fidelity, into the report.

    Edge-case rows (deliberately odd texts) are left out of both unless `include_edge_cases`."""
    from hf_synth.quality.embed.static import describe_embedder
    from hf_synth.quality.fidelity import label_fidelity

    keep = [include_edge_cases or not e for ds in dd.values() for e in ds["is_edge_case"]]
    texts = [t or "" for ds in dd.values() for t in ds[recipe.main_text_field]]
    texts = [t for t, k in zip(texts, keep, strict=True) if k]
    if recipe.reference is not None:
        from hf_synth.quality.measure import measure_coverage
        from hf_synth.recipe import resolve_data_path

        report.coverage = measure_coverage(
            texts,
            str(resolve_data_path(recipe.reference.path)),
            reference_text_column=recipe.reference.text_column,
            reference_max_rows=recipe.reference.max_rows,
            embedder=embedder,
            seed=recipe.seed,
        ).to_json()
    labels: dict[str, list[str]] = {}
    for dim in recipe.dimensions:
        names = dd[next(iter(dd))].features[dim].names
        codes = [c for ds in dd.values() for c in ds[dim]]
        labels[dim] = [names[c] for c, k in zip(codes, keep, strict=True) if k]
    if len(texts) >= 20:
        emb = embedder.encode(texts)
        report.label_fidelity = label_fidelity(emb, labels, seed=recipe.seed)
        report.label_fidelity_embedder = describe_embedder(embedder)


class GeneratedDataset(datasets.DatasetDict):
    """The generated `DatasetDict`, holding the run's `report`, its `validation` and the `folder`."""

    report: Report
    validation: ValidationResult
    folder: Path

    @property
    def ok(self) -> bool:
        """True when every target was met (validation passed)."""
        return bool(self.validation.ok)

    @property
    def exit_code(self) -> int:
        """The CLI exit code of this result: 0, or 1 when validation failed."""
        return EXIT_OK if self.ok else EXIT_VALIDATION


def generate(
    recipe: Recipe | str | Path, out: str | Path, options: RunOptions | None = None
) -> GeneratedDataset:
    """Generate (or resume) the recipe's dataset into the folder `out`.

    Writes out/data/*.parquet, out/report.json, out/recipe.yaml, out/README.md and out/images/, and returns
    the `DatasetDict` with the report and validation attached. Raises `IncompleteRunError` (finished rows
    kept in out/.hf-synth/run.sqlite) when quotas cannot be met, `BudgetExceededError` at the budget.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    options = options or RunOptions()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    plan = make_plan(plan_spec(recipe), limit=options.limit)
    embedder = None
    if options.quality and (recipe.dedup.near_threshold is not None or recipe.reference is not None):
        from hf_synth.quality.embed.static import make_embedder

        # `dedup.embedder`: default (MiniLM), static (model2vec distilled from it), auto, or a model path.
        embedder = make_embedder(recipe.dedup.embedder or "default", len(plan))
    with RunStore(folder / STORE_NAME) as store:
        backend = make_backend(recipe, options)
        engine = Engine(
            recipe,
            plan.slot_specs(),
            backend,
            store,
            progress=options.progress,
            embed=embedder.encode if embedder is not None and recipe.dedup.near_threshold else None,
            budget_usd=options.budget_usd,
        )
        stats = asyncio.run(_run(engine, backend))
        rows = store.rows()
    dd = build_dataset_dict(recipe, plan, rows)
    files = write_data_files(dd, folder)
    (folder / "recipe.yaml").write_text(recipe_yaml(recipe), encoding="utf-8")
    report = build_report(recipe, plan, stats, files, dd, folder, limit=options.limit)
    report.write(folder)
    validation = validate_folder(folder)
    report.validation = {k: getattr(validation, k) for k in ("ok", "chi_square", "failures")}
    report.realised = _targets_realised(validation)
    if embedder is not None:
        _quality(recipe, dd, report, embedder)
    report.write(folder)
    render_card(folder, report.to_json())
    result = GeneratedDataset(dd)
    result.report, result.validation, result.folder = report, validation, folder
    return result


async def _run(engine: Engine, backend: Backend) -> GenerationStats:
    try:
        return await engine.run()
    finally:
        await backend.aclose()


def summary(folder: Path, report: Report) -> str:
    """The closing lines of `generate`: rows, strata, edge cases, coverage, tokens, cost, output path."""
    gen = report.generation
    targets = report.plan["targets"]
    edge_total = sum(targets.get("edge_cases", {}).values())
    cov = report.coverage
    fid = report.label_fidelity
    val = report.validation or {}
    lines = [
        f"rows        {gen['rows']} in {len(targets['strata'])} strata, splits "
        + ", ".join(f"{k}={v}" for k, v in targets["splits"].items()),
        f"edge cases  {edge_total} ("
        + ", ".join(f"{k}={v}" for k, v in targets.get("edge_cases", {}).items())
        + ")",
        f"validation  {'OK: every quota exact' if val.get('ok') else 'FAILED'}",
        f"coverage    {cov['coverage']:.3f} of the reference (kNN recall {cov['knn']['recall']:.3f}"
        + (f"; {len(cov['warnings'])} warning(s) in report.json)" if cov.get("warnings") else ")")
        if cov
        else "coverage    - (no reference set in the recipe)",
    ]
    if fid:
        accs = ", ".join(
            f"{d}={v['accuracy']:.2f} (chance {v['majority_share']:.2f})"
            for d, v in fid.items()
            if isinstance(v, dict) and v.get("accuracy") is not None
        )
        lines.append(f"fidelity    label accuracy from text: {accs}")
    lines += [
        f"requests    {gen['requests']} total ({gen['requests_this_run']} this run, "
        f"{gen['resumed_rows']} rows resumed), {gen['failed_attempts']} failed attempts, "
        f"{gen['regenerated_duplicates']} duplicates regenerated",
        f"tokens      {gen['input_tokens']} in / {gen['output_tokens']} out, "
        f"cache {gen['cache_read_tokens']} read / {gen['cache_write_tokens']} written",
        f"cost        ${gen['cost_usd']:.4f} ({gen['backend']}: {gen['model']})",
        f"time        {gen['seconds']:.1f} s",
        f"output      {folder.resolve()}  (load: datasets.load_dataset({str(folder)!r}))",
    ]
    return "\n".join(lines)
