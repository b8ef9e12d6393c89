"""Client-side rate limiting for HTTP LLM APIs: token buckets, server-header feedback and AIMD concurrency.

Units: rates are per minute as configured by the user (requests/min, tokens/min) and converted to per second
internally; times are seconds on the `time.monotonic()` clock unless stated otherwise.

The design follows the Anthropic API, which charges a request against three buckets: requests and input
tokens when it is admitted, output tokens when it is answered; a request is admitted only while the
output bucket holds its `max_tokens`. The client mirrors that:

- Until the first answer arrives, one request is in flight: the server's `anthropic-ratelimit-*` headers
  then say how much is left (`remaining`), so a busy key whose buckets are empty is not hit by a blind wave.
- A request waits until the local output bucket holds its `max_tokens` (the server's admission rule), then
  reserves its *expected* output: `max_tokens` × the observed output/`max_tokens` ratio (+20%), corrected
  to the real `usage` when the answer arrives.
- The output bucket's balance is the server's `remaining` minus the expected output of the requests still
  in flight (the server charges those when they end); the requests and input buckets can only be lowered
  by headers (other processes may share the key).
- A 429 that the headers explain (a bucket now too low for the request) needs no global pause and no
  concurrency cut: the buckets make every sender wait exactly as long as needed. An unexplained 429 (or a
  529) pauses every sender for its `retry-after` and halves the concurrency (AIMD).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

__all__ = ["AdaptiveConcurrency", "RateLimiter", "Reservation", "TokenBucket", "parse_retry_after"]

_KINDS = ("requests", "input-tokens", "output-tokens")


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

    def observe(
        self, limit: float | None, remaining: float | None, pending: float = 0.0, lower_only: bool = True
    ) -> None:
        """Adopt the server's per-minute `limit` and its `remaining` budget, less `pending` (tokens the
        server will still charge for requests in flight). With `lower_only`, `remaining` can only lower
        the local balance."""
        now = time.monotonic()
        if limit is not None and limit > 0:
            eff = min(limit, self.user_rate) if self.user_rate else limit
            if self.unlimited:
                self.rate, self.capacity, self.tokens, self._stamp = eff / 60.0, eff, eff, now
            else:
                self._refill(now)
                self.rate, self.capacity = eff / 60.0, eff
                self.tokens = min(self.tokens, self.capacity)
        if remaining is not None and not self.unlimited:
            self._refill(now)
            balance = min(remaining, self.capacity) - pending
            self.tokens = min(self.tokens, balance) if lower_only else balance


@dataclass
class Reservation:
    """What `RateLimiter.acquire` charged for one request (tokens), corrected by `RateLimiter.settle`.

    `max_output_tokens` is the request's `max_tokens` (what the server needs free to admit it);
    `output_tokens` the expected output that was reserved.
    """

    input_tokens: int
    output_tokens: int
    max_output_tokens: int = 0
    settled: bool = False


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

    #: Expected output = max_tokens × observed ratio × this margin (capped at max_tokens).
    OUTPUT_MARGIN = 1.1

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
        # One lock serialises waiting acquisitions so a large request is not starved by small ones.
        self._lock = asyncio.Lock()
        self.waited_seconds = 0.0  # total time senders spent waiting here (for reports)
        self.in_flight = 0
        self.in_flight_output = 0.0  # expected output tokens of the requests in flight
        self.answered = False  # an answer (any status) arrived: the headers told us where we stand
        self._changed: asyncio.Event | None = (
            None  # set (and replaced) when a request settles or headers arrive
        )
        self._ratio: float | None = None  # observed output / max_tokens (exponential moving average)

    def pause(self, seconds: float) -> None:
        """Stop every sender for `seconds` (the `retry-after` of an unexplained 429)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def _notify(self) -> None:
        """Wake the requests waiting for the probe's answer (each waits on the event current then)."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def expected_output(self, max_output_tokens: int) -> int:
        """Output tokens to reserve for a request of `max_tokens`: all of it until answers were seen."""
        if self._ratio is None:
            return max_output_tokens
        return min(max_output_tokens, math.ceil(max_output_tokens * self._ratio * self.OUTPUT_MARGIN))

    def wait_time(self, input_tokens: int, max_output_tokens: int, now: float | None = None) -> float:
        """Seconds until a request of `input_tokens` and `max_tokens` could be admitted (0 = now)."""
        now = time.monotonic() if now is None else now
        return max(
            self._paused_until - now,
            self.requests.wait_time(1, now),
            self.input_tokens.wait_time(input_tokens, now),
            self.output_tokens.wait_time(max_output_tokens, now),
        )

    async def acquire(self, input_tokens: int, max_output_tokens: int) -> Reservation:
        """Wait until a request of `input_tokens` (estimate) and `max_output_tokens` may go; charge it."""
        start = time.monotonic()
        while not self.answered and self.in_flight:
            # The first request is the probe: its answer's headers say how much is left. The others wait
            # outside the lock, so they all go in the same tick once the answer is in.
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()
        if not self._lock.locked() and self.wait_time(input_tokens, max_output_tokens) <= 0:
            return self._charge(input_tokens, max_output_tokens)
        async with self._lock:
            while True:
                wait = self.wait_time(input_tokens, max_output_tokens)
                if wait <= 0:
                    break
                # Bounded sleeps: a header may raise the budget or a pause may end while we wait.
                await asyncio.sleep(min(wait, 1.0))
            reservation = self._charge(input_tokens, max_output_tokens)
        self.waited_seconds += time.monotonic() - start
        return reservation

    def _charge(self, input_tokens: int, max_output_tokens: int) -> Reservation:
        expected = self.expected_output(max_output_tokens)
        self.requests.take(1)
        self.input_tokens.take(input_tokens)
        self.output_tokens.take(expected)
        self.in_flight += 1
        self.in_flight_output += expected
        return Reservation(input_tokens, expected, max_output_tokens)

    def settle(self, reservation: Reservation, input_tokens: int | None, output_tokens: int | None) -> None:
        """Correct a reservation with the real usage (refunds unused reservations, charges extra).

        `input_tokens` / `output_tokens` of 0 for a request that was not admitted (nothing is charged).
        """
        if reservation.settled:
            return
        reservation.settled = True
        self.in_flight -= 1
        self._notify()
        self.in_flight_output -= reservation.output_tokens
        for bucket, actual, reserved in (
            (self.input_tokens, input_tokens, reservation.input_tokens),
            (self.output_tokens, output_tokens, reservation.output_tokens),
        ):
            if actual is None:
                continue
            delta = actual - reserved
            if delta > 0:
                bucket.take(delta)
            else:
                bucket.give(-delta)
        if output_tokens and reservation.max_output_tokens:
            ratio = min(1.0, output_tokens / reservation.max_output_tokens)
            self._ratio = ratio if self._ratio is None else 0.9 * self._ratio + 0.1 * ratio

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        """Update the buckets from `anthropic-ratelimit-{requests,input-tokens,output-tokens}-*` headers.

        Call it after `settle` of the answered request, so `in_flight_output` holds only the requests the
        server has still to charge.
        """
        self.answered = True
        self._notify()
        for bucket, kind in zip((self.requests, self.input_tokens, self.output_tokens), _KINDS, strict=True):
            limit = _int_header(headers, f"anthropic-ratelimit-{kind}-limit")
            remaining = _int_header(headers, f"anthropic-ratelimit-{kind}-remaining")
            if limit is not None or remaining is not None:
                if kind == "output-tokens":
                    bucket.observe(limit, remaining, pending=self.in_flight_output, lower_only=False)
                else:
                    bucket.observe(limit, remaining)

    def explains(self, input_tokens: int, max_output_tokens: int) -> bool:
        """Whether the buckets as now known would hold back a request of this size (a 429 they explain)."""
        now = time.monotonic()
        return (
            self.requests.wait_time(1, now) > 0
            or self.input_tokens.wait_time(input_tokens, now) > 0
            or self.output_tokens.wait_time(max_output_tokens, now) > 0
        )


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
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def current(self) -> int:
        """Requests allowed in flight now (≥ `minimum`)."""
        return max(self.minimum, int(self.limit))

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Hold one in-flight slot (first come, first served); yields the monotonic time it was granted."""
        if self.in_flight >= self.current or self._waiters:
            await self._queue()
        self.in_flight += 1
        self._wake()  # pass free capacity on to the next in line
        started = time.monotonic()
        try:
            yield started
        finally:
            self.in_flight -= 1
            self._wake()

    async def _queue(self) -> None:
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiters.append(waiter)
        try:
            while True:
                await waiter
                if self.in_flight < self.current:
                    return
                # The limit was cut while we were being woken: wait again, first in line.
                self._waiters.remove(waiter)
                waiter = loop.create_future()
                self._waiters.appendleft(waiter)
        except BaseException:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            self._wake()  # a wake-up this waiter got and cannot use goes to the next in line
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _wake(self) -> None:
        """Wake as many waiters (oldest first) as there are free slots; woken ones count as taken."""
        free = self.current - self.in_flight
        for waiter in self._waiters:
            if free <= 0:
                return
            if not waiter.done():
                waiter.set_result(None)
            free -= 1

    def on_success(self) -> None:
        """Additive increase: about +1 per `limit` successes."""
        if self.adaptive and self.limit < self.maximum:
            self.limit = min(self.maximum, self.limit + 1.0 / max(1.0, self.limit))
            self._wake()

    def on_rate_limited(self, started: float) -> None:
        """Multiplicative decrease, once per round trip (`started` = when the failed request's slot began)."""
        if self.adaptive and started >= self._last_decrease:
            self.limit = max(float(self.minimum), self.limit * self.decrease)
            self._last_decrease = time.monotonic()
