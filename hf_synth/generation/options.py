"""Run options: the command line's overrides of a recipe's generation settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RunOptions:
    """CLI overrides of the recipe's backend settings; None keeps the recipe's value."""

    backend: str | None = None
    model: str | None = None
    concurrency: int | None = None
    limit: int | None = None
    progress: bool = True
    quality: bool = True  # coverage, label fidelity and near-duplicate control (loads the embedder)
    batch: bool | None = None  # Message Batches API (anthropic); None keeps the recipe's setting
    budget_usd: float | None = None  # stop cleanly before spending more than this (US dollars)
    audit: bool = False  # blind label audit with the recipe's `audit` block, or its defaults when it has none
