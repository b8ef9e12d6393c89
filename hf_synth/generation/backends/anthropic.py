"""Claude through the official `anthropic` SDK: forced-tool structured output, retries, rate limits, prompt
caching, cost accounting and the Message Batches API.

Credentials come only from the environment (`ANTHROPIC_API_KEY`, or what the SDK itself resolves); the key
is never logged, printed or put in an exception message. `ANTHROPIC_BASE_URL` redirects the client (tests
point it at `hf_synth.testing.messages_server`).

Retries are done here, not in the SDK (`max_retries=0`), so that every 429 reaches the rate limiter and the
adaptive concurrency controller.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from hf_synth.generation.backends.base import (
    BatchSlots,
    FatalBackendError,
    GenerationRequest,
    GenerationResult,
    RetryableBackendError,
    Usage,
)
from hf_synth.generation.pricing import cache_min_tokens, cost_usd, estimate_tokens
from hf_synth.generation.ratelimit import AdaptiveConcurrency, RateLimiter, parse_retry_after

if TYPE_CHECKING:
    import anthropic

__all__ = [
    "DEFAULT_MODEL",
    "TOOL_NAME",
    "AnthropicBackend",
    "BatchSlots",
    "BatchStore",
    "InMemoryBatchStore",
    "build_tool",
    "custom_id_for",
]

log = logging.getLogger(__name__)

DEFAULT_MODEL = "claude-haiku-4-5"
TOOL_NAME = "submit_items"
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


class _Transient(Exception):
    """One failed attempt that a retry may fix."""

    def __init__(self, message: str, retry_after: float | None = None, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.rate_limited = rate_limited


def build_tool(fields: dict[str, Any], n_items: int, cache: bool = False) -> dict[str, Any]:
    """The forced tool: `{"items": [item × n]}` where an item follows `item_json_schema(fields)`."""
    from hf_synth.recipe.schema import item_json_schema

    tool: dict[str, Any] = {
        "name": TOOL_NAME,
        "description": f"Submit the {n_items} generated item(s). Call this tool exactly once.",
        "input_schema": {
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "items": item_json_schema(fields),
                    "minItems": n_items,
                    "maxItems": n_items,
                }
            },
            "required": ["items"],
        },
    }
    if cache:
        tool["cache_control"] = {"type": "ephemeral"}
    return tool


def custom_id_for(request: GenerationRequest) -> str:
    """A Message Batches `custom_id` (≤ 64 of [A-Za-z0-9_-]) that is stable across resumes."""
    raw = f"{request.key}|{','.join(map(str, request.slot_ids))}"
    return "r" + hashlib.blake2b(raw.encode(), digest_size=20).hexdigest()


def _compact_tokens(obj: Any) -> int:
    """Tokens of a JSON value at ~4 characters per token of its compact serialisation."""
    return estimate_tokens(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))


def _get(obj: Any, name: str) -> Any:
    """Field `name` of a wire dict or of an SDK model (batch results arrive as SDK models)."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _sdk_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    """`messages.create` keyword arguments: body fields the SDK no longer types go through `extra_body`."""
    if "temperature" not in params:
        return params
    kwargs = dict(params)
    kwargs["extra_body"] = {"temperature": kwargs.pop("temperature")}
    return kwargs


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


def _describe(request: GenerationRequest) -> str:
    slots = ",".join(map(str, request.slot_ids[:8])) + ("…" if len(request.slot_ids) > 8 else "")
    return f"request {request.key[:16]} (slots {slots})"


class AnthropicBackend:
    """Backend over the Anthropic Messages API (see `hf_synth.generation.backends.base.Backend`).

    Options (units): `model`; `max_tokens` / `temperature` are defaults only — each `GenerationRequest`
    carries its own; `concurrency` (max requests in flight; adaptive below that unless
    `adaptive_concurrency=False`); `items_per_request` (k items asked per call); `max_attempts` (per
    `generate` call, first try included); `timeout` (seconds per HTTP request); `requests_per_minute`,
    `input_tokens_per_minute`, `output_tokens_per_minute` (client-side caps, None = follow the server's
    headers only); `prompt_caching` (mark the tool schema and system prompt `cache_control: ephemeral` when
    that prefix reaches the model's minimum cacheable length; `caching_summary()` says how often and why not);
    `batch` (the engine should call `generate_batch`); `batch_size` (requests per batch, ≤ 100,000);
    `batch_poll_interval` (seconds); `batch_timeout` (seconds to wait for batches, None = no limit);
    `base_url` (defaults to `ANTHROPIC_BASE_URL`, else the public API); `tool_choice` ("tool" forces
    `submit_items`; "auto" only offers it, for models that reject forced tool use, e.g. Claude Sonnet 5.5);
    `send_temperature` (default False: from API version 2026-10-21, which this SDK pins, any sampling
    parameter is a 400 on every model, so `temperature` is only sent when a proxy/older API wants it);
    `backoff_initial` / `backoff_max` (seconds of the jittered exponential backoff).
    """

    name = "anthropic"

    def __init__(
        self,
        model: str | None = None,
        *,
        max_tokens: int = 512,
        temperature: float = 1.0,
        concurrency: int = 16,
        items_per_request: int = 1,
        max_attempts: int = 4,
        timeout: float = 120.0,
        requests_per_minute: float | None = None,
        input_tokens_per_minute: float | None = None,
        output_tokens_per_minute: float | None = None,
        prompt_caching: bool = True,
        batch: bool = False,
        batch_size: int | None = None,
        batch_poll_interval: float = 30.0,
        batch_timeout: float | None = None,
        base_url: str | None = None,
        tool_choice: Literal["tool", "auto"] = "tool",
        send_temperature: bool = False,
        adaptive_concurrency: bool = True,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.model = model or DEFAULT_MODEL
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.max_concurrency = concurrency
        self.items_per_request = items_per_request
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.prompt_caching = prompt_caching
        self.batch = batch
        self.batch_size = min(batch_size or MAX_BATCH_REQUESTS, MAX_BATCH_REQUESTS)
        self.batch_poll_interval = batch_poll_interval
        self.batch_timeout = batch_timeout
        self.base_url = base_url
        self.tool_choice = tool_choice
        self.send_temperature = send_temperature
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.limiter = RateLimiter(requests_per_minute, input_tokens_per_minute, output_tokens_per_minute)
        self.concurrency = AdaptiveConcurrency(concurrency, adaptive=adaptive_concurrency)
        #: Usage of every attempt that got an answer, including attempts whose items were unusable.
        self.total_usage = Usage()
        #: Counters: "attempts", "retries", "rate_limited", "overloaded", "server_error", "connection",
        #: "malformed", "failed" (generate calls that raised), "batches_submitted", "batches_resumed".
        self.stats: Counter[str] = Counter()
        self._client_obj: anthropic.AsyncAnthropic | None = None
        self._tools: dict[tuple[int, int], tuple[Any, dict[str, Any], dict[str, Any], int]] = {}
        self._warned_temperature = False
        #: Requests built with / without `cache_control`, and why the last one went without.
        self.cache_requested = 0
        self.cache_skipped = 0
        self._cache_skip_reason: str | None = None

    # --- client ---------------------------------------------------------------------------------------------

    def _client(self) -> anthropic.AsyncAnthropic:
        if self._client_obj is not None:
            return self._client_obj
        if not (os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")):
            raise FatalBackendError(
                "ANTHROPIC_API_KEY is not set: export it in the environment "
                "(hf-synth reads the key only from there)"
            )
        import anthropic

        kwargs: dict[str, Any] = {"max_retries": 0, "timeout": self.timeout}
        if self.base_url:
            kwargs["base_url"] = self.base_url
        try:
            import httpx2

            # Keep a warm connection per in-flight request: reconnecting costs a TLS handshake each time.
            kwargs["http_client"] = anthropic.DefaultAsyncHttpxClient(
                limits=httpx2.Limits(
                    max_connections=max(1000, 2 * self.max_concurrency),
                    max_keepalive_connections=max(100, self.max_concurrency),
                ),
                timeout=self.timeout,
            )
        except ImportError:  # an SDK built on plain httpx: its defaults are fine
            pass
        self._client_obj = anthropic.AsyncAnthropic(**kwargs)
        return self._client_obj

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        if self._client_obj is not None:
            await self._client_obj.close()
            self._client_obj = None

    # --- request building -----------------------------------------------------------------------------------

    def _tool(self, request: GenerationRequest, cache: bool = False) -> tuple[dict[str, Any], int]:
        """The tool definition (with or without `cache_control`) and its size in tokens (memoised: the
        schema is the same for a whole run)."""
        key = (id(request.fields), request.n_items)
        hit = self._tools.get(key)
        if hit is None or hit[0] is not request.fields:
            plain = build_tool(request.fields, request.n_items)
            marked = {**plain, "cache_control": {"type": "ephemeral"}}
            hit = (request.fields, plain, marked, _compact_tokens(plain))
            self._tools[key] = hit
        return (hit[2] if cache else hit[1]), hit[3]

    def _cache_marks(self, request: GenerationRequest, count: bool) -> tuple[bool, bool]:
        """(mark the tool, mark the system prompt): a breakpoint only where its prefix (tools → system)
        reaches the model's minimum cacheable length; below it the API caches nothing."""
        if not self.prompt_caching:
            if count:
                self.cache_skipped += 1
                self._cache_skip_reason = "prompt caching is off (backend.prompt_caching: false)"
            return False, False
        _, tool_tokens = self._tool(request)
        system_tokens = _compact_tokens({"type": "text", "text": request.system}) if request.system else 0
        minimum, known = cache_min_tokens(self.model)
        mark_tool = tool_tokens >= minimum
        mark_system = bool(request.system) and tool_tokens + system_tokens >= minimum
        if count:
            if mark_tool or mark_system:
                self.cache_requested += 1
            else:
                self.cache_skipped += 1
                assumed = "" if known else " (assumed: prices.json has no minimum for this model)"
                self._cache_skip_reason = (
                    f"the cacheable prefix (tool schema + system prompt, ~{tool_tokens + system_tokens:,} "
                    f"tokens) is below {self.model}'s minimum of {minimum:,} tokens{assumed}, where the "
                    "API caches nothing"
                )
        return mark_tool, mark_system

    def caching_summary(self) -> tuple[int, int, str | None]:
        """(requests asked to cache, requests not asked, why the last of the latter was not)."""
        return self.cache_requested, self.cache_skipped, self._cache_skip_reason

    def build_params(self, request: GenerationRequest, count: bool = True) -> dict[str, Any]:
        """The Messages API body for `request` (without `stream`); also used for batches and token counts.

        `count` adds the request to the caching tally (`caching_summary`); token counting passes False.
        """
        mark_tool, mark_system = self._cache_marks(request, count)
        tool, _ = self._tool(request, cache=mark_tool)
        n = request.n_items
        plural = "item" if n == 1 else f"{n} distinct items"
        text = (
            f"{request.prompt}\n\nReturn exactly {plural} by calling the `{TOOL_NAME}` tool once, "
            f"with the item{'s' if n != 1 else ''} in its `items` list."
        )
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        if request.feedback:
            # A follow-up turn: the prompt stays byte-identical, so a cached prefix still matches.
            content.append(
                {
                    "type": "text",
                    "text": (
                        "A previous answer to this request was rejected by validation:\n"
                        f"{request.feedback}\nReturn corrected items that fix these problems."
                    ),
                }
            )
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": "user", "content": content}],
            "tools": [tool],
            "tool_choice": {"type": "tool", "name": TOOL_NAME}
            if self.tool_choice == "tool"
            else {"type": "auto"},
        }
        if request.system:
            block: dict[str, Any] = {"type": "text", "text": request.system}
            if mark_system:
                block["cache_control"] = {"type": "ephemeral"}
            params["system"] = [block]
        if self.send_temperature:
            temperature = request.temperature
            if not 0.0 <= temperature <= 1.0:
                # The Messages API accepts 0..1 only; a 400 would stop the run for a cosmetic setting.
                if not self._warned_temperature:
                    log.warning("temperature %.2f is outside the API's 0..1 range: clamped", temperature)
                    self._warned_temperature = True
                temperature = min(1.0, max(0.0, temperature))
            params["temperature"] = temperature
        return params

    def estimate_input_tokens(self, request: GenerationRequest) -> int:
        """Input tokens `request` may be charged (an overestimate: rate limits and budgets reserve it)."""
        _, tool_tokens = self._tool(request)
        text = (request.system or "") + request.prompt + (request.feedback or "")
        # 10% margin plus the fixed instruction: under-reserving input tokens is what earns 429s.
        return int((estimate_tokens(text) + tool_tokens) * 1.1) + 40

    # --- online generation ----------------------------------------------------------------------------------

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """Items for `request`, retrying transient failures; `usage` sums every answered attempt.

        Raises `RetryableBackendError` after `max_attempts` transient failures and `FatalBackendError` on
        authentication / permission / malformed-request errors.
        """
        client = self._client()
        estimate = self.estimate_input_tokens(request)
        usage = Usage()
        last = "no attempt"
        for attempt in range(1, self.max_attempts + 1):
            self.stats["attempts"] += 1
            params = self.build_params(request)  # cheap (the tool is memoised); tool_choice may have changed
            try:
                items = await self._attempt(client, params, request, estimate, usage)
            except _Transient as e:
                last = str(e)
                if attempt == self.max_attempts:
                    break
                self.stats["retries"] += 1
                await asyncio.sleep(self._backoff(attempt, e.retry_after))
                continue
            except FatalBackendError as e:
                self.stats["failed"] += 1
                e.usage = usage  # answers billed before the refusal
                raise
            return GenerationResult(items=items, usage=usage)
        self.stats["failed"] += 1
        raise RetryableBackendError(
            f"{_describe(request)} failed after {self.max_attempts} attempts: {last}", usage=usage
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `attempt`: equal-jitter exponential, ≥ `retry-after`."""
        cap = min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1))
        delay = cap / 2 + random.uniform(0, cap / 2)
        if retry_after is not None:
            # The server said when; a little jitter keeps the retries of many workers from aligning.
            delay = retry_after + random.uniform(0, min(1.0, 0.1 * retry_after + 0.05))
        return delay

    async def _attempt(
        self,
        client: anthropic.AsyncAnthropic,
        params: dict[str, Any],
        request: GenerationRequest,
        estimate: int,
        usage: Usage,
    ) -> list[Any]:
        import anthropic

        async with self.concurrency.slot() as started:
            reservation = await self.limiter.acquire(estimate, request.max_tokens)
            try:
                raw = await client.messages.with_raw_response.create(**_sdk_kwargs(params))
            except anthropic.APIStatusError as e:
                self.limiter.settle(reservation, 0, 0)
                self.limiter.observe_headers(e.response.headers)
                raise self._classify(e, request, started) from None
            except anthropic.APITimeoutError:
                self.limiter.settle(reservation, 0, 0)
                self.stats["connection"] += 1
                raise _Transient(f"timed out after {self.timeout:g} s") from None
            except anthropic.APIConnectionError as e:
                self.limiter.settle(reservation, 0, 0)
                self.stats["connection"] += 1
                cause = type(e.__cause__).__name__ if e.__cause__ else "connection error"
                raise _Transient(f"connection failed ({cause})") from None
            self.limiter.observe_headers(raw.headers)
            try:
                # The wire JSON is read directly: building the SDK's pydantic models costs more CPU than
                # the rest of the request, and we need only content and usage.
                message = raw.http_response.json()
                if not isinstance(message, dict) or not isinstance(message.get("content"), list):
                    raise ValueError("not a Message object")
            except ValueError as e:
                self.stats["malformed"] += 1
                raise _Transient(f"unparseable response ({type(e).__name__})") from None
            got = self._usage(message.get("usage") or {}, batch=False)
            usage.add(got)
            self.total_usage.add(got)
            self.limiter.settle(reservation, got.input_tokens + got.cache_write_tokens, got.output_tokens)
            self.concurrency.on_success()
        return self._items(message, request)

    def _classify(self, e: Any, request: GenerationRequest, started: float) -> Exception:
        """Map an HTTP error to `_Transient` (retry) or `FatalBackendError` (stop the run)."""
        status = e.status_code
        kind = e.type or "error"
        detail = f"HTTP {status} {kind}: {e.api_message or 'no message'}"
        retry_after = parse_retry_after(e.response.headers)
        if status == 429:
            self.stats["rate_limited"] += 1
            self.concurrency.on_rate_limited(started)
            self.limiter.pause(retry_after if retry_after is not None else self.backoff_initial)
            return _Transient(detail, retry_after, rate_limited=True)
        if status == 529:
            self.stats["overloaded"] += 1
            self.concurrency.on_rate_limited(started)
            return _Transient(detail, retry_after)
        if status >= 500 or status in (408, 409):
            self.stats["server_error"] += 1
            return _Transient(detail, retry_after)
        if status == 400 and self.tool_choice == "tool" and "tool_choice" in (e.api_message or ""):
            # Some models (e.g. Claude Sonnet 5.5) refuse forced tool use: offer the tool instead and rely
            # on the prompt, which already asks for exactly one submit_items call.
            log.warning("model %s rejects a forced tool_choice: switching to tool_choice=auto", self.model)
            self.tool_choice = "auto"
            self.stats["tool_choice_fallback"] += 1
            return _Transient(detail, retry_after=0.0)
        hint = {
            401: "check ANTHROPIC_API_KEY",
            403: "the key lacks permission for this model or workspace",
            404: f"unknown model {self.model!r} or endpoint (check ANTHROPIC_BASE_URL)",
            413: "the request is too large: shorten the prompt or lower items_per_request",
        }.get(status, "the request was rejected")
        return FatalBackendError(f"Anthropic API error for {_describe(request)}: {detail} ({hint})")

    def _usage(self, u: Any, batch: bool) -> Usage:
        """Our `Usage` (with cost) from a wire `usage` dict or an SDK `Usage` object."""
        got = Usage(
            requests=1,
            input_tokens=_get(u, "input_tokens") or 0,
            output_tokens=_get(u, "output_tokens") or 0,
            cache_read_tokens=_get(u, "cache_read_input_tokens") or 0,
            cache_write_tokens=_get(u, "cache_creation_input_tokens") or 0,
        )
        cost = cost_usd(self.model, got, batch=batch)
        got.cost_usd = cost or 0.0  # unknown price: cost_usd warned once; the run goes on at "0"
        return got

    def _items(self, message: Any, request: GenerationRequest) -> list[Any]:
        """The raw `items` of the `submit_items` call; `_Transient` when there is no usable list."""
        stop_reason = _get(message, "stop_reason")
        block = next(
            (
                b
                for b in _get(message, "content") or []
                if _get(b, "type") == "tool_use" and _get(b, "name") == TOOL_NAME
            ),
            None,
        )
        if block is None:
            self.stats["malformed"] += 1
            raise _Transient(f"no {TOOL_NAME} call in the answer (stop_reason={stop_reason})")
        data = _get(block, "input")
        items = data.get("items") if isinstance(data, dict) else None
        if isinstance(items, str):
            # Models occasionally send the list JSON-encoded as a string.
            try:
                items = json.loads(items)
            except ValueError:
                items = None
        if not isinstance(items, list) or not items:
            self.stats["malformed"] += 1
            keys = sorted(data)[:5] if isinstance(data, dict) else type(data).__name__
            raise _Transient(f"tool input has no items list (got {keys}, stop_reason={stop_reason})")
        return items[: request.n_items]

    # --- token counting -------------------------------------------------------------------------------------

    async def count_tokens(self, request: GenerationRequest) -> int:
        """Input tokens of `request` from the count_tokens endpoint; ~4 chars/token if that fails."""
        params = self.build_params(request, count=False)
        try:
            client = self._client()
            body = {
                k: params[k] for k in ("model", "messages", "system", "tools", "tool_choice") if k in params
            }
            result = await client.messages.count_tokens(**body)
            return int(result.input_tokens)
        except Exception as e:  # the estimate is good enough for planning; the run must not stop here
            log.debug("count_tokens failed (%s): using the heuristic", type(e).__name__)
            parts = [params.get("system") or "", params["tools"], params["messages"]]
            return sum(estimate_tokens(p if isinstance(p, str) else json.dumps(p)) for p in parts if p)

    # --- Message Batches ------------------------------------------------------------------------------------

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
                        err = RetryableBackendError(f"{_describe(by_id[cid])}: no result in batch {bid}")
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
                            msg = f"{_describe(by_id[cid])}: batch {bid} not done in {self.batch_timeout:g} s"
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
            except _Transient as e:
                return RetryableBackendError(f"{_describe(request)} in batch {batch_id}: {e}", usage=got)
        if result.type == "errored":
            err = getattr(result.error, "error", None)
            detail = f"{getattr(err, 'type', 'error')}: {getattr(err, 'message', '')}"
            # Refilled online: a request that is really invalid fails there as a FatalBackendError.
            return RetryableBackendError(f"{_describe(request)} errored in batch {batch_id}: {detail}")
        return RetryableBackendError(f"{_describe(request)} {result.type} in batch {batch_id}")
