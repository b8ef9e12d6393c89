"""The `hf-synth` command line: `main` (parser, error → exit code) and one small module per command."""

from __future__ import annotations

import sys


def entry() -> None:
    """Console-script entry point: runs `main` and exits with its code (130 on Ctrl-C, even at start-up)."""
    try:
        from hf_synth.cli.main import main

        code = main()
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        code = 130
    sys.exit(code)
