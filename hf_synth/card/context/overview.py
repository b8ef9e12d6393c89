"""Card sections "Summary" and "How to load": title, size, dimensions, strata and load_dataset snippets."""

from __future__ import annotations

import json
from typing import Any

from hf_synth.card.context.facts import CardFacts
from hf_synth.card.escape import escape_block, escape_inline, fenced


def _load_snippet(repo_id: str, config: str) -> str:
    call = f"load_dataset({json.dumps(repo_id)}, {json.dumps(config)})"
    return f"from datasets import load_dataset\n\nds = {call}\n"


def overview(f: CardFacts) -> dict[str, Any]:
    """Template keys: title, description, total, planned, limit, n_strata, strata_by, dimensions, repo_id,
    load_code ({config: fenced snippet}), first_config, configs."""
    description = f.recipe.get("description")
    n_strata = len(f.targets.get("strata") or f.realised.get("strata") or {})
    return {
        "title": escape_inline(f.pretty),
        "description": escape_block(description) if description else None,
        "total": f.total,
        "planned": f.plan.get("total"),
        "limit": f.plan.get("limit"),
        "n_strata": n_strata,
        "strata_by": [escape_inline(s) for s in f.strata_by],
        "dimensions": [
            {"name": escape_inline(d), "n": len(v), "stratum": d in f.strata_by}
            for d, v in f.dims_order.items()
        ],
        "repo_id": f.repo_id,
        "load_code": {c: fenced(_load_snippet(f.repo_id, c), "python") for c in f.configs},
        "first_config": next(iter(f.configs), "default"),
        "configs": list(f.configs),
    }
