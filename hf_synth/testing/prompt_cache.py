"""The loopback server's prompt cache: prefixes up to the last `cache_control` breakpoint, kept 5 minutes,
and only when they reach the model's minimum cacheable length (the table in `hf_synth/data/prices.json`)."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from typing import Any

from hf_synth.generation.pricing import cache_min_tokens
from hf_synth.testing.wire import estimate_tokens

__all__ = ["CACHE_TTL", "PromptCache"]

CACHE_TTL = 300.0  # seconds: the ephemeral cache's 5-minute lifetime


class PromptCache:
    """Cached prefixes by digest → expiry (monotonic seconds); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}

    def clear(self) -> None:
        with self._lock:
            self._expiry.clear()

    def split(self, params: dict[str, Any]) -> tuple[int, bool]:
        """(tokens of the cached prefix, whether it was written now rather than read).

        The prefix order is tools → system → messages, as in the real API; the prefix ends at the last
        block marked `cache_control`. A prefix below the model's minimum is not cached at all (0, False),
        as the real API silently does; a hit refreshes the 5-minute lifetime.
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
        if tokens < cache_min_tokens(params["model"])[0]:
            return 0, False
        digest = hashlib.sha256((params["model"] + json.dumps(marked, sort_keys=True)).encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._expiry.get(digest, -math.inf) > now
            self._expiry[digest] = now + CACHE_TTL
        return tokens, not hit
