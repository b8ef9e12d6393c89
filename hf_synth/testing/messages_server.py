"""A loopback HTTP server speaking the Anthropic Messages API (+ token counting and Message Batches).

It exists so the real `anthropic` SDK can be exercised end to end without the network: tests and benchmarks
point `ANTHROPIC_BASE_URL` at `MessagesServer.url`. It is an asyncio HTTP/1.1 server with keep-alive (one
thread, one event loop), so hundreds of concurrent connections cost little.

Endpoints: `POST /v1/messages`, `POST /v1/messages/count_tokens`, `POST /v1/messages/batches`,
`GET /v1/messages/batches`, `GET /v1/messages/batches/{id}`, `GET /v1/messages/batches/{id}/results`
(JSONL), `POST /v1/messages/batches/{id}/cancel`.

Behaviour that tests can steer (attributes of `MessagesServer`, safe to change while it runs):

* `responder(request_json) -> dict`: the `input` of the `tool_use` block (default: `default_responder`,
  which fills the forced tool's `input_schema` deterministically).
* `latency` (s) added to every Messages call; `fault_rates` {fault: probability}; `script_faults([...])`
  (consumed one per Messages call before the rates apply; `"ok"` = no fault); `fail_for(fault, seconds)`.
  Faults: `rate_limit` (429), `overloaded` (529), `api_error` (500), `auth` (401), `drop` (close the socket
  without an answer), `slow` (`slow_latency` extra seconds), `malformed` (tool input without a usable
  `items` list), `bad_items` (items with missing fields / wrong types).
* Server-side rate limits (`requests_per_minute`, `input_tokens_per_minute`, `output_tokens_per_minute`,
  token buckets like the real API's, `initial_fill` of the buckets) reported in `anthropic-ratelimit-*`
  headers; an empty bucket answers 429 with `retry-after`.
* `batch_delay` (s) until a batch ends; `batch_outcome(custom_id, params) -> "succeeded" | "errored" |
  "expired" | "canceled"`.
* `api_key`: when set, the only accepted key (else any non-empty key is accepted).

`requests` is the log of received requests (`RecordedRequest`, without credentials); bodies are kept only
when `keep_bodies` is true. `count(method, path)` counts them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import math
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FAULTS", "MessagesServer", "RecordedRequest", "default_responder", "estimate_tokens"]

FAULTS = ("ok", "rate_limit", "overloaded", "api_error", "auth", "drop", "slow", "malformed", "bad_items")

_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    529: "Overloaded",
}
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_MAX_BATCH_REQUESTS = 100_000
_MAX_BATCH_BYTES = 256 * 1024 * 1024
_NO_SAMPLING_VERSION = "2026-10-21"
_CACHE_TTL = 300.0  # seconds: the ephemeral cache's 5-minute lifetime


def estimate_tokens(obj: Any) -> int:
    """Token count the server charges for `obj` (str or JSON value): ~4 characters per token, ≥ 1."""
    text = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return max(1, math.ceil(len(text) / 4))


@dataclass
class RecordedRequest:
    """One request the server received (credential headers are never recorded)."""

    method: str
    path: str
    time: float
    headers: dict[str, str]
    body: Any = None
    status: int | None = None  # None when the connection was dropped


class _Error(Exception):
    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind, self.message, self.status = kind, message, status or _ERROR_STATUS[kind]


class _Drop(Exception):
    """Close the connection without answering."""


# ---------------------------------------------------------------------------------------------------------
# Default responder: fill a JSON schema deterministically.


def _first_text(request_json: dict[str, Any]) -> str:
    for message in request_json.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            return content
        for block in content or []:
            if isinstance(block, dict) and block.get("type") == "text":
                return str(block.get("text", ""))
    return ""


def _fill(schema: dict[str, Any], name: str, seed: str, counter: int) -> Any:
    """A value valid for `schema` (object/array/string/integer/number/boolean/enum/nullable)."""
    if "enum" in schema:
        choices = [v for v in schema["enum"] if v is not None] or [None]
        return choices[counter % len(choices)]
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"] or schema["anyOf"]
        return _fill(options[0], name, seed, counter)
    jtype = schema.get("type", "string")
    if isinstance(jtype, list):
        jtype = next((t for t in jtype if t != "null"), "null")
    if jtype == "object":
        props = schema.get("properties", {})
        return {key: _fill(sub, key, seed, counter) for key, sub in props.items()}
    if jtype == "array":
        n = int(schema.get("minItems", schema.get("maxItems", 1)))
        return [_fill(schema.get("items", {}), name, seed, counter * 1000 + i) for i in range(n)]
    if jtype == "integer":
        lo = math.ceil(schema.get("minimum", 0))
        hi = math.floor(schema.get("maximum", lo + 100))
        return lo + counter % (hi - lo + 1)
    if jtype == "number":
        lo = float(schema.get("minimum", 0.0))
        hi = float(schema.get("maximum", lo + 1.0))
        return lo + (hi - lo) * ((counter * 0.618034) % 1.0)
    if jtype == "boolean":
        return counter % 2 == 0
    if jtype == "null":
        return None
    return f"{name} #{counter}: {seed}"


class _Counter:
    def __init__(self) -> None:
        self._it = itertools.count()
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return next(self._it)


_items_counter = _Counter()


def default_responder(request_json: dict[str, Any]) -> dict[str, Any]:
    """Tool input for a Messages request: the forced tool's `input_schema` filled with distinct values.

    Strings read "<field> #<counter>: <first 40 characters of the prompt>", so every item is distinct and
    traceable to its prompt; arrays get `minItems` elements (the n items requested).
    """
    tools = request_json.get("tools") or []
    choice = request_json.get("tool_choice") or {}
    tool = next((t for t in tools if t.get("name") == choice.get("name")), tools[0] if tools else None)
    if tool is None:
        return {}
    seed = " ".join(_first_text(request_json).split())[:40]
    return _fill(tool.get("input_schema", {}), "value", seed, _items_counter())


def _break_items(tool_input: dict[str, Any], fault: str) -> dict[str, Any]:
    """Corrupt a tool input: `malformed` loses the items list, `bad_items` breaks fields inside items."""
    if fault == "malformed":
        return {"itemz": "not a list"}
    items = tool_input.get("items")
    if isinstance(items, list) and items and isinstance(items[0], dict):
        first = dict(items[0])
        keys = list(first)
        if keys:
            first.pop(keys[0])  # a missing field
        if len(keys) > 1:
            first[keys[1]] = {"wrong": "type"}  # a wrong type
        return {**tool_input, "items": [first, *items[1:]]}
    return {"items": [{"unexpected": 1}]}


# ---------------------------------------------------------------------------------------------------------
# Server-side rate limits.


class _Bucket:
    def __init__(self, per_minute: float, fill: float) -> None:
        self.limit = per_minute
        self.tokens = per_minute * fill
        self.stamp = time.monotonic()

    def refill(self, now: float) -> None:
        self.tokens = min(self.limit, self.tokens + (now - self.stamp) * self.limit / 60.0)
        self.stamp = now

    def seconds_until(self, amount: float) -> float:
        need = min(amount, self.limit) - self.tokens
        return max(0.0, need * 60.0 / self.limit)

    def reset_time(self) -> str:
        full_in = (self.limit - self.tokens) * 60.0 / self.limit
        ts = datetime.fromtimestamp(time.time() + max(0.0, full_in), tz=timezone.utc)
        return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Batch:
    id: str
    requests: list[dict[str, Any]]
    created: float
    ends: float
    created_at: str
    canceled: bool = False
    results: list[dict[str, Any]] | None = None
    counts: dict[str, int] = field(default_factory=dict)


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class MessagesServer:
    """Loopback Anthropic Messages API server; see the module docstring for what it can simulate."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str | None = None,
        responder: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        latency: float = 0.0,
        fault_rates: dict[str, float] | None = None,
        slow_latency: float = 5.0,
        retry_after: float = 1.0,
        requests_per_minute: float = 50_000,
        input_tokens_per_minute: float = 50_000_000,
        output_tokens_per_minute: float = 10_000_000,
        initial_fill: float = 1.0,
        batch_delay: float = 1.0,
        batch_outcome: Callable[[str, dict[str, Any]], str] | None = None,
        keep_bodies: bool = True,
        seed: int = 0,
    ) -> None:
        self.host, self.port = host, port
        self.api_key = api_key
        self.responder = responder or default_responder
        self.latency = latency
        self.fault_rates: dict[str, float] = dict(fault_rates or {})
        self.slow_latency = slow_latency
        self.retry_after = retry_after
        self.requests_per_minute = requests_per_minute
        self.input_tokens_per_minute = input_tokens_per_minute
        self.output_tokens_per_minute = output_tokens_per_minute
        self.initial_fill = initial_fill
        self.batch_delay = batch_delay
        self.batch_outcome = batch_outcome
        self.keep_bodies = keep_bodies
        #: Models that answer a forced `tool_choice` with a 400, as Claude Sonnet 5.5 does.
        self.no_forced_tool_models: set[str] = {"claude-sonnet-5-5"}
        self.requests: list[RecordedRequest] = []
        self.connections = 0  # connections accepted so far
        self.max_open_connections = 0
        self._open = 0
        self._rng = random.Random(seed)
        self._script: deque[str] = deque()
        self._fail_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] | None = None
        self._cache: dict[str, float] = {}
        self._batches: dict[str, _Batch] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._conn_tasks: set[asyncio.Task[Any]] = set()

    # --- lifecycle ----------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:54321` (set `ANTHROPIC_BASE_URL` to it)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> MessagesServer:
        """Start serving in a background thread; returns self once the socket listens."""
        if self._thread is not None:
            return self
        self._reset_buckets()
        self._thread = threading.Thread(target=self._run, name="messages-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("messages server did not start")
        return self

    def stop(self) -> None:
        """Stop serving and close every connection (idempotent)."""
        if self._loop is not None and self._stopped is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(10)
        self._thread = None

    def __enter__(self) -> MessagesServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stopped = asyncio.Event()
        self._server = await asyncio.start_server(self._handle, self.host, self.port, backlog=2048)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stopped.wait()
        self._server.close()
        for task in list(self._conn_tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    async def serve_forever(self) -> None:
        """Serve in the current event loop until cancelled (used by the command line entry point)."""
        self._reset_buckets()
        self._loop = asyncio.get_running_loop()
        await self._serve()

    # --- steering -----------------------------------------------------------------------------------------

    def script_faults(self, faults: list[str]) -> None:
        """Queue faults for the next Messages calls, one per call, in order (`"ok"` = answer normally)."""
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {FAULTS}")
        with self._lock:
            self._script.extend(faults)

    def fail_for(self, fault: str, seconds: float) -> None:
        """Answer every Messages call with `fault` for the next `seconds` seconds."""
        with self._lock:
            self._fail_until[fault] = time.monotonic() + seconds

    def set_rate_limits(
        self,
        requests_per_minute: float | None = None,
        input_tokens_per_minute: float | None = None,
        output_tokens_per_minute: float | None = None,
        initial_fill: float | None = None,
    ) -> None:
        """Change the server-side limits (buckets restart at `initial_fill` × limit)."""
        if requests_per_minute is not None:
            self.requests_per_minute = requests_per_minute
        if input_tokens_per_minute is not None:
            self.input_tokens_per_minute = input_tokens_per_minute
        if output_tokens_per_minute is not None:
            self.output_tokens_per_minute = output_tokens_per_minute
        if initial_fill is not None:
            self.initial_fill = initial_fill
        self._reset_buckets()

    def _reset_buckets(self) -> None:
        with self._lock:
            self._buckets = {
                "requests": _Bucket(self.requests_per_minute, self.initial_fill),
                "input-tokens": _Bucket(self.input_tokens_per_minute, self.initial_fill),
                "output-tokens": _Bucket(self.output_tokens_per_minute, self.initial_fill),
            }

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """Requests received matching `method` and `path` (exact path; None = any)."""
        with self._lock:
            return sum(
                1
                for r in self.requests
                if (method is None or r.method == method) and (path is None or r.path == path)
            )

    def bodies(self, path: str = "/v1/messages") -> list[Any]:
        """JSON bodies received on `path`, in arrival order (needs `keep_bodies`)."""
        with self._lock:
            return [r.body for r in self.requests if r.path == path and r.method == "POST"]

    def clear(self) -> None:
        """Forget the request log, scripted faults, fault windows and the prompt cache."""
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self._fail_until.clear()
            self._cache.clear()

    # --- HTTP ---------------------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._open += 1
        task = asyncio.current_task()
        if task is not None:
            self._conn_tasks.add(task)
        self.max_open_connections = max(self.max_open_connections, self._open)
        try:
            while True:
                # One read for the whole head: a readline per header costs more than the dispatch.
                try:
                    head_bytes = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                request_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
                try:
                    method, target, _version = request_line.split()
                except ValueError:
                    return
                headers: dict[str, str] = {}
                for raw_header in header_lines:
                    if raw_header:
                        key, _, value = raw_header.partition(":")
                        headers[key.strip().lower()] = value.strip()
                body = b""
                if "content-length" in headers:
                    body = await reader.readexactly(int(headers["content-length"]))
                elif headers.get("transfer-encoding", "").lower() == "chunked":
                    body = await self._read_chunked(reader)
                try:
                    status, out_headers, payload = await self._dispatch(method, target, headers, body)
                except _Drop:
                    writer.transport.abort()
                    return
                head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
                out_headers.setdefault("content-type", "application/json")
                out_headers["content-length"] = str(len(payload))
                head += [f"{k}: {v}" for k, v in out_headers.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            self._open -= 1
            self._conn_tasks.discard(task)  # type: ignore[arg-type]
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readline()
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readline()

    def _record(self, method: str, path: str, headers: dict[str, str], body: Any) -> RecordedRequest:
        safe = {k: v for k, v in headers.items() if k not in ("x-api-key", "authorization")}
        rec = RecordedRequest(method, path, time.time(), safe, body if self.keep_bodies else None)
        with self._lock:
            self.requests.append(rec)
        return rec

    async def _dispatch(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        path = urlsplit(target).path.rstrip("/")
        body: Any = None
        rec = self._record(method, path, headers, None)
        out: dict[str, str] = {"request-id": f"req_loop_{uuid.uuid4().hex[:24]}"}
        try:
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError as e:
                    raise _Error("invalid_request_error", f"request body is not valid JSON: {e}") from None
                if self.keep_bodies:
                    rec.body = body
            self._check_auth(headers)
            status, payload, extra = await self._route(method, path, body, headers)
            out.update(extra)
            rec.status = status
            if isinstance(payload, bytes):
                return status, out, payload
            return status, out, json.dumps(payload, separators=(",", ":")).encode()
        except _Drop:
            raise
        except _Error as e:
            rec.status = e.status
            if e.status == 429:
                out["retry-after"] = _fmt_seconds(self._retry_after_for(e))
            if e.status in (429, 529) or path == "/v1/messages":
                out.update(self._limit_headers())
            err = {
                "type": "error",
                "error": {"type": e.kind, "message": e.message},
                "request_id": out["request-id"],
            }
            return e.status, out, json.dumps(err).encode()

    def _retry_after_for(self, e: _Error) -> float:
        return getattr(e, "retry_after", None) or self.retry_after

    def _check_auth(self, headers: dict[str, str]) -> None:
        key = headers.get("x-api-key")
        auth = headers.get("authorization", "")
        if not key and auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        if not key:
            raise _Error("authentication_error", "x-api-key header is required")
        if self.api_key is not None and key != self.api_key:
            raise _Error("authentication_error", "invalid x-api-key")
        if "anthropic-version" not in headers:
            raise _Error("invalid_request_error", "anthropic-version: header is required")

    async def _route(
        self, method: str, path: str, body: Any, headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        if path == "/v1/messages":
            _need(method, "POST")
            return await self._messages(body, headers.get("anthropic-version", ""))
        if path == "/v1/messages/count_tokens":
            _need(method, "POST")
            version = headers.get("anthropic-version", "")
            params = _validate_params(body, need_max_tokens=False, version=version)
            return 200, {"input_tokens": self._input_tokens(params)}, {}
        if path == "/v1/messages/batches":
            if method == "POST":
                return 200, self._batch_create(body, headers.get("anthropic-version", "")), {}
            _need(method, "GET")
            return 200, self._batch_list(), {}
        m = re.fullmatch(r"/v1/messages/batches/([^/]+)(/results|/cancel)?", path)
        if m:
            batch = self._batches.get(m.group(1))
            if batch is None:
                raise _Error("not_found_error", f"message batch {m.group(1)!r} not found")
            if m.group(2) == "/results":
                _need(method, "GET")
                return 200, self._batch_results(batch), {"content-type": "application/binary"}
            if m.group(2) == "/cancel":
                _need(method, "POST")
                if not batch.canceled and time.monotonic() < batch.ends:
                    batch.canceled = True
                    batch.ends = time.monotonic() + min(0.2, self.batch_delay)
                return 200, self._batch_json(batch), {}
            _need(method, "GET")
            return 200, self._batch_json(batch), {}
        raise _Error("not_found_error", f"{method} {path}: not found")

    # --- Messages -----------------------------------------------------------------------------------------

    def _next_fault(self) -> str:
        with self._lock:
            if self._script:
                return self._script.popleft()
            now = time.monotonic()
            for fault, until in self._fail_until.items():
                if now < until:
                    return fault
        for fault, rate in self.fault_rates.items():
            if rate > 0 and self._rng.random() < rate:
                return fault
        return "ok"

    async def _messages(self, body: Any, version: str) -> tuple[int, Any, dict[str, str]]:
        params = _validate_params(body, version=version)
        choice = params.get("tool_choice") or {}
        if choice.get("type") in ("tool", "any") and params["model"] in self.no_forced_tool_models:
            raise _Error(
                "invalid_request_error",
                f"tool_choice: forced tool use is not supported by {params['model']}; use auto",
            )
        fault = self._next_fault()
        if fault == "drop":
            raise _Drop
        if fault == "auth":
            raise _Error("authentication_error", "invalid x-api-key")
        if fault == "rate_limit":
            raise _Error("rate_limit_error", "Number of requests has exceeded your per-minute rate limit")
        if fault == "overloaded":
            raise _Error("overloaded_error", "Overloaded")
        if fault == "api_error":
            raise _Error("api_error", "Internal server error")
        input_total = self._input_tokens(params)
        self._charge(input_total, params["max_tokens"])
        delay = self.latency + (self.slow_latency if fault == "slow" else 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        message = self._make_message(params, fault, input_total)
        self._settle_output(message["usage"]["output_tokens"])
        return 200, message, self._limit_headers()

    def _make_message(
        self, params: dict[str, Any], fault: str = "ok", input_total: int | None = None
    ) -> dict[str, Any]:
        cached, is_write = self._cache_split(params)
        if input_total is None:
            input_total = self._input_tokens(params)
        usage: dict[str, Any] = {
            "input_tokens": input_total - cached,
            "output_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "standard",
        }
        if cached:
            usage["cache_creation_input_tokens" if is_write else "cache_read_input_tokens"] = cached
        tools = params.get("tools") or []
        choice = params.get("tool_choice") or {}
        if tools and choice.get("type") != "none":
            tool_input = self.responder(params)
            if fault in ("malformed", "bad_items"):
                tool_input = _break_items(tool_input, fault)
            tool = next((t for t in tools if t.get("name") == choice.get("name")), tools[0])
            content = [
                {
                    "type": "tool_use",
                    "id": f"toolu_loop_{uuid.uuid4().hex[:20]}",
                    "name": tool["name"],
                    "input": tool_input,
                }
            ]
            stop_reason = "tool_use"
            usage["output_tokens"] = estimate_tokens(tool_input) + 10
        else:
            text = f"Loopback reply to: {_first_text(params)[:80]}"
            content = [{"type": "text", "text": text}]
            stop_reason = "end_turn"
            usage["output_tokens"] = estimate_tokens(text)
        if usage["output_tokens"] > params["max_tokens"]:
            usage["output_tokens"] = params["max_tokens"]
            stop_reason = "max_tokens"
        return {
            "id": f"msg_loop_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": params["model"],
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }

    def _input_tokens(self, params: dict[str, Any]) -> int:
        parts = [params.get("system") or "", params.get("tools") or [], params["messages"]]
        return sum(estimate_tokens(p) for p in parts if p)

    def _cache_split(self, params: dict[str, Any]) -> tuple[int, bool]:
        """(tokens in the prefix up to the last cache breakpoint, whether that prefix was not cached yet).

        The prefix order is tools → system → messages, as in the real API; the cache lives 5 minutes and a
        hit refreshes it.
        """
        prefix: list[Any] = []
        marked: list[Any] | None = None
        sections = (
            params.get("tools") or [],
            params.get("system") if isinstance(params.get("system"), list) else [],
            [b for m in params["messages"] if isinstance(m.get("content"), list) for b in m["content"]],
        )
        for section in sections:
            for block in section:
                prefix.append(block)
                if isinstance(block, dict) and block.get("cache_control"):
                    marked = list(prefix)
        if marked is None:
            return 0, False
        if isinstance(params.get("system"), str):
            marked.append(params["system"])
        tokens = sum(estimate_tokens(b) for b in marked)
        digest = hashlib.sha256((params["model"] + json.dumps(marked, sort_keys=True)).encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest, -math.inf) > now
            self._cache[digest] = now + _CACHE_TTL
        return tokens, not hit

    # --- rate limits --------------------------------------------------------------------------------------

    def _charge(self, input_tokens: int, max_tokens: int) -> None:
        now = time.monotonic()
        assert self._buckets is not None
        with self._lock:
            for b in self._buckets.values():
                b.refill(now)
            needs = {"requests": 1, "input-tokens": input_tokens, "output-tokens": max_tokens}
            wait = max(self._buckets[k].seconds_until(v) for k, v in needs.items())
            if wait > 0:
                err = _Error("rate_limit_error", "This request would exceed your organization's rate limit")
                err.retry_after = math.ceil(wait * 1000) / 1000  # type: ignore[attr-defined]
                raise err
            self._buckets["requests"].tokens -= 1
            self._buckets["input-tokens"].tokens -= input_tokens

    def _settle_output(self, output_tokens: int) -> None:
        assert self._buckets is not None
        with self._lock:
            self._buckets["output-tokens"].tokens -= output_tokens

    def _limit_headers(self) -> dict[str, str]:
        assert self._buckets is not None
        out: dict[str, str] = {}
        now = time.monotonic()
        with self._lock:
            for kind, b in self._buckets.items():
                b.refill(now)
                out[f"anthropic-ratelimit-{kind}-limit"] = str(int(b.limit))
                out[f"anthropic-ratelimit-{kind}-remaining"] = str(max(0, int(b.tokens)))
                out[f"anthropic-ratelimit-{kind}-reset"] = b.reset_time()
            tok_i, tok_o = self._buckets["input-tokens"], self._buckets["output-tokens"]
            out["anthropic-ratelimit-tokens-limit"] = str(int(tok_i.limit + tok_o.limit))
            out["anthropic-ratelimit-tokens-remaining"] = str(max(0, int(tok_i.tokens + tok_o.tokens)))
            out["anthropic-ratelimit-tokens-reset"] = min(tok_i.reset_time(), tok_o.reset_time())
        return out

    # --- Message Batches ----------------------------------------------------------------------------------

    def _batch_create(self, body: Any, headers_version: str) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("requests"), list) or not body["requests"]:
            raise _Error("invalid_request_error", "requests: a non-empty list is required")
        reqs = body["requests"]
        if len(reqs) > _MAX_BATCH_REQUESTS:
            raise _Error("invalid_request_error", f"requests: at most {_MAX_BATCH_REQUESTS} per batch")
        if len(json.dumps(body)) > _MAX_BATCH_BYTES:
            raise _Error("request_too_large", "batch exceeds 256 MB")
        seen: set[str] = set()
        for i, r in enumerate(reqs):
            cid = r.get("custom_id") if isinstance(r, dict) else None
            if not isinstance(cid, str) or not _CUSTOM_ID.match(cid):
                raise _Error(
                    "invalid_request_error", f"requests.{i}.custom_id: must match {_CUSTOM_ID.pattern}"
                )
            if cid in seen:
                raise _Error("invalid_request_error", f"requests.{i}.custom_id: duplicate {cid!r}")
            seen.add(cid)
            try:
                _validate_params(r.get("params"), version=headers_version)
            except _Error as e:
                raise _Error("invalid_request_error", f"requests.{i}.params.{e.message}") from None
        now = time.monotonic()
        batch = _Batch(
            id=f"msgbatch_loop_{uuid.uuid4().hex[:24]}",
            requests=reqs,
            created=now,
            ends=now + self.batch_delay,
            created_at=_rfc3339(time.time()),
        )
        self._batches[batch.id] = batch
        return self._batch_json(batch)

    def _batch_json(self, batch: _Batch) -> dict[str, Any]:
        now = time.monotonic()
        ended = now >= batch.ends
        if ended and batch.results is None:
            self._finish_batch(batch)
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
            "expires_at": _rfc3339(wall_created + 86400),
            "ended_at": _rfc3339(wall_created + (batch.ends - batch.created)) if ended else None,
            "cancel_initiated_at": None,
            "archived_at": None,
            "results_url": f"{self.url}/v1/messages/batches/{batch.id}/results" if ended else None,
        }

    def _finish_batch(self, batch: _Batch) -> None:
        results = []
        for r in batch.requests:
            outcome = "canceled" if batch.canceled else "succeeded"
            if self.batch_outcome is not None and not batch.canceled:
                outcome = self.batch_outcome(r["custom_id"], r["params"])
            if outcome == "succeeded":
                self._cache_split(r["params"])  # batches share the prompt cache too
                message = self._make_message(r["params"])
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

    def _batch_results(self, batch: _Batch) -> bytes:
        if time.monotonic() < batch.ends:
            raise _Error("invalid_request_error", f"message batch {batch.id} is still processing")
        self._batch_json(batch)
        assert batch.results is not None
        return "".join(json.dumps(r) + "\n" for r in batch.results).encode()

    def _batch_list(self) -> dict[str, Any]:
        data = [self._batch_json(b) for b in reversed(list(self._batches.values()))]
        return {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }


def _need(method: str, expected: str) -> None:
    if method != expected:
        raise _Error("not_found_error", f"method {method} not allowed here", status=405)


def _validate_params(body: Any, need_max_tokens: bool = True, version: str = "") -> dict[str, Any]:
    """Check the fields the real API checks first; errors name the field as the API does."""
    if not isinstance(body, dict):
        raise _Error("invalid_request_error", "body: an object is required")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _Error("invalid_request_error", "model: Field required")
    if not model.startswith("claude"):
        raise _Error("not_found_error", f"model: {model}")
    if need_max_tokens:
        mt = body.get("max_tokens")
        if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
            raise _Error("invalid_request_error", "max_tokens: must be a positive integer")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _Error("invalid_request_error", "messages: at least one message is required")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant") or "content" not in m:
            raise _Error("invalid_request_error", f"messages.{i}: role and content are required")
    if messages[0]["role"] != "user":
        raise _Error("invalid_request_error", "messages: first message must use the user role")
    for name in ("temperature", "top_p", "top_k"):
        # API version 2026-10-21 dropped sampling parameters; older versions accept temperature in 0..1.
        if name in body and version >= _NO_SAMPLING_VERSION:
            raise _Error("invalid_request_error", f"{name}: not supported in API version {version}")
    temperature = body.get("temperature")
    if temperature is not None and not (0 <= temperature <= 1):
        raise _Error("invalid_request_error", "temperature: range: 0..1")
    tools = body.get("tools")
    names: set[str] = set()
    if tools is not None:
        if not isinstance(tools, list):
            raise _Error("invalid_request_error", "tools: a list is required")
        for i, t in enumerate(tools):
            if not isinstance(t, dict) or not isinstance(t.get("name"), str):
                raise _Error("invalid_request_error", f"tools.{i}.name: Field required")
            schema = t.get("input_schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                raise _Error(
                    "invalid_request_error", f"tools.{i}.input_schema.type: Input should be 'object'"
                )
            names.add(t["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
            raise _Error("invalid_request_error", "tool_choice.type: must be auto, any, tool or none")
        if choice["type"] == "tool" and choice.get("name") not in names:
            raise _Error("invalid_request_error", f"tool_choice.name: no tool named {choice.get('name')!r}")
    return body


def _fmt_seconds(seconds: float) -> str:
    # The real API sends whole seconds; fractions are kept so tests can use sub-second waits.
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:.3f}"


@contextlib.contextmanager
def spawned_server(latency: float = 0.0, *extra: str) -> Iterator[subprocess.Popen]:
    """Run the server in a child process (so its CPU is not charged to the caller) and yield the process.

    Its URL is `proc.url`; the child is terminated on exit. `latency` is seconds per Messages call.
    """
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hf_synth.testing.messages_server",
            "--port",
            "0",
            "--latency",
            str(latency),
            "--no-bodies",
            *extra,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        proc.url = proc.stdout.readline().strip()  # type: ignore[attr-defined]
        yield proc
    finally:
        proc.terminate()
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    """Command line: serve until interrupted; the first stdout line is the base URL."""
    p = argparse.ArgumentParser(
        prog="python -m hf_synth.testing.messages_server", description=__doc__.split("\n")[0]
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--api-key", default=None, help="the only key accepted (default: any non-empty key)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every Messages call")
    p.add_argument("--fault", action="append", default=[], metavar="NAME=RATE", help=f"one of {FAULTS[1:]}")
    p.add_argument("--batch-delay", type=float, default=1.0, help="seconds until a batch ends")
    p.add_argument("--requests-per-minute", type=float, default=50_000)
    p.add_argument("--retry-after", type=float, default=1.0)
    p.add_argument("--no-bodies", action="store_true", help="do not keep request bodies")
    args = p.parse_args(argv)
    rates = {}
    for spec in args.fault:
        name, _, rate = spec.partition("=")
        if name not in FAULTS:
            p.error(f"unknown fault {name!r}")
        rates[name] = float(rate or 1.0)
    server = MessagesServer(
        args.host,
        args.port,
        api_key=args.api_key,
        latency=args.latency,
        fault_rates=rates,
        batch_delay=args.batch_delay,
        requests_per_minute=args.requests_per_minute,
        retry_after=args.retry_after,
        keep_bodies=not args.no_bodies,
    )

    async def run() -> None:
        task = asyncio.ensure_future(server.serve_forever())
        while not server._ready.is_set():
            await asyncio.sleep(0.01)
        print(server.url, flush=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, server._stopped.set if server._stopped else task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
