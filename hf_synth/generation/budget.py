"""`--budget`: a spending limit in US dollars over an output folder's whole life (every run, every billed
attempt, failed ones included).

Before a request goes, the worst case of everything it may be billed is reserved: `max_attempts` answers,
each with the estimated input priced at the dearer of input and cache-write rates and the full `max_tokens`
of output (one attempt at the batch discount for a Message Batches request). A request whose reservation
does not fit waits for the requests in flight to settle; when nothing is in flight and it still does not
fit, the budget is reached and the run stops cleanly.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hf_synth.errors import UsageError
from hf_synth.generation.backends.base import FREE_BACKENDS, GenerationRequest, Usage
from hf_synth.generation.pricing import cost_usd, estimate_tokens, model_prices

__all__ = ["Budget", "worst_case_usd"]

# Tokens Claude adds around a forced tool call when the backend cannot estimate its input itself.
_TOOL_OVERHEAD_TOKENS = 350


def worst_case_usd(backend: Any, request: GenerationRequest, batch: bool = False) -> float:
    """The most `request` can cost on `backend` (US dollars): every attempt answered at `max_tokens`."""
    if backend.name in FREE_BACKENDS:
        return 0.0
    estimate = getattr(backend, "estimate_input_tokens", None)
    if estimate is not None:
        tokens_in = int(estimate(request))
    else:
        text = (request.system or "") + request.prompt + (request.feedback or "")
        tokens_in = estimate_tokens(text) + _TOOL_OVERHEAD_TOKENS
    plain = cost_usd(backend.model, Usage(1, tokens_in, request.max_tokens), batch=batch) or 0.0
    written = cost_usd(backend.model, Usage(1, 0, request.max_tokens, 0, tokens_in), batch=batch) or 0.0
    attempts = 1 if batch else max(1, int(getattr(backend, "max_attempts", 1)))
    return attempts * max(plain, written)


class Budget:
    """Reservations against a dollar limit; `spent_before` is what earlier runs of the folder spent."""

    def __init__(self, limit_usd: float | None, backend: Any, spent_before: float) -> None:
        self.limit = limit_usd
        self.admit(backend)
        self.backend = backend
        self.spent_before = spent_before
        self.spent_now = 0.0  # this run, every billed attempt
        self.reserved = 0.0
        self.hit = False
        self._changed = asyncio.Condition() if limit_usd is not None else None

    def admit(self, backend: Any) -> None:
        """Check that `backend`'s spending can be bounded (a priced model, or a free backend); raises
        `UsageError` otherwise. Called for every backend that reserves against this budget."""
        if (
            self.limit is not None
            and backend.name not in FREE_BACKENDS
            and model_prices(backend.model) is None
        ):
            raise UsageError(
                f"--budget: no price is known for model {backend.model!r}, so its spending cannot be "
                "bounded. Add the model to hf_synth/data/prices.json, choose a priced model, or run "
                "without --budget."
            )

    @property
    def spent(self) -> float:
        """Dollars spent on the folder so far (earlier runs and this one)."""
        return self.spent_before + self.spent_now

    def charge(self, usage: Usage) -> None:
        """Count billed usage (call before releasing the reservation that covered it)."""
        self.spent_now += usage.cost_usd

    async def reserve(
        self, request: GenerationRequest, batch: bool = False, wait: bool = True, backend: Any = None
    ) -> float | None:
        """Reserve the worst case of `request`; the amount (release it later), or None at the budget.

        With `wait`, a reservation that does not fit waits while other reservations are outstanding.
        `backend` prices a request sent to another backend than the run's (the label audit's judge).
        """
        if self.limit is None or self._changed is None:
            return 0.0
        cost = worst_case_usd(backend or self.backend, request, batch)
        async with self._changed:
            while not self.hit and self.spent + self.reserved + cost > self.limit:
                if not wait or self.reserved <= 0:
                    self.hit = True
                    break
                await self._changed.wait()
            if self.hit:
                return None
            self.reserved += cost
            return cost

    async def release(self, amount: float) -> None:
        """Give back a reservation once the usage it covered was charged."""
        if self._changed is None or not amount:
            return
        async with self._changed:
            self.reserved = max(0.0, self.reserved - amount)
            self._changed.notify_all()
