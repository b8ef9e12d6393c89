"""Rows of work (one generation or one scored answer each) and the batcher that runs them on the model."""

from __future__ import annotations

import asyncio
import contextlib
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from hf_synth.generation.backends.base import FatalBackendError, RetryableBackendError
from hf_synth.generation.backends.local.model import LoadedModel


@dataclass
class GenRow:
    prompt_ids: list[int]
    max_new_tokens: int
    temperature: float
    seed: int
    stop_at_newline: bool  # numbers stop at the first line break, text at the first blank line
    min_new_tokens: int  # EOS is banned before this many tokens (an empty string is useless)


@dataclass
class ScoreRow:
    prompt_ids: list[int]
    answer_ids: list[int]

    def context(self) -> tuple[int, ...]:
        """The tokens the model must read to score the answer; rows sharing it share one sequence."""
        return tuple(self.prompt_ids + self.answer_ids[:-1])


@dataclass
class GenOut:
    text: str
    n_tokens: int


class RowSampler:
    """Logits processor that samples every row with its own seeded generator, temperature and token budget.

    `model.generate` runs greedy (do_sample=False); we leave a single finite logit per row so greedy picks our
    sample. This is what lets rows with different temperatures/budgets share one batch and stay reproducible.
    """

    def __init__(
        self, rows: list[GenRow], prompt_len: int, eos_id: int, tokenizer: Any, top_k: int, top_p: float
    ):
        import torch

        self.rows = rows
        self.prompt_len = prompt_len
        self.eos_id = eos_id
        self.tokenizer = tokenizer
        self.top_k = top_k
        self.top_p = top_p
        self.generators = [torch.Generator().manual_seed(r.seed) for r in rows]
        self.done = [False] * len(rows)
        self.has_content = [False] * len(rows)

    def _should_stop(self, i: int, generated: list[int]) -> bool:
        row = self.rows[i]
        if len(generated) >= row.max_new_tokens:
            return True
        if not generated:
            return False
        tail = self.tokenizer.decode(generated[-3:])
        if not self.has_content[i]:
            # Leading blank lines are not the end of the answer: only stop once something was written.
            self.has_content[i] = bool(self.tokenizer.decode(generated).strip())
            return False
        if row.stop_at_newline:
            return "\n" in tail
        # The text is cut at the first blank line anyway: stop paying for tokens after it.
        return bool(re.search(r"\n\s*\n", tail))

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        out = torch.full_like(scores, float("-inf"))
        step = input_ids.shape[1] - self.prompt_len
        for i, row in enumerate(self.rows):
            generated = input_ids[i, self.prompt_len :].tolist()
            if self.done[i] or self._should_stop(i, generated):
                self.done[i] = True
                out[i, self.eos_id] = 0.0
                continue
            logits = scores[i].float()
            if step < row.min_new_tokens:
                logits = logits.clone()
                logits[self.eos_id] = float("-inf")
            if row.temperature <= 0:
                token = int(torch.argmax(logits))
            else:
                # top-k first, then top-p inside it: sorting k values instead of the whole vocabulary keeps
                # this per-row Python step cheap next to the forward pass.
                k = self.top_k if 0 < self.top_k < logits.shape[-1] else logits.shape[-1]
                values, order = torch.topk(logits / row.temperature, k)  # sorted, descending
                probs = torch.softmax(values, dim=-1)
                if self.top_p < 1.0:
                    keep = torch.cumsum(probs, dim=-1) - probs < self.top_p  # always keeps the top token
                    probs = probs * keep
                choice = int(torch.multinomial(probs, 1, generator=self.generators[i]))
                token = int(order[choice])
            out[i, token] = 0.0
        return out


@dataclass
class _Pending:
    row: GenRow | ScoreRow
    future: asyncio.Future[Any]


