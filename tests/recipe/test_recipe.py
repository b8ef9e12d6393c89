"""Recipe errors name the key path and what was expected; valid recipes keep every setting."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from hf_synth.planning.spec import plan_spec
from hf_synth.recipe import RecipeError, load_recipe, parse_recipe, value_str

ROOT = Path(__file__).resolve().parents[2]

BASE = {
    "name": "reviews",
    "seed": 3,
    "fields": {"title": {"type": "string"}, "body": {"type": "string", "description": "the review"}},
    "text_field": "body",
    "dimensions": {"product": ["laptop", "monitor"], "rating": [1, 2, 3], "tone": {"angry": 2, "calm": 1}},
    "strata": {
        "by": ["product", "rating"],
        "counts": {"laptop": {1: 2, 2: 3, 3: 1}, "monitor": {1: 1, 2: 1, 3: 1}},
    },
    "splits": {"train": 0.8, "test": 0.2},
    "prompt": "Write a {{ rating }}-star review of a {{ product }} in a {{ tone }} tone.",
}


def errors_of(data: dict) -> list[str]:
    with pytest.raises(RecipeError) as info:
        parse_recipe(data)
    return info.value.problems


def with_(path: str, value: object) -> dict:
    data = copy.deepcopy(BASE)
    node = data
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k) if isinstance(node, list) else k]
    node[keys[-1]] = value
    return data


def test_valid_recipe_keeps_values_as_strings() -> None:
    recipe = parse_recipe(BASE)
    assert recipe.dimension_values() == {
        "product": ["laptop", "monitor"],
        "rating": ["1", "2", "3"],
        "tone": ["angry", "calm"],
    }
    assert recipe.dimension_weights()["tone"] == [2.0, 1.0]
    spec = plan_spec(recipe)
    assert spec.cell_counts[("laptop", "2")] == 3
    assert sum(spec.cell_counts.values()) == 9


def test_unknown_stratum_value_names_the_path() -> None:
    data = with_("strata.counts.laptop", {1: 2, 2: 3, 6: 1})
    assert "strata.counts.laptop.6: rating has no value 6" in errors_of(data)


def test_unknown_top_level_key() -> None:
    data = with_("sizee", 10)
    assert "sizee: unknown key" in errors_of(data)


def test_wrong_type_names_path_and_expectation() -> None:
    problems = errors_of(with_("fields.body.type", "text"))
    assert any(p.startswith("fields.body.type:") and "string" in p for p in problems)
    problems = errors_of(with_("seed", "abc"))
    assert any(p.startswith("seed:") and "integer" in p for p in problems)


def test_text_field_must_exist() -> None:
    problems = errors_of(with_("text_field", "bodyy"))
    assert problems == ["text_field: 'bodyy' is not one of the fields: title, body"]


def test_prompt_with_undefined_variable() -> None:
    problems = errors_of(with_("prompt", "Review of {{ prodcut }}"))
    assert (
        len(problems) == 1 and problems[0].startswith("prompt: template error") and "prodcut" in problems[0]
    )


def test_negative_count_and_weight() -> None:
    assert any(
        p.startswith("strata.counts.laptop.1: expected a non-negative integer")
        for p in errors_of(with_("strata.counts.laptop", {1: -2, 2: 3, 3: 1}))
    )
    assert "dimensions.tone.calm: expected a positive weight, got 0" in errors_of(
        with_("dimensions.tone", {"angry": 2, "calm": 0})
    )


def test_size_required_without_counts() -> None:
    data = with_("strata", {"by": ["product"]})
    assert "size: expected a positive total when strata.counts is not given" in errors_of(data)


def test_strata_by_unknown_dimension() -> None:
    assert "strata.by.1: 'stars' is not a dimension (product, rating, tone)" in errors_of(
        with_("strata", {"by": ["product", "stars"], "counts": {}})
    )


def test_enum_field_needs_values() -> None:
    problems = errors_of(with_("fields.title", {"type": "enum"}))
    assert any(p.startswith("fields.title:") and "values" in p for p in problems)


def test_non_ascii_and_boolean_values() -> None:
    data = with_("dimensions.tone", ["ärgerlich", "平静", True])
    recipe = parse_recipe(data)
    assert recipe.dimension_values()["tone"] == ["ärgerlich", "平静", "true"]
    assert value_str(2.0) == "2" and value_str(None) == "null"


def test_yaml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "r.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(RecipeError, match=r"\(yaml\)"):
        load_recipe(bad)
    with pytest.raises(RecipeError, match="cannot read"):
        load_recipe(tmp_path / "missing.yaml")


def test_edge_case_settings_are_checked() -> None:
    data = with_("edge_cases", {"kinds": {"empty_field": {"field": "bodyy"}}})
    problems = errors_of(data)
    assert any(p.startswith("edge_cases.kinds.empty_field.field") for p in problems)


@pytest.mark.parametrize(
    "path", [*sorted((ROOT / "dataset_scripts").glob("*.yaml")), ROOT / "hf_synth" / "data" / "demo.yaml"]
)
def test_shipped_recipes_load(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.fingerprint() == load_recipe(path).fingerprint()
    yaml.safe_dump(recipe.model_dump(mode="json"))


def test_product_reviews_has_the_articles_counts() -> None:
    recipe = load_recipe(ROOT / "dataset_scripts" / "product_reviews.yaml")
    counts = plan_spec(recipe).cell_counts
    assert (
        counts[("laptop", "4")] == 60 and counts[("headphones", "3")] == 60 and counts[("monitor", "1")] == 10
    )
    assert sum(counts.values()) == 600
