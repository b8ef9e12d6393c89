"""The life of an output folder: every run that did work, with its start, end, requests and outcome.

Kept in `.hf-synth/history.json` (never pushed). A run's entry is written when it starts, so a run killed with
`kill -9` still counts toward the folder's first start; a re-run that turns out to have nothing to do is
taken out again, leaving the file as it was.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hf_synth.dataset.folder import STATE_DIR

HISTORY_FILE = f"{STATE_DIR}/history.json"


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RunRecord:
    """One invocation of `generate` on the folder."""

    started_at: str
    finished_at: str | None = None  # None: the process ended without finishing (killed, crashed)
    seconds: float | None = None
    requests: int = 0  # requests this run sent
    complete: bool | None = None  # False: stopped incomplete (quotas or budget)
    hf_synth_version: str = ""
    backend: str = ""
    model: str = ""


class RunHistory:
    """The folder's run records, oldest first (`runs`), persisted to `.hf-synth/history.json`."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / HISTORY_FILE
        self.runs: list[RunRecord] = []
        if self.path.is_file():
            self.runs = [RunRecord(**r) for r in json.loads(self.path.read_text(encoding="utf-8"))]
        self._t0: dict[int, float] = {}

    def save(self) -> None:
        """Write the records atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(r) for r in self.runs], indent=2), encoding="utf-8")
        os.replace(tmp, self.path)

    def start(self) -> RunRecord:
        """Record that a run starts now (saved at once, so a killed run still counts)."""
        from hf_synth import __version__

        record = RunRecord(started_at=_utc(time.time()), hf_synth_version=__version__)
        self.runs.append(record)
        self._t0[id(record)] = time.perf_counter()
        self.save()
        return record

    def finish(self, record: RunRecord, stats: Any, *, complete: bool) -> None:
        """Fill in the run's end from the engine's `GenerationStats` (not saved yet: see `save`/`discard`)."""
        record.finished_at = _utc(time.time())
        record.seconds = round(time.perf_counter() - self._t0.pop(id(record), time.perf_counter()), 3)
        record.requests = int(getattr(stats, "requests", 0))
        record.complete = complete
        record.backend, record.model = getattr(stats, "backend", ""), getattr(stats, "model", "")

    def discard(self, record: RunRecord) -> None:
        """Take out a run that did nothing, restoring the file to what it was before it started."""
        self.runs = [r for r in self.runs if r is not record]
        self.save()

    def summary(self) -> dict[str, Any]:
        """The report's `provenance` block: first start, last end, total time and every run."""
        finished = [r for r in self.runs if r.finished_at]
        return {
            "first_started_at": self.runs[0].started_at if self.runs else None,
            "last_finished_at": finished[-1].finished_at if finished else None,
            "runs": len(self.runs),
            "unfinished_runs": len(self.runs) - len(finished),
            "seconds_total": round(sum(r.seconds or 0.0 for r in self.runs), 3),
            "history": [asdict(r) for r in self.runs],
        }
