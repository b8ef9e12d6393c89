"""Tolerant lookups into ``report.json`` shared by the metadata and the card body.

Reports come from several producers and versions, so a key may be missing, null or spelled another way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def as_list(value: Any) -> list[str]:
    """``value`` as a list of strings: None → [], a scalar → [it], None items dropped."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def first(d: Mapping[str, Any] | None, *keys: str) -> Any:
    """The first non-None value of ``keys`` in ``d`` (report producers have used several spellings)."""
    for key in keys:
        if d and d.get(key) is not None:
            return d[key]
    return None


def total_rows(report: Mapping[str, Any]) -> int:
    """Rows in the dataset: the realised split sizes, else the generated rows, else the planned total."""
    splits = (report.get("realised") or {}).get("splits") or {}
    if splits:
        return int(sum(splits.values()))
    gen = report.get("generation") or {}
    if gen.get("rows") is not None:
        return int(gen["rows"])
    return int((report.get("plan") or {}).get("total") or 0)


def _as_iter(v: Any) -> Iterable[Any]:
    return v if isinstance(v, (list, tuple)) else ([] if v is None else [v])


def _value_str(v: Any) -> str:
    # DESIGN.md "Values": every dimension value is a string after the recipe, YAML booleans/null spelled out.
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    return str(v)


def dimension_order(recipe: Mapping[str, Any]) -> dict[str, list[str]]:
    """{dimension: its values as strings, in recipe order} from the report's copy of the recipe."""
    dims = recipe.get("dimensions") or {}
    out: dict[str, list[str]] = {}
    if isinstance(dims, Mapping):
        for name, spec in dims.items():
            vals = spec.get("values") if isinstance(spec, Mapping) else spec
            out[str(name)] = [_value_str(v) for v in _as_iter(vals)]
    return out
