"""Recipe YAML → a validated `Recipe`; every error names its key path and what was expected."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import TemplateError
from pydantic import Field, ValidationError, field_validator

from hf_synth.edge_cases import EdgeKind, build_kinds
from hf_synth.errors import EdgeCaseConfigError, RecipeError
from hf_synth.recipe.audit import AuditField
from hf_synth.recipe.fields import FieldSpec, Scalar, StrictModel, value_str
from hf_synth.recipe.templates import template_env

DEFAULT_EDGE_SHARE = 0.07
#: Split shares are decimals written by hand (0.7 + 0.15 + 0.15 is 1.0000000000000002 in floats).
SPLIT_SUM_TOLERANCE = 1e-9
#: At most this many left-out strata are named one by one.
MAX_MISSING_NAMED = 10


class StrataSpec(StrictModel):
    by: list[str] = Field(min_length=1)
    counts: dict[Any, Any] | None = None


class BackendConfig(StrictModel):
    name: Literal["anthropic", "local"] = "anthropic"
    model: str | None = None
    max_tokens: int = Field(512, gt=0)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    concurrency: int = Field(16, gt=0)
    items_per_request: int = Field(1, gt=0, le=50)
    max_attempts: int = Field(4, gt=0)
    timeout: float = Field(120.0, gt=0)
    requests_per_minute: float | None = Field(None, gt=0)
    input_tokens_per_minute: float | None = Field(None, gt=0)
    output_tokens_per_minute: float | None = Field(None, gt=0)
    prompt_caching: bool = True
    batch: bool = False
    batch_size: int | None = Field(None, gt=0)
    batch_poll_interval: float = Field(30.0, gt=0)


class EdgeCasesConfig(StrictModel):
    share: float = Field(DEFAULT_EDGE_SHARE, ge=0.0, le=1.0)
    kinds: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("kinds", mode="before")
    @classmethod
    def _none_settings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value


class ReferenceConfig(StrictModel):
    path: str
    text_column: str = "text"
    max_rows: int | None = Field(None, gt=0)
    # Draw the coverage map (images/coverage_map.png in the card, images/coverage_map.html) when quality runs.
    map: bool = True


class DedupConfig(StrictModel):
    exact: bool = True
    near_threshold: float | None = Field(0.95, gt=0.0, le=1.0)
    embedder: str | None = None


class Recipe(StrictModel):
    """A validated recipe. Dimension values are kept as strings (see `value_str`)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    license: str = "cc-by-4.0"
    language: str | list[str] = "en"
    pretty_name: str | None = None
    task_categories: list[str] | None = None
    version: str | None = None
    repo_id: str | None = None
    seed: int = Field(0, ge=0)
    fields: dict[str, FieldSpec] = Field(min_length=1)
    text_field: str | None = None
    dimensions: dict[str, list[Scalar] | dict[Scalar, float]] = Field(min_length=1)
    strata: StrataSpec | None = None
    size: int | None = Field(None, gt=0)
    splits: dict[str, float] = Field(default_factory=lambda: {"train": 1.0})
    system: str | None = None
    prompt: str = Field(min_length=1)
    backend: BackendConfig = Field(default_factory=BackendConfig)
    edge_cases: EdgeCasesConfig | None = None
    reference: ReferenceConfig | None = None
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    max_rounds: int = Field(6, gt=0)
    audit: AuditField = None

    # --- derived views -------------------------------------------------------------------------

    @property
    def main_text_field(self) -> str:
        """The field that coverage and deduplication embed."""
        if self.text_field:
            return self.text_field
        return next(n for n, f in self.fields.items() if f.type == "string")

    def dimension_values(self) -> dict[str, list[str]]:
        """Dimension name → its values as strings, in recipe order."""
        return {name: [value_str(v) for v in _values(spec)] for name, spec in self.dimensions.items()}

    def dimension_weights(self) -> dict[str, list[float]]:
        """Dimension name → weights aligned with `dimension_values` (not normalised)."""
        out: dict[str, list[float]] = {}
        for name, spec in self.dimensions.items():
            out[name] = [float(w) for w in spec.values()] if isinstance(spec, dict) else [1.0] * len(spec)
        return out

    def edge_kind_names(self) -> list[str]:
        return list(self.edge_cases.kinds) if self.edge_cases else []

    def edge_kinds(self) -> list[EdgeKind]:
        """The recipe's edge-case kinds as `EdgeKind` objects, in recipe order."""
        if not self.edge_cases:
            return []
        return build_kinds(
            _where_as_text(self.edge_cases.kinds),
            dict(self.fields),
            self.main_text_field,
            self.dimension_values(),
        )

    def fingerprint(self) -> str:
        """sha256 hex of the canonical JSON of the recipe: changes whenever any setting changes."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()


def _where_as_text(kinds: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each kind's settings with the scalars of its `where` written as the text dimension values use
    (`rating: 5` → "5"); anything else is left for the edge-case checks to report."""

    def text(v: Any) -> Any:
        return value_str(v) if v is None or isinstance(v, (str, int, float, bool)) else v

    out = {}
    for name, raw in kinds.items():
        where = raw.get("where") if isinstance(raw, dict) else None
        if isinstance(where, dict):
            conv = {d: [text(x) for x in v] if isinstance(v, list) else text(v) for d, v in where.items()}
            raw = {**raw, "where": conv}
        out[name] = raw
    return out


