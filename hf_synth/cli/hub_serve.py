"""`hf-synth hub-serve --root DIR`: the loopback rehearsal Hub (first stdout line: its URL)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from hf_synth.cli.command import command
from hf_synth.errors import EXIT_INTERRUPTED, UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `hub-serve` command."""
    p = subparsers.add_parser(
        "hub-serve",
        help="run the loopback rehearsal Hub (point HF_ENDPOINT at the printed URL)",
        description="Serve the Hub HTTP API and Xet storage used by huggingface_hub, hf_xet, the hf CLI and "
        "datasets, on loopback, with default client settings. Accepted tokens: --token, else "
        "$HF_SYNTH_HUB_TOKENS (comma-separated); with neither, OPEN mode (any non-empty token reads and "
        "writes: for a throwaway rehearsal only). The auth mode is printed to stderr.",
    )
    p.add_argument("--root", type=Path, required=True, help="storage folder (created; survives restarts)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    p.add_argument(
        "--token",
        action="append",
        metavar="TOKEN",
        help="accept this bearer token (repeatable); overrides $HF_SYNTH_HUB_TOKENS",
    )
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    p.add_argument(
        "--lfs",
        action="store_true",
        help="kept for compatibility: binary, large and parquet files always travel through Xet or "
        "git-LFS as on the Hub",
    )
    p.set_defaults(func=run)


class _Stop(Exception):
    """SIGTERM: leave serve_forever at once."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Stop


@command
def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM (exit 0) or Ctrl-C (130); the first stdout line is the URL, the auth mode goes
    to stderr."""
    from hf_synth.hub.server import serve

    tokens = {t for t in args.token or [] if t.strip()} or None
    try:
        server = serve(args.root, args.host, args.port, tokens=tokens, verbose=args.verbose)
    except (ValueError, OSError) as exc:
        raise UsageError(f"cannot serve on {args.host}:{args.port}: {exc}") from None
    print(server.url, flush=True)
    print(f"hub-serve: {server.auth_mode}", file=sys.stderr, flush=True)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        server.serve_forever(poll_interval=0.2)
    except _Stop:
        print("hub-serve: stopped (SIGTERM)", file=sys.stderr)
        return 0
    except KeyboardInterrupt:
        print("hub-serve: stopped (interrupted)", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        server.server_close()
    return 0
