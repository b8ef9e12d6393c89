"""Card section "Fields": one row per column with its type and what it means."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hf_synth.card.context.facts import CardFacts
from hf_synth.card.escape import SafeMd, escape_cell

# Pre-written Markdown (table-cell safe: the only pipe is escaped) for the columns every dataset has.
BUILTIN_COLUMNS = {
    "edge_case": "Edge-case kind of the row (`none` for ordinary rows).",
    "is_edge_case": "True when the row is an edge case.",
    "edge_case_of": "Slot id of the ordinary row this edge case is paired with (null when unpaired).",
    "stratum": "Stratum id: the stratum dimensions' values joined with `\\|`.",
    "slot_id": "Stable id of the planned slot the row fills.",
    "label_verified": "True when a blind judge read every audited dimension in the row's text as planned; "
    "null when the row was not judged (see *Label audit*).",
}


def feature_type(spec: Mapping[str, Any]) -> str:
    """A ``datasets`` feature dict (``Features.to_dict()`` form) in words, e.g. ``class label: a, b``."""
    kind = spec.get("_type")
    if kind == "ClassLabel":
        names = [str(n) for n in spec.get("names") or []]
        shown = ", ".join(names[:8]) + (f", … ({len(names)} in all)" if len(names) > 8 else "")
        return f"class label: {shown}"
    if kind == "Value":
        return str(spec.get("dtype"))
    if kind in ("Sequence", "List", "LargeList"):
        inner = spec.get("feature") or {}
        return f"list of {feature_type(inner) if isinstance(inner, Mapping) else inner}"
    return str(kind or "?")


def _description(f: CardFacts, name: str) -> SafeMd:
    if name in f.dims_order:
        role = "Stratum dimension" if name in f.strata_by else "Dimension (not a stratum)"
        return SafeMd(f"{role} of the recipe.")
    if name in BUILTIN_COLUMNS:
        return SafeMd(BUILTIN_COLUMNS[name])
    audited = (f.report.get("audit") or {}).get("dimensions") or []
    if name.startswith("judged_") and name.removeprefix("judged_") in audited:
        dim = escape_cell(name.removeprefix("judged_"), 80)
        return SafeMd(f"The value of {dim} a blind judge read in the text (`unclear`: could not tell).")
    spec = f.fields_spec.get(name) if isinstance(f.fields_spec, Mapping) else None
    desc = spec.get("description") if isinstance(spec, Mapping) else None
    desc_md = escape_cell(desc or "Recipe field.")
    return SafeMd(desc_md + " (text field)") if name == f.text_field else desc_md


def fields(f: CardFacts) -> dict[str, Any]:
    """Template key ``fields``: [{name, type, desc}] in feature order, every cell escaped."""
    features = f.report.get("features") or {}
    rows = [
        {
            "name": escape_cell(name, None),
            "type": escape_cell(feature_type(spec), 200),
            "desc": _description(f, name),
        }
        for name, spec in features.items()
    ]
    return {"fields": rows}
