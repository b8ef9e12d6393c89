"""Missing-data kinds: ``empty_field`` (""), ``whitespace_only`` and ``null_optional`` (None)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from hf_synth.edge_cases.base import EdgeContext, EdgeKind, Mode, pick
from hf_synth.edge_cases.checks import all_of, check_empty, check_null, check_whitespace
from hf_synth.edge_cases.settings import field_attr
from hf_synth.errors import EdgeCaseConfigError

if TYPE_CHECKING:
    from hf_synth.edge_cases.base import Rng
    from hf_synth.edge_cases.settings import SettingsEnv

__all__ = ["EmptyField", "NullOptional", "WhitespaceOnly"]

# ASCII and Unicode whitespace (NBSP, ideographic space, em space) alone and in runs.
_WHITESPACE_VALUES = (" ", "   ", "\t", "\n", "\n\n", " \t \n ", "\u00a0", "\u3000", "\u2003 \u2003")


class EmptyField(EdgeKind):
    """Missing data: a string field is the empty string."""

    description: ClassVar[str] = "A field that is the empty string."

    mode: ClassVar[Mode] = "transformed"
    auditable: ClassVar[bool] = False
    allowed: ClassVar[tuple[str, ...]] = ("field",)

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: SettingsEnv) -> dict[str, Any]:
        return {"field": env.field(raw, types=("string",))}

    def transform(self, item: dict[str, Any], context: EdgeContext, rng: Rng) -> dict[str, Any]:
        return {**item, self.settings["field"]: ""}

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        return check_empty(self.settings["field"])(item, context)


class WhitespaceOnly(EmptyField):
    """Missing data: a string field holds only whitespace."""

    description: ClassVar[str] = "A field that is only whitespace."

    def transform(self, item: dict[str, Any], context: EdgeContext, rng: Rng) -> dict[str, Any]:
        return {**item, self.settings["field"]: pick(rng, _WHITESPACE_VALUES)}

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        return check_whitespace(self.settings["field"])(item, context)


class NullOptional(EdgeKind):
    """Missing data: optional field(s) are null."""

    description: ClassVar[str] = "Optional fields set to null."

    mode: ClassVar[Mode] = "transformed"
    allowed: ClassVar[tuple[str, ...]] = ("field",)

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: SettingsEnv) -> dict[str, Any]:
        optional = [n for n, f in env.fields.items() if field_attr(f, "optional", False)]
        if "field" not in raw:
            if not optional:
                raise EdgeCaseConfigError(
                    env.key("field"),
                    "null_optional needs an optional field; the recipe has none "
                    "(mark one with 'optional: true')",
                )
            return {"fields": optional}  # no field named: null every optional field
        name = env.field(raw, types=None)
        if not field_attr(env.fields[name], "optional", False):
            hint = (
                f"optional fields: {', '.join(optional)}" if optional else "the recipe has no optional field"
            )
            raise EdgeCaseConfigError(
                env.key("field"), f"null_optional needs an optional field; '{name}' is required ({hint})"
            )
        return {"fields": [name]}

    def transform(self, item: dict[str, Any], context: EdgeContext, rng: Rng) -> dict[str, Any]:
        return {**item, **dict.fromkeys(self.settings["fields"])}

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        return all_of(*(check_null(name) for name in self.settings["fields"]))(item, context)
