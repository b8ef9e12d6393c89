"""Value kinds: ``min_value`` / ``max_value`` (a numeric field at its bound) and ``invalid_value``."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

from hf_synth.edge_cases.base import EdgeContext, EdgeKind, Mode, pick
from hf_synth.edge_cases.checks import same_value
from hf_synth.edge_cases.settings import field_attr, field_type
from hf_synth.errors import EdgeCaseConfigError

if TYPE_CHECKING:
    from hf_synth.edge_cases.base import Rng
    from hf_synth.edge_cases.settings import SettingsEnv

__all__ = ["InvalidValue", "MaxValue", "MinValue"]


class _NumericBound(EdgeKind):
    """min_value / max_value: a numeric field set to its minimum / maximum."""

    mode: ClassVar[Mode] = "both"
    allowed: ClassVar[tuple[str, ...]] = ("field",)
    bound: ClassVar[str] = "minimum"

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: SettingsEnv) -> dict[str, Any]:
        def has_bound(spec: Any) -> bool:
            return field_type(spec) in ("integer", "number") and field_attr(spec, cls.bound) is not None

        name = env.field(
            raw,
            types=("integer", "number"),
            default_pick=has_bound,
            what=f"an integer/number field with a {cls.bound}",
        )
        spec = env.fields[name]
        bound = field_attr(spec, cls.bound)
        if bound is None:
            raise EdgeCaseConfigError(env.key("field"), f"field '{name}' has no {cls.bound}")
        if field_type(spec) == "integer":
            # An integer field's bound may be fractional; the extreme allowed integer is inside it.
            bound = math.ceil(bound) if cls.bound == "minimum" else math.floor(bound)
        else:
            bound = float(bound)
        return {"field": name, "value": bound}

    def instruction(self, context: EdgeContext) -> str | None:
        s = self.settings
        return (
            f"Edge case (boundary value): `{s['field']}` is at its {self.bound}, {s['value']}. "
            f"Write the other fields so they are consistent with {s['field']} = {s['value']}."
        )

    def transform(self, item: dict[str, Any], context: EdgeContext, rng: Rng) -> dict[str, Any]:
        out = dict(item)
        out[self.settings["field"]] = self.settings["value"]
        return out

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        s = self.settings
        value = item.get(s["field"])
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != s["value"]:
            return f"{s['field']} is {value!r}, expected its {self.bound} {s['value']}"
        return None


class MinValue(_NumericBound):
    """Boundary: a numeric field at its minimum."""

    description: ClassVar[str] = "A numeric field at its minimum."

    bound: ClassVar[str] = "minimum"


class MaxValue(_NumericBound):
    """Boundary: a numeric field at its maximum."""

    description: ClassVar[str] = "A numeric field at its maximum."

    bound: ClassVar[str] = "maximum"


def _inside(value: Any, lo: Any, hi: Any) -> bool:
    """True when ``value`` lies inside a range with at least one bound (an unbounded field has no inside)."""
    return (lo is not None or hi is not None) and (lo is None or value >= lo) and (hi is None or value <= hi)


class InvalidValue(EdgeKind):
    """Invalid but parseable: the field holds a value the business rules forbid."""

    description: ClassVar[str] = "A field holding an invalid or out-of-range value."

    mode: ClassVar[Mode] = "both"
    allowed: ClassVar[tuple[str, ...]] = ("field", "values")

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: SettingsEnv) -> dict[str, Any]:
        name = env.field(
            raw,
            types=("integer", "number", "enum", "string"),
            default_pick=lambda spec: field_type(spec) in ("integer", "number"),
            what="an integer, number, enum or string field",
        )
        spec = env.fields[name]
        ftype = field_type(spec)
        lo, hi = field_attr(spec, "minimum"), field_attr(spec, "maximum")
        values = raw.get("values")
        if values is None:
            values = cls._default_values(name, spec, env)
        else:
            values = cls._given_values(values, name, spec, env)
        return {"field": name, "values": values, "type": ftype, "minimum": lo, "maximum": hi}

    @staticmethod
    def _default_values(name: str, spec: Any, env: SettingsEnv) -> list[Any]:
        ftype = field_type(spec)
        lo, hi = field_attr(spec, "minimum"), field_attr(spec, "maximum")
        if ftype == "enum":
            choices = {str(v) for v in field_attr(spec, "values") or ()}
            return [next(v for v in ("unknown", "n/a", "other", "???") if v not in choices)]
        if ftype == "string":
            raise EdgeCaseConfigError(
                env.key("values"), f"invalid_value on string field '{name}' needs a 'values' list of strings"
            )
        is_int = ftype == "integer"
        if lo is None and hi is None:
            # The article's classic business-rule violations: a quantity of 0, a negative amount.
            return [0, -1] if is_int else [0.0, -1.0]
        out: list[Any] = []
        if lo is not None:
            below = math.ceil(lo) - 1 if is_int else float(lo) - 1.0
            out += [v for v in ((0, -1) if is_int else (0.0, -1.0)) if v < lo]
            out.append(below)
        if hi is not None:
            out.append(math.floor(hi) + 1 if is_int else float(hi) + 1.0)
        return list(dict.fromkeys(out))

    @staticmethod
    def _given_values(values: Any, name: str, spec: Any, env: SettingsEnv) -> list[Any]:
        path = env.key("values")
        if not isinstance(values, list) or not values:
            raise EdgeCaseConfigError(path, f"expected a non-empty list of values, got {values!r}")
        ftype = field_type(spec)
        lo, hi = field_attr(spec, "minimum"), field_attr(spec, "maximum")
        for i, v in enumerate(values):
            if ftype == "integer" and (isinstance(v, bool) or not isinstance(v, int)):
                raise EdgeCaseConfigError(f"{path}[{i}]", f"field '{name}' is an integer; got {v!r}")
            if ftype == "number" and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise EdgeCaseConfigError(f"{path}[{i}]", f"field '{name}' is a number; got {v!r}")
            if ftype in ("string", "enum") and not isinstance(v, str):
                raise EdgeCaseConfigError(f"{path}[{i}]", f"field '{name}' holds strings; got {v!r}")
            if ftype in ("integer", "number") and _inside(v, lo, hi):
                raise EdgeCaseConfigError(
                    f"{path}[{i}]", f"{v!r} lies inside [{lo}, {hi}]; an invalid value must lie outside"
                )
            if ftype == "enum" and v in {str(c) for c in field_attr(spec, "values") or ()}:
                raise EdgeCaseConfigError(f"{path}[{i}]", f"{v!r} is a valid choice of enum field '{name}'")
        return list(values)

    def instruction(self, context: EdgeContext) -> str | None:
        s = self.settings
        shown = ", ".join(repr(v) for v in s["values"])
        return (
            f"Edge case (invalid but parseable value): `{s['field']}` will be set to an invalid value "
            f"(one of {shown}). Write the other fields as if the request really had that value."
        )

    def transform(self, item: dict[str, Any], context: EdgeContext, rng: Rng) -> dict[str, Any]:
        out = dict(item)
        name = self.settings["field"]
        if not self._is_invalid(out.get(name)):
            out[name] = pick(rng, self.settings["values"])
        return out

    def _is_invalid(self, value: Any) -> bool:
        return any(same_value(value, v) for v in self.settings["values"])

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        s = self.settings
        value = item.get(s["field"])
        if not self._is_invalid(value):
            return f"{s['field']} is {value!r}, expected one of the invalid values {s['values']!r}"
        if s["type"] in ("integer", "number") and _inside(value, s["minimum"], s["maximum"]):
            return f"{s['field']} is {value!r}, inside [{s['minimum']}, {s['maximum']}]"
        return None
