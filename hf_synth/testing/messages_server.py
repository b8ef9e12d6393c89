"""A loopback HTTP server speaking the Anthropic Messages API (+ token counting and Message Batches).

It exists so the real `anthropic` SDK can be exercised end to end without the network: tests and benchmarks
point `ANTHROPIC_BASE_URL` at `MessagesServer.url`. It is an asyncio HTTP/1.1 server with keep-alive (one
thread, one event loop), so hundreds of concurrent connections cost little.

Endpoints: `POST /v1/messages`, `POST /v1/messages/count_tokens`, `POST /v1/messages/batches`,
`GET /v1/messages/batches`, `GET /v1/messages/batches/{id}`, `GET /v1/messages/batches/{id}/results`
(JSONL), `POST /v1/messages/batches/{id}/cancel`.

Behaviour that tests can steer (attributes of `MessagesServer`, safe to change while it runs):

* `responder(request_json) -> dict`: the `input` of the `tool_use` block (default: `default_responder`,
  which fills the forced tool's `input_schema` deterministically; `hf_synth.testing.judge.LabelWorld` writes
  rows that state their labels, a chosen share wrong, and judges label-audit requests by those statements).
* `latency` (s) added to every Messages call, plus `latency_per_output_token` (s) per output token (a
  model writes at a finite speed); `fault_rates` {fault: probability}; `script_faults([...])`
  (consumed one per Messages call before the rates apply; `"ok"` = no fault); `fail_for(fault, seconds)`.
  Faults: `rate_limit` (429), `overloaded` (529), `api_error` (500), `auth` (401), `drop` (close the socket
  without an answer), `slow` (`slow_latency` extra seconds), `malformed` (tool input without a usable
  `items` list), `bad_items` (items with missing fields / wrong types).
* Server-side rate limits (`requests_per_minute`, `input_tokens_per_minute`, `output_tokens_per_minute`,
  token buckets like the real API's, `initial_fill` of the buckets) reported in `anthropic-ratelimit-*`
  headers; an empty bucket answers 429 with `retry-after`.
* Prompt caching as the real API does it: the prefix up to the last `cache_control` breakpoint is cached
  for 5 minutes, and only when it reaches the model's minimum cacheable length (`prices.json`).
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
import json
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
from typing import Any
from urllib.parse import urlsplit

from hf_synth.testing.batches import BatchBook
from hf_synth.testing.http1 import read_request, write_response
from hf_synth.testing.limits import RateLimits
from hf_synth.testing.prompt_cache import PromptCache
from hf_synth.testing.responder import FAULTS, break_items, default_responder, first_text
from hf_synth.testing.wire import (
    ApiError,
    Drop,
    RecordedRequest,
    estimate_tokens,
    fmt_seconds,
    need_method,
    validate_params,
)

__all__ = [
    "FAULTS",
    "MessagesServer",
    "RecordedRequest",
    "default_responder",
    "estimate_tokens",
    "spawned_server",
]


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
        latency_per_output_token: float = 0.0,
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
        self.latency_per_output_token = latency_per_output_token
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
        self._limits = RateLimits()
        self._cache = PromptCache()
        self._batches = BatchBook()
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
        self._limits.reset(
            self.requests_per_minute,
            self.input_tokens_per_minute,
            self.output_tokens_per_minute,
            self.initial_fill,
        )

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
                request = await read_request(reader)
                if request is None:
                    return
                method, target, headers, body = request
                try:
                    status, out_headers, payload = await self._dispatch(method, target, headers, body)
                except Drop:
                    writer.transport.abort()
                    return
                await write_response(writer, status, out_headers, payload)
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            self._open -= 1
            self._conn_tasks.discard(task)  # type: ignore[arg-type]
            with contextlib.suppress(Exception):
                writer.close()

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
                    raise ApiError("invalid_request_error", f"request body is not valid JSON: {e}") from None
                if self.keep_bodies:
                    rec.body = body
            self._check_auth(headers)
            status, payload, extra = await self._route(method, path, body, headers)
            out.update(extra)
            rec.status = status
            if path == "/v1/messages" and isinstance(payload, dict):
                rec.output_tokens = payload.get("usage", {}).get("output_tokens")
            if isinstance(payload, bytes):
                return status, out, payload
            return status, out, json.dumps(payload, separators=(",", ":")).encode()
        except Drop:
            raise
        except ApiError as e:
            rec.status = e.status
            if e.status == 429:
                rec.retry_after = e.retry_after or self.retry_after
                out["retry-after"] = fmt_seconds(rec.retry_after)
            if e.status in (429, 529) or path == "/v1/messages":
                out.update(self._limits.headers())
            err = {
                "type": "error",
                "error": {"type": e.kind, "message": e.message},
                "request_id": out["request-id"],
            }
            return e.status, out, json.dumps(err).encode()

    def _check_auth(self, headers: dict[str, str]) -> None:
        key = headers.get("x-api-key")
        auth = headers.get("authorization", "")
        if not key and auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        if not key:
            raise ApiError("authentication_error", "x-api-key header is required")
        if self.api_key is not None and key != self.api_key:
            raise ApiError("authentication_error", "invalid x-api-key")
        if "anthropic-version" not in headers:
            raise ApiError("invalid_request_error", "anthropic-version: header is required")

    async def _route(
        self, method: str, path: str, body: Any, headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        version = headers.get("anthropic-version", "")
        if path == "/v1/messages":
            need_method(method, "POST")
            return await self._messages(body, version)
        if path == "/v1/messages/count_tokens":
            need_method(method, "POST")
            params = validate_params(body, need_max_tokens=False, version=version)
            return 200, {"input_tokens": self._input_tokens(params)}, {}
        book = self._batches
        if path == "/v1/messages/batches":
            if method == "POST":
                return 200, book.create(body, version, self.batch_delay, self.url), {}
            need_method(method, "GET")
            return 200, book.listing(self.url, self.batch_outcome, self._make_message), {}
        m = re.fullmatch(r"/v1/messages/batches/([^/]+)(/results|/cancel)?", path)
        if m:
            batch = book.get(m.group(1))
            if m.group(2) == "/results":
                need_method(method, "GET")
                results = book.results(batch, self.url, self.batch_outcome, self._make_message)
                return 200, results, {"content-type": "application/binary"}
            if m.group(2) == "/cancel":
                need_method(method, "POST")
                book.cancel(batch, self.batch_delay)
            else:
                need_method(method, "GET")
            return 200, book.describe(batch, self.url, self.batch_outcome, self._make_message), {}
        raise ApiError("not_found_error", f"{method} {path}: not found")

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
        params = validate_params(body, version=version)
        choice = params.get("tool_choice") or {}
        if choice.get("type") in ("tool", "any") and params["model"] in self.no_forced_tool_models:
            raise ApiError(
                "invalid_request_error",
                f"tool_choice: forced tool use is not supported by {params['model']}; use auto",
            )
        fault = self._next_fault()
        if fault == "drop":
            raise Drop
        if fault == "auth":
            raise ApiError("authentication_error", "invalid x-api-key")
        if fault == "rate_limit":
            raise ApiError("rate_limit_error", "Number of requests has exceeded your per-minute rate limit")
        if fault == "overloaded":
            raise ApiError("overloaded_error", "Overloaded")
        if fault == "api_error":
            raise ApiError("api_error", "Internal server error")
        input_total = self._input_tokens(params)
        self._limits.charge(input_total, params["max_tokens"])
        message = self._make_message(params, fault, input_total)
        delay = self.latency + (self.slow_latency if fault == "slow" else 0.0)
        delay += self.latency_per_output_token * message["usage"]["output_tokens"]
        if delay > 0:
            await asyncio.sleep(delay)
        self._limits.settle_output(message["usage"]["output_tokens"])
        return 200, message, self._limits.headers()

    def _make_message(
        self, params: dict[str, Any], fault: str = "ok", input_total: int | None = None
    ) -> dict[str, Any]:
        cached, is_write = self._cache.split(params)
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
                tool_input = break_items(tool_input, fault)
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
            text = f"Loopback reply to: {first_text(params)[:80]}"
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
    p.add_argument("--latency-per-token", type=float, default=0.0, help="seconds per output token")
    p.add_argument("--fault", action="append", default=[], metavar="NAME=RATE", help=f"one of {FAULTS[1:]}")
    p.add_argument("--batch-delay", type=float, default=1.0, help="seconds until a batch ends")
    p.add_argument("--requests-per-minute", type=float, default=50_000)
    p.add_argument("--retry-after", type=float, default=1.0)
    p.add_argument("--no-bodies", action="store_true", help="do not keep request bodies")
    p.add_argument(
        "--label-world",
        metavar="JSON",
        help="answer as hf_synth.testing.judge.LabelWorld over these dimensions ({name: [values]})",
    )
    p.add_argument("--wrong-share", type=float, default=0.0, help="with --label-world: share written wrong")
    args = p.parse_args(argv)
    rates = {}
    for spec in args.fault:
        name, _, rate = spec.partition("=")
        if name not in FAULTS:
            p.error(f"unknown fault {name!r}")
        rates[name] = float(rate or 1.0)
    responder = None
    if args.label_world:
        from hf_synth.testing.judge import LabelWorld

        responder = LabelWorld(json.loads(args.label_world), args.wrong_share)
    server = MessagesServer(
        args.host,
        args.port,
        api_key=args.api_key,
        responder=responder,
        latency=args.latency,
        latency_per_output_token=args.latency_per_token,
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
