"""How many strata a plan has, and the notes that say when some of them get no rows."""

from __future__ import annotations

import math

from hf_synth.planning.types import PlanSpec, strata_dims

__all__ = ["possible_strata", "strata_notes"]


def possible_strata(spec: PlanSpec) -> int:
    """Number of combinations of the stratum dimensions' values (every stratum the recipe could fill)."""
    sizes = {d.name: len(d.values) for d in spec.dimensions}
    return math.prod(sizes[name] for name in strata_dims(spec))


def strata_notes(spec: PlanSpec, n_rows: int, n_filled: int, n_full: int, limit: int | None) -> list[str]:
    """Notes for strata that get no rows.

    Args:
        n_rows: rows of this plan; n_filled: strata with at least one row in it; n_full: strata with rows
            in the plan without `limit`; limit: the `--limit`, or None when the plan is not scaled down.

    With `size`, a stratum whose share rounds to 0 is empty (each stratum gets floor or ceil of its
    share). With `strata.counts`, a 0 written in the counts is deliberate and not noted; a counted stratum
    that `--limit` rounds down to 0 is.
    """
    notes: list[str] = []
    if spec.cell_counts is None:
        total = possible_strata(spec)
        empty = total - n_filled
        if empty > 0 and n_rows < total:
            notes.append(
                f"{n_rows:,} rows are fewer than the {total:,} strata: {empty:,} strata get no rows "
                f"(each stratum gets the floor or ceiling of its share, here 0 or 1 rows)"
            )
        elif empty > 0:
            notes.append(
                f"{empty:,} of {total:,} strata get no rows: their share of the {n_rows:,} rows rounds to 0"
            )
    elif limit is not None and n_filled < n_full:
        notes.append(
            f"{n_full - n_filled:,} of the {n_full:,} strata with a count get no rows at limit {limit:,} "
            "(their scaled-down share rounds to 0)"
        )
    return notes
