"""The `hf-synth` command line: the parser, built from one module per command, and the process exit code.

Command modules parse, call the library and print; their `run` is wrapped by `hf_synth.cli.command`, the
one place that turns an `HfSynthError` into its exit code (see `hf_synth.errors`). Nothing heavy is
imported before a command runs, so `--help` is instant, and Ctrl-C at any moment ends with exit code 130
and no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback

from hf_synth import __version__
from hf_synth.errors import EXIT_INTERRUPTED

# Command modules in the order `--help` lists them; each has `register(subparsers)` and `run(args)`.
COMMANDS = (
    "plan",
    "generate",
    "audit",
    "validate",
    "coverage",
    "card",
    "push",
    "release",
    "hub_serve",
    "demo",
)

EXIT_INTERNAL = 70  # an unexpected exception: a bug (BSD sysexits' EX_SOFTWARE); the traceback is printed
EXIT_BROKEN_PIPE = 141  # what a shell reports for a process ended by SIGPIPE (128 + 13)


def build_parser() -> argparse.ArgumentParser:
    """The `hf-synth` parser with every command registered."""
    parser = argparse.ArgumentParser(
        prog="hf-synth",
        description="Stratified synthetic text datasets for the Hugging Face ecosystem.",
        epilog="Exit codes: 0 done, 1 validation failed, 2 bad recipe or arguments, 3 incomplete or budget "
        "reached (re-run to resume), 4 backend refused, 5 Hub error, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"hf-synth {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"hf_synth.cli.{name}").register(sub)
    return parser


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Third-party request logs would drown the progress bar.
    for noisy in ("httpx", "httpx2", "httpcore", "urllib3", "filelock", "huggingface_hub", "datasets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    return int(args.func(args) or 0)


def main(argv: list[str] | None = None) -> int:
    """Run `hf-synth`; returns the process exit code (argparse exits 2 itself on bad arguments)."""
    try:
        return _run(argv)
    except KeyboardInterrupt:
        print("\ninterrupted: finished rows are kept; re-run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`hf-synth validate --json | head`): stop quietly. Point stdout at devnull so
        # the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception:
        traceback.print_exc()
        print(
            "error: an unexpected internal error (a bug in hf-synth); finished work is kept. "
            "Please report it with the traceback above.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
