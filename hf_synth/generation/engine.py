"""The generation engine: rounds of concurrent requests over the pending slots of a plan.

Every slot has a request key (a hash of what would be sent for it). Slots whose stored row was made
under the same key are finished and never re-requested; the rest are requested in rounds. A row is kept
only when it passes the field types, its edge-case check and the duplicate checks; otherwise the slot is
refilled in the next round with the error fed back. Rows are committed to the run store per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from hf_synth.edge_cases import EdgeContext, normalise_text
from hf_synth.errors import BudgetExceededError, IncompleteRunError
from hf_synth.generation.backends.base import (
    Backend,
    FatalBackendError,
    GenerationRequest,
    GenerationResult,
    RetryableBackendError,
    Usage,
)
from hf_synth.generation.runstore import RunStore
from hf_synth.generation.slots import SlotSpec
from hf_synth.recipe import Recipe
from hf_synth.recipe.schema import item_json_schema, validate_item
from hf_synth.recipe.templates import template_env

log = logging.getLogger(__name__)

KEY_VERSION = 1


@dataclass
class Slot:
    """What the engine needs to fill one planned row."""

    slot_id: int
    values: dict[str, str]
    stratum_id: str
    edge_index: int  # 0 = none, k = recipe edge kind k-1
    partner: int  # slot id of the partner row, -1 when none
    group: str  # hash of the rendered request shared by the slots it can be batched with
    key: str = ""  # final request key (partner-dependent slots get it once the partner is done)


@dataclass
class GenerationStats:
    """What a run cost and did; counts are over this invocation unless named `total_*`."""

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


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class Engine:
    """Fills a plan's slots through a backend, recording every finished slot in the run store."""

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
        self.kinds = recipe.edge_kinds()
        self.fields = dict(recipe.fields)
        self.text_field = recipe.main_text_field
        self._env = template_env()
        self._prompt_t = self._env.from_string(recipe.prompt)
        self._system_t = self._env.from_string(recipe.system) if recipe.system else None
        self._schema = item_json_schema(self.fields)
        self._group_prompts: dict[str, tuple[str | None, str]] = {}
        self.slots = self._build_slots(slots)
        self.stats = GenerationStats(backend=backend.name, model=backend.model, planned=len(self.slots))
        self._feedback: dict[str, str] = {}
        self._last_error: dict[int, str] = {}
        self.budget_usd = budget_usd
        self._spent_before = store.usage().cost_usd
        self._reserved = 0.0
        self._budget_hit = False
        self._use_batch = bool(getattr(backend, "batch", False)) and hasattr(backend, "generate_batch")

    # --- keys and prompts -------------------------------------------------------------------------

    def _build_slots(self, specs: list[SlotSpec]) -> dict[int, Slot]:
        groups: dict[tuple[str, ...], str] = {}
        slots: dict[int, Slot] = {}
        for spec in specs:
            values = spec.values
            group_values = tuple(values.values())
            group = groups.get(group_values)
            if group is None:
                system = self._system_t.render(**values, n_items=1) if self._system_t else None
                prompt = self._prompt_t.render(**values, n_items=1)
                group = _hash(
                    {
                        "v": KEY_VERSION,
                        "system": system,
                        "prompt": prompt,
                        "values": values,
                        "model": self.backend.model,
                        "backend": self.backend.name,
                        "temperature": self.recipe.backend.temperature,
                        "max_tokens": self.recipe.backend.max_tokens,
                        "schema": self._schema,
                    }
                )
                groups[group_values] = group
                self._group_prompts[group] = (system, prompt)
            edge = spec.edge_index
            slot = Slot(spec.slot_id, dict(values), spec.stratum_id, edge, spec.partner, group)
            if edge == 0:
                slot.key = group
            elif slot.partner < 0:
                kind = self.kinds[edge - 1]
                slot.key = _hash({"group": group, "edge": kind.name, "settings": kind.settings})
            slots[spec.slot_id] = slot
        return slots

    def _edge_context(self, slot: Slot, rows: dict[int, dict[str, Any]]) -> EdgeContext:
        partner = self.slots.get(slot.partner) if slot.partner >= 0 else None
        return EdgeContext(
            fields=self.fields,
            text_field=self.text_field,
            values=slot.values,
            partner_item=rows.get(slot.partner) if partner else None,
            partner_values=partner.values if partner else None,
        )

    def _request_for(self, slots: list[Slot], rows: dict[int, dict[str, Any]]) -> GenerationRequest:
        first = slots[0]
        system, prompt = self._group_prompts[first.group]
        if len(slots) > 1 and "n_items" in self.recipe.prompt:
            values = first.values
            prompt = self._prompt_t.render(**values, n_items=len(slots))
        max_tokens = self.recipe.backend.max_tokens
        if first.edge_index:
            kind = self.kinds[first.edge_index - 1]
            instruction = kind.instruction(self._edge_context(first, rows))
            if instruction:
                prompt = f"{prompt}\n\n{instruction}"
            strings = sum(1 for f in self.fields.values() if f.type == "string")
            max_tokens = kind.request_max_tokens(max_tokens, len(slots), strings, self.backend.name)
        return GenerationRequest(
            key=first.key,
            slot_ids=tuple(s.slot_id for s in slots),
            system=system,
            prompt=prompt,
            n_items=len(slots),
            fields=self.fields,
            max_tokens=max_tokens,
            temperature=self.recipe.backend.temperature,
            feedback=self._feedback.get(first.key),
        )

    # --- checking one item ------------------------------------------------------------------------

    def _accept(
        self, slot: Slot, raw: Any, rows: dict[int, dict[str, Any]], attempt: int, typed: bool = True
    ) -> tuple[dict[str, Any] | None, str | None]:
        kind = self.kinds[slot.edge_index - 1] if slot.edge_index else None
        if typed:
            # Edge rows may break ranges on purpose (invalid_value, min/max); their check guards them instead.
            item, errors = validate_item(raw, self.fields, check_range=kind is None)
            if item is None:
                return None, "; ".join(errors)
        else:
            item = raw
        if kind is not None:
            ctx = self._edge_context(slot, rows)
            rng = np.random.default_rng([self.recipe.seed, slot.slot_id, attempt])
            item = kind.transform(item, ctx, rng)
            reason = kind.check(item, ctx)
            if reason:
                self.stats.check_failures += 1
                return None, f"edge case '{kind.name}' check failed: {reason}"
        return item, None

    # --- the run ----------------------------------------------------------------------------------

    def pending(self) -> list[Slot]:
        """Slots without a row stored under their current key (partner-dependent keys resolved)."""
        done = self.store.finished_keys()
        out = []
        for slot in self.slots.values():
            if slot.partner >= 0:
                partner_key = done.get(slot.partner)
                kind = self.kinds[slot.edge_index - 1]
                slot.key = _hash(
                    {
                        "group": slot.group,
                        "edge": kind.name,
                        "settings": kind.settings,
                        "partner": partner_key,
                    }
                )
            if done.get(slot.slot_id) != slot.key:
                out.append(slot)
        return out

    async def run(self) -> GenerationStats:
        """Fill every pending slot; raises `IncompleteRunError` if quotas cannot be met."""
        start = time.perf_counter()
        pending = self.pending()
        self.stats.resumed = len(self.slots) - len(pending)
        bar = tqdm(
            total=len(self.slots),
            initial=self.stats.resumed,
            desc="generating",
            unit="row",
            disable=not self.progress,
            dynamic_ncols=True,
        )
        try:
            for _ in range(self.recipe.max_rounds * 2):
                if not pending:
                    break
                self.stats.rounds += 1
                # Rows with a partner wait until the partner row exists: their prompt quotes it.
                done = self.store.finished_keys()
                ready = [s for s in pending if s.partner < 0 or s.partner in done]
                if not ready or self._budget_hit:
                    break
                await self._round(ready, bar)
                self._near_duplicate_pass(bar)
                pending = self.pending()
        finally:
            bar.close()
            self.stats.seconds = time.perf_counter() - start
            self.stats.total_usage = self.store.usage()
            counters = self.store.counters()
            self.stats.rows = len(self.slots) - len(self.pending())
            self.stats.regenerated_duplicates = counters.get("regenerated_duplicates", 0)
            self.stats.regenerated_near_duplicates = counters.get("regenerated_near_duplicates", 0)
        pending = self.pending()
        if pending and self._budget_hit:
            raise BudgetExceededError(self.budget_usd or 0.0, self._spent(), len(pending))
        if pending:
            short: dict[str, int] = defaultdict(int)
            for slot in pending:
                short[slot.stratum_id] += 1
            errors = {s.slot_id: self._last_error.get(s.slot_id, "partner row missing") for s in pending}
            raise IncompleteRunError(dict(short), errors)
        return self.stats

    async def _round(self, ready: list[Slot], bar: tqdm) -> None:
        k = max(1, self.backend.items_per_request)
        by_key: dict[str, list[Slot]] = defaultdict(list)
        for slot in ready:
            by_key[slot.key].append(slot)
        rows = self.store.rows(s.partner for s in ready if s.partner >= 0)
        local = [s for s in ready if s.edge_index and not self.kinds[s.edge_index - 1].needs_generation]
        if local:
            # Kinds whose transform writes every field (exact duplicates) cost no request.
            self._fill_locally(local, rows, bar)
            local_ids = {s.slot_id for s in local}
            by_key = {key: [s for s in group if s.slot_id not in local_ids] for key, group in by_key.items()}
        chunks = [group[i : i + k] for group in by_key.values() for i in range(0, len(group), k)]
        seen = self._seen_texts()
        if self._use_batch:
            # Only the first round goes through batches: its failures are refilled online, where a
            # retry takes seconds rather than another batch turnaround.
            self._use_batch = False
            await self._batch_round(chunks, rows, seen, bar)
            return
        sem = asyncio.Semaphore(max(1, self.backend.max_concurrency))

        async def one(chunk: list[Slot]) -> None:
            async with sem:
                request = self._request_for(chunk, rows)
                reserve = self._reserve(request)
                if reserve is None:
                    return
                try:
                    result: GenerationResult = await self.backend.generate(request)
                except RetryableBackendError as exc:
                    self._fail(chunk, f"request failed: {exc}", Usage())
                    return
                finally:
                    self._reserved -= reserve
                self._take(chunk, result, rows, seen, bar)

        tasks = [asyncio.create_task(one(c)) for c in chunks]
        try:
            await asyncio.gather(*tasks)
        except FatalBackendError:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _batch_round(
        self, chunks: list[list[Slot]], rows: dict[int, dict[str, Any]], seen: dict[str, int], bar: tqdm
    ) -> None:
        """Send a round through the Message Batches API; batch ids live in the run store (resumable)."""
        requests, by_request = [], {}
        for chunk in chunks:
            request = self._request_for(chunk, rows)
            if self._reserve(request) is None:
                break
            requests.append(request)
            by_request[(request.key, request.slot_ids)] = chunk
        async for request, outcome in self.backend.generate_batch(requests, self.store):
            chunk = by_request.get((request.key, request.slot_ids))
            if chunk is None:
                continue
            if isinstance(outcome, Exception):
                self._fail(chunk, f"batch request failed: {outcome}", Usage())
            else:
                self._take(chunk, outcome, rows, seen, bar)
        self._reserved = 0.0

    def _spent(self) -> float:
        """Dollars spent on this folder so far, failed requests of this run included."""
        run_usage = getattr(self.backend, "total_usage", None) or self.stats.usage
        return self._spent_before + run_usage.cost_usd

    def _reserve(self, request: GenerationRequest) -> float | None:
        """Reserve the worst-case cost of a request against the budget; None when it would exceed it."""
        if self.budget_usd is None:
            return 0.0
        from hf_synth.generation.pricing import cost_usd, estimate_tokens

        tokens_in = estimate_tokens((request.system or "") + request.prompt) + 350
        worst = cost_usd(self.backend.model, Usage(1, tokens_in, request.max_tokens)) or 0.0
        if self._use_batch:
            worst *= 0.5
        if self._spent() + self._reserved + worst > self.budget_usd:
            self._budget_hit = True
            return None
        self._reserved += worst
        return worst

    def _fill_locally(self, slots: list[Slot], rows: dict[int, dict[str, Any]], bar: tqdm) -> None:
        finished, failed = [], []
        for slot in slots:
            item, error = self._accept(slot, dict.fromkeys(self.fields), rows, self.stats.rounds, typed=False)
            if item is None:
                failed.append((slot.slot_id, slot.key, error or "edge transform failed"))
                self._last_error[slot.slot_id] = error or ""
            else:
                finished.append((slot.slot_id, slot.key, item, self.stats.rounds))
        self.store.record_request(finished, failed, Usage())
        bar.update(len(finished))

    def _seen_texts(self) -> dict[str, int]:
        """Normalised text → slot id of the finished normal rows (edge rows may repeat on purpose)."""
        seen: dict[str, int] = {}
        for sid, row in self.store.rows().items():
            slot = self.slots.get(sid)
            if slot is not None and slot.edge_index == 0:
                text = row.get(self.text_field)
                if isinstance(text, str) and text.strip():
                    seen.setdefault(normalise_text(text), sid)
        return seen

    def _fail(self, chunk: list[Slot], error: str, usage: Usage) -> None:
        self.stats.failed_attempts += len(chunk)
        for slot in chunk:
            self._last_error[slot.slot_id] = error
        self._feedback[chunk[0].key] = error
        self.store.record_request([], [(s.slot_id, s.key, error) for s in chunk], usage)

    def _take(
        self,
        chunk: list[Slot],
        result: GenerationResult,
        rows: dict[int, dict[str, Any]],
        seen: dict[str, int],
        bar: tqdm,
    ) -> None:
        self.stats.requests += result.usage.requests or 1
        self.stats.usage.add(result.usage)
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
                if slot.edge_index == 0 and norm is not None and seen.get(norm, slot.slot_id) != slot.slot_id:
                    duplicates += 1
                    error = f"exact duplicate of slot {seen[norm]}: write a different {self.text_field}"
                    continue
                if slot.edge_index == 0 and norm is not None:
                    seen[norm] = slot.slot_id
                finished.append((slot.slot_id, slot.key, item, attempt))
                error = None
                break
            if error is not None:
                failed.append((slot.slot_id, slot.key, error))
                self._last_error[slot.slot_id] = error
                self._feedback[slot.key] = error
        if duplicates:
            self._count("regenerated_duplicates", duplicates)
        self.stats.failed_attempts += len(failed)
        if result.usage.requests == 0:
            result.usage.requests = 1
        self.store.record_request(finished, failed, result.usage)
        if finished:
            self._feedback.pop(chunk[0].key, None)
        bar.update(len(finished))
        bar.set_postfix(requests=self.stats.requests, failed=self.stats.failed_attempts, refresh=False)

    def _count(self, name: str, n: int) -> None:
        self.store.add_counter(name, n)

    def _near_duplicate_pass(self, bar: tqdm) -> None:
        """Regenerate rows whose text is ≥ threshold cosine-similar to an earlier row of the same stratum."""
        threshold = self.recipe.dedup.near_threshold
        if self.embed is None or threshold is None:
            return
        from hf_synth.quality.coverage import find_near_duplicates

        stored = self.store.rows()
        sids = sorted(sid for sid in stored if sid in self.slots and self.slots[sid].edge_index == 0)
        texts = [str(stored[sid].get(self.text_field) or "") for sid in sids]
        if len(texts) < 2:
            return
        emb = self.embed(texts)
        groups = np.array([self.slots[sid].stratum_id for sid in sids], dtype=object)
        _, group_codes = np.unique(groups, return_inverse=True)
        dup_rows = find_near_duplicates(emb, group_codes, self.recipe.dedup.near_threshold)
        victims = [sids[int(i)] for i in dup_rows]
        if victims:
            self.store.discard(
                victims, f"near duplicate (cosine ≥ {threshold})", "regenerated_near_duplicates"
            )
            bar.update(-len(victims))
