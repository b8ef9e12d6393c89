"""Recipe fields and value strings: the vocabulary every later stage shares (imports nothing of hf_synth)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

Scalar = str | int | float | bool | None


def value_str(value: Scalar) -> str:
    """The canonical string form of a YAML scalar, used for labels everywhere after the recipe."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class StrictModel(BaseModel):
    """A frozen pydantic model that rejects unknown keys (a typo in a recipe is an error)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(StrictModel):
    """One output field the LLM writes for each row."""

    type: Literal["string", "integer", "number", "boolean", "enum"] = "string"
    description: str = ""
    values: list[Scalar] | None = None
    optional: bool = False
    minimum: float | None = None
    maximum: float | None = None

    @model_validator(mode="after")
    def _check(self) -> FieldSpec:
        if self.type == "enum" and not self.values:
            raise ValueError("an enum field needs a non-empty 'values' list")
        if self.type != "enum" and self.values is not None:
            raise ValueError("'values' is only for enum fields")
        if self.type not in ("integer", "number") and (self.minimum is not None or self.maximum is not None):
            raise ValueError("'minimum'/'maximum' are only for integer and number fields")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError("'minimum' must not exceed 'maximum'")
        return self
