"""`hf-synth push DIR --repo-id ORG/NAME`: publish a generated folder as one commit (+ tag)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hf_synth.cli.command import command


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `push` command."""
    p = subparsers.add_parser(
        "push",
        help="publish a generated folder to the Hub as one commit (+ tag)",
        description="Publish DIR (data/*.parquet, README.md, report.json, recipe.yaml, images/) to a dataset "
        "repo in one commit, deleting the previous release's data/ and images/ files, then tag "
        "it. Token: HF_TOKEN or `hf auth login`; endpoint: HF_ENDPOINT.",
    )
    p.add_argument("folder", metavar="DIR", help="folder written by `hf-synth generate --out DIR`")
    p.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="dataset repo (created when missing)")
    p.add_argument("--tag", help="tag the release commit (e.g. v1.0.0); fails first if the tag exists")
    p.add_argument(
        "--private", action="store_true", help="create the repo private (existing repos keep theirs)"
    )
    p.add_argument("--revision", metavar="BRANCH", help="target branch (default main; created when missing)")
    p.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")
    p.add_argument("--message", "-m", help="commit message (default: 'Release TAG')")
    p.set_defaults(func=run)


@command
def run(args: argparse.Namespace) -> int:
    """Push; prints what the commit added and deleted."""
    from hf_synth.card.publish import release_card
    from hf_synth.hub.push import format_result, push_folder

    result = push_folder(
        Path(args.folder),
        args.repo_id,
        tag=args.tag,
        private=args.private,
        revision=args.revision,
        create_pr=args.create_pr,
        message=args.message,
        render_card=release_card,  # the card's snippets and citation name --repo-id
    )
    print(format_result(result))
    return 0
