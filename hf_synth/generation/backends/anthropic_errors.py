"""Failures inside the Anthropic backend that a retry may fix, and how a request is named in messages."""

from __future__ import annotations

from hf_synth.generation.backends.base import GenerationRequest

__all__ = ["TransientError", "describe"]


class TransientError(Exception):
    """One failed attempt that a retry may fix; `retry_after` in seconds when the server said when."""

    def __init__(self, message: str, retry_after: float | None = None, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.rate_limited = rate_limited


def describe(request: GenerationRequest) -> str:
    """A short name of a request for messages: its key prefix and first slot ids (never a prompt)."""
    slots = ",".join(map(str, request.slot_ids[:8])) + ("…" if len(request.slot_ids) > 8 else "")
    return f"request {request.key[:16]} (slots {slots})"
