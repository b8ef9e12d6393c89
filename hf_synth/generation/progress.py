"""The generation progress bar: counters bumped per row, drawn by tqdm at a fixed rate (to stderr).

Bumping a counter is an integer addition, so the bar costs the same whether a run finishes ten rows a second
or a thousand; the bar itself is redrawn `interval` seconds apart by a background task.
"""

from __future__ import annotations

import asyncio
import contextlib

from tqdm.auto import tqdm

__all__ = ["Progress"]


class Progress:
    """Rows done (of `total`), requests and failed attempts; a bar when `enabled`."""

    def __init__(self, total: int, initial: int, enabled: bool, interval: float = 0.5) -> None:
        self.done = initial
        self.requests = 0
        self.failed = 0
        self.interval = interval
        self._bar = tqdm(
            total=total,
            initial=initial,
            desc="generating",
            unit="row",
            disable=not enabled,
            dynamic_ncols=True,
            mininterval=interval,
        )
        self._task: asyncio.Task[None] | None = None

    def advance(self, rows: int) -> None:
        """Count `rows` more finished rows (negative when rows are discarded for regeneration)."""
        self.done += rows

    def refresh(self) -> None:
        """Draw the bar now (rows, rate, ETA, requests, failed attempts)."""
        if self._bar.disable:
            return
        self._bar.update(self.done - self._bar.n)
        self._bar.set_postfix(requests=self.requests, failed=self.failed, refresh=False)
        self._bar.refresh()

    async def _redraw(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.refresh()

    def start(self) -> None:
        """Redraw every `interval` seconds from the running event loop (no-op when disabled)."""
        if not self._bar.disable and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._redraw())

    async def close(self) -> None:
        """Stop redrawing, draw the final state and close the bar."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.refresh()
        self._bar.close()
