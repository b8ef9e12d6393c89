"""The one place that turns an `HfSynthError` into a printed message and its exit code."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

from hf_synth.errors import HfSynthError

Run = Callable[[argparse.Namespace], int]


def command(run: Run) -> Run:
    """Wrap a command's `run(args)`: an `HfSynthError` prints `error: ...` to stderr and returns its
    `exit_code` (see `hf_synth.errors`); anything else propagates to `hf_synth.cli.main`."""

    @functools.wraps(run)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return int(run(args) or 0)
        except HfSynthError as exc:
            print(f"hf-synth {getattr(args, 'command', None) or ''}: error: {exc}", file=sys.stderr)
            return exc.exit_code

    return wrapper
