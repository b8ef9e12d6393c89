"""Run-store writes grouped per event-loop tick: fewer transactions; nothing reported before it is on disk."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from hf_synth.generation.backends.base import Usage
from hf_synth.generation.runstore import RunStore
from hf_synth.generation.store_writer import TickWriter


def on_disk(path: Path) -> int:
    with sqlite3.connect(path) as con:
        return int(con.execute("SELECT COUNT(*) FROM slots").fetchone()[0])


def test_outcomes_of_one_tick_are_one_transaction_and_reported_after_commit(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    reported: list[int] = []
    with RunStore(path) as store:
        writer = TickWriter(store, on_commit=lambda rows: reported.append(on_disk(path)))

        async def go() -> None:
            # 50 answers handled in one tick (as callbacks of one event-loop iteration would be).
            for i in range(50):
                writer.add([(i, "k", {"text": f"row {i}"}, 1)], [], Usage(1, 10, 5, cost_usd=0.001))
            assert on_disk(path) == 0 and reported == []  # not committed yet, so not reported
            await asyncio.sleep(0)  # the next tick commits them together
            assert on_disk(path) == 50

        asyncio.run(go())
        assert writer.commits == 1 and reported == [50]  # reported only once on disk
        assert store.usage().requests == 50 and store.usage().cost_usd == pytest.approx(0.05)


def test_a_failed_commit_is_raised_to_the_engine(tmp_path: Path) -> None:
    with RunStore(tmp_path / "run.sqlite") as store:
        writer = TickWriter(store)

        async def go() -> None:
            store.close()  # every later commit fails
            writer.add([(1, "k", {"text": "x"}, 1)], [])
            await asyncio.sleep(0)  # the scheduled commit fails inside the event loop …
            with pytest.raises(sqlite3.ProgrammingError):
                writer.flush()  # … and the next caller gets the error

        asyncio.run(go())
