"""The `hf-synth` command line: `main` (parser, error → exit code) and one small module per command."""

from __future__ import annotations

import gc
import sys


def entry() -> None:
    """Console-script entry point: runs `main` and exits with its code (130 on Ctrl-C, even at start-up)."""
    try:
        from hf_synth.cli.main import main

        code = main()
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        code = 130
    # The interpreter's last garbage collection walks every object the command loaded: ~0.5 s once
    # datasets, pyarrow, matplotlib and the SDK are imported. The process is ending and every file is
    # closed by then, so those objects are left to the operating system; atexit handlers still run.
    gc.freeze()
    sys.exit(code)
