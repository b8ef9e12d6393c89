"""The `audit:` recipe block: defaults, key-path errors, the edge kinds it skips, and `plan --estimate`."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hf_synth.cli.main import main
from hf_synth.edge_cases import BUILTIN_KINDS, build_kinds
from hf_synth.errors import RecipeError
from hf_synth.generation.audit.setup import with_audit
from hf_synth.recipe import parse_recipe
from hf_synth.recipe.audit import audit_dimensions
from hf_synth.recipe.fields import FieldSpec
from tests.audit.common import RECIPE


def _recipe(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(RECIPE)
    data.update(changes)
    return data


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(RecipeError) as info:
        parse_recipe(data)
    return info.value.problems


def test_defaults_audit_the_stratum_dimensions() -> None:
    recipe = parse_recipe(_recipe(audit={}))
    assert audit_dimensions(recipe) == ["tone", "topic"]  # no strata: every dimension is a stratum dimension
    assert (recipe.audit.min_agreement, recipe.audit.on_disagree) == (0.9, "regenerate")
    strata = {"by": ["topic"], "counts": {"billing": 10, "delivery": 10}}
    recipe = parse_recipe(_recipe(audit={}, strata=strata, size=None))
    assert audit_dimensions(recipe) == ["topic"]
    assert audit_dimensions(parse_recipe(_recipe(audit={"dimensions": ["tone"]}))) == ["tone"]
    plain = _recipe()
    plain.pop("audit")
    assert audit_dimensions(parse_recipe(plain)) == []


@pytest.mark.parametrize(
    ("audit", "changes", "expected"),
    [
        ({"dimensions": ["tonee"]}, {}, "audit.dimensions.0: not a dimension of the recipe (tone, topic)"),
        ({"dimensions": ["tone", "tone"]}, {}, "audit.dimensions.1: listed twice"),
        ({"on_disagree": "ignore"}, {}, "audit.on_disagree: Input should be 'regenerate', 'flag' or"),
        ({"min_agreement": 1.5}, {}, "audit.min_agreement: Input should be less than or equal to 1"),
        ({"items_per_request": 0}, {}, "audit.items_per_request: Input should be greater than 0"),
        ({"backend": {"name": "openai"}}, {}, "audit.backend.name: Input should be 'anthropic' or 'local'"),
        ({"judge": "x"}, {}, "audit.judge: unknown key"),
        (
            {},
            {"dimensions": {"tone": ["polite", "unclear"], "topic": ["billing"]}},
            "audit: dimension 'tone' has a value 'unclear'",
        ),
        (
            {"dimensions": ["tone"]},
            {"fields": {"body": {"type": "string"}, "judged_tone": {"type": "string"}}},
            "audit.dimensions.0: field 'judged_tone' would clash",
        ),
        (
            {},
            {"fields": {"body": {"type": "string"}, "label_verified": {"type": "boolean"}}},
            "audit: field 'label_verified' would clash",
        ),
    ],
)
def test_bad_values_name_their_key_path(audit: dict, changes: dict, expected: str) -> None:
    problems = _problems(_recipe(audit=audit, **changes))
    assert any(p.startswith(expected) for p in problems), problems


def test_with_audit_validates_cli_overrides() -> None:
    plain = _recipe()
    plain.pop("audit")
    recipe = with_audit(parse_recipe(plain), {"on_disagree": "flag"})
    assert recipe.audit is not None and recipe.audit.on_disagree == "flag"
    assert recipe.dedup.near_threshold is None  # every other key is kept as it was, nulls included
    with pytest.raises(RecipeError, match=r"audit\.dimensions\.0: not a dimension"):
        with_audit(recipe, {"dimensions": ["nope"]})


def test_only_kinds_whose_text_is_unreadable_are_skipped() -> None:
    fields = {
        "body": FieldSpec(type="string"),
        "note": FieldSpec(type="string", optional=True),
        "quantity": FieldSpec(type="integer", minimum=1, maximum=9),
    }
    needs = {"contrast_pair": {"across": "tone"}}
    skipped = set()
    for name in BUILTIN_KINDS:
        kind = build_kinds({name: needs.get(name, {})}, fields, "body", {"tone": ["a", "b"]})[0]
        if not kind.auditable:
            skipped.add(name)
    assert skipped == {"empty_field", "whitespace_only", "special_chars"}


def test_plan_estimate_prices_the_audit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "recipe.yaml"
    judge = {"name": "anthropic", "model": "claude-haiku-4-5"}
    data = _recipe(audit={"backend": judge, "items_per_request": 4})
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["plan", str(path), "--estimate", "--json"]) == 0
    est = json.loads(capsys.readouterr().out)["estimate"]["audit"]
    edges = parse_recipe(data).edge_kind_names()
    assert edges == ["empty_field", "exact_duplicate"]
    # 48 rows: the empty_field rows are skipped, exact duplicates share their partner's verdict.
    table = json.loads(json.dumps(est))
    assert table["rows_skipped"] > 0
    assert table["rows_judged"] + table["rows_skipped"] < 48
    assert table["requests"] == -(-table["rows_judged"] // 4)
    assert table["cost_usd_expected"] > 0 and table["cost_usd_max"] >= table["cost_usd_expected"]
    assert main(["plan", str(path), "--estimate"]) == 0
    assert "label audit (anthropic: claude-haiku-4-5):" in capsys.readouterr().out


def test_the_recipe_as_run_reloads_to_the_same_recipe() -> None:
    # `hf-synth audit DIR` resumes DIR/recipe.yaml: a null that means "off" must survive the round trip.
    from hf_synth.recipe.dump import recipe_yaml

    recipe = parse_recipe(_recipe())
    again = parse_recipe(yaml.safe_load(recipe_yaml(recipe)))
    assert again.dedup.near_threshold is None
    assert again.fingerprint() == recipe.fingerprint()
