"""hf-synth: stratified synthetic text datasets for the Hugging Face ecosystem.

import hf_synth
recipe = hf_synth.load_recipe("dataset_scripts/product_reviews.yaml")
plan = hf_synth.plan(recipe, limit=60)          # exact quotas, no LLM call
dd = hf_synth.generate(recipe, out="out/reviews", limit=60)   # datasets.DatasetDict
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    import datasets

    from hf_synth.planning.plan import Plan
    from hf_synth.recipe import Recipe

__all__ = ["__version__", "generate", "load_recipe", "plan"]

import hf_synth.planning.plan as _plan_module


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe YAML file; raises `RecipeError` naming each bad key path."""
    from hf_synth.recipe import load_recipe as _load

    return _load(path)


def _as_recipe(recipe: Recipe | str | Path) -> Recipe:
    return load_recipe(recipe) if isinstance(recipe, (str, Path)) else recipe


def plan(recipe: Recipe | str | Path, limit: int | None = None) -> Plan:
    """The recipe's exact plan: one slot per row with its stratum, values, split and edge kind."""
    from hf_synth.planning.spec import plan_spec

    return _plan_module.make_plan(plan_spec(_as_recipe(recipe)), limit=limit)


def generate(recipe: Recipe | str | Path, out: str | Path, **options: Any) -> datasets.DatasetDict:
    """Generate (or resume) the recipe into the folder `out`; returns the `DatasetDict`.

    `options` are `hf_synth.pipeline.RunOptions` fields: backend, model, concurrency, limit, progress,
    quality, batch, budget_usd.
    """
    from hf_synth.pipeline import RunOptions
    from hf_synth.pipeline import generate as _generate

    return _generate(_as_recipe(recipe), out, RunOptions(**options))