def _values(spec: list[Scalar] | dict[Scalar, float]) -> list[Scalar]:
    return list(spec.keys()) if isinstance(spec, dict) else list(spec)


def cell_counts(strata: StrataSpec, values: dict[str, list[str]]) -> dict[tuple[str, ...], int]:
    """Flatten nested `strata.counts` into {(v1, v2, ...): n}; the recipe checker guarantees the shape."""
    out: dict[tuple[str, ...], int] = {}

    def walk(node: Any, depth: int, prefix: tuple[str, ...]) -> None:
        if depth == len(strata.by):
            out[prefix] = int(node)
            return
        if not isinstance(node, dict):  # a 0 above the last level: every stratum below it is empty
            return
        for key, child in node.items():
            walk(child, depth + 1, (*prefix, value_str(key)))

    walk(strata.counts, 0, ())
    return out


# --- semantic checks (each returns "key.path: message" strings) -----------------------------------


def _check_semantics(recipe: Recipe) -> list[str]:
    problems: list[str] = []
    values = recipe.dimension_values()
    for name, spec in recipe.dimensions.items():
        vals = values[name]
        if not vals:
            problems.append(f"dimensions.{name}: expected at least one value")
        if len(set(vals)) != len(vals):
            problems.append(f"dimensions.{name}: values must be distinct as text, got {vals}")
        if isinstance(spec, dict):
            for v, w in spec.items():
                if not w > 0:
                    problems.append(
                        f"dimensions.{name}.{value_str(v)}: expected a positive weight, got {w:g}"
                    )
    if recipe.text_field is not None:
        field = recipe.fields.get(recipe.text_field)
        if field is None:
            problems.append(
                f"text_field: '{recipe.text_field}' is not one of the fields: {', '.join(recipe.fields)}"
            )
        elif field.type != "string":
            problems.append(f"text_field: '{recipe.text_field}' must be a string field, not {field.type}")
    elif not any(f.type == "string" for f in recipe.fields.values()):
        problems.append("fields: expected at least one string field (the text that is embedded)")
    for split, share in recipe.splits.items():
        if not share > 0:
            problems.append(f"splits.{split}: expected a positive share, got {share}")
    if not recipe.splits:
        problems.append("splits: expected at least one split")
    elif all(share > 0 for share in recipe.splits.values()):
        total = sum(recipe.splits.values())
        if abs(total - 1.0) > SPLIT_SUM_TOLERANCE:
            problems.append(f"splits: shares sum to {total:.10g}, expected 1")
    problems += _check_strata(recipe, values)
    problems += _check_prompt(recipe, values)
    if recipe.edge_cases:
        problems += _check_edge_cases(recipe, values)
    return problems


def _check_strata(recipe: Recipe, values: dict[str, list[str]]) -> list[str]:
    strata = recipe.strata
    if strata is None:
        return [] if recipe.size else ["size: expected a positive total when no strata.counts are given"]
    problems = []
    for i, dim in enumerate(strata.by):
        if dim not in values:
            problems.append(f"strata.by.{i}: '{dim}' is not a dimension ({', '.join(values)})")
    if len(set(strata.by)) != len(strata.by):
        problems.append("strata.by: dimensions must be distinct")
    if problems:
        return problems
    if strata.counts is None:
        return [] if recipe.size else ["size: expected a positive total when strata.counts is not given"]

    def walk(node: Any, depth: int, path: str) -> None:
        dim = strata.by[depth]
        if depth > 0 and node == 0 and isinstance(node, int) and not isinstance(node, bool):
            return  # a 0 above the last level empties every stratum below it
        if not isinstance(node, dict):
            zero = " (or 0 to leave every stratum below it empty)" if depth > 0 else ""
            problems.append(f"{path}: expected a mapping of {dim} values{zero}, got {type(node).__name__}")
            return
        for key, child in node.items():
            key_s = value_str(key)
            here = f"{path}.{key_s}"
            if key_s not in values[dim]:
                problems.append(f"{here}: {dim} has no value {key_s}")
                continue
            if depth + 1 == len(strata.by):
                if isinstance(child, bool) or not isinstance(child, int) or child < 0:
                    problems.append(f"{here}: expected a non-negative integer count, got {child!r}")
            else:
                walk(child, depth + 1, here)

    walk(strata.counts, 0, "strata.counts")
    if not problems:
        problems += _missing_strata(strata, values)
    if not problems and sum(cell_counts(strata, values).values()) == 0:
        problems.append("strata.counts: expected at least one positive count")
    if not problems and recipe.size is not None:
        total = sum(cell_counts(strata, values).values())
        if total != recipe.size:
            problems.append(
                f"size: {recipe.size} disagrees with the sum of strata.counts ({total}); drop one"
            )
    return problems


