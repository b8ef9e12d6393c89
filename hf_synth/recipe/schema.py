"""Recipe fields → JSON schema of one generated item, and validation of items against the field types."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hf_synth.recipe.fields import FieldSpec

_JSON_TYPES = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}


def field_json_schema(spec: FieldSpec) -> dict[str, Any]:
    """JSON schema of one field value (a nullable field admits `null`)."""
    if spec.type == "enum":
        values = list(spec.values or [])
        schema: dict[str, Any] = {"enum": [*values, None] if spec.optional else values}
    else:
        jtype: Any = _JSON_TYPES[spec.type]
        schema = {"type": [jtype, "null"] if spec.optional else jtype}
        if spec.minimum is not None:
            schema["minimum"] = spec.minimum
        if spec.maximum is not None:
            schema["maximum"] = spec.maximum
    if spec.description:
        schema["description"] = spec.description
    return schema


def item_json_schema(fields: dict[str, FieldSpec]) -> dict[str, Any]:
    """JSON schema of one item: an object with every recipe field, all required (nullable ones admit null)."""
    return {
        "type": "object",
        "properties": {name: field_json_schema(spec) for name, spec in fields.items()},
        "required": list(fields),
        "additionalProperties": False,
    }


def _coerce(name: str, spec: FieldSpec, value: Any) -> tuple[Any, str | None]:
    if value is None:
        return None, None if spec.optional else f"{name}: is null but the field is not optional"
    if spec.type == "string":
        return (
            (value, None)
            if isinstance(value, str)
            else (None, f"{name}: expected a string, got {value!r:.60}")
        )
    if spec.type == "boolean":
        return (
            (value, None)
            if isinstance(value, bool)
            else (None, f"{name}: expected true/false, got {value!r:.60}")
        )
    if spec.type == "enum":
        allowed = list(spec.values or [])
        if value in allowed:
            return value, None
        # Models often quote enum numbers; accept the same value spelt as text.
        by_text = {str(v): v for v in allowed}
        if isinstance(value, str) and value in by_text:
            return by_text[value], None
        return None, f"{name}: expected one of {allowed}, got {value!r:.60}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, f"{name}: expected a {spec.type}, got {value!r:.60}"
    if spec.type == "integer":
        if isinstance(value, float):
            if not value.is_integer():
                return None, f"{name}: expected an integer, got {value!r}"
            value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            return None, f"{name}: expected a finite number, got {value!r}"
    if spec.minimum is not None and value < spec.minimum:
        return None, f"{name}: {value} is below the minimum {spec.minimum:g}"
    if spec.maximum is not None and value > spec.maximum:
        return None, f"{name}: {value} is above the maximum {spec.maximum:g}"
    return value, None


def validate_item(
    item: Any, fields: dict[str, FieldSpec], *, check_range: bool = True
) -> tuple[dict[str, Any] | None, list[str]]:
    """Check one raw item against the field types.

    Returns (clean item with exactly the recipe's fields, []) or (None, ["field: what was wrong", ...]).
    `check_range=False` skips minimum/maximum (edge rows may be out of range on purpose).
    """
    if not isinstance(item, dict):
        return None, [f"expected an object with fields {', '.join(fields)}, got {type(item).__name__}"]
    errors: list[str] = []
    clean: dict[str, Any] = {}
    for name, spec in fields.items():
        if name not in item:
            if spec.optional:
                clean[name] = None
                continue
            errors.append(f"{name}: missing")
            continue
        if not check_range and spec.type in ("integer", "number"):
            spec = spec.model_copy(update={"minimum": None, "maximum": None})
        value, err = _coerce(name, spec, item[name])
        if err:
            errors.append(err)
        else:
            clean[name] = value
    # Extra keys are dropped, not failed: they cost a retry and carry nothing the dataset keeps.
    return (None, errors) if errors else (clean, [])
