"""`generate`: recipe → plan → rows (resumable) → DatasetDict → Hub-ready folder with report and card.

The orchestrator: it sits above every stage and is the only module that calls them all. It never prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hf_synth.dataset.folder import STORE_FILE, claim_folder
from hf_synth.dataset.provenance import RunHistory
from hf_synth.errors import BudgetExceededError, IncompleteRunError
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
from hf_synth.planning.seeded_run import SeededRun
from hf_synth.planning.spec import plan_spec
from hf_synth.preload import preloading
from hf_synth.recipe import Recipe, load_recipe

if TYPE_CHECKING:
    import datasets

    from hf_synth.dataset.report import Report
    from hf_synth.dataset.result import GeneratedDataset

log = logging.getLogger(__name__)

__all__ = ["GeneratedDataset", "RunOptions", "generate"]

#: What the run's aftermath imports (datasets and pyarrow, matplotlib: ~1.5 s), loaded during a run
#: that only waits on the network (`hf_synth.preload`).
AFTER_RUN_MODULES = (
    "hf_synth.dataset.result",
    "hf_synth.dataset.build",
    "hf_synth.dataset.report",
    "hf_synth.dataset.validate",
    "hf_synth.card",
    "hf_synth.card.charts",
    "hf_synth.recipe.dump",
)


def __getattr__(name: str) -> Any:
    # `GeneratedDataset` subclasses datasets.DatasetDict: importing it here would put datasets' import
    # before the first request instead of behind the network wait.
    if name == "GeneratedDataset":
        from hf_synth.dataset.result import GeneratedDataset

        return GeneratedDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _quality(
    recipe: Recipe,
    dd: datasets.DatasetDict,
    report: Report,
    embedder: Any,
    include_edge_cases: bool = False,
    folder: Path | None = None,
    progress: bool = True,
    measured: tuple[list[str], Any] | None = None,
) -> None:
    """Coverage against the recipe's reference set (with its map drawn into `folder`) and label fidelity,
    into the report.

    Edge-case rows (deliberately odd texts) are left out of both unless `include_edge_cases`. `measured`
    (texts, CoverageResult) is a coverage the gap-filling loop already measured: reused for the same texts."""
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
    draw_map = folder is not None and recipe.reference is not None and recipe.reference.map
    if measured is not None and measured[0] == texts and not draw_map:
        report.coverage = measured[1].to_json()
    elif recipe.reference is not None:
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
            embedder = options.embedder or make_embedder(recipe.dedup.embedder or "default", len(plan))
        seeded = SeededRun.open(
            recipe, plan, folder / STORE_FILE, embedder,
            budget_usd=options.budget_usd, progress=options.progress,
        )
        with RunStore(folder / STORE_FILE) as store, seeded, contextlib.ExitStack() as closing:
            backend = make_backend(recipe, options)
            engine = Engine(
                recipe,
                seeded.slot_specs(plan.slot_specs()),
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
            # Preloading is safe only while this thread imports nothing: remote backends (their SDK
            # imported first by `prepare`), and no embedder at work during the run.
            remote = embedder is None and _prepare_remote(backend, audit)
            with preloading(AFTER_RUN_MODULES, enabled=remote):
                try:
                    stats = asyncio.run(_run(engine, backend, audit, seeded))
                except (IncompleteRunError, BudgetExceededError) as exc:
                    stats, stopped = engine.stats, exc
            rows = store.rows()
            verdicts = audit.verdicts_for(rows) if audit is not None else None
            audited = audit_state(audit) if audit is not None else None
            failed_attempts = sum(len(errs) for errs in store.failures().values())
            gaps = seeded.gap_slots()
            seeding, gap_fill = seeded.seeding_block(engine), seeded.gap_block()
        history.finish(run, stats, complete=stopped is None)
        # Imported here, after the run (or preloaded during it): datasets, pyarrow and matplotlib are
        # ~1.5 s of import that the first request should not wait for.
        from hf_synth.card import render_card
        from hf_synth.dataset.build import build_dataset_dict, build_features, write_data_files
        from hf_synth.dataset.report import (
            Report,
            build_report,
            same_content,
            targets_realised,
            write_if_changed,
        )
        from hf_synth.dataset.result import GeneratedDataset
        from hf_synth.dataset.validate import fidelity_warnings, validate_folder
        from hf_synth.recipe.dump import recipe_yaml

        if not options.progress:
            _disable_library_progress_bars()  # again: datasets has its own switch, now imported
        dd = build_dataset_dict(
            recipe, plan, rows, allow_missing=stopped is not None, verdicts=verdicts, gaps=gaps
        )
        files = write_data_files(dd, folder)
        report = build_report(
            recipe, plan, stats, files, dd, folder,
            limit=options.limit, history=history, failed_attempts=failed_attempts, stopped=stopped,
        )
        report.features = build_features(recipe, gaps).to_dict()
        report.seeding, report.gap_fill = seeding, gap_fill
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
                _quality(
                    recipe, dd, report, embedder,
                    folder=folder, progress=options.progress, measured=seeded.measured(),
                )
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


def _prepare_remote(backend: Backend, audit: LabelAudit | None) -> bool:
    """True when every backend of the run answers over the network (`remote`), after importing their
    clients (`prepare`) so that no import of theirs runs during the run."""
    backends = [backend] + ([audit.judge.backend] if audit is not None else [])
    if not all(getattr(b, "remote", False) for b in backends):
        return False
    for b in backends:
        b.prepare()  # type: ignore[attr-defined]
    return True


def _disable_library_progress_bars() -> None:
    """`--no-progress` also silences the bars of datasets ("Creating parquet") and of model loading.

    huggingface_hub's switch also governs transformers when it is imported later; datasets has a switch of
    its own, flipped when datasets is already imported (`generate` calls this again after its import)."""
    import huggingface_hub.utils

    huggingface_hub.utils.disable_progress_bars()
    if "transformers" in sys.modules:
        sys.modules["transformers"].utils.logging.disable_progress_bar()
    if "datasets" in sys.modules:
        sys.modules["datasets"].disable_progress_bars()


async def _run(
    engine: Engine, backend: Backend, audit: LabelAudit | None, seeded: SeededRun
) -> GenerationStats:
    try:
        await seeded.run(engine, lambda: run_with_audit(engine, audit), audit.judge if audit else None)
        return engine.stats
    finally:
        await backend.aclose()
        await close_judge_backend(audit)