class RowBatcher:
    """Runs rows of work submitted by concurrent requests together: one left-padded `model.generate` per
    batch of generation rows, one forward pass per batch of scoring rows, on one worker thread.

    `loaded` is read when a batch runs (the backend loads the model before submitting rows).
    """

    def __init__(
        self,
        executor: ThreadPoolExecutor,
        *,
        batch_size: int,
        batch_window: float,
        top_k: int,
        top_p: float,
        repetition_penalty: float,
    ) -> None:
        self._executor = executor
        self.batch_size = batch_size
        self.batch_window = batch_window
        self.top_k = top_k
        self.top_p = top_p
        self.repetition_penalty = repetition_penalty
        self.loaded: LoadedModel | None = None
        #: model calls made (batched `model.generate` and scoring forward passes).
        self.generate_calls = 0
        self.score_calls = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[_Pending] = []
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self.closed = False

    async def close(self) -> None:
        """Stop the batching task and cancel rows still waiting."""
        self.closed = True
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._worker
        for pending in self._pending:
            if not pending.future.done():
                pending.future.cancel()
        self._pending.clear()

    def _ensure_worker(self) -> None:
        loop = asyncio.get_running_loop()
        # A new event loop (e.g. a second asyncio.run) cannot use the old loop's task, event or futures: rows
        # still pending there belong to requests that can no longer be awaited, so they are dropped.
        if self._loop is not loop:
            self._pending = []
        if self._loop is not loop or self._worker is None or self._worker.done():
            self._loop = loop
            self._wakeup = asyncio.Event()
            self._worker = loop.create_task(self._run_batches(), name="hf-synth-local-batcher")

    async def submit(self, rows: list[GenRow | ScoreRow]) -> list[Any]:
        if self.closed:
            raise FatalBackendError("LocalBackend is closed")
        self._ensure_worker()
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in rows]
        self._pending.extend(_Pending(row, fut) for row, fut in zip(rows, futures, strict=True))
        assert self._wakeup is not None
        self._wakeup.set()
        return list(await asyncio.gather(*futures))

    def _take_batch(self) -> list[_Pending]:
        self._pending = [p for p in self._pending if not p.future.done()]  # drop rows of cancelled requests
        if not self._pending:
            return []
        first = self._pending[0]
        kind = type(first.row)
        same_kind = [p for p in self._pending if type(p.row) is kind]
        if kind is GenRow:
            # Rows with the first row's budget first: a batch runs as long as its longest row.
            budget = first.row.max_new_tokens  # type: ignore[union-attr]
            same_kind.sort(key=lambda p: p.row.max_new_tokens != budget)  # type: ignore[union-attr]
        if kind is ScoreRow:
            # Scoring rows that share a context (same prompt, one-token answers) cost one sequence together:
            # fill the batch up to `batch_size` distinct sequences.
            contexts: set[tuple[int, ...]] = set()
            batch = []
            for p in same_kind:
                context = p.row.context()  # type: ignore[union-attr]
                if context not in contexts and len(contexts) == self.batch_size:
                    continue
                contexts.add(context)
                batch.append(p)
        else:
            batch = same_kind[: self.batch_size]
        taken = {id(p) for p in batch}
        self._pending = [p for p in self._pending if id(p) not in taken]
        return batch

    async def _run_batches(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            if not any(not p.future.done() for p in self._pending):
                self._wakeup.clear()
                await self._wakeup.wait()
            if len(self._pending) < self.batch_size and self.batch_window > 0:
                # Let rows of concurrently arriving requests join this batch.
                await asyncio.sleep(self.batch_window)
            batch = self._take_batch()
            if not batch:
                continue
            rows = [p.row for p in batch]
            try:
                if isinstance(rows[0], GenRow):
                    results = await loop.run_in_executor(self._executor, self._generate_rows, rows)
                else:
                    results = await loop.run_in_executor(self._executor, self._score_rows, rows)
            except asyncio.CancelledError:
                for p in batch:
                    p.future.cancel()
                raise
            except BaseException as exc:  # forwarded to the requests awaiting this batch
                error = (
                    exc
                    if isinstance(exc, (FatalBackendError, RetryableBackendError))
                    else (RetryableBackendError(f"local model call failed: {type(exc).__name__}: {exc}"))
                )
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(error)
                continue
            for p, result in zip(batch, results, strict=True):
                if not p.future.done():
                    p.future.set_result(result)

    def _generate_rows(self, rows: list[GenRow]) -> list[GenOut]:
        import torch
        from transformers import LogitsProcessorList

        loaded = self.loaded
        assert loaded is not None
        width = max(len(r.prompt_ids) for r in rows)
        # Left padding: every row's next token is predicted at the same (last) position.
        ids = [[loaded.pad_id] * (width - len(r.prompt_ids)) + r.prompt_ids for r in rows]
        mask = [[0] * (width - len(r.prompt_ids)) + [1] * len(r.prompt_ids) for r in rows]
        eos_id = loaded.eos_ids[0]
        sampler = RowSampler(rows, width, eos_id, loaded.tokenizer, self.top_k, self.top_p)
        self.generate_calls += 1
        with torch.inference_mode():
            out = loaded.model.generate(
                input_ids=torch.tensor(ids),
                attention_mask=torch.tensor(mask),
                max_new_tokens=max(r.max_new_tokens for r in rows) + 1,  # +1: room for the forced EOS
                do_sample=False,
                num_beams=1,
                repetition_penalty=self.repetition_penalty if self.repetition_penalty != 1.0 else None,
                logits_processor=LogitsProcessorList([sampler]),
                pad_token_id=loaded.pad_id,
                eos_token_id=list(loaded.eos_ids),
            )
        results = []
        for i in range(len(rows)):
            new = out[i, width:].tolist()
            n = len(new)
            for j, token in enumerate(new):
                if token in loaded.eos_ids:
                    n = j + 1  # the EOS was computed too; the padding after it was not
                    break
            text_ids = [t for t in new[:n] if t not in loaded.eos_ids]
            results.append(GenOut(loaded.tokenizer.decode(text_ids, skip_special_tokens=True), n))
        return results

    def _score_rows(self, rows: list[ScoreRow]) -> list[float]:
        """Total log-probability (nats) of each row's answer tokens given its prompt, one forward pass."""
        import torch

        loaded = self.loaded
        assert loaded is not None
        # Row i's answer tokens are predicted from positions of its context (prompt + answer[:-1]): rows with
        # the same context are read once.
        index: dict[tuple[int, ...], int] = {}
        for r in rows:
            index.setdefault(r.context(), len(index))
        seqs = [list(context) for context in index]
        width = max(len(s) for s in seqs)
        # Right padding: positions stay 0..len-1, as in training; padded positions are never read.
        ids = torch.tensor([s + [loaded.pad_id] * (width - len(s)) for s in seqs])
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
        self.score_calls += 1
        with torch.inference_mode():
            logits = loaded.model(input_ids=ids, attention_mask=mask).logits.float()
        logprobs = torch.log_softmax(logits, dim=-1)
        totals = []
        for row in rows:
            i = index[row.context()]
            start = len(row.prompt_ids)
            total = 0.0
            for k, token in enumerate(row.answer_ids):
                total += float(logprobs[i, start + k - 1, token])
            totals.append(total)
        return totals
