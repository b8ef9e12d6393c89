"""`hf-synth plan --estimate`: requests, tokens and dollars of a run before anything is sent."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
from collections import Counter
from typing import Any

import numpy as np

from hf_synth.generation.audit.estimate import estimate_audit
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


def _request_groups(recipe: Recipe, plan: Plan) -> Counter:
    """How many slots share one request group, as the engine groups them: (dimension codes, edge kind,
    partner slot) → slots. Kinds that send no request (exact_duplicate copies its partner) are left out;
    rows that quote a partner share requests only with rows quoting the same partner."""
    dims = plan.spec.dimensions
    sends = np.array([True, *(kind.needs_generation for kind in recipe.edge_kinds())])
    keep = sends[plan.edge]
    columns = [plan.codes[d.name][keep].tolist() for d in dims]
    columns += [plan.edge[keep].tolist(), plan.partner[keep].tolist()]
    return Counter(zip(*columns, strict=True))


def _render_prompts(recipe: Recipe, plan: Plan, groups: Counter) -> dict[tuple, str]:
    """Dimension codes → the rendered prompt of its requests (once per distinct combination)."""
    prompt_t = template_env().from_string(recipe.prompt)
    dims = plan.spec.dimensions
    prompts: dict[tuple, str] = {}
    for group in groups:
        codes = group[: len(dims)]
        if codes not in prompts:
            values = {d.name: d.values[c] for d, c in zip(dims, codes, strict=True)}
            prompts[codes] = prompt_t.render(**values, n_items=recipe.backend.items_per_request)
    return prompts


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

    Requests are counted as the engine sends them: up to `items_per_request` slots of one prompt and edge
    kind per request, rows quoting a partner only with rows quoting the same partner, none for kinds that
    copy their partner (exact_duplicate).
    Input tokens: count_tokens on up to 10 sampled prompts when the API is reachable, else
    ceil(characters / 4) of system + prompt + tool schema, plus TOOL_OVERHEAD_TOKENS per request.
    Output tokens: EXPECTED_OUTPUT_SHARE × max_tokens per request (upper bound: max_tokens).
    Retries, regenerations and edge-case instructions are not included (they typically add a few %).
    """
    k = recipe.backend.items_per_request
    groups = _request_groups(recipe, plan)
    prompts = _render_prompts(recipe, plan, groups)
    n_dims = len(plan.spec.dimensions)
    requests = sum(math.ceil(n / k) for n in groups.values())
    schema_tokens = estimate_tokens(json.dumps(item_json_schema(dict(recipe.fields))))
    system_tokens = estimate_tokens(recipe.system or "")
    api_counts = _count_with_api(recipe, list(prompts.values())[:10])
    method = "count_tokens endpoint" if api_counts else "heuristic: ceil(chars / 4) + tool overhead"
    if api_counts:
        per_request_in = sum(api_counts) / len(api_counts)
        input_tokens = int(per_request_in * requests)
    else:
        input_tokens = sum(
            math.ceil(n / k)
            * (estimate_tokens(prompts[g[:n_dims]]) + schema_tokens + system_tokens + TOOL_OVERHEAD_TOKENS)
            for g, n in groups.items()
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
        # The label audit's judge requests, priced on their own (the recipe's `audit` block; else None).
        "audit": estimate_audit(
            recipe,
            plan.edge,
            expected_out / max(1, sum(groups.values())),
            TOOL_OVERHEAD_TOKENS,
            DEFAULT_MODEL,
        ),
    }
