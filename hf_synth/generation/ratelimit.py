"""Client-side rate limiting for HTTP LLM APIs: token buckets, server-header feedback and AIMD concurrency.

Units: rates are per minute as configured by the user (requests/min, tokens/min) and converted to per second
internally; times are seconds on the `time.monotonic()` clock unless stated otherwise.

The design follows the Anthropic API: a request is charged against three buckets (requests, input tokens,
output tokens). Output tokens are unknown at send time, so `max_tokens` is reserved and the difference is
refunded once the response's `usage` is known. The server's `anthropic-ratelimit-*` headers are the
authoritative view of the organisation's remaining budget (other processes may share it), so they can only
lower the local estimate, never raise it. A 429's `retry-after` pauses every sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

__all__ = ["AdaptiveConcurrency", "RateLimiter", "Reservation", "TokenBucket", "parse_retry_after"]


class TokenBucket:
    """A continuously refilled token bucket.

    `rate_per_minute=None` means unlimited until a server header sets a limit. `capacity` defaults to one
    minute's worth (the Anthropic buckets refill continuously up to the per-minute limit).
    """

    def __init__(self, rate_per_minute: float | None, capacity: float | None = None) -> None:
        self.user_rate = rate_per_minute
        self.rate = rate_per_minute / 60.0 if rate_per_minute else math.inf  # tokens per second
        self.capacity = capacity if capacity is not None else (rate_per_minute or math.inf)
        self.tokens = self.capacity
        self._stamp = time.monotonic()

    @property
    def unlimited(self) -> bool:
        return math.isinf(self.rate)

    def _refill(self, now: float) -> None:
        if not self.unlimited:
            self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_time(self, amount: float, now: float | None = None) -> float:
        """Seconds until `amount` tokens are available (0 when they are now).

        A request bigger than the whole bucket only waits for a full bucket: it would otherwise never go.
        """
        if self.unlimited:
            return 0.0
        now = time.monotonic() if now is None else now
        self._refill(now)
        need = min(amount, self.capacity)
        if self.tokens >= need:
            return 0.0
        return (need - self.tokens) / self.rate

    def take(self, amount: float) -> None:
        """Consume `amount` tokens now (the balance may go negative: a debt repaid by the refill)."""
        if not self.unlimited:
            self._refill(time.monotonic())
            self.tokens -= amount

    def give(self, amount: float) -> None:
        """Return `amount` tokens (a correction after the real usage is known); never above capacity."""
        if not self.unlimited:
            self._refill(time.monotonic())
            self.tokens = min(self.capacity, self.tokens + amount)

    def observe(self, limit: float | None, remaining: float | None) -> None:
        """Adopt the server's per-minute `limit` and its `remaining` budget (which can only lower ours)."""
        now = time.monotonic()
        if limit is not None and limit > 0:
            eff = min(limit, self.user_rate) if self.user_rate else limit
            if self.unlimited:
                # First header: start from the server's remaining budget.
                self.rate, self.capacity, self.tokens, self._stamp = eff / 60.0, eff, eff, now
            else:
                self._refill(now)
                self.rate, self.capacity = eff / 60.0, eff
                self.tokens = min(self.tokens, self.capacity)
        if remaining is not None and not self.unlimited:
            self._refill(now)
            self.tokens = min(self.tokens, remaining)


@dataclass
class Reservation:
    """What `RateLimiter.acquire` charged for one request (tokens), corrected by `RateLimiter.settle`."""

    input_tokens: int
    output_tokens: int


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from `retry-after-ms` / `retry-after` (seconds or an HTTP date), else None."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        with contextlib.suppress(ValueError):
            return max(0.0, float(ms) / 1000.0)
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime

        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


