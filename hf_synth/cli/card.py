"""`hf-synth card DIR`: re-render a folder's dataset card from its report.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from hf_synth.cli.command import command


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `card` command."""
    p = subparsers.add_parser(
        "card",
        help="re-render DIR/README.md and DIR/images from DIR/report.json",
        description="Re-render the dataset card from report.json without regenerating data. Text outside "
        "the generated block and unknown YAML keys of an existing README.md are kept.",
    )
    p.add_argument("dir", help="output folder of `hf-synth generate`")
    p.add_argument("--repo-id", default=None, help="Hub repo id used in the card's load_dataset snippets")
    p.add_argument("--template-dir", default=None, help="folder with dataset_card.md.j2 (default: built-in)")
    p.set_defaults(func=run)


@command
def run(args: argparse.Namespace) -> int:
    """Render the card; prints the README path."""
    from hf_synth.card import render_card_from_folder

    path = render_card_from_folder(
        Path(args.dir),
        template_dir=Path(args.template_dir) if args.template_dir else None,
        repo_id=args.repo_id,
    )
    print(path)
    return 0
