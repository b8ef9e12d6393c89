"""The recipe's reference blocks: the real set (`reference:`, with its labels and leakage threshold), the real
examples drawn into prompts (`examples:`) and the gap-filling loop (`fill:`).

Each block's own keys are checked by pydantic; `reference_problems` checks what they say about the rest of
the recipe (dimension names and values, the templates), naming the key path of each problem
(`reference.labels.intent.values.card_arrival: ...`). Whether a label column exists is a property of the
reference file, checked when the file is read (`hf_synth.planning.seeding`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from jinja2 import TemplateSyntaxError, meta
from pydantic import BeforeValidator, ConfigDict, Field

from hf_synth.recipe.fields import Scalar, StrictModel, value_str
from hf_synth.recipe.templates import template_env

__all__ = [
    "DEFAULT_PER_REQUEST",
    "EXAMPLES_NAME",
    "ExamplesConfig",
    "FillConfig",
    "LabelMap",
    "ReferenceConfig",
    "reference_problems",
    "template_uses_examples",
]

#: The name the prompt templates see the drawn reference examples under.
EXAMPLES_NAME = "examples"
#: Examples per request when the recipe has no `examples` block (gap rows are always seeded).
DEFAULT_PER_REQUEST = 3


class LabelMap(StrictModel):
    """One reference label column → one recipe dimension; `values` maps reference values to dimension values
    (a reference value not listed maps to the dimension value written the same, else it is unmapped)."""

    dimension: str
    values: dict[Scalar, Scalar] = Field(default_factory=dict)

    def mapped(self, reference_value: Any) -> str | None:
        """The dimension value a reference value stands for: its `values` entry, else the value itself as
        text (the caller checks that it is one of the dimension's values); None for a missing label."""
        if reference_value is None:
            return None
        text = value_str(reference_value)
        for k, v in self.values.items():
            if value_str(k) == text:
                return value_str(v)
        return text


def _short_label(value: Any) -> Any:
    """`intent: topic` is short for `intent: {dimension: topic}`."""
    if isinstance(value, dict):
        return {k: ({"dimension": v} if isinstance(v, str) else v) for k, v in value.items()}
    return value


class ReferenceConfig(StrictModel):
    """`reference:`: a real set to measure coverage against, draw examples from and fill gaps toward.

    labels: reference column → recipe dimension (`{intent: topic}`, or `{intent: {dimension: topic, values:
    {card_arrival: card not arrived}}}`); leakage_threshold: a generated row whose cosine to a reference text
    reaches it is a near-copy and is regenerated (rows whose prompt quoted reference texts).
    """

    path: str
    text_column: str = "text"
    max_rows: int | None = Field(None, gt=0)
    labels: Annotated[dict[str, LabelMap], BeforeValidator(_short_label)] = Field(default_factory=dict)
    leakage_threshold: float = Field(0.95, gt=0.0, le=1.0)
    # Draw the coverage map (images/coverage_map.png in the card, images/coverage_map.html) when quality runs.
    map: bool = True


class ExamplesConfig(StrictModel):
    """`examples:`: real reference texts shown in every request (`per_request` of them), drawn with the seed.

    from: `same_stratum` (reference rows whose mapped labels equal the row's values; needs
    `reference.labels`), `same_region` (as same_stratum when labels exist, but one request's examples are
    neighbours of one another: a seeded anchor and its nearest texts), `any` (the whole reference).
    """

    per_request: int = Field(DEFAULT_PER_REQUEST, gt=0, le=20)
    from_: Literal["same_stratum", "same_region", "any"] = Field("same_stratum", alias="from")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True)


class FillConfig(StrictModel):
    """`fill:`: after the plan's rows, add rows where the reference has mass the dataset lacks, in rounds.

    target: stop when the coverage headline reaches it (0-1); max_rows: at most this many gap rows in all
    (default: as many as the plan has); rounds: at most this many measure-and-fill rounds; per_round: gap
    rows per round (default: what the under-filled regions need to reach their share, within max_rows);
    new_values: label a gap row with a reference label the recipe's dimension lacks (the value is added to
    the dimension's ClassLabel after the recipe's own); false leaves such regions unfilled.
    """

    target: float = Field(0.9, gt=0.0, le=1.0)
    max_rows: int | None = Field(None, gt=0)
    rounds: int = Field(3, gt=0, le=50)
    per_round: int | None = Field(None, gt=0)
    new_values: bool = True


def _dimension_problems(ref: ReferenceConfig, values: dict[str, list[str]]) -> list[str]:
    problems: list[str] = []
    seen: dict[str, str] = {}
    for column, label in ref.labels.items():
        here = f"reference.labels.{column}"
        if label.dimension not in values:
            problems.append(
                f"{here}.dimension: '{label.dimension}' is not a dimension of the recipe "
                f"({', '.join(values)})"
            )
            continue
        if label.dimension in seen:
            problems.append(
                f"{here}.dimension: dimension '{label.dimension}' is already labelled by column "
                f"'{seen[label.dimension]}'"
            )
        seen[label.dimension] = column
        known = values[label.dimension]
        for ref_value, dim_value in label.values.items():
            if value_str(dim_value) not in known:
                problems.append(
                    f"{here}.values.{value_str(ref_value)}: '{value_str(dim_value)}' is not a value of "
                    f"{label.dimension}; values are: {', '.join(known)}"
                )
    return problems


def template_uses_examples(template: str | None) -> bool:
    """True when a Jinja2 template names `examples` (then it places them itself; a syntax error is the
    prompt check's to report)."""
    if not template:
        return False
    try:
        return EXAMPLES_NAME in meta.find_undeclared_variables(template_env().parse(template))
    except TemplateSyntaxError:
        return False


def reference_problems(
    reference: ReferenceConfig | None,
    examples: ExamplesConfig | None,
    fill: FillConfig | None,
    values: dict[str, list[str]],
    system: str | None,
) -> list[str]:
    """ "key.path: message" for each way the three blocks disagree with the rest of the recipe (`values`:
    dimension → its values as text)."""
    problems: list[str] = []
    if EXAMPLES_NAME in values:
        problems.append(
            f"dimensions.{EXAMPLES_NAME}: the name is reserved for the reference examples the prompt "
            "templates see; rename the dimension"
        )
    if reference is not None:
        problems += _dimension_problems(reference, values)
    for key, block in (("examples", examples), ("fill", fill)):
        if block is not None and reference is None:
            problems.append(f"{key}: needs a `reference:` block to draw real texts from")
    same_stratum = examples is not None and examples.from_ == "same_stratum"
    if same_stratum and reference is not None and not reference.labels:
        problems.append(
            "examples.from: same_stratum needs reference.labels (which reference column holds which "
            "dimension); use `from: any` for examples of the whole reference"
        )
    if template_uses_examples(system):
        problems.append(
            "system: names `examples`, which change from request to request; name them in `prompt` so "
            "the system prompt stays one cacheable prefix"
        )
    return problems
