"""Where gap filling keeps its state: tables of its own in the folder's run store (`.hf-synth/run.sqlite`).

A round's record (the coverage it started from, the regions it fills) and its slots are written in one
transaction before any of its rows is requested, so after `kill -9` a re-run finds the same slots (ids,
values, splits, examples: the same request keys) and requests only the rows not yet finished. Slot ids are
never reused, not even for slots withdrawn when the budget stopped a round.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hf_synth.generation.sqlite_file import SqliteFile
from hf_synth.planning.gaps import GAP_SLOT_BASE, GapSlot

__all__ = ["GapStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gap_slots (
    slot_id INTEGER PRIMARY KEY, round INTEGER NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS gap_rounds (
    round INTEGER PRIMARY KEY, started_at REAL NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS gap_state (name TEXT PRIMARY KEY, data TEXT NOT NULL);
"""


class GapStore(SqliteFile):
    """Gap slots, round records and the loop's state of one output folder."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, _SCHEMA)

    def slots(self) -> list[GapSlot]:
        """Every stored gap slot, by slot id."""
        cur = self._db.execute("SELECT slot_id, data FROM gap_slots ORDER BY slot_id")
        return [GapSlot.from_json(sid, json.loads(data)) for sid, data in cur]

    def rounds(self) -> list[dict[str, Any]]:
        """Every round's record, in order ({"round", "started_at", ...})."""
        cur = self._db.execute("SELECT round, started_at, data FROM gap_rounds ORDER BY round")
        return [{"round": r, "started_at": at, **json.loads(data)} for r, at, data in cur]

    def next_slot_id(self) -> int:
        """The id the next gap slot gets (ids are never reused)."""
        return int(self.state("next_slot_id") or GAP_SLOT_BASE)

    def add_round(self, round_no: int, record: dict[str, Any], slots: Iterable[GapSlot]) -> None:
        """Store a round's record and its slots in one transaction."""
        slots = list(slots)
        nxt = max([self.next_slot_id(), *(s.slot_id + 1 for s in slots)])
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO gap_rounds VALUES (?, ?, ?)",
                (round_no, time.time(), json.dumps(record, ensure_ascii=False)),
            )
            db.executemany(
                "INSERT INTO gap_slots VALUES (?, ?, ?)",
                [(s.slot_id, s.round, json.dumps(s.to_json(), ensure_ascii=False)) for s in slots],
            )
            db.execute("INSERT OR REPLACE INTO gap_state VALUES ('next_slot_id', ?)", (json.dumps(nxt),))

    def update_round(self, round_no: int, changes: dict[str, Any]) -> None:
        """Merge `changes` into a stored round's record."""
        row = self._db.execute("SELECT data FROM gap_rounds WHERE round = ?", (round_no,)).fetchone()
        if row is None:
            return
        data = {**json.loads(row[0]), **changes}
        with self._tx() as db:
            db.execute(
                "UPDATE gap_rounds SET data = ? WHERE round = ?",
                (json.dumps(data, ensure_ascii=False), round_no),
            )

    def withdraw(self, slot_ids: Iterable[int]) -> int:
        """Remove gap slots that will not be filled (the budget stopped their round); returns how many."""
        ids = [(int(s),) for s in slot_ids]
        with self._tx() as db:
            db.executemany("DELETE FROM gap_slots WHERE slot_id = ?", ids)
        return len(ids)

    def state(self, name: str) -> Any:
        """A stored value of the loop's state (None when unset)."""
        row = self._db.execute("SELECT data FROM gap_state WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_state(self, name: str, value: Any) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO gap_state VALUES (?, ?)",
                (name, json.dumps(value, ensure_ascii=False)),
            )
