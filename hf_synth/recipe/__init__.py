"""The recipe stage: YAML → a validated `Recipe` (fields, dimensions, strata, edge cases, prompt).

`fields` is the leaf every stage shares (FieldSpec, value strings); `model` the pydantic recipe and its
semantic checks; `templates` the sandboxed Jinja2 environment; `schema` item JSON schema and validation.
"""

from hf_synth.errors import RecipeError
from hf_synth.recipe.fields import FieldSpec, Scalar, value_str
from hf_synth.recipe.model import Recipe, load_recipe, parse_recipe, resolve_data_path

__all__ = [
    "FieldSpec",
    "Recipe",
    "RecipeError",
    "Scalar",
    "load_recipe",
    "parse_recipe",
    "resolve_data_path",
    "value_str",
]
