"""Helpers for crash tests: read a run store from outside, start `hf-synth generate`, kill it mid-run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def store_count(out: Path, sql: str) -> int:
    """One integer from the run store of folder `out` (0 while the store does not exist yet)."""
    db = out / ".hf-synth" / "run.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as con:
            return int(con.execute(sql).fetchone()[0] or 0)
    except sqlite3.OperationalError:
        return 0


def generate_cmd(recipe: Path, out: Path, *extra: str) -> list[str]:
    """The CLI command line of an anthropic-backend run without progress bar or quality pass."""
    return [
        sys.executable,
        "-m",
        "hf_synth.cli",
        "generate",
        str(recipe),
        "--out",
        str(out),
        "--backend",
        "anthropic",
        "--no-progress",
        "--no-quality",
        *extra,
    ]


def kill_when(cmd: list[str], env: dict[str, str], ready: Callable[[], bool], timeout: float = 60) -> None:
    """Start `cmd`, wait until `ready()` (or `timeout` seconds), then SIGKILL it: a crash at that moment."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while not ready() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
