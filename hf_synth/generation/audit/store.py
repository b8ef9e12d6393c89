"""Where verdicts live: tables of their own in the folder's run store file (`.hf-synth/run.sqlite`).

Verdicts are keyed by the row's content (`request.content_key`), so a re-run sends nothing for rows already
judged and a regenerated row — new text, new key — is judged again. Each judge request's verdicts and its
billed usage are one transaction, so `kill -9` loses at most the requests in flight. Audit usage is kept
apart from generation usage (the report shows the audit's cost separately; the budget counts both).
The store also implements the Anthropic backend's `BatchStore` protocol for judge Message Batches, in a
table of its own so the generation engine never sees a judge batch.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path

from hf_synth.generation.backends.base import Usage
from hf_synth.generation.sqlite_file import BatchRecords

__all__ = ["VerdictStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_verdicts (
    content_key TEXT PRIMARY KEY,
    verdict TEXT NOT NULL,
    judge TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_usage (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    requests INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_settled (
    slot_id INTEGER PRIMARY KEY,
    content_key TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_requests (
    request_key TEXT PRIMARY KEY,
    content_keys TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_batches (
    batch_id TEXT PRIMARY KEY,
    custom_ids TEXT NOT NULL,
    open INTEGER NOT NULL,
    slots TEXT
);
"""


class VerdictStore(BatchRecords):
    """Verdicts, audit usage, settled rows and judge batches of one output folder (a SQLite file shared with
    the run store; its own connection, its own tables)."""

    BATCH_TABLE = "audit_batches"

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, _SCHEMA, timeout=30)

    # --- verdicts ------------------------------------------------------------------------------------

    def verdicts(self, keys: Iterable[str] | None = None) -> dict[str, dict[str, str]]:
        """content key → verdict ({dimension: value or "unclear"}) of the keys that were judged."""
        if keys is None:
            return {
                k: json.loads(v)
                for k, v in self._db.execute("SELECT content_key, verdict FROM audit_verdicts")
            }
        wanted = list(dict.fromkeys(keys))
        out: dict[str, dict[str, str]] = {}
        for start in range(0, len(wanted), 900):
            chunk = wanted[start : start + 900]
            marks = ",".join("?" * len(chunk))
            for key, verdict in self._db.execute(
                f"SELECT content_key, verdict FROM audit_verdicts WHERE content_key IN ({marks})", chunk
            ):
                out[key] = json.loads(verdict)
        return out

    def record(self, verdicts: dict[str, dict[str, str]], judge: str, usage: Usage) -> None:
        """Store one judge answer: its verdicts (content key → verdict) and its billed usage, atomically."""
        now = time.time()
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO audit_verdicts VALUES (?, ?, ?, ?)",
                [
                    (k, json.dumps(v, ensure_ascii=False, sort_keys=True), judge, now)
                    for k, v in verdicts.items()
                ],
            )
            if usage.requests or usage.input_tokens or usage.output_tokens:
                db.execute(
                    "INSERT INTO audit_usage (requests, input_tokens, output_tokens, cache_read_tokens, "
                    "cache_write_tokens, cost_usd, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        usage.requests,
                        usage.input_tokens,
                        usage.output_tokens,
                        usage.cache_read_tokens,
                        usage.cache_write_tokens,
                        usage.cost_usd,
                        now,
                    ),
                )

    def usage(self) -> Usage:
        """What the audit cost over every run of the folder (failed judge requests included)."""
        row = self._db.execute(
            "SELECT COALESCE(SUM(requests),0), COALESCE(SUM(input_tokens),0), "
            "COALESCE(SUM(output_tokens),0), COALESCE(SUM(cache_read_tokens),0), "
            "COALESCE(SUM(cache_write_tokens),0), COALESCE(SUM(cost_usd),0) "
            "FROM audit_usage"
        ).fetchone()
        return Usage(int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]), float(row[5]))

    # --- rows accepted although they disagree (their regeneration rounds ran out) ---------------------

    def settle(self, rows: dict[int, str]) -> None:
        """Record slot id → content key of rows kept as they are after the last regeneration round, so a
        re-run does not regenerate them again (a changed row is no longer settled)."""
        now = time.time()
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO audit_settled VALUES (?, ?, ?)",
                [(s, k, now) for s, k in rows.items()],
            )

    def settled(self) -> dict[int, str]:
        """slot id → content key of the settled rows."""
        return dict(self._db.execute("SELECT slot_id, content_key FROM audit_settled"))

    # --- judge requests and Message Batches (the anthropic backend's BatchStore protocol) ---------------

    def remember_request(self, request_key: str, content_keys: list[str]) -> None:
        """What a judge request quoted, so a batch result collected after a crash maps back to its rows."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO audit_requests VALUES (?, ?)", (request_key, json.dumps(content_keys))
            )

    def request_contents(self, request_key: str) -> list[str] | None:
        row = self._db.execute(
            "SELECT content_keys FROM audit_requests WHERE request_key = ?", (request_key,)
        ).fetchone()
        return None if row is None else list(json.loads(row[0]))

