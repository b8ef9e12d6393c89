"""Issue 11, points 6-7 at the recipe: nothing a recipe says is dropped without a word.

Splits must sum to 1; every stratum needs a count (0 is a deliberate answer); weights that strata.counts
overrides are a plan note; `where:` reaches the plan with YAML values read as the dimensions read them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import hf_synth
from hf_synth.errors import PlanError
from hf_synth.planning.view import format_plan
from hf_synth.recipe import parse_recipe
from tests.recipe.test_recipe import BASE, errors_of, with_

PROBLEM_MISSING = "missing; every stratum needs a count (write 0 to leave it empty)"


@pytest.mark.parametrize(
    ("splits", "message"),
    [
        ({"train": 0.7, "test": 0.2}, "splits: shares sum to 0.9, expected 1"),
        ({"train": 0.8, "validation": 0.2, "test": 0.2}, "splits: shares sum to 1.2, expected 1"),
        ({"train": 8, "test": 2}, "splits: shares sum to 10, expected 1"),
    ],
)
def test_splits_must_sum_to_one(splits: dict, message: str) -> None:
    assert message in errors_of(with_("splits", splits))


def test_splits_summing_to_one_in_floats_are_accepted() -> None:
    # 0.7 + 0.15 + 0.15 is 1.0000000000000002 in binary floating point.
    recipe = parse_recipe(with_("splits", {"train": 0.7, "validation": 0.15, "test": 0.15}))
    assert sum(hf_synth.plan(recipe).targets["splits"].values()) == 9


def test_splits_error_exits_2_from_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(with_("splits", {"train": 0.7, "test": 0.2})), encoding="utf-8")
    res = subprocess.run(
        [sys.executable, "-m", "hf_synth.cli", "plan", str(path)], capture_output=True, text=True
    )
    assert res.returncode == 2
    assert "splits: shares sum to 0.9, expected 1" in res.stderr and "Traceback" not in res.stderr


def test_a_left_out_stratum_is_an_error_naming_it() -> None:
    counts = {"laptop": {1: 2, 2: 3, 3: 1}, "monitor": {1: 1, 2: 1}}
    assert errors_of(with_("strata.counts", counts)) == [f"strata.counts.monitor.3: {PROBLEM_MISSING}"]
    assert errors_of(with_("strata.counts", {"laptop": {1: 2, 2: 3, 3: 1}})) == [
        f"strata.counts.monitor: {PROBLEM_MISSING}"
    ]


def test_many_left_out_strata_are_summarised() -> None:
    data = with_("dimensions.rating", list(range(1, 21)))
    data["strata"]["counts"] = {"laptop": {1: 2}, "monitor": {1: 1}}
    problems = errors_of(data)
    assert len(problems) == 11
    assert problems[-1] == "strata.counts: 28 more strata or branches are missing"


def test_a_written_zero_leaves_a_stratum_empty_on_purpose() -> None:
    recipe = parse_recipe(with_("strata.counts.monitor", {1: 1, 2: 1, 3: 0}))
    plan = hf_synth.plan(recipe)
    assert "monitor | 3" not in plan.targets["strata"] and len(plan) == 8
    assert not any("no rows" in n for n in plan.notes)
    assert format_plan(plan.to_table()).startswith("8 rows in 5 of 6 strata")


def test_a_zero_above_the_last_level_empties_the_branch() -> None:
    recipe = parse_recipe(with_("strata.counts.monitor", 0))
    plan = hf_synth.plan(recipe)
    assert set(plan.targets["strata"]) == {"laptop | 1", "laptop | 2", "laptop | 3"}
    problems = errors_of(with_("strata.counts.monitor", 3))
    assert problems == [
        "strata.counts.monitor: expected a mapping of rating values (or 0 to leave every stratum "
        "below it empty), got int"
    ]


def test_weights_overridden_by_counts_are_a_plan_note() -> None:
    data = with_("dimensions.rating", {1: 1, 2: 1, 3: 5})
    plan = hf_synth.plan(parse_recipe(data))
    note = "dimensions.rating: the weights (1: 1, 2: 1, 3: 5) are not used: rating is in strata.by and "
    note += "strata.counts gives its rows (1: 3, 2: 4, 3: 2)"
    assert note in plan.notes
    assert f"note: {note}" in format_plan(plan.to_table())
    # Equal weights say nothing the counts contradict; weights outside strata.by are used, not noted.
    assert not any(
        "weights" in n
        for n in hf_synth.plan(parse_recipe(with_("dimensions.rating", {1: 2, 2: 2, 3: 2}))).notes
    )
    assert not any("weights" in n for n in hf_synth.plan(parse_recipe(BASE)).notes)


SENTIMENT = {
    **BASE,
    "dimensions": {
        "product": ["laptop", "monitor"],
        "rating": [1, 2, 3],
        "sentiment": ["negative", "positive"],
    },
    "strata": {"by": ["product"]},
    "size": 120,
    "prompt": "A {{ rating }}-star {{ sentiment }} review of a {{ product }}.",
}


def test_a_user_kind_tied_to_a_label_lands_only_on_that_label() -> None:
    data = {
        **SENTIMENT,
        "edge_cases": {
            "share": 0.1,
            "kinds": {
                "sarcastic": {
                    "instruction": "Be sarcastic; the meaning is negative.",
                    "where": {"sentiment": "negative"},
                },
                "very_short": {"where": {"rating": [1, 2]}, "count": 5},
                "typos": {"instruction": "Add typos."},
            },
        },
    }
    plan = hf_synth.plan(parse_recipe(data))
    names = ["none", *plan.targets["edge_cases"]]
    sentiment = np.array(plan.codes["sentiment"])
    rating = np.array(plan.codes["rating"])
    sarcastic = plan.edge == names.index("sarcastic")
    assert sarcastic.sum() == plan.targets["edge_cases"]["sarcastic"] > 0
    assert np.all(sentiment[sarcastic] == 0)
    short = plan.edge == names.index("very_short")
    assert short.sum() == 5 and np.all(np.isin(rating[short], [0, 1]))  # YAML 1, 2 are the values "1", "2"


def test_a_condition_narrower_than_the_count_is_refused_with_its_key_path() -> None:
    data = {**SENTIMENT, "edge_cases": {"kinds": {"very_short": {"where": {"rating": 3}, "count": 41}}}}
    with pytest.raises(
        PlanError, match=r"edge_cases\.kinds\.very_short\.where: only 40 rows match \(rating: 3\)"
    ):
        hf_synth.plan(parse_recipe(data))


def test_where_mistakes_are_recipe_errors_with_key_paths() -> None:
    def problems(where: object, kind: str = "very_short", **extra: object) -> list[str]:
        return errors_of({**SENTIMENT, "edge_cases": {"kinds": {kind: {"where": where, **extra}}}})

    assert any(
        p.startswith("edge_cases.kinds.very_short.where.mood: not a dimension")
        for p in problems({"mood": "x"})
    )
    assert any(
        p.startswith("edge_cases.kinds.very_short.where.rating: '7' is not a value of rating")
        for p in problems({"rating": 7})
    )
    assert any(
        p.startswith("edge_cases.kinds.contrast_pair.where.sentiment: contrast_pair pairs each row")
        for p in problems({"sentiment": "negative"}, kind="contrast_pair", across="sentiment")
    )
