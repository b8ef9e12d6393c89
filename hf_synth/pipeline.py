"""`generate`: recipe → plan → rows (resumable) → DatasetDict → Hub-ready folder with report and card.

The orchestrator: it sits above every stage and is the only module that calls them all. It never prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import datasets

from hf_synth.card import render_card
from hf_synth.dataset.build import build_dataset_dict, write_data_files
from hf_synth.dataset.folder import STORE_FILE, claim_folder
from hf_synth.dataset.provenance import RunHistory
from hf_synth.dataset.report import (
    Report,
    build_report,
    same_content,
    targets_realised,
    write_if_changed,
)
from hf_synth.dataset.validate import ValidationResult, fidelity_warnings, validate_folder
from hf_synth.errors import EXIT_OK, EXIT_VALIDATION, BudgetExceededError, IncompleteRunError
from hf_synth.generation.audit.loop import LabelAudit, run_with_audit
from hf_synth.generation.audit.setup import (
    audit_report_block,
    audit_state,
    close_judge_backend,
    make_label_audit,
    with_audit,
)
from hf_synth.generation.backends.base import Backend
from hf_synth.generation.backends.factory import make_backend
from hf_synth.generation.engine import Engine, GenerationStats
from hf_synth.generation.options import RunOptions
from hf_synth.generation.runstore import RunStore
from hf_synth.planning.plan import make_plan
from hf_synth.planning.spec import plan_spec
from hf_synth.recipe import Recipe, load_recipe
from hf_synth.recipe.dump import recipe_yaml

log = logging.getLogger(__name__)

__all__ = ["GeneratedDataset", "RunOptions", "generate"]


def _quality(
    recipe: Recipe,
    dd: datasets.DatasetDict,
    report: Report,
    embedder: Any,
    include_edge_cases: bool = False,
    folder: Path | None = None,
    progress: bool = True,
) -> None:
    """Coverage against the recipe's reference set (with its map drawn into `folder`) and label fidelity,
    into the report.

    Edge-case rows (deliberately odd texts) are left out of both unless `include_edge_cases`."""
    from hf_synth.quality.embed.static import describe_embedder
    from hf_synth.quality.fidelity import label_fidelity

    keep = [include_edge_cases or not e for ds in dd.values() for e in ds["is_edge_case"]]
    texts = [t or "" for ds in dd.values() for t in ds[recipe.main_text_field]]
    texts = [t for t, k in zip(texts, keep, strict=True) if k]
    labels: dict[str, list[str]] = {}
    for dim in recipe.dimensions:
        names = dd[next(iter(dd))].features[dim].names
        codes = [c for ds in dd.values() for c in ds[dim]]
        labels[dim] = [names[c] for c, k in zip(codes, keep, strict=True) if k]
    if recipe.reference is not None:
        from hf_synth.quality.map.from_coverage import folder_map_request
        from hf_synth.quality.measure import measure_coverage
        from hf_synth.recipe import resolve_data_path

        report.coverage = measure_coverage(
            texts,
            str(resolve_data_path(recipe.reference.path)),
            reference_text_column=recipe.reference.text_column,
            reference_max_rows=recipe.reference.max_rows,
            embedder=embedder,
            seed=recipe.seed,
            coverage_map=None
            if folder is None
            else folder_map_request(folder, recipe.reference.map, labels, progress=progress),
        ).to_json()
    if len(texts) >= 20:
        emb = embedder.encode(texts)
        report.label_fidelity = label_fidelity(emb, labels, seed=recipe.seed)
        report.label_fidelity_embedder = describe_embedder(embedder)


class GeneratedDataset(datasets.DatasetDict):
    """The generated `DatasetDict`, holding the run's `report`, `validation`, `stats` and `folder`."""

    report: Report
    validation: ValidationResult
    stats: GenerationStats
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
    recipe: Recipe | str | Path,
    out: str | Path,
    options: RunOptions | None = None,
    *,
    overwrite: bool = False,
) -> GeneratedDataset:
    """Generate (or resume) the recipe's dataset into the folder `out`.

    Writes out/data/*.parquet, out/report.json, out/recipe.yaml, out/README.md and out/images/, and returns
    the `DatasetDict` with the report and validation attached. The folder belongs to the recipe (see
    `hf_synth.dataset.folder`): another recipe's folder, or a non-empty folder hf-synth did not make, is
    refused unless `overwrite`. When quotas cannot be met (`IncompleteRunError`) or the budget is reached
    (`BudgetExceededError`), the finished rows are still written as a dataset marked incomplete
    (`report.complete` is False) and the error is raised after; re-running resumes. A re-run that has
    nothing to do changes no file.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    options = options or RunOptions()
    if options.audit and recipe.audit is None:
        recipe = with_audit(recipe)
    if not options.progress:
        _disable_library_progress_bars()
    folder = Path(out)
    plan = make_plan(plan_spec(recipe), limit=options.limit)
    with claim_folder(folder, recipe.name, recipe.fingerprint(), overwrite=overwrite) as removed:
        if removed:
            log.warning("--overwrite: removed %s from %s", ", ".join(removed), folder)
        history = RunHistory(folder)
        embedder = None
        if options.quality and (recipe.dedup.near_threshold is not None or recipe.reference is not None):
            from hf_synth.quality.embed.static import make_embedder

            # `dedup.embedder`: default (MiniLM), static (model2vec distilled from it), auto, or a model path.
            embedder = make_embedder(recipe.dedup.embedder or "default", len(plan))
        with RunStore(folder / STORE_FILE) as store, contextlib.ExitStack() as closing:
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
            audit = make_label_audit(recipe, engine, folder / STORE_FILE, progress=options.progress)
            if audit is not None:
                closing.callback(audit.judge.store.close)
            run = history.start()
            stopped: IncompleteRunError | BudgetExceededError | None = None
            try:
                stats = asyncio.run(_run(engine, backend, audit))
            except (IncompleteRunError, BudgetExceededError) as exc:
                stats, stopped = engine.stats, exc
            rows = store.rows()
            verdicts = audit.verdicts_for(rows) if audit is not None else None
            audited = audit_state(audit) if audit is not None else None
            failed_attempts = sum(len(errs) for errs in store.failures().values())
        history.finish(run, stats, complete=stopped is None)
        dd = build_dataset_dict(recipe, plan, rows, allow_missing=stopped is not None, verdicts=verdicts)
        files = write_data_files(dd, folder)
        report = build_report(
            recipe, plan, stats, files, dd, folder,
            limit=options.limit, history=history, failed_attempts=failed_attempts, stopped=stopped,
        )
        if audited is not None:
            report.audit = audit_report_block(audited, {s: ds.data for s, ds in dd.items()}, report.features)
        previous = Report.read(folder) if (folder / "report.json").is_file() else None
        if previous is not None and stopped is None and same_content(previous, report):
            report = previous  # nothing changed since the last run: no file is rewritten
            validation = validate_folder(folder)
        else:
            history.save()
            report.write(folder)
            validation = validate_folder(folder)
            report.validation = validation.to_report()
            report.realised = targets_realised(validation)
            if embedder is not None and dd.num_rows and any(dd.num_rows.values()):
                _quality(recipe, dd, report, embedder, folder=folder, progress=options.progress)
                # Label fidelity exists only now: its warnings belong to this run's validation.
                validation.warnings = fidelity_warnings(report.label_fidelity)
                report.validation = validation.to_report()
            report.write(folder)
            write_if_changed(folder / "recipe.yaml", recipe_yaml(recipe))
            render_card(folder, report.to_json())
    if stopped is not None:
        raise stopped
    result = GeneratedDataset(dd)
    result.report, result.validation, result.stats, result.folder = report, validation, stats, folder
    return result


def _disable_library_progress_bars() -> None:
    """`--no-progress` also silences the bars of datasets ("Creating parquet") and of model loading."""
    datasets.disable_progress_bars()
    import huggingface_hub.utils
    import transformers

    huggingface_hub.utils.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()


async def _run(engine: Engine, backend: Backend, audit: LabelAudit | None) -> GenerationStats:
    try:
        return await run_with_audit(engine, audit)
    finally:
        await backend.aclose()
        await close_judge_backend(audit)
