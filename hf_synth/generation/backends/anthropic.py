"""Claude through the official `anthropic` SDK: forced-tool structured output, retries, rate limits, prompt
caching, cost accounting and the Message Batches API.

Credentials come only from the environment (`ANTHROPIC_API_KEY`, or what the SDK itself resolves); the key
is never logged, printed or put in an exception message. `ANTHROPIC_BASE_URL` redirects the client (tests
point it at `hf_synth.testing.messages_server`).

Online Messages requests go through the SDK's HTTP client (`anthropic.DefaultAioHttpClient`, the aiohttp
transport, when aiohttp is installed) with the SDK client's own headers (API version, credentials, client
identification), but not through its per-call request pipeline: the body is serialised once per template
(`anthropic_body.RequestBodies`) and the answer's JSON is read directly, which is where most of the CPU of
a request went. Token counting and Message Batches use the SDK's typed methods.

Retries are done here, not in the SDK (`max_retries=0`), so that every 429 reaches the rate limiter and the
adaptive concurrency controller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
from collections import Counter
from typing import TYPE_CHECKING, Any, Literal

from hf_synth.generation.backends.anthropic_batches import (
    MAX_BATCH_BYTES,
    MAX_BATCH_REQUESTS,
    BatchesMixin,
    BatchStore,
    InMemoryBatchStore,
)
from hf_synth.generation.backends.anthropic_body import (
    TOOL_NAME,
    RequestBodies,
    build_tool,
    custom_id_for,
)
from hf_synth.generation.backends.anthropic_errors import TransientError, describe
from hf_synth.generation.backends.base import (
    BatchSlots,
    FatalBackendError,
    GenerationRequest,
    GenerationResult,
    RetryableBackendError,
    Usage,
)
from hf_synth.generation.pricing import cost_usd, estimate_tokens
from hf_synth.generation.ratelimit import AdaptiveConcurrency, RateLimiter, parse_retry_after

if TYPE_CHECKING:
    import anthropic

__all__ = [
    "DEFAULT_MODEL",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_REQUESTS",
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


def _get(obj: Any, name: str) -> Any:
    """Field `name` of a wire dict or of an SDK model (batch results arrive as SDK models)."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _error_of(payload: bytes) -> tuple[str, str]:
    """(error type, message) of an API error body; the raw text when it is not the API's error JSON."""
    try:
        error = json.loads(payload).get("error") or {}
        return str(error.get("type") or "error"), str(error.get("message") or "no message")
    except (ValueError, AttributeError):
        return "error", payload[:200].decode("utf-8", "replace") or "no message"


