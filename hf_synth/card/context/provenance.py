"""Card section "Provenance" (also read by "Summary" and "Limitations"): backend, model, prompts, recipe
fingerprint, versions, the run's whole life and the generation statistics.

A folder may take several runs (resumes after a stop or a crash); ``report.provenance`` (first start, last
end, runs, unfinished runs, total seconds) and ``report.generation`` (totals over every run, failed attempts
included) describe all of them, not the last invocation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hf_synth import __version__
from hf_synth.card.context.facts import CardFacts
from hf_synth.card.escape import escape_cell, escape_inline, fenced, inline_code
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


def _seconds(s: Any) -> str:
    """A duration in seconds as a short reading (``1,064 s (17.7 min)``)."""
    v = float(s)
    if v >= 3600:
        return f"{num(v, 0)} s ({v / 3600:.1f} h)"
    if v >= 120:
        return f"{num(v, 0)} s ({v / 60:.1f} min)"
    return f"{num(v, 1)} s"


def _life(f: CardFacts) -> dict[str, Any]:
    """first_started, last_finished, runs, unfinished_runs, seconds (text) from the provenance block, falling
    back to ``created_at`` and ``generation.seconds`` for reports without one."""
    p = f.report.get("provenance") or {}
    seconds = p.get("seconds_total", f.generation.get("seconds"))
    return {
        "first_started": p.get("first_started_at") or f.report.get("created_at"),
        "last_finished": p.get("last_finished_at"),
        "runs": p.get("runs"),
        "unfinished_runs": p.get("unfinished_runs") or 0,
        "seconds": _seconds(seconds) if seconds is not None else None,
    }


def _cache_line(gen: Mapping[str, Any]) -> Any:
    """Why prompt caching was not (always) used, from ``generation.cache_note`` (None: nothing to say)."""
    note = gen.get("cache_note")
    if not note:
        return None
    asked, skipped = gen.get("cache_requested"), gen.get("cache_skipped")
    if isinstance(asked, int) and isinstance(skipped, int) and asked + skipped:
        head = f"Prompt caching was not used for {num(skipped)} of {num(asked + skipped)} requests"
    else:
        head = "Prompt caching was not used"
    return escape_inline(f"{head}: {note}.".replace("..", "."), 400)


def provenance(f: CardFacts) -> dict[str, Any]:
    """Template key ``prov``: backend, model, params, prompt, system, fingerprint, seed, recipe_version,
    version, created_at (the first start), life (see ``_life``), cost, failed_attempts, cache_note,
    has_cost, stats."""
    recipe, gen = f.recipe, f.generation
    life = _life(f)
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
            "created_at": life["first_started"],
            "life": life,
            "cost": f"${float(gen['cost_usd']):,.4f}" if gen.get("cost_usd") is not None else None,
            "failed_attempts": gen.get("failed_attempts"),
            "cache_note": _cache_line(gen),
            "has_cost": gen.get("cost_usd") is not None,
            "stats": _stats(gen),
        }
    }
