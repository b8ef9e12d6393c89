"""`hf-synth plan --estimate`: requests, tokens and dollars of a run before anything is sent."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
from collections import Counter
from typing import Any

from hf_synth.generation.backends.anthropic import DEFAULT_MODEL
from hf_synth.generation.backends.base import Usage
from hf_synth.generation.pricing import cost_usd, estimate_tokens
from hf_synth.planning.plan import Plan
from hf_synth.recipe import Recipe
from hf_synth.recipe.schema import item_json_schema
from hf_synth.recipe.templates import template_env

log = logging.getLogger(__name__)

# Tokens Claude adds around a forced tool call (tool-use system prompt) and per-request message framing.
TOOL_OVERHEAD_TOKENS = 350
# Expected output as a share of max_tokens: structured items rarely use the whole budget. The upper bound
# (every request spends max_tokens) is reported beside it.
EXPECTED_OUTPUT_SHARE = 0.5


def _request_prompts(recipe: Recipe, plan: Plan) -> tuple[Counter, dict[tuple, str]]:
    """Distinct rendered prompts (by dimension codes) and how many slots use each."""
    env = template_env()
    prompt_t = env.from_string(recipe.prompt)
    dims = plan.spec.dimensions
    combos = Counter(zip(*(plan.codes[d.name].tolist() for d in dims), strict=True))
    prompts = {}
    for codes in combos:
        values = {d.name: d.values[c] for d, c in zip(dims, codes, strict=True)}
        prompts[codes] = prompt_t.render(**values, n_items=recipe.backend.items_per_request)
    return combos, prompts


def _count_with_api(recipe: Recipe, samples: list[str]) -> list[int] | None:
    """Input tokens of sample prompts from the count_tokens endpoint, or None when it cannot be reached."""
    if not os.environ.get("ANTHROPIC_API_KEY"):
        return None
    try:
        from hf_synth.generation.backends.anthropic import AnthropicBackend
        from hf_synth.generation.backends.base import GenerationRequest

        backend = AnthropicBackend(model=recipe.backend.model or DEFAULT_MODEL, max_attempts=1)

        async def count() -> list[int]:
            try:
                out = []
                for i, prompt in enumerate(samples):
                    req = GenerationRequest(
                        key=f"estimate-{i}",
                        slot_ids=(i,),
                        system=recipe.system,
                        prompt=prompt,
                        n_items=recipe.backend.items_per_request,
                        fields=dict(recipe.fields),
                        max_tokens=recipe.backend.max_tokens,
                        temperature=recipe.backend.temperature,
                    )
                    out.append(int(await backend.count_tokens(req)))
                return out
            finally:
                await backend.aclose()

        return asyncio.run(count())
    except Exception as exc:  # the estimate must still print offline
        log.warning(
            "count_tokens endpoint not usable (%s): using the character heuristic", type(exc).__name__
        )
        return None


def estimate_run(recipe: Recipe, plan: Plan) -> dict[str, Any]:
    """Requests, input/output tokens and US dollars of generating `plan` from scratch.

    Input tokens: count_tokens on up to 10 sampled prompts when the API is reachable, else
    ceil(characters / 4) of system + prompt + tool schema, plus TOOL_OVERHEAD_TOKENS per request.
    Output tokens: EXPECTED_OUTPUT_SHARE × max_tokens per request (upper bound: max_tokens).
    Retries, regenerations and edge-case instructions are not included (they typically add a few %).
    """
    k = recipe.backend.items_per_request
    combos, prompts = _request_prompts(recipe, plan)
    requests = sum(math.ceil(n / k) for n in combos.values())
    schema_tokens = estimate_tokens(json.dumps(item_json_schema(dict(recipe.fields))))
    system_tokens = estimate_tokens(recipe.system or "")
    sample_keys = list(prompts)[:10]
    api_counts = _count_with_api(recipe, [prompts[c] for c in sample_keys])
    method = "count_tokens endpoint" if api_counts else "heuristic: ceil(chars / 4) + tool overhead"
    if api_counts:
        per_request_in = sum(api_counts) / len(api_counts)
        input_tokens = int(per_request_in * requests)
    else:
        input_tokens = sum(
            math.ceil(n / k)
            * (estimate_tokens(prompts[c]) + schema_tokens + system_tokens + TOOL_OVERHEAD_TOKENS)
            for c, n in combos.items()
        )
    max_out = requests * recipe.backend.max_tokens
    expected_out = int(max_out * EXPECTED_OUTPUT_SHARE)
    model = recipe.backend.model or DEFAULT_MODEL
    expected = cost_usd(model, Usage(requests, input_tokens, expected_out))
    upper = cost_usd(model, Usage(requests, input_tokens, max_out))
    batch = cost_usd(model, Usage(requests, input_tokens, expected_out), batch=True)
    return {
        "model": model,
        "rows": len(plan),
        "requests": requests,
        "input_tokens": input_tokens,
        "output_tokens_expected": expected_out,
        "output_tokens_max": max_out,
        "cost_usd_expected": expected,
        "cost_usd_max": upper,
        "cost_usd_batch_expected": batch,
        "method": method,
    }
