"""Card section "Label audit": what a blind judge read in the rows, per audited dimension.

The report's `audit` block (`hf_synth.generation.audit.setup.audit_report_block`) gives the judge, the
settings, row counts and, per dimension, the planned and judged counts, the agreement with its interval and
the confusion matrix (planned value → judged value → rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hf_synth.card.context.facts import CardFacts
from hf_synth.card.escape import SafeMd, escape_cell, escape_inline
from hf_synth.card.format import num, pct

_ON_DISAGREE = {
    "regenerate": "rows the judge read differently were regenerated with its reading fed back; rows still "
    "read differently after the last round are kept with `label_verified = false`",
    "flag": "rows the judge read differently were kept as written and marked `label_verified = false`",
    "drop-and-refill": "rows the judge read differently were regenerated, and rows still read differently "
    "after the last round were left out and their cells refilled",
}


def _dimension(dim: str, st: Mapping[str, Any]) -> dict[str, Any]:
    agree = st.get("agreement") or {}
    interval = agree.get("interval")
    answers = list(st.get("judged") or {})
    confusion = st.get("confusion") or {}
    return {
        "name": escape_cell(dim, 80),
        "agreement": SafeMd(pct(agree.get("rate"))),
        "interval": SafeMd(f"{pct(interval[0])} – {pct(interval[1])}" if interval else "—"),
        "rows": SafeMd(num(agree.get("rows"), 0)),
        "agree": SafeMd(num(agree.get("agree"), 0)),
        "min_agreement": SafeMd(pct(st.get("min_agreement"), 0)),
        "passed": bool(st.get("passed")),
        "answers": [escape_cell(a, 40) for a in answers],
        "confusion": [
            {
                "planned": escape_cell(p, 40),
                "counts": [SafeMd(num((row or {}).get(a, 0), 0)) for a in answers],
            }
            for p, row in confusion.items()
        ],
    }


def audit(f: CardFacts) -> dict[str, Any]:
    """Template key ``audit`` (None without an audit): judge, note, dimensions [{name, agreement, interval,
    rows, agree, min_agreement, passed, answers, confusion [{planned, counts}]}], level, on_disagree,
    judged, verified, disagreeing, skipped [{kind, rows}], regenerated, dropped, cost, requests."""
    block = f.report.get("audit")
    if not block:
        return {"audit": None}
    judge = block.get("judge") or {}
    rows = block.get("rows") or {}
    cost = block.get("cost") or {}
    per_dim = block.get("per_dimension") or {}
    return {
        "audit": {
            "judge": escape_inline(f"{judge.get('backend')}: {judge.get('model')}", 120),
            "note": escape_inline(judge["note"], 600) if judge.get("note") else None,
            "dimensions": [_dimension(d, st) for d, st in per_dim.items() if isinstance(st, Mapping)],
            "level": SafeMd(pct(block.get("interval_level"), 0)),
            "on_disagree": SafeMd(_ON_DISAGREE.get(block.get("on_disagree"), "")),
            "judged": SafeMd(num(rows.get("judged"), 0)),
            "verified": SafeMd(num(rows.get("verified"), 0)),
            "disagreeing": SafeMd(num(rows.get("disagreeing"), 0)),
            "not_judged": rows.get("not_judged") or 0,
            "skipped": [
                {"kind": escape_cell(k, 60), "rows": SafeMd(num(n, 0))}
                for k, n in (rows.get("skipped") or {}).items()
                if n
            ],
            "regenerated": SafeMd(num(block.get("regenerated"), 0)),
            "dropped": SafeMd(num(block.get("dropped"), 0)),
            "requests": SafeMd(num(cost.get("requests"), 0)),
            "cost": SafeMd(f"${cost.get('cost_usd', 0.0):.4f}"),
        }
    }
