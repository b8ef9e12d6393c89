"""Server-side rate limits of the loopback Messages API: token buckets like the real API's, and the
`anthropic-ratelimit-*` headers that report them."""

from __future__ import annotations

import math
import threading
import time
from datetime import datetime, timezone

from hf_synth.testing.wire import ApiError

__all__ = ["RateLimits"]


class _Bucket:
    """Refills continuously at `limit` per minute up to `limit`; starts `fill` × full."""

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


class RateLimits:
    """Requests, input-token and output-token buckets (per minute); thread-safe.

    A request is admitted when one request, its input tokens and `max_tokens` of output fit; its input is
    charged at admission and its real output when it is answered (as the real API does).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    def reset(self, requests: float, input_tokens: float, output_tokens: float, fill: float) -> None:
        """Restart the buckets at `fill` × their per-minute limits."""
        with self._lock:
            self._buckets = {
                "requests": _Bucket(requests, fill),
                "input-tokens": _Bucket(input_tokens, fill),
                "output-tokens": _Bucket(output_tokens, fill),
            }

    def charge(self, input_tokens: int, max_tokens: int) -> None:
        """Admit a request or raise a 429 `ApiError` carrying the seconds until it would fit."""
        now = time.monotonic()
        with self._lock:
            for b in self._buckets.values():
                b.refill(now)
            needs = {"requests": 1, "input-tokens": input_tokens, "output-tokens": max_tokens}
            wait = max(self._buckets[k].seconds_until(v) for k, v in needs.items())
            if wait > 0:
                raise ApiError(
                    "rate_limit_error",
                    "This request would exceed your organization's rate limit",
                    retry_after=math.ceil(wait * 1000) / 1000,
                )
            self._buckets["requests"].tokens -= 1
            self._buckets["input-tokens"].tokens -= input_tokens

    def settle_output(self, output_tokens: int) -> None:
        """Charge the output tokens of an answered request."""
        with self._lock:
            self._buckets["output-tokens"].tokens -= output_tokens

    def headers(self) -> dict[str, str]:
        """The `anthropic-ratelimit-*` headers of the buckets as they are now."""
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
