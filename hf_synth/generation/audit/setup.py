"""A recipe's label audit, wired to a run: the judge's backend, its verdict store, the shared budget; and the
report block of what it found and cost."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hf_synth.generation.audit.judge import Judge
from hf_synth.generation.audit.loop import DROPPED_COUNTER, REGENERATED_COUNTER, LabelAudit
from hf_synth.generation.audit.stats import INTERVAL_LEVEL, summarise_tables
from hf_synth.generation.audit.store import VerdictStore
from hf_synth.recipe import parse_recipe
from hf_synth.recipe.audit import JudgeBackendConfig, audit_dimensions

if TYPE_CHECKING:
    from hf_synth.generation.backends.base import Backend
    from hf_synth.generation.engine import Engine
    from hf_synth.recipe import Recipe

__all__ = [
    "LOCAL_JUDGE_NOTE",
    "audit_report_block",
    "audit_state",
    "close_judge_backend",
    "make_judge_backend",
    "make_label_audit",
    "with_audit",
]

#: What the card and report say when the judge is the embedded 135M model (measured by
#: benchmarks/bench_local_judge.py on real BANKING77 queries).
LOCAL_JUDGE_NOTE = (
    "The judge was the embedded SmolLM2-135M model, a weak reader: on 80 real BANKING77 queries of 4 topics "
    "it agreed with their human labels on 36% of them (90% interval 28-45%; chance 25%). Its readings say "
    "more about the judge than about the rows; use a hosted model (audit.backend) for an audit that means "
    "something."
)


def make_judge_backend(config: JudgeBackendConfig, recipe: Recipe) -> Backend:
    """A backend of its own for the judge (`audit.backend`), built like the generation backend."""
    from hf_synth.generation.backends.factory import make_backend
    from hf_synth.generation.options import RunOptions
    from hf_synth.recipe.model import BackendConfig

    settings = config.model_dump(exclude={"name", "model"})
    backend = BackendConfig(name=config.name, model=config.model, **settings)
    options = RunOptions(backend=config.name, model=config.model)
    return make_backend(recipe.model_copy(update={"backend": backend}), options)


def make_label_audit(
    recipe: Recipe, engine: Engine, store_path: Path, *, progress: bool = True
) -> LabelAudit | None:
    """The label audit of `recipe` over `engine` (None when the recipe has no `audit` block).

    The judge is the generation backend itself unless `audit.backend` names one; its spending counts toward
    the engine's budget, earlier runs' audit spending included.
    """
    config = recipe.audit
    if config is None:
        return None
    dims = audit_dimensions(recipe)
    values = recipe.dimension_values()
    backend = engine.backend if config.backend is None else make_judge_backend(config.backend, recipe)
    store = VerdictStore(store_path)
    engine.budget.spent_before += store.usage().cost_usd
    judge = Judge(
        backend,
        store,
        {d: values[d] for d in dims},
        seed=recipe.seed,
        items_per_request=config.items_per_request,
        budget=engine.budget,
        progress=progress,
        max_passes=recipe.max_rounds,
    )
    text_fields = [name for name, spec in recipe.fields.items() if spec.type == "string"]
    return LabelAudit(engine, judge, config, dims, text_fields, recipe.max_rounds)


async def close_judge_backend(audit: LabelAudit | None) -> None:
    """Close the judge's backend when it has one of its own (the run closes the judge's store)."""
    if audit is not None and audit.judge.backend is not audit.engine.backend:
        await audit.judge.backend.aclose()


def judge_note(backend_name: str, model: str) -> str | None:
    """The caveat the card prints about the judge (the embedded local model is weak), or None."""
    if backend_name != "local":
        return None
    return LOCAL_JUDGE_NOTE


def _still_settled(audit: LabelAudit) -> int:
    """Rows kept although they disagree whose text is still the one that was settled."""
    settled = audit.judge.store.settled()
    texts = audit.audited_texts(audit.engine.store.rows(settled))
    return sum(1 for sid, t in texts.items() if settled[sid] == audit.judge.key(t))


def audit_state(audit: LabelAudit) -> dict[str, Any]:
    """What the report says about the audit besides the rows' figures (read from the stores while open):
    the judge, the settings, rows sent back / dropped / settled over the folder's life and the judge's cost.
    Nothing in it describes one invocation only, so an unchanged re-run reports the same."""
    judge, config = audit.judge, audit.config
    usage = judge.store.usage()
    counters = audit.engine.store.counters()
    return {
        "judge": {
            "backend": judge.backend.name,
            "model": judge.backend.model,
            "items_per_request": judge.items_per_request,
            "note": judge_note(judge.backend.name, judge.backend.model),
        },
        "dimensions": list(audit.dimensions),
        "min_agreement": config.min_agreement,
        "on_disagree": config.on_disagree,
        "skipped_kinds": list(audit.skipped_kinds),
        "regenerated": counters.get(REGENERATED_COUNTER, 0),
        "dropped": counters.get(DROPPED_COUNTER, 0),
        "settled": _still_settled(audit),
        "interval_level": INTERVAL_LEVEL,
        "cost": {
            "requests": usage.requests,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
            "cost_usd": round(usage.cost_usd, 6),
        },
    }


def audit_report_block(
    state: Mapping[str, Any], tables: Mapping[str, Any], features: Mapping[str, Any]
) -> dict[str, Any]:
    """The report's `audit` block: `audit_state` plus the figures of the written rows (split → Arrow table;
    `features` as report.json's): rows {total, judged, verified, disagreeing, not_judged, skipped {kind: n}}
    and per_dimension {dimension: `stats.dimension_summary`}."""
    summary = summarise_tables(
        tables, features, state["dimensions"], state["min_agreement"], state["skipped_kinds"]
    )
    return {**state, "rows": summary["rows"], "per_dimension": summary["per_dimension"]}


def with_audit(recipe: Recipe, block: dict[str, Any] | None = None) -> Recipe:
    """`recipe` with an `audit` block (the given keys over the recipe's own block, else the defaults),
    validated like a recipe file, so a bad value is a `RecipeError` naming its `audit.*` key path."""
    data = recipe.model_dump(mode="python")  # None values included: `near_threshold: null` means "off"
    data["audit"] = {**(data.get("audit") or {}), **(block or {})}
    return parse_recipe(data)
