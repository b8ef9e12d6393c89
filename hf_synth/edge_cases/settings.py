"""What a kind's `resolve` sees: the recipe's fields and dimensions, the key path, typed setting readers.

Every reader raises `EdgeCaseConfigError` whose path names the offending key, e.g.
``edge_cases.kinds.very_long.min_words``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hf_synth.errors import EdgeCaseConfigError

__all__ = ["SettingsEnv", "field_attr", "field_type"]


# FieldSpec is a pydantic model; plain mappings work too, so this package needs no runtime import of it.
def field_attr(spec: Any, name: str, default: Any = None) -> Any:
    """Attribute ``name`` of a field spec (a `FieldSpec` or a mapping), ``default`` when absent."""
    if isinstance(spec, Mapping):
        return spec.get(name, default)
    return getattr(spec, name, default)


def field_type(spec: Any) -> str:
    """The field's type name ("string", "integer", "number", "enum", "boolean"); "string" when unset."""
    t = field_attr(spec, "type", "string")
    return getattr(t, "value", t)


@dataclass
class SettingsEnv:
    """The recipe's fields (name → spec), text field, dimensions (name → values), this kind's key path."""

    fields: dict[str, Any]
    text_field: str
    dimensions: dict[str, list[str]]
    path: str

    def key(self, name: str) -> str:
        """The key path of setting ``name`` of this kind."""
        return f"{self.path}.{name}"

    def field(
        self,
        raw: dict[str, Any],
        types: tuple[str, ...] | None,
        default_pick: Callable[[Any], bool] | Literal[False] | None = False,
        what: str = "",
    ) -> str:
        """The ``field`` setting, checked against the recipe fields and the allowed types.

        Without ``field``: the text field, or (with ``default_pick``) the only field it accepts.
        """
        path = self.key("field")
        name = raw.get("field")
        if name is None:
            if default_pick is False:
                name = self.text_field
            else:
                pick = default_pick or (lambda spec: types is None or field_type(spec) in types)
                found = [n for n, spec in self.fields.items() if pick(spec)]
                if len(found) != 1:
                    cands = ", ".join(found) if found else "none in this recipe"
                    raise EdgeCaseConfigError(
                        path, f"name {what or 'a field'} with 'field' (candidates: {cands})"
                    )
                name = found[0]
        if not isinstance(name, str) or name not in self.fields:
            raise EdgeCaseConfigError(
                path, f"field {name!r} is not one of the recipe fields: {', '.join(self.fields)}"
            )
        ftype = field_type(self.fields[name])
        if types is not None and ftype not in types:
            raise EdgeCaseConfigError(path, f"field '{name}' is {ftype}; expected {' or '.join(types)}")
        return name

    def int_setting(
        self, raw: dict[str, Any], key: str, default: int, minimum: int = 0, maximum: int | None = None
    ) -> int:
        """Integer setting ``key`` (``default`` if absent) in ``minimum``..``maximum``; bools refused."""
        value = raw.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < minimum
            or (maximum is not None and value > maximum)
        ):
            limit = f" and <= {maximum}" if maximum is not None else ""
            raise EdgeCaseConfigError(
                self.key(key), f"expected an integer >= {minimum}{limit}, got {value!r}"
            )
        return value

    def fraction(self, raw: dict[str, Any], key: str, default: float) -> float:
        """Number setting ``key`` (``default`` when absent) in [0, 1], as a float."""
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise EdgeCaseConfigError(self.key(key), f"expected a number between 0 and 1, got {value!r}")
        return float(value)
