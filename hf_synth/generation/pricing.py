"""Per-model prices (`hf_synth/data/prices.json`) and the cost of a usage record, in US dollars.

Prices in the file are USD per million tokens for four token categories: `input` (uncached input),
`output`, `cache_write` (5-minute prompt-cache writes) and `cache_read` (prompt-cache hits). The same file
holds each model's minimum cacheable prefix (`cache_min_tokens`), the one table the backend and the loopback
server both read.
"""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hf_synth.generation.backends.base import Usage

__all__ = [
    "CHARS_PER_TOKEN",
    "cache_min_tokens",
    "cost_usd",
    "estimate_tokens",
    "model_prices",
    "price_table",
]

log = logging.getLogger(__name__)

#: Heuristic used when no tokenizer/API is available: English prose and JSON average ~4 characters per
#: Claude token. It overestimates for code-heavy text less than it underestimates for CJK text, which is
#: why callers that must not under-reserve (rate limiting) add a margin on top.
CHARS_PER_TOKEN = 4.0

_warned: set[str] = set()


@lru_cache(maxsize=1)
def price_table() -> dict[str, Any]:
    """The parsed prices file (cached)."""
    text = resources.files("hf_synth").joinpath("data/prices.json").read_text(encoding="utf-8")
    return json.loads(text)


def _normalise(model: str) -> str:
    m = model.strip().lower()
    m = re.sub(r"^(us\.|eu\.|apac\.|global\.)?anthropic\.", "", m)  # Bedrock ids
    m = re.sub(r"-v\d+(:\d+)?$", "", m)  # Bedrock version suffix
    m = re.sub(r"\[\w+\]$", "", m)  # context-window variants such as "[1m]"
    m = re.sub(r"@\d{8}$", "", m)  # Vertex date suffix
    m = re.sub(r"-\d{8}$", "", m)  # dated snapshot
    m = re.sub(r"-latest$", "", m)
    return m


@lru_cache(maxsize=256)
def model_prices(model: str) -> dict[str, Any] | None:
    """The price entry of `model` (USD per million tokens per category), or None when unknown."""
    models: dict[str, Any] = price_table()["models"]
    name = _normalise(model)
    if name in models:
        return models[name]
    for key, entry in models.items():
        if name in entry.get("aliases", ()):
            return models[key]
    return None


def cache_min_tokens(model: str) -> tuple[int, bool]:
    """(tokens, known): the shortest prompt prefix `model` caches, and whether the table names the model.

    Below the minimum the API ignores `cache_control` and bills the prefix as ordinary input. A model
    without an entry gets the table's `default_cache_min_tokens` (known=False).
    """
    prices = model_prices(model)
    if prices is not None and "cache_min_tokens" in prices:
        return int(prices["cache_min_tokens"]), True
    return int(price_table().get("default_cache_min_tokens", 1024)), False


def cost_usd(model: str, usage: Usage, batch: bool = False) -> float | None:
    """Cost of `usage` on `model` in US dollars; `batch=True` applies the Message Batches discount.

    Returns None (and logs one warning per model) when the model has no price in `prices.json`.
    Note: a long-prompt tier is decided on the summed usage, which is exact for one request only.
    """
    prices = model_prices(model)
    if prices is None:
        if model not in _warned:
            _warned.add(model)
            log.warning("no price known for model %r: its cost is reported as unknown", model)
        return None
    rates = prices
    long_tier = prices.get("long_prompt")
    if long_tier:
        prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
        requests = max(1, usage.requests)
        if prompt / requests > long_tier["threshold_tokens"]:
            rates = long_tier
    total = (
        usage.input_tokens * rates["input"]
        + usage.output_tokens * rates["output"]
        + usage.cache_write_tokens * rates["cache_write"]
        + usage.cache_read_tokens * rates["cache_read"]
    ) / 1e6
    if batch:
        total *= 1.0 - float(price_table().get("batch_discount", 0.5))
    return total


def estimate_tokens(text: str) -> int:
    """Rough token count of `text` (tokens): ceil(characters / 4), at least 1 for non-empty text."""
    if not text:
        return 0
    return max(1, int(-(-len(text) // CHARS_PER_TOKEN)))
