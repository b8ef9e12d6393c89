"""``hf-synth push`` and ``hf-synth hub-serve``: register with :func:`add_subparsers`.

Also runnable alone: ``python -m hf_synth.cli.hub push DIR --repo-id ORG/NAME``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hf_synth.hub import server as hub_server


def cmd_push(args: argparse.Namespace) -> int:
    """Run ``hf-synth push``; print a summary; 0 on success, 1 on a push error."""
    from hf_synth.hub.push import PushError, format_result, push_folder

    try:
        result = push_folder(
            Path(args.folder),
            args.repo_id,
            tag=args.tag,
            private=args.private,
            revision=args.revision,
            create_pr=args.create_pr,
            message=args.message,
        )
    except PushError as err:
        print(f"hf-synth push: error: {err}", file=sys.stderr)
        return 1
    print(format_result(result))
    return 0


def cmd_hub_serve(args: argparse.Namespace) -> int:
    """Run ``hf-synth hub-serve`` until interrupted (first stdout line: the URL)."""
    return hub_server.run_from_args(args)


def add_subparsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``push`` and ``hub-serve`` on the ``hf-synth`` subcommand parsers (``func=`` → exit code)."""
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
    p.set_defaults(func=cmd_push)

    s = subparsers.add_parser(
        "hub-serve",
        help="run the loopback rehearsal Hub (point HF_ENDPOINT at the printed URL)",
        description="Serve the Hub HTTP API subset used by huggingface_hub/datasets on loopback. Accepted "
        "tokens: $HF_SYNTH_HUB_TOKENS (comma-separated), else any non-empty token.",
    )
    hub_server.add_serve_arguments(s)
    s.set_defaults(func=cmd_hub_serve)


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m hf_synth.cli.hub`` (the same subcommands as ``hf-synth``)."""
    parser = argparse.ArgumentParser(prog="hf-synth")
    add_subparsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
