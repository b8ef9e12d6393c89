"""The recipe's `audit:` block: which dimensions a blind judge re-labels, with which model, and what a
disagreeing row costs (regenerated, flagged or dropped and refilled).

The block's own keys are checked by pydantic; its references to the rest of the recipe (dimension names, the
judge's "unclear" answer, the output columns it adds) are checked against the recipe's already-validated
`dimensions`, `fields` and `strata`, so every error names its key path (`audit.dimensions.1: ...`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, ValidationInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

from hf_synth.recipe.fields import StrictModel, value_str

if TYPE_CHECKING:
    from hf_synth.recipe.model import Recipe

__all__ = [
    "DEFAULT_ITEMS_PER_REQUEST",
    "UNCLEAR",
    "AuditConfig",
    "AuditField",
    "JudgeBackendConfig",
    "audit_dimensions",
    "judged_column",
]

#: The judge's answer when the text does not let a reader tell the value.
UNCLEAR = "unclear"
#: Rows quoted per judge request when the recipe does not say (the local backend always judges one).
DEFAULT_ITEMS_PER_REQUEST = 10
#: The bool column saying whether the judge read every audited dimension as planned.
VERIFIED_COLUMN = "label_verified"


def judged_column(dimension: str) -> str:
    """The output column holding the judge's reading of `dimension`."""
    return f"judged_{dimension}"


class JudgeBackendConfig(StrictModel):
    """The judge's backend: a model of its own, with its own limits (unset keys follow the server)."""

    name: Literal["anthropic", "local"] = "anthropic"
    model: str | None = None
    concurrency: int = Field(16, gt=0)
    max_attempts: int = Field(4, gt=0)
    timeout: float = Field(120.0, gt=0)
    requests_per_minute: float | None = Field(None, gt=0)
    input_tokens_per_minute: float | None = Field(None, gt=0)
    output_tokens_per_minute: float | None = Field(None, gt=0)
    batch: bool = False
    batch_poll_interval: float = Field(30.0, gt=0)


class AuditConfig(StrictModel):
    """`audit:`: a blind re-labelling of every row by a judge model.

    dimensions: the dimensions a reader can tell from the text (default: the stratum dimensions);
    backend: the judge (default: the generation backend itself); min_agreement: validation fails when a
    dimension's judged agreement is below it; on_disagree: `regenerate` (rewrite with the judge's reading fed
    back, within `max_rounds`; what still disagrees is kept with `label_verified = false`), `flag` (keep and
    mark only) or `drop-and-refill` (as regenerate, but rows still disagreeing are dropped and the run stops
    short, exit 3, so a re-run refills their cells); items_per_request: rows quoted per judge request.
    """

    dimensions: list[str] | None = Field(None, min_length=1)
    backend: JudgeBackendConfig | None = None
    min_agreement: float = Field(0.9, ge=0.0, le=1.0)
    on_disagree: Literal["regenerate", "flag", "drop-and-refill"] = "regenerate"
    items_per_request: int = Field(DEFAULT_ITEMS_PER_REQUEST, gt=0, le=50)


def _error(loc: tuple[str | int, ...], message: str, value: Any) -> InitErrorDetails:
    # Braces would be read as template fields by pydantic-core.
    text = message.replace("{", "{{").replace("}", "}}")
    return InitErrorDetails(type=PydanticCustomError("audit", text), loc=loc, input=value)


def _check_against_recipe(config: AuditConfig | None, info: ValidationInfo) -> AuditConfig | None:
    """Cross-check the block with the recipe keys validated before it; errors carry `audit.*` key paths."""
    if config is None:
        return None
    dims = info.data.get("dimensions")
    if not isinstance(dims, dict):
        return config  # the dimensions themselves are wrong: their own error says so
    names = list(dims)
    errors: list[InitErrorDetails] = []
    chosen: list[tuple[tuple[str | int, ...], str]] = []
    if config.dimensions is not None:
        for i, dim in enumerate(config.dimensions):
            if dim not in dims:
                errors.append(
                    _error(("dimensions", i), f"not a dimension of the recipe ({', '.join(names)})", dim)
                )
            elif config.dimensions.index(dim) != i:
                errors.append(_error(("dimensions", i), "listed twice", dim))
            else:
                chosen.append((("dimensions", i), dim))
    else:
        strata = info.data.get("strata")
        by = list(getattr(strata, "by", None) or names)
        chosen = [((), d) for d in by if d in dims]
    fields = info.data.get("fields") or {}
    for loc, dim in chosen:
        spec = dims[dim]
        values = [value_str(v) for v in (spec.keys() if isinstance(spec, dict) else spec)]
        if UNCLEAR in values:
            errors.append(
                _error(
                    loc,
                    f"dimension '{dim}' has a value '{UNCLEAR}', which the judge answers when a text does "
                    "not tell; rename the value or leave the dimension out of audit.dimensions",
                    dim,
                )
            )
        if judged_column(dim) in fields:
            errors.append(
                _error(loc, f"field '{judged_column(dim)}' would clash with the judge's column", dim)
            )
    if VERIFIED_COLUMN in fields:
        errors.append(
            _error((), f"field '{VERIFIED_COLUMN}' would clash with the audit's column", VERIFIED_COLUMN)
        )
    if errors:
        raise ValidationError.from_exception_data("audit", errors)
    return config


#: The type of `Recipe.audit`: the block, cross-checked against the recipe's dimensions and fields.
AuditField = Annotated[AuditConfig | None, AfterValidator(_check_against_recipe)]


def audit_dimensions(recipe: Recipe) -> list[str]:
    """The dimensions the judge re-labels: `audit.dimensions`, else the stratum dimensions (all dimensions
    when the recipe has no `strata`); [] when the recipe has no audit block."""
    if recipe.audit is None:
        return []
    if recipe.audit.dimensions:
        return list(recipe.audit.dimensions)
    return list(recipe.strata.by) if recipe.strata else list(recipe.dimensions)