def _missing_strata(strata: StrataSpec, values: dict[str, list[str]]) -> list[str]:
    """One problem per stratum (or whole branch) that `strata.counts` leaves out: a left-out stratum would
    silently get no rows, so it must be written, with 0 when it should stay empty."""
    missing: list[str] = []

    def walk(node: Any, depth: int, path: str) -> None:
        if depth == len(strata.by) or not isinstance(node, dict):
            return
        present = {value_str(k): child for k, child in node.items()}
        for v in values[strata.by[depth]]:
            if v not in present:
                missing.append(f"{path}.{v}")
            else:
                walk(present[v], depth + 1, f"{path}.{v}")

    walk(strata.counts, 0, "strata.counts")
    hint = "missing; every stratum needs a count (write 0 to leave it empty)"
    problems = [f"{m}: {hint}" for m in missing[:MAX_MISSING_NAMED]]
    if len(missing) > MAX_MISSING_NAMED:
        problems.append(
            f"strata.counts: {len(missing) - MAX_MISSING_NAMED} more strata or branches are missing"
        )
    return problems


def _check_prompt(recipe: Recipe, values: dict[str, list[str]]) -> list[str]:
    env = template_env()
    sample = {name: vals[0] for name, vals in values.items() if vals}
    problems = []
    for key in ("prompt", "system"):
        text = getattr(recipe, key)
        if text is None:
            continue
        try:
            env.from_string(text).render(**sample, n_items=1)
        except TemplateError as exc:
            problems.append(
                f"{key}: template error: {exc}; the template sees the dimensions "
                f"({', '.join(values)}) and n_items"
            )
    return problems


def _check_edge_cases(recipe: Recipe, values: dict[str, list[str]]) -> list[str]:
    try:
        recipe.edge_kinds()
    except EdgeCaseConfigError as exc:
        return [str(exc)]
    return []


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _pydantic_problems(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        else:
            msg = f"{msg} (got {err.get('input')!r:.80})" if "input" in err else msg
        problems.append(f"{_loc(loc)}: {msg}")
    # Union types report one error per member; the same path twice reads as noise.
    return list(dict.fromkeys(problems))


def parse_recipe(data: Any, source: str | None = None) -> Recipe:
    """Validate already-parsed YAML data; raises `RecipeError` listing every problem with its key path."""
    if not isinstance(data, dict):
        raise RecipeError(
            [f"(top level): expected a mapping of recipe keys, got {type(data).__name__}"], source
        )
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(_pydantic_problems(exc), source) from None
    problems = _check_semantics(recipe)
    if problems:
        raise RecipeError(problems, source)
    return recipe


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RecipeError([f"(file): cannot read {path}: {exc.strerror}"], str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # PyYAML names the stream "<unicode string>"; the reader wants the file and the line.
        message = str(exc).replace('"<unicode string>"', str(path))
        raise RecipeError([f"(yaml): {message}"], str(path)) from None
    recipe = parse_recipe(data, str(path))
    ref = recipe.reference
    if ref is not None and "://" not in ref.path and not Path(ref.path).is_absolute():
        # A relative reference path means "next to the recipe", wherever the command runs from.
        resolved = str((path.parent / ref.path).resolve())
        recipe = recipe.model_copy(update={"reference": ref.model_copy(update={"path": resolved})})
    return recipe


PACKAGE_DATA = Path(__file__).resolve().parents[1] / "data"


def resolve_data_path(path: str) -> Path:
    """`hf_synth://x` → the file x shipped in the package's data folder; other paths unchanged."""
    if path.startswith("hf_synth://"):
        return PACKAGE_DATA / path.removeprefix("hf_synth://")
    return Path(path)
