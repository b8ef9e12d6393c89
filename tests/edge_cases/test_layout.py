"""The edge-case stage's boundaries: what it imports, and settings every kind accepts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hf_synth.edge_cases import BUILTIN_KINDS, build_kinds
from hf_synth.recipe.fields import FieldSpec

FIELDS = {
    "body": FieldSpec(type="string"),
    "note": FieldSpec(type="string", optional=True),
    "quantity": FieldSpec(type="integer", minimum=1, maximum=9),
}
DIMS = {"tone": ["angry", "polite"]}
# The least each kind (built-in, or the user kind 'sarcastic') needs to resolve on FIELDS / DIMS.
NEEDS = {"contrast_pair": {"across": "tone"}, "sarcastic": {"instruction": "Be sarcastic."}}


def test_edge_cases_loads_no_other_stage() -> None:
    # recipe.model imports edge_cases; a runtime import of hf_synth.recipe here would be a cycle.
    code = "import sys, json, hf_synth.edge_cases; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = {m for m in json.loads(out) if m.startswith("hf_synth.")}
    assert {m for m in loaded if not m.startswith("hf_synth.edge_cases")} == {"hf_synth.errors"}


@pytest.mark.parametrize("name", [*BUILTIN_KINDS, "sarcastic"])
def test_every_kind_takes_the_common_quota_settings(name: str) -> None:
    raw = NEEDS.get(name, {})
    counted, weighted = (
        build_kinds({name: {**raw, **extra}}, FIELDS, "body", DIMS)[0]
        for extra in ({"count": 3}, {"weight": 2})
    )
    assert (counted.count, counted.weight) == (3, 1.0)
    assert (weighted.count, weighted.weight) == (None, 2.0)
    # Quota keys are the planner's, not the kind's: they stay out of the settings the engine hashes.
    assert counted.settings == weighted.settings == build_kinds({name: raw}, FIELDS, "body", DIMS)[0].settings
