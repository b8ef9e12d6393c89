"""The blind judge: reads any list of texts and says, per audited dimension, which value each one shows.

`Judge.judge(texts)` takes rows as {field: text} mappings and returns one verdict per row ({dimension: value
or "unclear"}, None when the judge could not be asked or answered nothing usable). Verdicts already in the
store are not asked again; the rest go out `items_per_request` rows per request, concurrently, through the
judge's backend (its rate limits, retries and faults), each request reserved against the run's `Budget`
first. The first pass goes through Message Batches when the backend is set to batch; what fails is asked
again online, up to `max_passes` passes. A tqdm bar on stderr shows rows judged, rate and ETA.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from hf_synth.errors import BudgetExceededError
from hf_synth.generation.audit.request import JudgeRequestBuilder, content_key, verdicts_from_items
from hf_synth.generation.audit.store import VerdictStore
from hf_synth.generation.backends.base import (
    Backend,
    FatalBackendError,
    GenerationRequest,
    GenerationResult,
    RetryableBackendError,
    Usage,
)
from hf_synth.generation.budget import Budget

__all__ = ["Judge", "JudgeStats"]


@dataclass
class JudgeStats:
    """What the judge did in this process: requests (billed attempts), rows judged now, rows found judged,
    failed requests, and the usage of this process's judge requests."""

    requests: int = 0
    judged: int = 0
    cached: int = 0
    failed_requests: int = 0
    usage: Usage = field(default_factory=Usage)


class Judge:
    """A blind judge over `backend` for the audited `dimensions` ({name: values in recipe order}).

    `items_per_request` rows are quoted per request (1 for the local backend, which scores one prompt per
    request and so cannot tell the rows of one request apart); `budget` is the run's (the judge's spending
    counts toward it); `seed` shuffles the value order of each request.
    """

    def __init__(
        self,
        backend: Backend,
        store: VerdictStore,
        dimensions: Mapping[str, Sequence[str]],
        *,
        seed: int = 0,
        items_per_request: int = 10,
        budget: Budget | None = None,
        progress: bool = True,
        max_passes: int = 3,
    ) -> None:
        self.backend = backend
        self.store = store
        self.dimensions = {d: list(v) for d, v in dimensions.items()}
        self.identity = f"{backend.name}:{backend.model}"
        self.items_per_request = 1 if backend.name == "local" else max(1, items_per_request)
        self.budget = budget if budget is not None else Budget(None, backend, 0.0)
        self.budget.admit(backend)
        self.progress = progress
        self.max_passes = max(1, max_passes)
        self.builder = JudgeRequestBuilder(
            self.dimensions, seed, self.identity, concise=backend.name == "local"
        )
        self.stats = JudgeStats()
        self._batch = bool(getattr(backend, "batch", False)) and hasattr(backend, "generate_batch")

    def key(self, texts: Mapping[str, str]) -> str:
        """The content key a row's verdict is stored under."""
        return content_key(texts, self.dimensions, self.identity)

    async def judge(self, texts: Sequence[Mapping[str, str]]) -> list[dict[str, str] | None]:
        """One verdict per row of `texts` (None: not judged). Raises `BudgetExceededError` when the budget
        stops the judge with rows left, `FatalBackendError` when the backend refuses."""
        keys = [self.key(t) for t in texts]
        by_key = dict(zip(keys, texts, strict=True))
        known = self.store.verdicts(by_key)
        todo = [k for k in by_key if k not in known]
        self.stats.cached += len(by_key) - len(todo)
        if todo:
            bar = tqdm(
                total=len(by_key),
                initial=len(by_key) - len(todo),
                desc="judging",
                unit="row",
                disable=not self.progress,
                dynamic_ncols=True,
            )
            try:
                for attempt in range(self.max_passes):
                    if not todo or self.budget.hit:
                        break
                    chunks = [
                        todo[i : i + self.items_per_request]
                        for i in range(0, len(todo), self.items_per_request)
                    ]
                    requests = [self.builder.request(c, [by_key[k] for k in c]) for c in chunks]
                    if attempt == 0 and self._batch:
                        await self._batch_pass(
                            requests, dict(zip([r.key for r in requests], chunks, strict=True)), known, bar
                        )
                    else:
                        await self._online_pass(list(zip(requests, chunks, strict=True)), known, bar)
                    todo = [k for k in todo if k not in known]
            finally:
                bar.close()
            if todo and self.budget.hit:
                raise BudgetExceededError(self.budget.limit or 0.0, self.budget.spent, len(todo))
        return [known.get(k) for k in keys]

    # --- sending ------------------------------------------------------------------------------------------

    async def _online_pass(
        self, work: list[tuple[GenerationRequest, list[str]]], known: dict[str, dict[str, str]], bar: tqdm
    ) -> None:
        sem = asyncio.Semaphore(max(1, self.backend.max_concurrency))

        async def one(request: GenerationRequest, keys: list[str]) -> None:
            async with sem:
                reserved = await self.budget.reserve(request, backend=self.backend)
                if reserved is None:
                    return
                try:
                    result = await self.backend.generate(request)
                    self._take(request, keys, result, known, bar)
                except RetryableBackendError as exc:
                    self._fail(exc.usage)
                except FatalBackendError as exc:
                    self._fail(exc.usage)
                    raise
                finally:
                    await self.budget.release(reserved)

        tasks = [asyncio.create_task(one(r, k)) for r, k in work]
        try:
            await asyncio.gather(*tasks)
        except FatalBackendError:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _batch_pass(
        self,
        requests: list[GenerationRequest],
        chunks: dict[str, list[str]],
        known: dict[str, dict[str, str]],
        bar: tqdm,
    ) -> None:
        """Send the requests as Message Batches; results of batches a crashed run left open are used too."""
        batch: list[GenerationRequest] = []
        reserved = 0.0
        for request in requests:
            amount = await self.budget.reserve(request, batch=True, wait=False, backend=self.backend)
            if amount is None:
                break
            reserved += amount
            self.store.remember_request(request.key, chunks[request.key])
            batch.append(request)
        try:
            async for request, outcome in self.backend.generate_batch(batch, self.store):  # type: ignore[attr-defined]
                keys = chunks.get(request.key) or self.store.request_contents(request.key) or []
                if isinstance(outcome, GenerationResult) and keys:
                    self._take(request, keys, outcome, known, bar)
                else:
                    self._fail(getattr(outcome, "usage", None) or Usage())
        finally:
            await self.budget.release(reserved)

    # --- outcomes -----------------------------------------------------------------------------------------

    def _count(self, usage: Usage) -> None:
        self.stats.requests += usage.requests
        self.stats.usage.add(usage)
        self.budget.charge(usage)

    def _fail(self, usage: Usage) -> None:
        self.stats.failed_requests += 1
        self._count(usage)
        self.store.record({}, self.identity, usage)

    def _take(
        self,
        request: GenerationRequest,
        keys: list[str],
        result: GenerationResult,
        known: dict[str, dict[str, str]],
        bar: tqdm,
    ) -> None:
        if result.usage.requests == 0:
            result.usage.requests = 1
        self._count(result.usage)
        verdicts = verdicts_from_items(result.items, len(keys), self.builder.answer_fields)
        got: dict[str, Any] = {k: v for k, v in zip(keys, verdicts, strict=True) if v is not None}
        self.store.record(got, self.identity, result.usage)
        known.update(got)
        self.stats.judged += len(got)
        bar.update(len(got))
        bar.set_postfix(requests=self.stats.requests, refresh=False)