class RateLimiter:
    """Three token buckets (requests, input tokens, output tokens per minute) plus a global pause.

    Every limit is optional: `None` means "unlimited until the server tells us otherwise".
    """

    def __init__(
        self,
        requests_per_minute: float | None = None,
        input_tokens_per_minute: float | None = None,
        output_tokens_per_minute: float | None = None,
    ) -> None:
        self.requests = TokenBucket(requests_per_minute)
        self.input_tokens = TokenBucket(input_tokens_per_minute)
        self.output_tokens = TokenBucket(output_tokens_per_minute)
        self._paused_until = 0.0
        # One lock serialises acquisitions so a large request is not starved by a stream of small ones.
        self._lock = asyncio.Lock()
        self.waited_seconds = 0.0  # total time senders spent waiting here (for reports)

    def pause(self, seconds: float) -> None:
        """Stop every sender for `seconds` (a 429's `retry-after`)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def acquire(self, input_tokens: int, max_output_tokens: int) -> Reservation:
        """Wait until a request of `input_tokens` (estimate) and `max_output_tokens` may go; charge it."""
        start = time.monotonic()
        async with self._lock:
            while True:
                now = time.monotonic()
                wait = max(
                    self._paused_until - now,
                    self.requests.wait_time(1, now),
                    self.input_tokens.wait_time(input_tokens, now),
                    self.output_tokens.wait_time(max_output_tokens, now),
                )
                if wait <= 0:
                    break
                # Bounded sleeps: a header may raise the budget or a pause may end while we wait.
                await asyncio.sleep(min(wait, 1.0))
            self.requests.take(1)
            self.input_tokens.take(input_tokens)
            self.output_tokens.take(max_output_tokens)
        self.waited_seconds += time.monotonic() - start
        return Reservation(input_tokens, max_output_tokens)

    def settle(self, reservation: Reservation, input_tokens: int | None, output_tokens: int | None) -> None:
        """Correct a reservation with the real usage (refunds unused `max_tokens`, charges extra input)."""
        if input_tokens is not None:
            delta = input_tokens - reservation.input_tokens
            if delta > 0:
                self.input_tokens.take(delta)
            else:
                self.input_tokens.give(-delta)
        if output_tokens is not None:
            delta = output_tokens - reservation.output_tokens
            if delta > 0:
                self.output_tokens.take(delta)
            else:
                self.output_tokens.give(-delta)

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        """Update the buckets from `anthropic-ratelimit-{requests,input-tokens,output-tokens}-*` headers."""
        for bucket, kind in (
            (self.requests, "requests"),
            (self.input_tokens, "input-tokens"),
            (self.output_tokens, "output-tokens"),
        ):
            limit = _int_header(headers, f"anthropic-ratelimit-{kind}-limit")
            remaining = _int_header(headers, f"anthropic-ratelimit-{kind}-remaining")
            if limit is not None or remaining is not None:
                bucket.observe(limit, remaining)


class AdaptiveConcurrency:
    """A semaphore whose size follows AIMD: +1 per window of successes, ×`decrease` on a 429 (floor ≥ 1).

    A burst of 429s from requests that were all in flight at the same time counts as one signal: only a
    request that started after the last decrease can decrease the limit again (as TCP does per round trip).
    """

    def __init__(self, maximum: int, minimum: int = 1, decrease: float = 0.5, adaptive: bool = True) -> None:
        if maximum < 1:
            raise ValueError("concurrency must be at least 1")
        self.maximum = maximum
        self.minimum = max(1, min(minimum, maximum))
        self.decrease = decrease
        self.adaptive = adaptive
        self.limit = float(maximum)
        self.in_flight = 0
        self._last_decrease = -math.inf
        self._cond = asyncio.Condition()

    @property
    def current(self) -> int:
        """Requests allowed in flight now (≥ `minimum`)."""
        return max(self.minimum, int(self.limit))

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Hold one in-flight slot; yields the monotonic time the slot was granted."""
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < self.current)
            self.in_flight += 1
        started = time.monotonic()
        try:
            yield started
        finally:
            async with self._cond:
                self.in_flight -= 1
                self._cond.notify_all()

    def on_success(self) -> None:
        """Additive increase: about +1 per `limit` successes."""
        if self.adaptive and self.limit < self.maximum:
            self.limit = min(self.maximum, self.limit + 1.0 / max(1.0, self.limit))

    def on_rate_limited(self, started: float) -> None:
        """Multiplicative decrease, once per round trip (`started` = when the failed request's slot began)."""
        if self.adaptive and started >= self._last_decrease:
            self.limit = max(float(self.minimum), self.limit * self.decrease)
            self._last_decrease = time.monotonic()
