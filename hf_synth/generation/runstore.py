"""The run store: a SQLite file that records every finished slot atomically, so runs resume exactly.

A slot is finished when a row is stored for it under the request key the current recipe renders for it;
rows stored under another key (the prompt or settings changed) are stale and regenerated. The outcomes of
the requests that end in one event-loop tick are one transaction holding their rows and usage
(`store_writer.TickWriter`), so a crash (even `kill -9`) loses at most the requests in flight and the
answers of that tick, never a row reported finished, and never half-writes a row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hf_synth.generation.backends.base import Usage
from hf_synth.generation.sqlite_file import BatchRecords

_SCHEMA = """
CREATE TABLE IF NOT EXISTS slots (
    slot_id INTEGER PRIMARY KEY,
    request_key TEXT NOT NULL,
    row TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    finished_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slot_id INTEGER NOT NULL,
    request_key TEXT NOT NULL,
    error TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS failures_slot ON failures(slot_id);
CREATE TABLE IF NOT EXISTS usage (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    requests INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    custom_ids TEXT NOT NULL,
    open INTEGER NOT NULL,
    slots TEXT
);
"""


class RunStore(BatchRecords):
    """Finished slots, failed attempts, usage and open batches of one output folder."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, _SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(batches)")}
        if "slots" not in columns:  # a store written before batches recorded their slots
            self._db.execute("ALTER TABLE batches ADD COLUMN slots TEXT")

    # --- slots ---------------------------------------------------------------------------------

    def finished_keys(self) -> dict[int, str]:
        """slot id → the request key its stored row was made under."""
        return dict(self._db.execute("SELECT slot_id, request_key FROM slots"))

    def rows(self, slot_ids: Iterable[int] | None = None) -> dict[int, dict[str, Any]]:
        """slot id → stored row (the item's fields after edge transforms)."""
        if slot_ids is None:
            cur = self._db.execute("SELECT slot_id, row FROM slots")
            return {sid: json.loads(row) for sid, row in cur}
        out: dict[int, dict[str, Any]] = {}
        ids = list(slot_ids)
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            marks = ",".join("?" * len(chunk))
            for sid, row in self._db.execute(
                f"SELECT slot_id, row FROM slots WHERE slot_id IN ({marks})", chunk
            ):
                out[sid] = json.loads(row)
        return out

    def record_request(
        self,
        finished: list[tuple[int, str, dict[str, Any], int]],
        failed: list[tuple[int, str, str]],
        usage: Usage,
    ) -> None:
        """Store one request's outcome in a single transaction.

        finished: (slot_id, request_key, row, attempts); failed: (slot_id, request_key, error).
        """
        self.record_many(finished, failed, [usage])

    def record_many(
        self,
        finished: list[tuple[int, str, dict[str, Any], int]],
        failed: list[tuple[int, str, str]],
        usages: list[Usage],
        counters: dict[str, int] | None = None,
    ) -> None:
        """Store the outcomes of several requests (rows, failures, usages, counter increments) in a single
        transaction: all of it is on disk afterwards, or none of it."""
        now = time.time()
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO slots VALUES (?, ?, ?, ?, ?)",
                [
                    (sid, key, json.dumps(row, ensure_ascii=False), att, now)
                    for sid, key, row, att in finished
                ],
            )
            db.executemany(
                "INSERT INTO failures (slot_id, request_key, error, at) VALUES (?, ?, ?, ?)",
                [(sid, key, err, now) for sid, key, err in failed],
            )
            db.executemany(
                "INSERT INTO usage (requests, input_tokens, output_tokens, cache_read_tokens, "
                "cache_write_tokens, cost_usd, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        u.requests,
                        u.input_tokens,
                        u.output_tokens,
                        u.cache_read_tokens,
                        u.cache_write_tokens,
                        u.cost_usd,
                        now,
                    )
                    for u in usages
                    if u.requests or u.input_tokens or u.output_tokens
                ],
            )
            db.executemany(
                "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
                [(name, n, n) for name, n in (counters or {}).items()],
            )

    def discard(self, slot_ids: Iterable[int], reason: str, counter: str) -> None:
        """Drop finished rows that must be regenerated (e.g. unrequested duplicates), counting them."""
        ids = list(slot_ids)
        if not ids:
            return
        now = time.time()
        with self._tx() as db:
            rows = db.execute(
                f"SELECT slot_id, request_key FROM slots WHERE slot_id IN ({','.join('?' * len(ids))})", ids
            ).fetchall()
            db.executemany("DELETE FROM slots WHERE slot_id = ?", [(sid,) for sid, _ in rows])
            db.executemany(
                "INSERT INTO failures (slot_id, request_key, error, at) VALUES (?, ?, ?, ?)",
                [(sid, key, reason, now) for sid, key in rows],
            )
        self.add_counter(counter, len(rows))

    # --- accounting ----------------------------------------------------------------------------

    def failures(self, slot_ids: Iterable[int] | None = None) -> dict[int, list[str]]:
        """slot id → its failed attempts' errors, oldest first."""
        out: dict[int, list[str]] = {}
        wanted = None if slot_ids is None else set(slot_ids)
        for sid, err in self._db.execute("SELECT slot_id, error FROM failures ORDER BY id"):
            if wanted is None or sid in wanted:
                out.setdefault(sid, []).append(err)
        return out

    def usage(self) -> Usage:
        """Total usage over every run of this folder (resumes included)."""
        row = self._db.execute(
            "SELECT COALESCE(SUM(requests),0), COALESCE(SUM(input_tokens),0), "
            "COALESCE(SUM(output_tokens),0), "
            "COALESCE(SUM(cache_read_tokens),0), COALESCE(SUM(cache_write_tokens),0), "
            "COALESCE(SUM(cost_usd),0) FROM usage"
        ).fetchone()
        return Usage(int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]), float(row[5]))

    def add_counter(self, name: str, n: int) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
                (name, n, n),
            )

    def counters(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT name, value FROM counters"))

