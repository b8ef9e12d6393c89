"""Card sections "Strata", "Dimensions" and "Splits": target vs realised counts, charts, split sizes."""

from __future__ import annotations

from typing import Any

from hf_synth.card.context.facts import CardFacts
from hf_synth.card.escape import SafeMd, escape_cell, escape_inline
from hf_synth.card.files import parquet_stats
from hf_synth.fonts import undrawable


def _keys_of(target: dict[str, Any], realised: dict[str, Any]) -> list[str]:
    """Target keys in order, then realised keys the plan did not have."""
    return list(target) + [k for k in realised if k not in target]


def strata(f: CardFacts) -> dict[str, Any]:
    """Template keys: strata [{id, target, realised, diff}], strata_target_total, strata_realised_total,
    notes (the planner's)."""
    t_strata = f.targets.get("strata") or {}
    r_strata = f.realised.get("strata") or {}
    rows = []
    for sid in _keys_of(t_strata, r_strata):
        t, r = t_strata.get(sid, 0), r_strata.get(sid, 0)
        rows.append({"id": escape_cell(sid, None), "target": t, "realised": r, "diff": f"{r - t:+d}"})
    return {
        "strata": rows,
        "strata_target_total": sum(t_strata.values()),
        "strata_realised_total": sum(r_strata.values()),
        "notes": [escape_inline(n, 300) for n in f.plan.get("notes") or []],
    }


def charts(f: CardFacts) -> dict[str, Any]:
    """Template key ``charts``: [{dimension, alt, path, undrawable}], one bar chart per dimension;
    ``undrawable`` lists the characters of its values that no chart font has (drawn as boxes), else None."""
    out = []
    for d, p in f.charts.items():
        values = [*f.dims_order.get(d, []), *((f.realised.get("marginals") or {}).get(d) or {})]
        missing = undrawable(" ".join([d, *values]))
        out.append(
            {
                "dimension": escape_inline(d),
                "alt": escape_inline(f"{d}: target vs realised"),
                "path": SafeMd(p),
                "undrawable": escape_inline(" ".join(missing)) if missing else None,
            }
        )
    return {"charts": out}


def splits(f: CardFacts) -> dict[str, Any]:
    """Template key ``splits``: [{name, target, realised, clean, edge}]; clean/edge rows are counted in the
    parquet files (None when a file is unreadable)."""
    t_splits = f.targets.get("splits") or {}
    r_splits = f.realised.get("splits") or {}
    has_edges = "edge_cases" in f.configs
    rows = []
    for s in _keys_of(t_splits, r_splits):
        clean = parquet_stats(f.folder, f.configs["clean"].get(s, [])) if "clean" in f.configs else None
        edge = parquet_stats(f.folder, f.configs["edge_cases"].get(s, [])) if has_edges else None
        rows.append(
            {
                "name": escape_cell(s, None),
                "target": t_splits.get(s, 0),
                "realised": r_splits.get(s, 0),
                "clean": clean[0] if clean else None,
                "edge": edge[0] if edge else (0 if not has_edges else None),
            }
        )
    return {"splits": rows}
