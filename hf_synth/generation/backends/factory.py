"""The backend a run uses: the options' choice, else the recipe's, with the recipe's settings."""

from __future__ import annotations

import logging
import os

from hf_synth.generation.backends.base import Backend
from hf_synth.generation.options import RunOptions
from hf_synth.recipe import Recipe

log = logging.getLogger(__name__)


def choose_backend_name(recipe: Recipe, requested: str | None) -> str:
    """The backend to use: the CLI's, else the recipe's; anthropic falls back to local without a key."""
    name = requested or recipe.backend.name
    if name == "anthropic" and not requested and not os.environ.get("ANTHROPIC_API_KEY"):
        log.warning("ANTHROPIC_API_KEY is not set: using the embedded local model instead of Claude")
        return "local"
    return name


def make_backend(recipe: Recipe, options: RunOptions) -> Backend:
    """Instantiate the backend named by the options/recipe with the recipe's settings."""
    cfg = recipe.backend
    name = choose_backend_name(recipe, options.backend)
    concurrency = options.concurrency or cfg.concurrency
    if name == "local":
        from hf_synth.generation.backends.local import LocalBackend

        model = options.model or (cfg.model if cfg.name == "local" else None)
        return LocalBackend(model=model, items_per_request=cfg.items_per_request, max_concurrency=concurrency)
    from hf_synth.generation.backends.anthropic import AnthropicBackend

    return AnthropicBackend(
        model=options.model or cfg.model,
        max_tokens=cfg.max_tokens,
        temperature=cfg.temperature,
        concurrency=concurrency,
        items_per_request=cfg.items_per_request,
        max_attempts=cfg.max_attempts,
        timeout=cfg.timeout,
        requests_per_minute=cfg.requests_per_minute,
        input_tokens_per_minute=cfg.input_tokens_per_minute,
        output_tokens_per_minute=cfg.output_tokens_per_minute,
        prompt_caching=cfg.prompt_caching,
        batch=cfg.batch if options.batch is None else options.batch,
        batch_size=cfg.batch_size,
        batch_poll_interval=cfg.batch_poll_interval,
    )
