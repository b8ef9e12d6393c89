"""`where:` is a setting every kind accepts (issue 11, point 6): parsed once, kept out of the kind's own
settings, every mistake named by its key path."""

from __future__ import annotations

import pytest

from hf_synth.edge_cases import BUILTIN_KINDS, EdgeCaseConfigError, build_kinds
from tests.edge_cases.test_layout import DIMS, FIELDS, NEEDS

WHERE = {"tone": ["angry"]}


@pytest.mark.parametrize("name", [*BUILTIN_KINDS, "sarcastic"])
def test_every_kind_takes_where(name: str) -> None:
    raw = NEEDS.get(name, {})
    # contrast_pair is paired across tone: its condition must leave two tones.
    where = {"tone": ["angry", "polite"]} if name == "contrast_pair" else WHERE
    kind = build_kinds({name: {**raw, "where": where}}, FIELDS, "body", DIMS)[0]
    assert kind.common.where == (("tone", tuple(where["tone"])),)
    assert kind.settings == build_kinds({name: raw}, FIELDS, "body", DIMS)[0].settings
    assert build_kinds({name: raw}, FIELDS, "body", DIMS)[0].common.where == ()


def test_a_single_value_may_be_written_without_a_list() -> None:
    kind = build_kinds(
        {"typos": {"instruction": "Add typos.", "where": {"tone": "polite"}}}, FIELDS, "body", DIMS
    )
    assert kind[0].common.where == (("tone", ("polite",)),)


@pytest.mark.parametrize(
    ("where", "path", "message"),
    [
        ("angry", "edge_cases.kinds.very_short.where", "expected a mapping of dimension to value(s)"),
        ({}, "edge_cases.kinds.very_short.where", "expected a mapping"),
        (
            {"mood": "angry"},
            "edge_cases.kinds.very_short.where.mood",
            "not a dimension; dimensions are: tone",
        ),
        ({"tone": "furious"}, "edge_cases.kinds.very_short.where.tone", "'furious' is not a value of tone"),
        ({"tone": []}, "edge_cases.kinds.very_short.where.tone", "expected at least one value"),
        ({"tone": ["angry", "angry"]}, "edge_cases.kinds.very_short.where.tone", "values repeat"),
        ({"tone": [3]}, "edge_cases.kinds.very_short.where.tone", "3 is not a value of tone"),
    ],
)
def test_where_mistakes_name_their_key_path(where: object, path: str, message: str) -> None:
    with pytest.raises(EdgeCaseConfigError) as info:
        build_kinds({"very_short": {"where": where}}, FIELDS, "body", DIMS)
    assert info.value.path == path
    assert message in info.value.message


def test_a_pair_across_a_dimension_needs_two_allowed_values() -> None:
    config = {"contrast_pair": {"across": "tone", "where": {"tone": "angry"}}}
    with pytest.raises(EdgeCaseConfigError) as info:
        build_kinds(config, FIELDS, "body", DIMS)
    assert info.value.path == "edge_cases.kinds.contrast_pair.where.tone"
    assert "allows only 'angry'" in info.value.message
