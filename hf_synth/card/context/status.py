"""What the top of the card must say before anything else: an incomplete run's banner and every warning.

An incomplete run (``report.complete`` false: the run stopped short on quotas or budget) still writes its
finished rows; its card opens with a banner saying how many rows of the plan it holds and that it is not for
release. Warnings are ``validation.warnings`` plus, computed here from ``label_fidelity`` (the report's
validation may have been written before fidelity was measured), every dimension whose labels the texts do
not carry better than chance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hf_synth.card.context.facts import CardFacts
from hf_synth.card.escape import escape_inline, truncate
from hf_synth.dataset.validate import fidelity_warnings

_MAX_SHORT_CELLS = 10


def is_complete(report: Mapping[str, Any]) -> bool:
    """False only when the report says the run stopped short (reports without the key are complete)."""
    return report.get("complete", True) is not False


def _incomplete(f: CardFacts) -> dict[str, Any] | None:
    if is_complete(f.report):
        return None
    info = f.report.get("incomplete") or {}
    planned = f.plan.get("total")
    missing = info.get("missing_rows")
    if missing is None and planned is not None:
        missing = max(0, int(planned) - f.total)
    reason = truncate(str(info.get("reason") or ""), 400)
    short = info.get("short_cells") or {}
    cells = sorted(short.items(), key=lambda kv: (-int(kv[1] or 0), str(kv[0])))
    if cells and all(f"{cell} (short {n})" in reason for cell, n in cells):
        cells = []  # the reason already names every short cell
    return {
        "realised": f.total,
        "planned": planned,
        "missing": missing,
        "reason": escape_inline(reason) if reason else None,
        "short_cells": [escape_inline(f"{cell} (short {n})", 120) for cell, n in cells[:_MAX_SHORT_CELLS]],
        "n_short_cells": len(cells),
    }


def fidelity_block(report: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The measured dimensions of ``label_fidelity`` as {dimension: {accuracy, majority_share, n_rows, ...}}
    (a {"dimensions": {...}} wrapper is unwrapped; dimensions without those three figures are left out)."""
    fid = report.get("label_fidelity")
    if not isinstance(fid, Mapping):
        return {}
    inner = fid.get("dimensions")
    per_dim = inner if isinstance(inner, Mapping) else fid
    return {
        str(d): dict(v)
        for d, v in per_dim.items()
        if isinstance(v, Mapping)
        and all(v.get(k) is not None for k in ("accuracy", "majority_share", "n_rows"))
    }


def card_warnings(report: Mapping[str, Any]) -> list[str]:
    """Every warning the card shows, plain text, in order: the validation's, then label fidelity's not yet
    among them (same text once)."""
    val = report.get("validation") or {}
    out = [str(w) for w in (val.get("warnings") or []) if w]
    out += [w for w in fidelity_warnings(fidelity_block(report)) if w not in out]
    return out


def status(f: CardFacts) -> dict[str, Any]:
    """Template keys: ``incomplete`` (None for a complete run, else realised, planned, missing, reason,
    short_cells, n_short_cells) and ``warnings`` (escaped lines shown near the top and in Validation)."""
    return {
        "incomplete": _incomplete(f),
        "warnings": [escape_inline(w, 400) for w in card_warnings(f.report)],
    }
