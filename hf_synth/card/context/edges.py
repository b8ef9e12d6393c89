"""Card section "Edge cases": each kind's instruction, target and realised counts, and one example row.

Built-in kinds are described by ``hf_synth.edge_cases.kinds.kind_description``; this module names no kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hf_synth.card.context.facts import CardFacts
from hf_synth.card.escape import escape_cell, escape_inline
from hf_synth.card.format import quote_inline, quote_value
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


def edge_cases(f: CardFacts) -> dict[str, Any]:
    """Template keys: edges [{name, name_cell, instruction, target, realised, example, labels, other}] and
    edge_total (realised edge-case rows)."""
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
    return {"edges": rows, "edge_total": sum(edge_real.values())}
