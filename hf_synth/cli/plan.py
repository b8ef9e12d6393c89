"""`hf-synth plan RECIPE`: the exact quotas of a recipe, before anything is sent."""

from __future__ import annotations

import argparse
import json

from hf_synth.cli.command import command


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `plan` command."""
    p = subparsers.add_parser("plan", help="print the exact quotas of a recipe (no LLM call)")
    p.add_argument("recipe", help="recipe YAML file")
    p.add_argument("--limit", type=int, help="scale the plan down to N rows, keeping every guarantee")
    p.add_argument("--json", action="store_true", help="machine-readable output (one JSON object)")
    p.add_argument(
        "--estimate", action="store_true", help="estimate requests, tokens and dollars before any is spent"
    )
    p.set_defaults(func=run)


@command
def run(args: argparse.Namespace) -> int:
    """Print the plan table (and the estimate)."""
    import hf_synth
    from hf_synth.planning.view import format_plan

    recipe = hf_synth.load_recipe(args.recipe)
    plan = hf_synth.plan(recipe, limit=args.limit)
    table = plan.to_table()
    if args.estimate:
        from hf_synth.planning.estimate import estimate_run

        table["estimate"] = estimate_run(recipe, plan)
    if args.json:
        print(json.dumps(table, indent=2, ensure_ascii=False))
    else:
        print(format_plan(table))
    return 0
