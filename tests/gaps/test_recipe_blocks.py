"""The recipe blocks `reference.labels`, `examples` and `fill`: accepted forms, round trip, and every error
naming its key path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hf_synth.errors import RecipeError
from hf_synth.planning.seeding import read_reference
from hf_synth.recipe import parse_recipe
from hf_synth.recipe.dump import recipe_yaml
from tests.gaps.common import TOPICS, recipe_data, write_reference


@pytest.fixture()
def reference(tmp_path: Path) -> Path:
    return write_reference(tmp_path / "ref.csv")


def problems(data: dict) -> str:
    with pytest.raises(RecipeError) as err:
        parse_recipe(data)
    return str(err.value)


def test_short_and_long_label_forms_and_the_yaml_round_trip(reference: Path) -> None:
    short = parse_recipe(recipe_data(reference, fill={"target": 0.8, "max_rows": 40}))
    long_form = {"intent": {"dimension": "topic", "values": {"card_arrival": "card_arrival"}}}
    data = recipe_data(reference)
    data["reference"] = {**data["reference"], "labels": long_form, "leakage_threshold": 0.9}
    long = parse_recipe(data)
    assert short.reference.labels["intent"].dimension == "topic"
    assert long.reference.labels["intent"].mapped("card_arrival") == "card_arrival"
    assert long.reference.leakage_threshold == 0.9
    # The recipe as written next to the data reads back to the same recipe (`from` keeps its YAML name).
    dumped = yaml.safe_load(recipe_yaml(short))
    assert dumped["examples"] == {"per_request": 3, "from": "same_stratum"}
    dumped["reference"]["path"] = str(reference)
    back = parse_recipe(dumped)
    for block in ("reference", "examples", "fill"):
        assert getattr(back, block) == getattr(short, block)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"reference": None}, "examples: needs a `reference:` block"),
        ({"examples": None, "reference": None, "fill": {}}, "fill: needs a `reference:` block"),
        (
            {"reference": {"path": "r.csv", "labels": {"intent": "topc"}}},
            "reference.labels.intent.dimension: 'topc'",
        ),
        (
            {
                "reference": {
                    "path": "r.csv",
                    "labels": {"intent": {"dimension": "topic", "values": {"x": "nope"}}},
                }
            },
            "reference.labels.intent.values.x: 'nope' is not a value of topic",
        ),
        (
            {"reference": {"path": "r.csv", "labels": {"intent": "topic", "other": "topic"}}},
            "reference.labels.other.dimension: dimension 'topic' is already labelled by column 'intent'",
        ),
        ({"reference": {"path": "r.csv"}}, "examples.from: same_stratum needs reference.labels"),
        ({"system": "Examples: {{ examples }}"}, "system: names `examples`"),
        ({"examples": {"from": "anywhere"}}, "examples.from: Input should be"),
        ({"examples": {"per_request": 0}}, "examples.per_request: Input should be greater than 0"),
        ({"fill": {"target": 1.5}}, "fill.target: Input should be less than or equal to 1"),
        ({"fill": {"max_row": 3}}, "fill.max_row: unknown key"),
        (
            {"dimensions": {"examples": ["a", "b"]}, "reference": {"path": "r.csv"}, "examples": None},
            "dimensions.examples: the name is reserved",
        ),
    ],
)
def test_errors_name_the_key_path(reference: Path, change: dict, expected: str) -> None:
    data = recipe_data(reference)
    data.update(change)
    if change.get("dimensions"):
        data["strata"] = None
        data["prompt"] = "Write."
    assert expected in problems(data)


def test_a_prompt_may_place_the_examples_itself(reference: Path) -> None:
    data = recipe_data(
        reference, prompt="{% for e in examples %}- {{ e }}\n{% endfor %}Write about {{ topic }}."
    )
    assert parse_recipe(data).prompt.startswith("{% for e in examples %}")


def test_a_missing_label_column_names_the_key_and_the_file_columns(reference: Path) -> None:
    data = recipe_data(reference)
    data["reference"]["labels"] = {"category": "topic"}
    with pytest.raises(RecipeError) as err:
        read_reference(parse_recipe(data))
    assert "reference.labels.category" in str(err.value) and "['text', 'intent']" in str(err.value)
    data["reference"]["path"] = str(reference.parent / "missing.csv")
    with pytest.raises(RecipeError, match=r"reference\.path: .*missing\.csv"):
        read_reference(parse_recipe(data))


def test_unmapped_reference_values_are_counted_and_mapped_ones_kept(reference: Path) -> None:
    data = recipe_data(reference)
    data["reference"]["labels"] = {
        "intent": {"dimension": "topic", "values": {"pin_blocked": "card_arrival"}}
    }
    ref = read_reference(parse_recipe(data))
    summary = ref.summary()
    assert summary["rows"] == 240 and summary["labels"] == {"intent": "topic"}
    unmapped = summary["unmapped"]["intent"]
    # 12 intents: 4 are topics, pin_blocked is mapped onto card_arrival, 7 are left (20 texts each).
    assert unmapped["values"] == 7 and unmapped["rows"] == 140 and "pin_blocked" not in unmapped["top"]
    mapped = [v for v in ref.labels["topic"] if v == "card_arrival"]
    assert len(mapped) == 40
    assert set(TOPICS) <= set(ref.labels["topic"])
