"""Recipe → `PlanSpec`, the planner's input."""

from __future__ import annotations

from hf_synth.planning.plan import DimensionSpec, EdgeKindSpec, PlanSpec
from hf_synth.recipe.model import Recipe, cell_counts


def plan_spec(recipe: Recipe) -> PlanSpec:
    """The planner's input: dimensions, strata, size, splits and edge kinds."""
    values, weights = recipe.dimension_values(), recipe.dimension_weights()
    dims = tuple(DimensionSpec(n, tuple(values[n]), tuple(weights[n])) for n in values)
    by = tuple(recipe.strata.by) if recipe.strata else ()
    cells = cell_counts(recipe.strata, values) if recipe.strata and recipe.strata.counts is not None else None
    kinds: list[EdgeKindSpec] = []
    if recipe.edge_cases:
        kinds = [
            EdgeKindSpec(name=k.name, count=k.count, weight=k.weight, partner=k.partner)
            for k in recipe.edge_kinds()
        ]
    return PlanSpec(
        dimensions=dims,
        strata_by=by,
        cell_counts=cells,
        size=recipe.size,
        splits=tuple(recipe.splits.items()),
        edge_share=recipe.edge_cases.share if recipe.edge_cases else 0.0,
        edge_kinds=tuple(kinds),
        seed=recipe.seed,
    )
