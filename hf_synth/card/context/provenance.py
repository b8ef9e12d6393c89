"""Card section "Provenance" (also read by "Summary" and "Limitations"): backend, model, prompts, recipe
fingerprint, versions and the generation statistics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hf_synth import __version__
from hf_synth.card.context.facts import CardFacts
from hf_synth.card.escape import escape_cell, fenced, inline_code
from hf_synth.card.format import cell_value, num

# (label, key of report["generation"]) in table order; figures the report lacks are skipped.
_STATS = (
    ("requests", "requests"),
    ("retries", "retries"),
    ("failed attempts", "failed_attempts"),
    ("input tokens", "input_tokens"),
    ("output tokens", "output_tokens"),
    ("cache read tokens", "cache_read_tokens"),
    ("cache write tokens", "cache_write_tokens"),
    ("estimated cost (USD)", "cost_usd"),
    ("wall time (s)", "seconds"),
    ("rows", "rows"),
    ("regenerated duplicates", "regenerated_duplicates"),
    ("regenerated near-duplicates", "regenerated_near_duplicates"),
    ("check failures", "check_failures"),
)


def _backend_params(backend: Any) -> list[tuple[str, Any]]:
    """The recipe backend's scalar settings as (name, value); a bare backend name becomes ("name", it)."""
    if isinstance(backend, Mapping):
        return [
            (str(k), v) for k, v in backend.items() if v is None or isinstance(v, (str, int, float, bool))
        ]
    return [] if backend is None else [("name", backend)]


def _stats(gen: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        (label, num(gen.get(key)) if key != "cost_usd" else f"${float(gen[key]):,.4f}")
        for label, key in _STATS
        if gen.get(key) is not None
    ]


def provenance(f: CardFacts) -> dict[str, Any]:
    """Template key ``prov``: backend, model, params, prompt, system, fingerprint, seed, recipe_version,
    version, created_at, has_cost, stats."""
    recipe, gen = f.recipe, f.generation
    backend = recipe.get("backend")
    spec = backend if isinstance(backend, Mapping) else None
    prompt, system, fingerprint = recipe.get("prompt"), recipe.get("system"), recipe.get("fingerprint")
    return {
        "prov": {
            "backend": gen.get("backend") or (spec.get("name") if spec is not None else backend),
            "model": gen.get("model") or (spec.get("model") if spec is not None else None),
            "params": [(escape_cell(k, None), cell_value(v)) for k, v in _backend_params(backend)],
            "prompt": fenced(prompt or "", "jinja") if prompt else None,
            "system": fenced(system) if system else None,
            "fingerprint": inline_code(fingerprint) if fingerprint else None,
            "seed": recipe.get("seed"),
            "recipe_version": recipe.get("version"),
            "version": f.report.get("hf_synth_version") or __version__,
            "created_at": f.report.get("created_at"),
            "has_cost": gen.get("cost_usd") is not None,
            "stats": _stats(gen),
        }
    }
