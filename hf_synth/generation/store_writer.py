"""Run-store writes grouped into one transaction per event-loop tick, with the same durability promise.

Requests that end in the same tick of the event loop are committed together in the next tick: one SQLite
transaction instead of one per request. A row is *reported* finished (progress bar, statistics) only once
its transaction has committed, so what the user saw finished is on disk; a `kill -9` loses at most the
answers of the tick in progress — rows never reported finished, requested again on resume — and never half
of a transaction (WAL). Readers call `flush()` before reading the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hf_synth.generation.backends.base import Usage
from hf_synth.generation.runstore import RunStore

__all__ = ["TickWriter"]

Finished = tuple[int, str, dict[str, Any], int]
Failed = tuple[int, str, str]


class TickWriter:
    """Buffers request outcomes and commits them at the next event-loop tick (or on `flush()`).

    `on_commit(rows)` is called after each commit with the number of finished rows it stored.
    """

    def __init__(self, store: RunStore, on_commit: Callable[[int], None] | None = None) -> None:
        self.store = store
        self.on_commit = on_commit
        self._finished: list[Finished] = []
        self._failed: list[Failed] = []
        self._usages: list[Usage] = []
        self._counters: dict[str, int] = {}
        self._scheduled: asyncio.Handle | None = None
        self._error: BaseException | None = None  # a failed scheduled commit, raised to the next caller
        self.commits = 0

    def add(
        self,
        finished: list[Finished],
        failed: list[Failed],
        usage: Usage | None = None,
        counters: dict[str, int] | None = None,
    ) -> None:
        """Queue one request's outcome: (slot, key, row, attempts) rows, (slot, key, error) failures, the
        usage it was billed and counter increments."""
        self._raise_pending()
        self._finished.extend(finished)
        self._failed.extend(failed)
        if usage is not None and (usage.requests or usage.input_tokens or usage.output_tokens):
            self._usages.append(usage)
        for name, n in (counters or {}).items():
            self._counters[name] = self._counters.get(name, 0) + n
        if self._scheduled is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no event loop: nothing to group with
                self.flush()
                return
            self._scheduled = loop.call_soon(self._scheduled_flush)

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _scheduled_flush(self) -> None:
        self._scheduled = None
        try:
            self.flush()
        except Exception as exc:  # a loop callback cannot raise to the engine: the next call does
            self._error = exc

    def flush(self) -> None:
        """Commit everything queued, in one transaction (raises a failed earlier commit's error)."""
        self._raise_pending()
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        if not (self._finished or self._failed or self._usages or self._counters):
            return
        finished, failed, usages, counters = self._finished, self._failed, self._usages, self._counters
        self._finished, self._failed, self._usages, self._counters = [], [], [], {}
        self.store.record_many(finished, failed, usages, counters)
        self.commits += 1
        if self.on_commit is not None:
            self.on_commit(len(finished))
