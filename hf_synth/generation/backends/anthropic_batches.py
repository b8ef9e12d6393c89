"""Message Batches for the Anthropic backend: submit, persist batch ids, poll, collect, resume after a crash.

`BatchesMixin` is part of `AnthropicBackend`; it uses the backend's client, retry policy, body building,
usage and item parsing. A `BatchStore` (the run store, or `InMemoryBatchStore` in tests) keeps the ids of
submitted batches and what each custom_id was asked for, so a crashed run polls instead of resubmitting and
uses every paid result.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Protocol, TypeVar

from hf_synth.generation.backends.anthropic_body import custom_id_for
from hf_synth.generation.backends.anthropic_errors import TransientError, describe
from hf_synth.generation.backends.base import (
    BatchSlots,
    FatalBackendError,
    GenerationRequest,
    GenerationResult,
    RetryableBackendError,
)
from hf_synth.generation.ratelimit import parse_retry_after

__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_REQUESTS", "BatchStore", "BatchesMixin", "InMemoryBatchStore"]

log = logging.getLogger(__name__)

# Message Batches API limits (per batch): 100,000 requests or 256 MB, whichever comes first. We stay below
# the byte limit with a margin because the server measures the request as it receives it.
MAX_BATCH_REQUESTS = 100_000
MAX_BATCH_BYTES = 200 * 1024 * 1024

_T = TypeVar("_T")


class BatchStore(Protocol):
    """Where submitted batch ids live so a crashed run resumes polling instead of resubmitting.

    `slots` records what each custom_id was asked for, so a resumed run can use a paid result even when
    its pending slots are now chunked differently.
    """

    def save_batch(self, batch_id: str, custom_ids: list[str], slots: BatchSlots | None = None) -> None: ...

    def open_batches(self) -> list[tuple[str, list[str]]]: ...

    def batch_slots(self, batch_id: str) -> BatchSlots: ...

    def close_batch(self, batch_id: str) -> None: ...


class InMemoryBatchStore:
    """A `BatchStore` in a dict (tests; the run store implements the same protocol in SQLite)."""

    def __init__(self) -> None:
        self.batches: dict[str, list[str]] = {}
        self.slots: dict[str, BatchSlots] = {}
        self.closed: list[str] = []

    def save_batch(self, batch_id: str, custom_ids: list[str], slots: BatchSlots | None = None) -> None:
        self.batches[batch_id] = list(custom_ids)
        self.slots[batch_id] = dict(slots or {})

    def open_batches(self) -> list[tuple[str, list[str]]]:
        return [(bid, list(cids)) for bid, cids in self.batches.items()]

    def batch_slots(self, batch_id: str) -> BatchSlots:
        return dict(self.slots.get(batch_id, {}))

    def close_batch(self, batch_id: str) -> None:
        if self.batches.pop(batch_id, None) is not None:
            self.closed.append(batch_id)


def _recorded_request(recorded: BatchSlots, custom_id: str) -> GenerationRequest | None:
    """The request a stored batch entry was made for, rebuilt from its key and slot ids (no prompt)."""
    entry = recorded.get(custom_id)
    if entry is None:
        return None
    key, slot_ids = entry
    return GenerationRequest(
        key=key,
        slot_ids=tuple(slot_ids),
        system=None,
        prompt="",
        n_items=len(slot_ids),
        fields={},
        max_tokens=0,
        temperature=0.0,
    )


class BatchesMixin:
    """`generate_batch` and its helpers; mixed into `AnthropicBackend`."""

    max_attempts: int
    batch_size: int
    batch_poll_interval: float
    batch_timeout: float | None
    stats: Any
    total_usage: Any
    _client: Callable[[], Any]
    _backoff: Callable[[int, float | None], float]
    build_params: Callable[..., dict[str, Any]]
    _usage: Callable[..., Any]
    _items: Callable[..., list[Any]]

    async def _call(self, what: str, fn: Callable[[], Awaitable[_T]]) -> _T:
        """Run one batch-API call with the same retry policy as `generate` (no rate-limit buckets)."""
        import anthropic

        last = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await fn()
            except anthropic.APIStatusError as e:
                status = e.status_code
                detail = f"HTTP {status} {e.type or 'error'}: {e.api_message or 'no message'}"
                if status < 500 and status not in (408, 409, 429):
                    raise FatalBackendError(f"Anthropic Batches API error ({what}): {detail}") from None
                last, retry_after = detail, parse_retry_after(e.response.headers)
            except anthropic.APIConnectionError as e:
                last, retry_after = f"connection failed ({type(e).__name__})", None
            if attempt < self.max_attempts:
                await asyncio.sleep(self._backoff(attempt, retry_after))
        raise RetryableBackendError(f"{what} failed after {self.max_attempts} attempts: {last}")

    def _chunks(self, entries: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
        chunk: list[dict[str, Any]] = []
        size = 0
        for entry in entries:
            n = len(json.dumps(entry)) + 2
            if chunk and (len(chunk) >= self.batch_size or size + n > MAX_BATCH_BYTES):
                yield chunk
                chunk, size = [], 0
            chunk.append(entry)
            size += n
        if chunk:
            yield chunk

    async def generate_batch(
        self, requests: list[GenerationRequest], store: BatchStore
    ) -> AsyncIterator[tuple[GenerationRequest, GenerationResult | Exception]]:
        """Run `requests` as Message Batches; yield (request, result or exception) as each batch ends.

        Batches already recorded in `store` (a previous process crashed while they ran) are polled, not
        resubmitted; their requests are matched by `custom_id_for`. A result of such a batch that no request
        of this call asks for is still yielded (it was paid for), with the request rebuilt from the store's
        record of its key and slot ids (empty prompt), so the engine can map its items to slots. A batch is
        closed in `store` once all its results were yielded. Failed, expired or canceled requests are
        yielded as `RetryableBackendError` so the engine refills them online. Cost uses the batch discount.
        """
        client = self._client()
        by_id: dict[str, GenerationRequest] = {}
        for r in requests:
            by_id.setdefault(custom_id_for(r), r)
        open_batches = {bid: list(cids) for bid, cids in store.open_batches()}
        recorded: BatchSlots = {}
        for bid in open_batches:
            recorded.update(store.batch_slots(bid))
        covered = {cid for cids in open_batches.values() for cid in cids}
        if open_batches:
            self.stats["batches_resumed"] += len(open_batches)
            log.info("resuming %d open message batch(es)", len(open_batches))
        entries = [
            {"custom_id": cid, "params": self.build_params(r)}
            for cid, r in by_id.items()
            if cid not in covered
        ]
        for chunk in self._chunks(entries):
            batch = await self._call(
                "message batch create",
                lambda chunk=chunk: client.messages.batches.create(requests=chunk),  # type: ignore[misc]
            )
            cids = [e["custom_id"] for e in chunk]
            # Persist before anything else: from here on a crash resumes this batch.
            store.save_batch(batch.id, cids, {c: (by_id[c].key, by_id[c].slot_ids) for c in cids})
            open_batches[batch.id] = cids
            self.stats["batches_submitted"] += 1
            log.info("submitted message batch %s with %d requests", batch.id, len(cids))
        deadline = None if self.batch_timeout is None else time.monotonic() + self.batch_timeout
        while open_batches:
            for bid in list(open_batches):
                info = await self._call(
                    f"message batch {bid} retrieve",
                    lambda bid=bid: client.messages.batches.retrieve(bid),  # type: ignore[misc]
                )
                if info.processing_status != "ended":
                    continue
                seen: set[str] = set()
                results = await self._call(
                    f"message batch {bid} results",
                    lambda bid=bid: client.messages.batches.results(bid),  # type: ignore[misc]
                )
                try:
                    async for line in results:
                        req = by_id.get(line.custom_id) or _recorded_request(recorded, line.custom_id)
                        if req is None or line.custom_id in seen:
                            continue  # a duplicate line, or a batch saved without slots (older stores)
                        seen.add(line.custom_id)
                        yield req, self._batch_result(req, line.result, bid)
                finally:
                    # The consumer may stop early (crash, cancel): release the streamed HTTP response.
                    close = getattr(results, "close", None)
                    if close is not None:
                        await close()
                for cid in open_batches[bid]:
                    if cid in by_id and cid not in seen:
                        err = RetryableBackendError(f"{describe(by_id[cid])}: no result in batch {bid}")
                        yield by_id[cid], err
                store.close_batch(bid)
                del open_batches[bid]
            if not open_batches:
                break
            if deadline is not None and time.monotonic() >= deadline:
                # The batches stay open in the store: a later run resumes them.
                for bid, cids in open_batches.items():
                    for cid in cids:
                        if cid in by_id:
                            msg = f"{describe(by_id[cid])}: batch {bid} not done in {self.batch_timeout:g} s"
                            yield by_id[cid], RetryableBackendError(msg)
                return
            await asyncio.sleep(self.batch_poll_interval)

    def _batch_result(
        self, request: GenerationRequest, result: Any, batch_id: str
    ) -> GenerationResult | Exception:
        if result.type == "succeeded":
            got = self._usage(result.message.usage, batch=True)
            self.total_usage.add(got)
            try:
                return GenerationResult(items=self._items(result.message, request), usage=got)
            except TransientError as e:
                return RetryableBackendError(f"{describe(request)} in batch {batch_id}: {e}", usage=got)
        if result.type == "errored":
            err = getattr(result.error, "error", None)
            detail = f"{getattr(err, 'type', 'error')}: {getattr(err, 'message', '')}"
            # Refilled online: a request that is really invalid fails there as a FatalBackendError.
            return RetryableBackendError(f"{describe(request)} errored in batch {batch_id}: {detail}")
        return RetryableBackendError(f"{describe(request)} {result.type} in batch {batch_id}")