class AnthropicBackend(BatchesMixin):
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
    #: Answers come over the network: the run's own thread idles while they travel (`hf_synth.preload`).
    remote = True

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
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.limiter = RateLimiter(requests_per_minute, input_tokens_per_minute, output_tokens_per_minute)
        self.concurrency = AdaptiveConcurrency(concurrency, adaptive=adaptive_concurrency)
        #: Usage of every attempt that got an answer, including attempts whose items were unusable.
        self.total_usage = Usage()
        #: Counters: "attempts", "retries", "rate_limited", "overloaded", "server_error", "connection",
        #: "malformed", "failed" (generate calls that raised), "batches_submitted", "batches_resumed".
        self.stats: Counter[str] = Counter()
        self.bodies = RequestBodies(self.model, prompt_caching)
        self.bodies.tool_choice = tool_choice
        self.bodies.send_temperature = send_temperature
        self._client_obj: anthropic.AsyncAnthropic | None = None
        self._http: Any = None  # the SDK's HTTP client (aiohttp transport when available)
        self._messages_url: Any = None
        self._headers: Any = None
        self._transport_errors: tuple[type[BaseException], ...] = ()
        self._timeout_errors: tuple[type[BaseException], ...] = ()
        self._timeouts: dict[str, Any] = {}

    @property
    def tool_choice(self) -> str:
        """ "tool" (forced `submit_items`) or "auto" (offered; set after a model refuses forced tool use)."""
        return self.bodies.tool_choice

    @tool_choice.setter
    def tool_choice(self, value: str) -> None:
        self.bodies.tool_choice = value

    # --- client ---------------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Import the SDK and its HTTP transport now (~1 s) rather than inside the first request."""
        import anthropic  # noqa: F401
        import httpx2  # noqa: F401

        with contextlib.suppress(ImportError):  # without aiohttp the SDK's httpx transport is used
            import aiohttp  # noqa: F401

    def _client(self) -> anthropic.AsyncAnthropic:
        if self._client_obj is not None:
            return self._client_obj
        if not (os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")):
            raise FatalBackendError(
                "ANTHROPIC_API_KEY is not set: export it in the environment "
                "(hf-synth reads the key only from there)"
            )
        import anthropic
        import httpx2

        kwargs: dict[str, Any] = {"max_retries": 0, "timeout": self.timeout}
        if self.base_url:
            kwargs["base_url"] = self.base_url
        # Keep a warm connection per in-flight request: reconnecting costs a TLS handshake each time.
        limits = httpx2.Limits(
            max_connections=max(1000, 2 * self.max_concurrency),
            max_keepalive_connections=max(100, self.max_concurrency),
        )
        timeout_errors: list[type[BaseException]] = [httpx2.TimeoutException, asyncio.TimeoutError]
        transport_errors: list[type[BaseException]] = [httpx2.TransportError, OSError]
        try:
            import aiohttp

            http = anthropic.DefaultAioHttpClient(limits=limits, timeout=self.timeout)
            timeout_errors.append(aiohttp.ServerTimeoutError)
            transport_errors.append(aiohttp.ClientError)
        except (ImportError, RuntimeError):  # no aiohttp: the SDK's httpx transport
            http = anthropic.DefaultAsyncHttpxClient(limits=limits, timeout=self.timeout)
        self._client_obj = client = anthropic.AsyncAnthropic(http_client=http, **kwargs)
        headers = {k: v for k, v in client.default_headers.items() if isinstance(v, str)}
        if not any(k.lower() in ("x-api-key", "authorization") for k in headers):
            raise FatalBackendError("the Anthropic client has no credentials: set ANTHROPIC_API_KEY")
        headers["Content-Type"] = "application/json"
        self._http = http
        self._headers = httpx2.Headers(headers)
        self._messages_url = httpx2.URL(str(client.base_url).rstrip("/") + "/v1/messages")
        self._timeouts = {"timeout": dict.fromkeys(("connect", "read", "write", "pool"), self.timeout)}
        self._timeout_errors, self._transport_errors = tuple(timeout_errors), tuple(transport_errors)
        return client

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        if self._client_obj is not None:
            await self._client_obj.close()
            self._client_obj = None

    # --- request building -----------------------------------------------------------------------------------

    def caching_summary(self) -> tuple[int, int, str | None]:
        """(requests asked to cache, requests not asked, why the last of the latter was not)."""
        return self.bodies.summary()

    def build_params(self, request: GenerationRequest, count: bool = True) -> dict[str, Any]:
        """The Messages API body for `request` (without `stream`); also used for batches and token counts.

        `count` adds the request to the caching tally (`caching_summary`); token counting passes False.
        """
        return self.bodies.params(request, count=count)

    def estimate_input_tokens(self, request: GenerationRequest) -> int:
        """Input tokens `request` may be charged (an overestimate: rate limits and budgets reserve it)."""
        _, tool_tokens = self.bodies.tool(request)
        text = (request.system or "") + request.prompt + (request.feedback or "")
        # 10% margin plus the fixed instruction: under-reserving input tokens is what earns 429s.
        return int((estimate_tokens(text) + tool_tokens) * 1.1) + 40

    # --- online generation ----------------------------------------------------------------------------------

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """Items for `request`, retrying transient failures; `usage` sums every answered attempt.

        Raises `RetryableBackendError` after `max_attempts` transient failures and `FatalBackendError` on
        authentication / permission / malformed-request errors (both carry the usage billed so far).
        """
        self._client()
        estimate = self.estimate_input_tokens(request)
        usage = Usage()
        last = "no attempt"
        for attempt in range(1, self.max_attempts + 1):
            self.stats["attempts"] += 1
            body = self.bodies.body(request)  # per attempt: tool_choice may have changed
            try:
                items = await self._attempt(body, request, estimate, usage)
            except TransientError as e:
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
            f"{describe(request)} failed after {self.max_attempts} attempts: {last}", usage=usage
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `attempt`: equal-jitter exponential, ≥ `retry-after`."""
        cap = min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1))
        delay = cap / 2 + random.uniform(0, cap / 2)
        if retry_after is not None:
            # The server said when; a little jitter keeps the retries of many workers from aligning.
            delay = retry_after + random.uniform(0, min(1.0, 0.1 * retry_after + 0.05))
        return delay

    async def _post(self, body: bytes) -> tuple[int, Any, bytes]:
        """(status, headers, body bytes) of one POST /v1/messages through the SDK's HTTP client."""
        import httpx2

        request = httpx2.Request(
            "POST", self._messages_url, headers=self._headers, content=body, extensions=self._timeouts
        )
        response = await self._http.send(request)
        try:
            payload = await response.aread()
        finally:
            await response.aclose()
        return response.status_code, response.headers, payload

    async def _attempt(
        self, body: bytes, request: GenerationRequest, estimate: int, usage: Usage
    ) -> list[Any]:
        async with self.concurrency.slot() as started:
            reservation = await self.limiter.acquire(estimate, request.max_tokens)
            try:
                status, headers, payload = await self._post(body)
            except self._timeout_errors:
                self.limiter.settle(reservation, 0, 0)
                self.stats["connection"] += 1
                raise TransientError(f"timed out after {self.timeout:g} s") from None
            except self._transport_errors as e:
                self.limiter.settle(reservation, 0, 0)
                self.stats["connection"] += 1
                raise TransientError(f"connection failed ({type(e).__name__})") from None
            if not 200 <= status < 300:
                # Not admitted (or refused): nothing charged; the headers say where the buckets stand.
                self.limiter.settle(reservation, 0, 0)
                self.limiter.observe_headers(headers)
                raise self._classify(status, payload, headers, request, started, estimate)
            try:
                message = json.loads(payload)
                if not isinstance(message, dict) or not isinstance(message.get("content"), list):
                    raise ValueError("not a Message object")
            except ValueError as e:
                self.limiter.settle(reservation, None, None)
                self.limiter.observe_headers(headers)
                self.stats["malformed"] += 1
                raise TransientError(f"unparseable response ({type(e).__name__})") from None
            got = self._usage(message.get("usage") or {}, batch=False)
            usage.add(got)
            self.total_usage.add(got)
            # Settle first: the headers' `remaining` already counts this answer, not those in flight.
            self.limiter.settle(reservation, got.input_tokens + got.cache_write_tokens, got.output_tokens)
            self.limiter.observe_headers(headers)
            self.concurrency.on_success()
        return self._items(message, request)

    def _classify(
        self,
        status: int,
        payload: bytes,
        headers: Any,
        request: GenerationRequest,
        started: float,
        estimate: int,
    ) -> Exception:
        """Map an HTTP error answer to `TransientError` (retry) or `FatalBackendError` (stop the run).

        A 429 that the updated buckets explain (they now hold this request back) is retried through the
        buckets, which pace every sender: no global pause, no concurrency cut. Any other 429 pauses every
        sender for its `retry-after` and halves the concurrency.
        """
        kind, message = _error_of(payload)
        detail = f"HTTP {status} {kind}: {message}"
        retry_after = parse_retry_after(headers)
        if status == 429 and self.limiter.explains(estimate, request.max_tokens):
            self.stats["rate_limited"] += 1
            self.stats["rate_limited_by_tokens"] += 1
            return TransientError(detail, retry_after=0.0, rate_limited=True)
        if status == 429:
            self.stats["rate_limited"] += 1
            self.concurrency.on_rate_limited(started)
            self.limiter.pause(retry_after if retry_after is not None else self.backoff_initial)
            return TransientError(detail, retry_after, rate_limited=True)
        if status == 529:
            self.stats["overloaded"] += 1
            self.concurrency.on_rate_limited(started)
            return TransientError(detail, retry_after)
        if status >= 500 or status in (408, 409):
            self.stats["server_error"] += 1
            return TransientError(detail, retry_after)
        if status == 400 and self.tool_choice == "tool" and "tool_choice" in message:
            # Some models (e.g. Claude Sonnet 5.5) refuse forced tool use: offer the tool instead and rely
            # on the prompt, which already asks for exactly one submit_items call.
            log.warning("model %s rejects a forced tool_choice: switching to tool_choice=auto", self.model)
            self.tool_choice = "auto"
            self.stats["tool_choice_fallback"] += 1
            return TransientError(detail, retry_after=0.0)
        hint = {
            401: "check ANTHROPIC_API_KEY",
            403: "the key lacks permission for this model or workspace",
            404: f"unknown model {self.model!r} or endpoint (check ANTHROPIC_BASE_URL)",
            413: "the request is too large: shorten the prompt or lower items_per_request",
        }.get(status, "the request was rejected")
        return FatalBackendError(f"Anthropic API error for {describe(request)}: {detail} ({hint})")

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
        """The raw `items` of the `submit_items` call; `TransientError` when there is no usable list."""
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
            raise TransientError(f"no {TOOL_NAME} call in the answer (stop_reason={stop_reason})")
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
            raise TransientError(f"tool input has no items list (got {keys}, stop_reason={stop_reason})")
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
