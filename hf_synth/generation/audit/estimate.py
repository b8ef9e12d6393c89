"""`plan --estimate` for the label audit: judge requests, tokens and dollars of judging a plan's rows once."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from hf_synth.generation.audit.request import JudgeRequestBuilder
from hf_synth.generation.backends.base import Usage
from hf_synth.generation.pricing import cost_usd, estimate_tokens
from hf_synth.recipe.audit import audit_dimensions
from hf_synth.recipe.schema import item_json_schema

if TYPE_CHECKING:
    from hf_synth.recipe import Recipe

__all__ = ["estimate_audit", "format_audit_estimate"]

# Output of one verdict: the item's braces plus about six tokens per dimension ("tone": "angry",).
_VERDICT_TOKENS = 8
_TOKENS_PER_DIMENSION = 6


def estimate_audit(
    recipe: Recipe, edge: np.ndarray, text_tokens_per_row: float, overhead_tokens: int, default_model: str
) -> dict[str, Any] | None:
    """What judging every auditable row of a plan once costs (None when the recipe has no `audit`).

    edge: the plan's edge-kind index per row (0 = ordinary); text_tokens_per_row: expected tokens of a row's
    text fields; overhead_tokens: tokens the API adds around a forced tool call; default_model: the
    anthropic model used when none is named. Rows of kinds no reader can label are skipped, and rows copied
    from a partner (exact_duplicate) share its verdict. Regenerated rows are judged again: each costs one
    more generation and about 1/items_per_request more judge requests (not included).
    """
    config = recipe.audit
    if config is None:
        return None
    judge = config.backend
    name = judge.name if judge is not None else recipe.backend.name
    model = (judge.model if judge is not None else recipe.backend.model) or default_model
    kinds = recipe.edge_kinds()
    judged = np.array([True, *(k.auditable and k.needs_generation for k in kinds)])[edge]
    skipped = np.array([False, *(not k.auditable for k in kinds)])[edge]
    rows = int(judged.sum())
    k = 1 if name == "local" else config.items_per_request
    values = recipe.dimension_values()
    dims = {d: values[d] for d in audit_dimensions(recipe)}
    builder = JudgeRequestBuilder(dims, recipe.seed, f"{name}:{model}", concise=name == "local")
    sample_text = "x" * int(text_tokens_per_row * 4)
    n_full, rest = divmod(rows, k)
    input_tokens = output_max = 0
    for n, count in ((k, n_full), (rest, 1 if rest else 0)):
        if not count:
            continue
        request = builder.request([str(i) for i in range(n)], [{"text": sample_text}] * n)
        schema = json.dumps({"items": item_json_schema(request.fields)})
        system = request.system or ""
        input_tokens += count * (estimate_tokens(system + request.prompt + schema) + overhead_tokens)
        output_max += count * request.max_tokens
    requests = n_full + (1 if rest else 0)
    expected_out = requests * 20 + rows * (_VERDICT_TOKENS + _TOKENS_PER_DIMENSION * len(dims))
    free = name == "local"
    expected = 0.0 if free else cost_usd(model, Usage(requests, input_tokens, expected_out))
    upper = 0.0 if free else cost_usd(model, Usage(requests, input_tokens, output_max))
    return {
        "backend": name,
        "model": model,
        "dimensions": list(dims),
        "rows_judged": rows,
        "rows_skipped": int(skipped.sum()),
        "items_per_request": k,
        "requests": requests,
        "input_tokens": input_tokens,
        "output_tokens_expected": expected_out,
        "output_tokens_max": output_max,
        "cost_usd_expected": expected,
        "cost_usd_max": upper,
        "note": "judging every row once; each regenerated row adds a generation request and its re-judging",
    }


def format_audit_estimate(est: dict[str, Any]) -> str:
    """One line of `plan --estimate` for an `estimate_audit` result."""
    cost = est["cost_usd_expected"]
    priced = (
        "unknown model price"
        if cost is None
        else f"${cost:,.2f} expected, ${est['cost_usd_max']:,.2f} at most"
    )
    return (
        f"label audit ({est['backend']}: {est['model']}): {est['requests']} judge requests for "
        f"{est['rows_judged']} rows ({est['rows_skipped']} skipped), {est['input_tokens']:,} input tokens, "
        f"~{est['output_tokens_expected']:,} output tokens (≤ {est['output_tokens_max']:,}); {priced}; "
        f"{est['note']}"
    )
