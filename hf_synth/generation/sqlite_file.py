"""The SQLite file of an output folder's state (`.hf-synth/run.sqlite`), opened the one way resume relies on.

The run store, the audit's verdict store and the gap-filling store each keep their own tables in the same
file, each through its own connection. They share this base: WAL (readers never block the writer) with
synchronous=NORMAL (durable against a process crash, which is what `kill -9` and resume need), autocommit
outside explicit `BEGIN IMMEDIATE` transactions, and a context manager that closes the connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

__all__ = ["SqliteFile"]


class SqliteFile:
    """One connection to the folder's SQLite file, with `schema` (CREATE ... IF NOT EXISTS) applied.

    `timeout` (seconds) is how long a statement waits for another connection's write lock.
    """

    def __init__(self, path: str | Path, schema: str, *, timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Used from the event loop's thread only; check_same_thread=False lets a worker thread close it.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=timeout)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(schema)

    def close(self) -> None:
        """Close the connection (committed work is on disk)."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
