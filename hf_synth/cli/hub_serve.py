"""`hf-synth hub-serve --root DIR`: the loopback rehearsal Hub (first stdout line: its URL)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hf_synth.cli.command import command


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `hub-serve` command."""
    p = subparsers.add_parser(
        "hub-serve",
        help="run the loopback rehearsal Hub (point HF_ENDPOINT at the printed URL)",
        description="Serve the Hub HTTP API subset used by huggingface_hub/datasets on loopback. Accepted "
        "tokens: $HF_SYNTH_HUB_TOKENS (comma-separated), else any non-empty token.",
    )
    p.add_argument("--root", type=Path, required=True, help="storage folder (created; survives restarts)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    p.add_argument(
        "--lfs",
        action="store_true",
        help="send binary/large/parquet files through git-LFS as the Hub does (needed by push_to_hub; "
        "clients must set HF_HUB_DISABLE_XET=1)",
    )
    p.set_defaults(func=run)


@command
def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; the first stdout line is the URL."""
    from hf_synth.hub.server import serve

    server = serve(args.root, args.host, args.port, verbose=args.verbose, lfs=args.lfs)
    print(server.url, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
