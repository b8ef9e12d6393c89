"""Message Batches of the loopback server: create, poll, results (JSONL), list, cancel."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hf_synth.testing.wire import ApiError, rfc3339, validate_params

__all__ = ["Batch", "BatchBook"]

_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_BATCH_REQUESTS = 100_000
MAX_BATCH_BYTES = 256 * 1024 * 1024

#: (custom_id, params) → "succeeded" | "errored" | "expired" | "canceled"
Outcome = Callable[[str, dict[str, Any]], str]
#: params → a Message object (dict), the answer of a succeeded request
Answer = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Batch:
    id: str
    requests: list[dict[str, Any]]
    created: float
    ends: float
    created_at: str
    canceled: bool = False
    results: list[dict[str, Any]] | None = None
    counts: dict[str, int] = field(default_factory=dict)


class BatchBook:
    """The batches of one server; `url` is the server's base URL (for `results_url`)."""

    def __init__(self) -> None:
        self.batches: dict[str, Batch] = {}

    def create(self, body: Any, version: str, delay: float, url: str) -> dict[str, Any]:
        """Validate and store a batch that ends `delay` seconds from now; its JSON."""
        if not isinstance(body, dict) or not isinstance(body.get("requests"), list) or not body["requests"]:
            raise ApiError("invalid_request_error", "requests: a non-empty list is required")
        reqs = body["requests"]
        if len(reqs) > MAX_BATCH_REQUESTS:
            raise ApiError("invalid_request_error", f"requests: at most {MAX_BATCH_REQUESTS} per batch")
        if len(json.dumps(body)) > MAX_BATCH_BYTES:
            raise ApiError("request_too_large", "batch exceeds 256 MB")
        seen: set[str] = set()
        for i, r in enumerate(reqs):
            cid = r.get("custom_id") if isinstance(r, dict) else None
            if not isinstance(cid, str) or not _CUSTOM_ID.match(cid):
                raise ApiError(
                    "invalid_request_error", f"requests.{i}.custom_id: must match {_CUSTOM_ID.pattern}"
                )
            if cid in seen:
                raise ApiError("invalid_request_error", f"requests.{i}.custom_id: duplicate {cid!r}")
            seen.add(cid)
            try:
                validate_params(r.get("params"), version=version)
            except ApiError as e:
                raise ApiError("invalid_request_error", f"requests.{i}.params.{e.message}") from None
        now = time.monotonic()
        batch = Batch(
            id=f"msgbatch_loop_{uuid.uuid4().hex[:24]}",
            requests=reqs,
            created=now,
            ends=now + delay,
            created_at=rfc3339(time.time()),
        )
        self.batches[batch.id] = batch
        return self.describe(batch, url, None, None)

    def get(self, batch_id: str) -> Batch:
        batch = self.batches.get(batch_id)
        if batch is None:
            raise ApiError("not_found_error", f"message batch {batch_id!r} not found")
        return batch

    def cancel(self, batch: Batch, delay: float) -> None:
        if not batch.canceled and time.monotonic() < batch.ends:
            batch.canceled = True
            batch.ends = time.monotonic() + min(0.2, delay)

    def describe(
        self, batch: Batch, url: str, outcome: Outcome | None, answer: Answer | None
    ) -> dict[str, Any]:
        """The batch's JSON; an ended batch gets its results made (`outcome` decides, `answer` answers)."""
        now = time.monotonic()
        ended = now >= batch.ends
        if ended and batch.results is None and answer is not None:
            self._finish(batch, outcome, answer)
        status = "ended" if ended else ("canceling" if batch.canceled else "in_progress")
        counts = {"processing": 0 if ended else len(batch.requests)}
        for kind in ("succeeded", "errored", "canceled", "expired"):
            counts[kind] = batch.counts.get(kind, 0) if ended else 0
        wall_created = time.time() - (now - batch.created)
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "created_at": batch.created_at,
            "expires_at": rfc3339(wall_created + 86400),
            "ended_at": rfc3339(wall_created + (batch.ends - batch.created)) if ended else None,
            "cancel_initiated_at": None,
            "archived_at": None,
            "results_url": f"{url}/v1/messages/batches/{batch.id}/results" if ended else None,
        }

    @staticmethod
    def _finish(batch: Batch, outcome_of: Outcome | None, answer: Answer) -> None:
        results = []
        for r in batch.requests:
            outcome = "canceled" if batch.canceled else "succeeded"
            if outcome_of is not None and not batch.canceled:
                outcome = outcome_of(r["custom_id"], r["params"])
            if outcome == "succeeded":
                message = answer(r["params"])
                message["usage"]["service_tier"] = "batch"
                result: dict[str, Any] = {"type": "succeeded", "message": message}
            elif outcome == "errored":
                result = {
                    "type": "errored",
                    "error": {
                        "type": "error",
                        "error": {"type": "invalid_request_error", "message": "simulated batch error"},
                        "request_id": None,
                    },
                }
            else:
                result = {"type": outcome}
            batch.counts[outcome] = batch.counts.get(outcome, 0) + 1
            results.append({"custom_id": r["custom_id"], "result": result})
        batch.results = results

    def results(self, batch: Batch, url: str, outcome: Outcome | None, answer: Answer) -> bytes:
        """The JSONL results of an ended batch."""
        if time.monotonic() < batch.ends:
            raise ApiError("invalid_request_error", f"message batch {batch.id} is still processing")
        self.describe(batch, url, outcome, answer)
        assert batch.results is not None
        return "".join(json.dumps(r) + "\n" for r in batch.results).encode()

    def listing(self, url: str, outcome: Outcome | None, answer: Answer) -> dict[str, Any]:
        data = [self.describe(b, url, outcome, answer) for b in reversed(list(self.batches.values()))]
        return {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
