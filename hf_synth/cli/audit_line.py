"""The summary line of the blind label audit (`generate`, `audit` and `demo` print it)."""

from __future__ import annotations

from typing import Any


def audit_line(block: dict[str, Any] | None) -> str | None:
    """The summary line of a report's `audit` block (None without one)."""
    if not block:
        return None
    parts = []
    for dim, st in (block.get("per_dimension") or {}).items():
        agree = st["agreement"]
        if agree["rate"] is None:
            parts.append(f"{dim}=n/a")
            continue
        lo, hi = agree["interval"]
        parts.append(f"{dim}={agree['rate']:.1%} ({lo:.0%}-{hi:.0%})")
    rows = block.get("rows") or {}
    skipped = sum((rows.get("skipped") or {}).values())
    cost = block.get("cost") or {}
    judge = block.get("judge") or {}
    return (
        f"audit       judged agreement {', '.join(parts) or '-'} (90% intervals); "
        f"{rows.get('disagreeing', 0)} rows disagree, {block.get('regenerated', 0)} regenerated, "
        f"{skipped} skipped; {cost.get('requests', 0)} judge requests, ${cost.get('cost_usd', 0.0):.4f} "
        f"({judge.get('backend')}: {judge.get('model')})"
    )
