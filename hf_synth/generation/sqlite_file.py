"""The SQLite file of an output folder's state (`.hf-synth/run.sqlite`), opened the one way resume relies on.

The run store, the audit's verdict store and the gap-filling store each keep their own tables in the same
file, each through its own connection. They share this base: WAL (readers never block the writer) with
synchronous=NORMAL (durable against a process crash, which is what `kill -9` and resume need), autocommit
outside explicit `BEGIN IMMEDIATE` transactions, and a context manager that closes the connection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from hf_synth.generation.backends.base import BatchSlots

__all__ = ["BatchRecords", "SqliteFile"]


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


class BatchRecords(SqliteFile):
    """A store that records Message Batches (the backend's BatchStore protocol) in its table `BATCH_TABLE`
    (columns batch_id, custom_ids, open, slots), so a crashed process resumes polling, never resubmits."""

    BATCH_TABLE = "batches"

    def save_batch(self, batch_id: str, custom_ids: list[str], slots: BatchSlots | None = None) -> None:
        """Record a submitted batch: its custom ids and, per custom id, (request key, slot ids)."""
        meta = json.dumps({cid: [key, list(ids)] for cid, (key, ids) in (slots or {}).items()})
        with self._tx() as db:
            db.execute(
                f"INSERT OR REPLACE INTO {self.BATCH_TABLE} (batch_id, custom_ids, open, slots) "
                "VALUES (?, ?, 1, ?)",
                (batch_id, json.dumps(custom_ids), meta),
            )

    def open_batches(self) -> list[tuple[str, list[str]]]:
        """(batch id, custom ids) of every batch not yet closed."""
        cur = self._db.execute(f"SELECT batch_id, custom_ids FROM {self.BATCH_TABLE} WHERE open = 1")
        return [(bid, json.loads(ids)) for bid, ids in cur]

    def batch_slots(self, batch_id: str) -> BatchSlots:
        """custom id → (request key, slot ids) of a batch ({} for batches saved without them)."""
        row = self._db.execute(
            f"SELECT slots FROM {self.BATCH_TABLE} WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        if row is None or not row[0]:
            return {}
        return {cid: (key, tuple(ids)) for cid, (key, ids) in json.loads(row[0]).items()}

    def close_batch(self, batch_id: str) -> None:
        """Mark a batch's results as taken."""
        with self._tx() as db:
            db.execute(f"UPDATE {self.BATCH_TABLE} SET open = 0 WHERE batch_id = ?", (batch_id,))
