"""`hf-synth validate DIR`: check a generated folder's data against its targets."""

from __future__ import annotations

import argparse
import json

from hf_synth.cli.command import command


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `validate` command."""
    v = subparsers.add_parser("validate", help="check a generated folder against its targets")
    v.add_argument("dir", help="output folder of `hf-synth generate`")
    v.add_argument("--json", action="store_true", help="machine-readable output (one JSON object)")
    v.set_defaults(func=run)


@command
def run(args: argparse.Namespace) -> int:
    """Validate and print; exit 1 when a target is not met."""
    from hf_synth.dataset.validate import format_validation, validate_folder
    from hf_synth.errors import EXIT_INCOMPLETE, EXIT_VALIDATION

    result = validate_folder(args.dir)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        print(format_validation(result))
    if not result.complete:
        return EXIT_INCOMPLETE
    return 0 if result.ok else EXIT_VALIDATION
