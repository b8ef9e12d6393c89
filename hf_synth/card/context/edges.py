"""Card section "Edge cases": each kind's instruction, target and realised counts, how the kinds are spread
over the splits (counted in the data files, against ``plan.targets.edge_cases_splits`` when the plan has it),
and one example row.

Built-in kinds are described by ``hf_synth.edge_cases.kinds.kind_description``; this module names no kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hf_synth.card.context.facts import CardFacts
from hf_synth.card.escape import SafeMd, escape_cell, escape_inline
from hf_synth.card.files import edge_counts_by_split
from hf_synth.card.format import num, pct, quote_inline, quote_value
from hf_synth.edge_cases import kind_description


def recipe_kinds(recipe: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Edge kinds as [{name, instruction, ...}] from any of the shapes a recipe may use."""
    ec = recipe.get("edge_cases")
    if isinstance(ec, Mapping) and "kinds" in ec:
        ec = ec["kinds"]
    kinds: list[dict[str, Any]] = []
    if isinstance(ec, Mapping):
        for name, spec in ec.items():
            spec = spec if isinstance(spec, Mapping) else {"instruction": spec}
            kinds.append({"name": str(name), **spec})
    elif isinstance(ec, list):
        for spec in ec:
            if isinstance(spec, Mapping):
                kinds.append({**spec, "name": str(spec.get("name"))})
            else:
                kinds.append({"name": str(spec)})
    return kinds


def _example(f: CardFacts, ex: Any) -> dict[str, Any]:
    """The example row of one kind: its text as a blockquote, its labels, and its other fields."""
    if not isinstance(ex, Mapping):
        return {"example": quote_value(ex) if ex is not None else None, "labels": None, "other": []}
    text_field, fields_spec = f.text_field, f.fields_spec
    key = text_field if text_field in ex else next((name for name in fields_spec if name in ex), None)
    labels = [f"{d} = {ex.get(d)}" for d in f.dims_order if d in ex]
    # A kind may be about a field other than the text (a bound of a number, an optional left null): show them.
    other = [name for name in fields_spec if name in ex and name != key]
    return {
        "example": quote_value(ex.get(key)) if key is not None else None,
        "labels": escape_inline("; ".join(labels), 300) if labels else None,
        "other": [{"name": escape_inline(name, 60), "value": quote_inline(ex.get(name))} for name in other],
    }


def _split_targets(f: CardFacts, splits: list[str]) -> dict[str, dict[str, int]] | None:
    """``plan.targets.edge_cases_splits`` as {kind: {split: rows}} (also read when keyed split first)."""
    raw = f.targets.get("edge_cases_splits")
    if not isinstance(raw, Mapping) or not raw:
        return None
    if set(raw) <= set(splits) and all(isinstance(v, Mapping) for v in raw.values()):
        out: dict[str, dict[str, int]] = {}
        for split, per_kind in raw.items():
            for kind, n in per_kind.items():
                out.setdefault(str(kind), {})[str(split)] = int(n)
        return out
    return {str(k): {str(s): int(n) for s, n in v.items()} for k, v in raw.items() if isinstance(v, Mapping)}


def _cell(realised: int, target: int | None) -> SafeMd:
    if target is None or target == realised:
        return SafeMd(num(realised))
    return SafeMd(f"{num(realised)} (target {num(target)})")


def _spread_sentence(by_kind: Mapping[str, Mapping[str, int]], splits: list[str]) -> str:
    """The true statement about which splits hold edge-case rows (never "every split" unless it is so)."""
    per_split = {s: sum(v.get(s, 0) for v in by_kind.values()) for s in splits}
    empty = [s for s in splits if not per_split[s]]
    if empty:
        names = ", ".join(empty)
        return f"Edge-case rows are not in every split: {names} {'has' if len(empty) == 1 else 'have'} none."
    if all(v.get(s, 0) for v in by_kind.values() for s in splits):
        return "Every split has rows of every edge kind."
    return "Every split has edge-case rows, but not every kind is in every split."


def edge_splits(f: CardFacts, names: list[str]) -> dict[str, Any] | None:
    """The kind × split table: {splits, rows [{name, cells, total}], totals, sentence, planned, matches};
    None without edge-case rows or splits. Realised counts are read from the data files; None cells when
    they cannot be read."""
    splits = list(f.targets.get("splits") or {}) + [
        s for s in f.realised.get("splits") or {} if s not in (f.targets.get("splits") or {})
    ]
    if not splits or not sum((f.realised.get("edge_cases") or {}).values()):
        return None
    kind_names = list(((f.report.get("features") or {}).get("edge_case") or {}).get("names") or [])
    by_kind = edge_counts_by_split(f.folder, f.configs, kind_names) if kind_names else None
    if by_kind is None:
        return {"unreadable": True}
    planned = _split_targets(f, splits)
    split_rows = f.realised.get("splits") or {}
    rows, matches = [], True
    for k in [n for n in names if n in by_kind or (planned and n in planned)]:
        got, want = by_kind.get(k, {}), (planned or {}).get(k)
        cells = [_cell(got.get(s, 0), want.get(s, 0) if want is not None else None) for s in splits]
        matches = matches and (want is None or all(got.get(s, 0) == want.get(s, 0) for s in splits))
        rows.append({"name": escape_cell(k, None), "cells": cells})
    totals = []
    for s in splits:
        n = sum(v.get(s, 0) for v in by_kind.values())
        share = f" ({pct(n / split_rows[s])})" if split_rows.get(s) else ""
        totals.append(SafeMd(num(n) + share))
    return {
        "unreadable": False,
        "splits": [escape_cell(s, None) for s in splits],
        "rows": rows,
        "totals": totals,
        "sentence": _spread_sentence(by_kind, splits),
        "planned": planned is not None,
        "matches": matches,
    }


def edge_cases(f: CardFacts) -> dict[str, Any]:
    """Template keys: edges [{name, name_cell, instruction, target, realised, example, labels, other}],
    edge_total (realised edge-case rows) and edge_splits (see :func:`edge_splits`)."""
    examples = f.report.get("examples") or {}
    t_edges = f.targets.get("edge_cases") or {}
    edge_real = f.realised.get("edge_cases") or {}
    kinds = recipe_kinds(f.recipe)
    names = [k["name"] for k in kinds]
    names += [k for k in list(t_edges) + list(edge_real) + list(examples) if k not in names]
    instr = {
        k["name"]: k.get("instruction") or k.get("description") or kind_description(k["name"]) for k in kinds
    }
    rows = [
        {
            "name": escape_inline(k),
            "name_cell": escape_cell(k, None),
            "instruction": escape_cell(instr.get(k) or kind_description(k) or "", 200),
            "target": t_edges.get(k, 0),
            "realised": edge_real.get(k, 0),
            **_example(f, examples.get(k)),
        }
        for k in names
    ]
    return {"edges": rows, "edge_total": sum(edge_real.values()), "edge_splits": edge_splits(f, names)}
