"""The recipe as run, as YAML (written next to the data for provenance, and pushed with it)."""

from __future__ import annotations

from pathlib import Path

import yaml

from hf_synth.recipe.model import Recipe
from hf_synth.secrets import scrub


def recipe_yaml(recipe: Recipe) -> str:
    """The recipe as YAML: no absolute local path (a reference file is named by its file name) and no
    environment secret."""
    data = recipe.model_dump(mode="json", exclude_none=True)
    if recipe.dedup.near_threshold is None:
        # null means "no near-duplicate pass" and the default is 0.95: dropping it would turn the pass on
        # when the folder's recipe is run again (`hf-synth audit DIR`).
        data["dedup"]["near_threshold"] = None
    ref = data.get("reference")
    if ref and "://" not in ref["path"] and Path(ref["path"]).is_absolute():
        # The folder is published: a path on the author's machine means nothing there and leaks its layout.
        ref["path"] = Path(ref["path"]).name
    return scrub(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
