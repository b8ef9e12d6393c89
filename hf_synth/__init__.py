"""hf-synth: stratified synthetic text datasets for the Hugging Face ecosystem.

import hf_synth
recipe = hf_synth.load_recipe("dataset_scripts/product_reviews.yaml")
plan = hf_synth.plan(recipe, limit=60)          # exact quotas, no LLM call
dd = hf_synth.generate(recipe, out="out/reviews", limit=60)   # a DatasetDict with .report and .validation
result = hf_synth.validate("out/reviews")       # ValidationResult: .ok, .failures
cov = hf_synth.measure_coverage("out/reviews", "real.csv")  # CoverageResult: .coverage, .coverage_interval
hf_synth.push("out/reviews", "my-org/reviews", tag="v1.0.0")

Each function imports its stage on first use, so `import hf_synth` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from hf_synth.dataset.result import GeneratedDataset
    from hf_synth.dataset.validate import ValidationResult
    from hf_synth.hub.push import PushResult
    from hf_synth.planning.plan import Plan
    from hf_synth.quality.result import CoverageResult
    from hf_synth.recipe import Recipe

__all__ = ["__version__", "generate", "load_recipe", "measure_coverage", "plan", "push", "validate"]


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe YAML file; raises `RecipeError` naming each bad key path."""
    from hf_synth.recipe import load_recipe as _load

    return _load(path)


def _as_recipe(recipe: Recipe | str | Path) -> Recipe:
    return load_recipe(recipe) if isinstance(recipe, (str, Path)) else recipe


def plan(recipe: Recipe | str | Path, limit: int | None = None) -> Plan:
    """The recipe's exact plan: one slot per row with its stratum, values, split and edge kind."""
    from hf_synth.planning.plan import make_plan
    from hf_synth.planning.spec import plan_spec

    return make_plan(plan_spec(_as_recipe(recipe)), limit=limit)


def generate(
    recipe: Recipe | str | Path, out: str | Path, *, overwrite: bool = False, **options: Any
) -> GeneratedDataset:
    """Generate (or resume) the recipe into the folder `out`.

    Returns the `DatasetDict` (a `GeneratedDataset`) with `.report`, `.validation`, `.stats` and `.folder`.
    `options` are `hf_synth.generation.options.RunOptions` fields: backend, model, concurrency, limit,
    progress, quality, batch, budget_usd. `overwrite` clears a folder that holds another recipe's data.
    """
    from hf_synth.generation.options import RunOptions
    from hf_synth.pipeline import generate as _generate

    return _generate(_as_recipe(recipe), out, RunOptions(**options), overwrite=overwrite)


def validate(folder: str | Path) -> ValidationResult:
    """Check a generated folder's data files against its targets (see `hf-synth validate`)."""
    from hf_synth.dataset.validate import validate_folder

    return validate_folder(folder)


def measure_coverage(synthetic: Any, reference: Any, **options: Any) -> CoverageResult:
    """How much of `reference` the `synthetic` set covers: the headline with its 90% interval and resolution.

    Each side is a generated folder, a Hub-style folder, a .csv/.jsonl/.parquet file or a list of texts.
    `options`: text_column, reference_text_column, embedder, model, engine, store_dir, cross_check_rows,
    reference_max_rows, include_edge_cases, seed, k, n_clusters (see
    `hf_synth.quality.measure.measure_coverage`). Raises `UsageError` on bad input before any model loads.
    """
    from hf_synth.quality.measure import measure_coverage as _measure

    return _measure(synthetic, reference, **options)


def push(folder: str | Path, repo_id: str, **options: Any) -> PushResult:
    """Publish a generated folder to the Hub as one commit, then tag it.

    `options`: tag, private, revision, create_pr, message (see `hf_synth.hub.push.push_folder`).
    """
    from hf_synth.card.publish import release_card
    from hf_synth.hub.push import push_folder

    options.setdefault("render_card", release_card)  # the card's snippets and citation name `repo_id`
    return push_folder(Path(folder), repo_id, **options)
