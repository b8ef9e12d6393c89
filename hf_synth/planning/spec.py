"""Recipe → `PlanSpec`, the planner's input."""

from __future__ import annotations

from hf_synth.planning.plan import DimensionSpec, EdgeKindSpec, PlanSpec
from hf_synth.recipe.fields import value_str
from hf_synth.recipe.model import Recipe, cell_counts


def _overridden_weights(recipe: Recipe, cells: dict[tuple[str, ...], int]) -> list[str]:
    """Notes for dimensions whose weights `strata.counts` makes unused (a stratum dimension with explicit,
    unequal weights: its rows per value come from the counts, never from the weights)."""
    assert recipe.strata is not None
    notes = []
    for col, name in enumerate(recipe.strata.by):
        spec = recipe.dimensions[name]
        if not isinstance(spec, dict) or len(set(spec.values())) < 2:
            continue
        rows = {value_str(v): 0 for v in spec}
        for key, n in cells.items():
            rows[key[col]] += n
        weights = ", ".join(f"{value_str(v)}: {w:g}" for v, w in spec.items())
        counts = ", ".join(f"{v}: {n}" for v, n in rows.items())
        notes.append(
            f"dimensions.{name}: the weights ({weights}) are not used: {name} is in strata.by and "
            f"strata.counts gives its rows ({counts})"
        )
    return notes


def plan_spec(recipe: Recipe) -> PlanSpec:
    """The planner's input: dimensions, strata, size, splits and edge kinds, and the recipe's notes."""
    values, weights = recipe.dimension_values(), recipe.dimension_weights()
    dims = tuple(DimensionSpec(n, tuple(values[n]), tuple(weights[n])) for n in values)
    by = tuple(recipe.strata.by) if recipe.strata else ()
    cells = cell_counts(recipe.strata, values) if recipe.strata and recipe.strata.counts is not None else None
    kinds: list[EdgeKindSpec] = []
    if recipe.edge_cases:
        kinds = [
            EdgeKindSpec(name=k.name, count=k.count, weight=k.weight, partner=k.partner, where=k.common.where)
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
        notes=tuple(_overridden_weights(recipe, cells)) if cells is not None else (),
    )
