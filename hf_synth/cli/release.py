"""`hf-synth release dataset_scripts` (what `make push` runs): release every untagged recipe version."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hf_synth.cli.command import command


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `release` command."""
    p = subparsers.add_parser(
        "release", help="generate, validate, push and tag every recipe version not yet released"
    )
    p.add_argument("recipes", help="folder of recipes (dataset_scripts/)")
    p.add_argument("--out", default="out/release", help="where the release folders are generated")
    p.add_argument("--org", help="Hub namespace for recipes without repo_id")
    p.add_argument("--dry-run", action="store_true", help="only show what would be released")
    p.add_argument(
        "--limit",
        type=int,
        help="scale each plan down to N rows: a rehearsal, tagged vX.Y.Z-rehearsal.limit-N, never vX.Y.Z",
    )
    p.set_defaults(func=run)


@command
def run(args: argparse.Namespace) -> int:
    """Print each recipe's decision, release the untagged ones; the worst failure's exit code."""
    from hf_synth.release import ReleaseOutcome, plan_releases, release_all

    items = plan_releases(Path(args.recipes), args.org)
    for item in items:
        print(f"{item.recipe_path.name}: {item.repo_id} {item.tag or '-'}: {item.action}")
    if args.dry_run:
        return 0

    def show(outcome: ReleaseOutcome) -> None:
        name = outcome.item.recipe.name
        if outcome.status == "released":
            print(f"{name}: released {outcome.item.repo_id}@{outcome.tag} (commit {outcome.commit_oid})")
        elif outcome.status == "failed":
            print(f"{name}: not released: {outcome.error}", file=sys.stderr)

    outcomes = release_all(items, Path(args.out), limit=args.limit, on_outcome=show)
    return max((o.error.exit_code for o in outcomes if o.error is not None), default=0)
