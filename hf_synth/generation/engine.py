"""The generation engine: rounds of concurrent requests over the pending slots of a plan.

Every slot has a request key (`request_builder`): slots whose stored row was made under their current key
are finished and never re-requested; the rest are requested in rounds. In one round every pending slot is
requested once — rows that quote or copy a partner right after their partner is finished, in the same
round — so `max_rounds` is the most requests one row gets (each with the backend's own `max_attempts`
transport retries). A row is kept only when it passes the field types, its edge-case check and the
duplicate checks; otherwise the slot is refilled in the next round with the error fed back. Rows and the
usage of every billed attempt are committed to the run store in one transaction per event-loop tick
(`store_writer`); a row counts as finished (progress bar, statistics) once it is on disk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hf_synth.edge_cases import normalise_text
from hf_synth.errors import BudgetExceededError, IncompleteRunError
from hf_synth.generation.backends.base import (
    Backend,
    FatalBackendError,
    GenerationResult,
    RetryableBackendError,
    Usage,
)
from hf_synth.generation.budget import Budget
from hf_synth.generation.progress import Progress
from hf_synth.generation.request_builder import KEY_VERSION, RequestBuilder, Slot, quote_in_feedback
from hf_synth.generation.runstore import RunStore
from hf_synth.generation.slots import SlotSpec
from hf_synth.generation.store_writer import TickWriter
from hf_synth.recipe import Recipe
from hf_synth.recipe.schema import validate_item

__all__ = [
    "KEY_VERSION",
    "BudgetExceededError",
    "Engine",
    "GenerationStats",
    "IncompleteRunError",
    "Slot",
]

log = logging.getLogger(__name__)


@dataclass
class GenerationStats:
    """What a run cost and did; counts are over this invocation unless named `total_*`.

    `requests` and `usage` count every billed attempt of this run (answers that could not be used
    included); `total_usage` is the folder's whole life from the run store. `cache_requested` /
    `cache_skipped` count requests sent with / without a prompt-cache breakpoint and `cache_note` says why
    caching was not asked for (None when it always was).
    """

    rows: int = 0
    planned: int = 0
    resumed: int = 0
    requests: int = 0
    failed_attempts: int = 0
    check_failures: int = 0
    regenerated_duplicates: int = 0
    regenerated_near_duplicates: int = 0
    rounds: int = 0
    seconds: float = 0.0
    usage: Usage = field(default_factory=Usage)
    total_usage: Usage = field(default_factory=Usage)
    backend: str = ""
    model: str = ""
    cache_requested: int = 0
    cache_skipped: int = 0
    cache_note: str | None = None


class Engine:
    """Fills a plan's slots through a backend, recording every finished slot in the run store.

    Raises `UsageError` at construction when `budget_usd` is set for a billed model without a price.
    """

    def __init__(
        self,
        recipe: Recipe,
        slots: list[SlotSpec],
        backend: Backend,
        store: RunStore,
        *,
        progress: bool = True,
        embed: Callable[[list[str]], np.ndarray] | None = None,
        budget_usd: float | None = None,
    ) -> None:
        self.recipe = recipe
        self.backend = backend
        self.store = store
        self.progress = progress
        self.embed = embed  # texts → (n, d) normalised embeddings, for near-duplicate control
        self.builder = RequestBuilder(recipe, backend.name, backend.model)
        self.kinds = self.builder.kinds
        self.fields = self.builder.fields
        self.text_field = self.builder.text_field
        self.slots = self.builder.build_slots(slots)
        self._dependents = [s for s in self.slots.values() if s.partner >= 0]
        self._partners = {s.partner for s in self._dependents}
        self.stats = GenerationStats(backend=backend.name, model=backend.model, planned=len(self.slots))
        self._feedback: dict[str, str] = {}
        self._slot_feedback: dict[int, str] = {}  # per slot, e.g. a label judge's reading of its last row
        self.budget = Budget(budget_usd, backend, store.usage().cost_usd)
        self._use_batch = bool(getattr(backend, "batch", False)) and hasattr(backend, "generate_batch")
        self._progress = Progress(len(self.slots), 0, enabled=False)
        self._writer = TickWriter(store, on_commit=lambda rows: self._progress.advance(rows))

    def add_slots(self, specs: list[SlotSpec]) -> None:
        """More slots to fill (a gap-filling round); their ids must be new. The next `run` requests them."""
        new = self.builder.build_slots(specs)
        self.slots.update(new)
        self._dependents += [s for s in new.values() if s.partner >= 0]
        self._partners |= {s.partner for s in new.values() if s.partner >= 0}
        self.stats.planned = len(self.slots)

    def remove_slots(self, slot_ids: list[int]) -> None:
        """Stop filling these slots (a gap round the budget cut short); rows already stored are untouched."""
        for sid in slot_ids:
            self.slots.pop(sid, None)
        self._dependents = [s for s in self._dependents if s.slot_id in self.slots]
        self.stats.planned = len(self.slots)

    # --- the run ----------------------------------------------------------------------------------

    def pending(self) -> list[Slot]:
        """Slots without a row stored under their current key (partner-dependent keys resolved from the
        partners' stored rows)."""
        self._writer.flush()
        done = self.store.finished_keys()
        if self._dependents:
            partner_rows = self.store.rows(self._partners)
            for slot in self._dependents:
                slot.key = self.builder.partner_key(slot, partner_rows.get(slot.partner))
        return [s for s in self.slots.values() if done.get(s.slot_id) != s.key]

    async def run(self) -> GenerationStats:
        """Fill every pending slot; raises `IncompleteRunError` if quotas cannot be met."""
        start = time.perf_counter()
        pending = self.pending()
        self.stats.resumed = len(self.slots) - len(pending)
        bar = self._progress = Progress(len(self.slots), self.stats.resumed, enabled=self.progress)
        bar.start()
        try:
            for _ in range(self.recipe.max_rounds):
                if not pending or self.budget.hit:
                    break
                self.stats.rounds += 1
                attempted: set[int] = set()
                while not self.budget.hit:
                    # A row that quotes a partner waits until the partner's row is current.
                    waiting = {s.slot_id for s in pending}
                    ready = [s for s in pending if s.slot_id not in attempted and s.partner not in waiting]
                    if not ready:
                        break
                    await self._round(ready)
                    attempted.update(s.slot_id for s in ready)
                    if any(s.edge_index == 0 for s in ready):
                        self._near_duplicate_pass()
                    pending = self.pending()
        finally:
            self._writer.flush()
            await bar.close()
            self.stats.seconds = time.perf_counter() - start
            self.stats.total_usage = self.store.usage()
            counters = self.store.counters()
            self.stats.rows = len(self.slots) - len(self.pending())
            self.stats.regenerated_duplicates = counters.get("regenerated_duplicates", 0)
            self.stats.regenerated_near_duplicates = counters.get("regenerated_near_duplicates", 0)
            self._caching_stats()
        pending = self.pending()
        if pending and self.budget.hit:
            raise BudgetExceededError(self.budget.limit or 0.0, self.budget.spent, len(pending))
        if pending:
            short: dict[str, int] = defaultdict(int)
            for slot in pending:
                short[slot.stratum_id] += 1
            raise IncompleteRunError(dict(short), self._pending_errors(pending))
        return self.stats

    def _pending_errors(self, pending: list[Slot]) -> dict[int, str]:
        """Why each unfilled slot has no current row, from the run store: a stored row made before its
        partner was regenerated, else the slot's last failure or discard (this run's or an earlier one's:
        a failed request, a near-duplicate, the label audit, the leakage guard), else what it waited for."""
        waiting = {s.slot_id for s in pending}
        has_row = self.store.finished_keys()  # a pending slot with a row has one made for an older partner
        stored = self.store.failures(waiting)
        errors: dict[int, str] = {}
        for slot in pending:
            if slot.slot_id in has_row and slot.partner >= 0:
                errors[slot.slot_id] = (
                    f"its partner row (slot {slot.partner}) was regenerated after its row was written, and "
                    "no row was made from the new one"
                )
            elif stored.get(slot.slot_id):
                errors[slot.slot_id] = stored[slot.slot_id][-1]
            elif slot.partner in waiting:
                errors[slot.slot_id] = f"its partner row (slot {slot.partner}) was never finished"
            else:
                errors[slot.slot_id] = "not requested before the rounds ran out"
        return errors

    def _caching_stats(self) -> None:
        summary = getattr(self.backend, "caching_summary", None)
        if summary is None:
            self.stats.cache_note = f"the {self.backend.name} backend has no prompt cache"
            return
        self.stats.cache_requested, self.stats.cache_skipped, self.stats.cache_note = summary()

    def set_slot_feedback(self, feedback: dict[int, str]) -> None:
        """Feedback for the next request of particular slots (slot id → text), kept until the slot has a
        row again; a slot with feedback of its own is requested alone, so the text fits its one item."""
        self._slot_feedback.update(feedback)

    def _feedback_for(self, chunk: list[Slot]) -> str | None:
        parts = [self._feedback.get(chunk[0].key), *(self._slot_feedback.get(s.slot_id) for s in chunk)]
        return "\n".join(p for p in parts if p) or None

    def _chunks(self, slots: list[Slot], k: int) -> list[list[Slot]]:
        """Requests of up to k slots sharing one key and one partner (a request quotes one partner)."""
        groups: dict[tuple[str, int, int], list[Slot]] = defaultdict(list)
        for slot in slots:
            alone = slot.slot_id if slot.slot_id in self._slot_feedback else -1
            groups[(slot.key, slot.partner, alone)].append(slot)
        return [group[i : i + k] for group in groups.values() for i in range(0, len(group), k)]

    async def _round(self, ready: list[Slot]) -> None:
        k = max(1, self.backend.items_per_request)
        rows = self.store.rows({s.partner for s in ready if s.partner >= 0})
        local = [s for s in ready if s.edge_index and not self.kinds[s.edge_index - 1].needs_generation]
        if local:
            # Kinds whose transform writes every field (exact duplicates) cost no request.
            self._fill_locally(local, rows)
            local_ids = {s.slot_id for s in local}
            ready = [s for s in ready if s.slot_id not in local_ids]
        seen = self._seen_texts() if self.recipe.dedup.exact else None
        if self._use_batch:
            # Only the first round goes through batches: its failures are refilled online, where a
            # retry takes seconds rather than another batch turnaround.
            self._use_batch = False
            await self._batch_round(ready, k, rows, seen)
            return
        chunks = iter(self._chunks(ready, k))

        async def worker() -> None:
            # A fixed pool of workers pulls requests in turn: no task and no semaphore wait per request.
            for chunk in chunks:
                await self._one(chunk, rows, seen)

        n_workers = max(1, min(self.backend.max_concurrency, len(ready)))
        tasks = [asyncio.create_task(worker()) for _ in range(n_workers)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            self._writer.flush()

    async def _one(
        self,
        chunk: list[Slot],
        rows: dict[int, dict[str, Any]],
        seen: dict[str, int] | None,
    ) -> None:
        """Request one chunk and take its answer (or record its failure and billed usage)."""
        request = self.builder.request(chunk, self.slots, rows, self._feedback_for(chunk))
        budgeted = self.budget.limit is not None
        reserved = await self.budget.reserve(request) if budgeted else 0.0
        if reserved is None:
            return
        try:
            result: GenerationResult = await self.backend.generate(request)
            self._take(chunk, result, rows, seen)
        except RetryableBackendError as exc:
            self._fail(chunk, f"request failed: {exc}", exc.usage)
        except FatalBackendError as exc:
            self._record_usage(exc.usage)
            raise
        finally:
            if budgeted:
                await self.budget.release(reserved)

    async def _batch_round(
        self,
        ready: list[Slot],
        k: int,
        rows: dict[int, dict[str, Any]],
        seen: dict[str, int] | None,
    ) -> None:
        """Send a round through the Message Batches API; batch ids live in the run store (resumable).

        Results are mapped to slots, not to chunks: a slot takes items from any result made under its
        current key, so results of a batch submitted before a crash are used even when the slots are now
        chunked differently, and slots such a batch covers are not submitted again.
        """
        covered = self._open_batch_slots()
        waiting = {s.slot_id: s for s in ready}
        fresh = [s for s in ready if covered.get(s.slot_id) != s.key]
        requests, reserved = [], 0.0
        for chunk in self._chunks(fresh, k):
            request = self.builder.request(chunk, self.slots, rows, self._feedback_for(chunk))
            amount = await self.budget.reserve(request, batch=True, wait=False)
            if amount is None:
                break
            reserved += amount
            requests.append(request)
        try:
            async for request, outcome in self.backend.generate_batch(requests, self.store):  # type: ignore[attr-defined]
                chunk = [
                    waiting.pop(sid)
                    for sid in request.slot_ids
                    if sid in waiting and waiting[sid].key == request.key
                ]
                if isinstance(outcome, GenerationResult):
                    if chunk:
                        self._take(chunk, outcome, rows, seen)
                    else:
                        self._record_usage(outcome.usage)  # paid for, nothing left to fill
                elif chunk:
                    self._fail(chunk, f"batch request failed: {outcome}", getattr(outcome, "usage", Usage()))
                else:
                    self._record_usage(getattr(outcome, "usage", Usage()))
        finally:
            self._writer.flush()
            await self.budget.release(reserved)

    def _open_batch_slots(self) -> dict[int, str]:
        """slot id → request key of the slots that open (submitted, unfinished) batches cover."""
        covered: dict[int, str] = {}
        for batch_id, _ in self.store.open_batches():
            for key, slot_ids in self.store.batch_slots(batch_id).values():
                for sid in slot_ids:
                    covered[sid] = key
        return covered

    # --- outcomes ---------------------------------------------------------------------------------

    def _accept(
        self, slot: Slot, raw: Any, rows: dict[int, dict[str, Any]], attempt: int, typed: bool = True
    ) -> tuple[dict[str, Any] | None, str | None]:
        kind = self.builder.kind(slot)
        if typed:
            # Edge rows may break ranges on purpose (invalid_value, min/max); their check guards them instead.
            item, errors = validate_item(raw, self.fields, check_range=kind is None)
            if item is None:
                return None, "; ".join(errors)
        else:
            item = raw
        if kind is not None:
            ctx = self.builder.edge_context(slot, self.slots, rows)
            rng = np.random.default_rng([self.recipe.seed, slot.slot_id, attempt])
            item = kind.transform(item, ctx, rng)
            reason = kind.check(item, ctx)
            if reason:
                self.stats.check_failures += 1
                return None, f"edge case '{kind.name}' check failed: {reason}"
        return item, None

    def _fill_locally(self, slots: list[Slot], rows: dict[int, dict[str, Any]]) -> None:
        finished, failed = [], []
        for slot in slots:
            item, error = self._accept(slot, dict.fromkeys(self.fields), rows, self.stats.rounds, typed=False)
            if item is None:
                failed.append((slot.slot_id, slot.key, error or "edge transform failed"))
            else:
                finished.append((slot.slot_id, slot.key, item, self.stats.rounds))
        self._writer.add(finished, failed)

    def _seen_texts(self) -> dict[str, int]:
        """Normalised text → slot id of the finished normal rows (edge rows may repeat on purpose)."""
        seen: dict[str, int] = {}
        self._writer.flush()
        for sid, row in self.store.rows().items():
            slot = self.slots.get(sid)
            if slot is not None and slot.edge_index == 0:
                text = row.get(self.text_field)
                if isinstance(text, str) and text.strip():
                    seen.setdefault(normalise_text(text), sid)
        return seen

    def _count_usage(self, usage: Usage) -> None:
        self.stats.requests += usage.requests
        self.stats.usage.add(usage)
        self.budget.charge(usage)
        self._progress.requests = self.stats.requests

    def _record_usage(self, usage: Usage) -> None:
        """Store and count billed usage that fills no slot."""
        if usage.requests or usage.input_tokens or usage.output_tokens:
            self._count_usage(usage)
            self._writer.add([], [], usage)

    def _fail(self, chunk: list[Slot], error: str, usage: Usage) -> None:
        self.stats.failed_attempts += len(chunk)
        self._progress.failed = self.stats.failed_attempts
        self._feedback[chunk[0].key] = error
        self._count_usage(usage)
        self._writer.add([], [(s.slot_id, s.key, error) for s in chunk], usage)

    def _take(
        self,
        chunk: list[Slot],
        result: GenerationResult,
        rows: dict[int, dict[str, Any]],
        seen: dict[str, int] | None,
    ) -> None:
        if result.usage.requests == 0:
            result.usage.requests = 1
        self._count_usage(result.usage)
        finished: list[tuple[int, str, dict[str, Any], int]] = []
        failed: list[tuple[int, str, str]] = []
        items = list(result.items)
        attempt = self.stats.rounds
        duplicates = 0
        for slot in chunk:
            error = "the model returned fewer items than asked"
            # Extra items are discarded; a bad item is replaced by a later good one of the same answer.
            while items:
                item, error = self._accept(slot, items.pop(0), rows, attempt)
                if item is None:
                    continue
                text = item.get(self.text_field)
                norm = normalise_text(text) if isinstance(text, str) and text.strip() else None
                if seen is not None and slot.edge_index == 0 and norm is not None:
                    if seen.get(norm, slot.slot_id) != slot.slot_id:
                        duplicates += 1
                        error = f"exact duplicate of slot {seen[norm]}: write a different {self.text_field}"
                        continue
                    seen[norm] = slot.slot_id
                finished.append((slot.slot_id, slot.key, item, attempt))
                self._slot_feedback.pop(slot.slot_id, None)
                error = None
                break
            if error is not None:
                failed.append((slot.slot_id, slot.key, error))
                self._feedback[slot.key] = error
        self.stats.failed_attempts += len(failed)
        self._progress.failed = self.stats.failed_attempts
        counters = {"regenerated_duplicates": duplicates} if duplicates else None
        self._writer.add(finished, failed, result.usage, counters)
        if finished:
            self._feedback.pop(chunk[0].key, None)

    def _near_duplicate_pass(self) -> None:
        """Regenerate rows whose text is ≥ threshold cosine-similar to an earlier row of the same stratum."""
        threshold = self.recipe.dedup.near_threshold
        if self.embed is None or threshold is None:
            return
        from hf_synth.quality.diversity import find_near_duplicates

        self._writer.flush()
        stored = self.store.rows()
        sids = sorted(sid for sid in stored if sid in self.slots and self.slots[sid].edge_index == 0)
        texts = [str(stored[sid].get(self.text_field) or "") for sid in sids]
        if len(texts) < 2:
            return
        emb = self.embed(texts)
        groups = np.array([self.slots[sid].stratum_id for sid in sids], dtype=object)
        _, group_codes = np.unique(groups, return_inverse=True)
        dup_rows = find_near_duplicates(emb, group_codes, threshold)
        victims = [sids[int(i)] for i in dup_rows]
        if victims:
            reason = f"near duplicate (cosine ≥ {threshold}) of an earlier row of its stratum"
            self.store.discard(victims, reason, "regenerated_near_duplicates")
            for sid in victims:  # the discard reason in the run store is what `_pending_errors` reports
                quoted = quote_in_feedback(str(stored[sid].get(self.text_field) or ""))
                # Asked again without it, the model tends to write the same text again.
                self._slot_feedback[sid] = (
                    f"Your previous {self.text_field} ({quoted}) was nearly identical to another row of the "
                    "same kind: write one that differs clearly in content and wording."
                )
            self._progress.advance(-len(victims))
