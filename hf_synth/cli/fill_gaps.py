"""`hf-synth fill-gaps DIR`: add rows where the reference has texts a generated folder's rows do not reach.

The folder's own recipe (`DIR/recipe.yaml`) is resumed with a `fill` block (the options override the recipe's
block): its rows are already finished under the backend, model and `--limit` that made them (read from
`DIR/report.json`), so nothing is generated again; then coverage is measured, gap rows are generated for the
under-filled reference regions, and the data files, report and card are rewritten.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hf_synth.cli.command import command
from hf_synth.cli.resume import read_folder, rerun


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `fill-gaps` command."""
    p = subparsers.add_parser(
        "fill-gaps",
        help="add rows where the reference has texts the dataset lacks (measure, fill, repeat)",
        description="Measure the folder's coverage of its recipe's reference set, turn the under-filled "
        "reference regions into new rows (quotas in proportion to each region's missing reference mass, "
        "prompts quoting real texts of the region, labels from reference.labels or, without them, read by "
        "the blind label judge), generate them, measure "
        "again, until the target, the row cap, the rounds or the budget. The planned strata keep their "
        "counts; gap rows are flagged (gap_fill, gap_region) and have their own config gap_fill.",
    )
    p.add_argument("dir", help="output folder of `hf-synth generate`")
    p.add_argument("--target", type=float, help="stop at this coverage headline (0..1; default 0.9)")
    p.add_argument("--max-rows", type=int, help="add at most N gap rows in all (default: the plan's rows)")
    p.add_argument("--rounds", type=int, help="at most this many measure-and-fill rounds (default 3)")
    p.add_argument(
        "--budget",
        type=float,
        metavar="USD",
        help="stop cleanly before the folder's spending (every run's, as for generate) passes USD",
    )
    p.add_argument("--recipe", help="recipe YAML to resume (default: DIR/recipe.yaml, the recipe as run)")
    p.add_argument("--reference", help="the reference file, when DIR/recipe.yaml's does not resolve here")
    p.add_argument(
        "--model",
        help="the generation model, when the name in DIR/report.json does not resolve here (local: the "
        "model folder or .gguf path that made the rows)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def fill_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The `fill` keys the command line sets (over the recipe's block)."""
    block: dict[str, Any] = {}
    for key in ("target", "max_rows", "rounds"):
        value = getattr(args, key)
        if value is not None:
            block[key] = value
    return block


@command
def run(args: argparse.Namespace) -> int:
    """Fill the folder's gaps, then print the summary; exit 1 when validation failed."""
    from hf_synth.errors import UsageError
    from hf_synth.recipe import load_recipe, parse_recipe, resolve_data_path

    folder, report, recipe_path = read_folder(args, "fill-gaps")
    data = load_recipe(recipe_path).model_dump(mode="python")
    if data.get("reference") is None:
        raise UsageError(
            f"{recipe_path}: the recipe has no `reference:` block, so there is nothing to fill toward"
        )
    if args.reference:
        data["reference"]["path"] = str(Path(args.reference).resolve())
    ref_path = data["reference"]["path"]
    if "://" not in ref_path and not resolve_data_path(ref_path).is_file():
        raise UsageError(f"reference {ref_path} not found: pass it with --reference PATH (or --recipe)")
    data["fill"] = {**(data.get("fill") or {}), **fill_overrides(args)}
    return rerun(parse_recipe(data, str(recipe_path)), folder, report, args)
