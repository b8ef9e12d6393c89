"""Card section "Reference seeding and gap filling": the real examples the prompts quoted, the near-copies
regenerated, and the gap-filling loop (coverage per round with its interval, rows added per region and per
label, the top uncovered regions before and after with their texts, and the cost)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hf_synth.card.context.facts import CardFacts
from hf_synth.card.escape import SafeMd, escape_block, escape_cell, escape_inline
from hf_synth.card.format import num, pct

#: Regions listed in "rows added per region" (the most rows first), and examples quoted per region.
MAX_REGIONS = 10
MAX_EXAMPLES = 2
_FROM = {
    "same_stratum": "texts carrying the row's labels",
    "same_region": "neighbouring texts carrying the row's labels",
    "any": "any reference texts",
}


def _coverage(m: Mapping[str, Any] | None) -> SafeMd:
    """ "58.2% (90% interval 44.0%-71.3%)", or a dash: one decimal, so a small set's move shows."""
    if not m or m.get("coverage") is None:
        return SafeMd("—")
    interval = m.get("interval")
    if interval:
        return SafeMd(f"{pct(m['coverage'])} (90% interval {pct(interval[0])}-{pct(interval[1])})")
    return SafeMd(pct(m["coverage"]))


def _cost(cost: Mapping[str, Any] | None) -> SafeMd:
    if not cost:
        return SafeMd("—")
    dollars = cost.get("cost_usd") or 0.0
    return SafeMd(f"${dollars:,.4f} ({num(int(cost.get('requests') or 0))} requests)")


def _regions(ms: list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    return [
        {
            "share": pct(r.get("share")),
            "synthetic_share": pct(r.get("synthetic_share")),
            "examples": [escape_block(x, 200, quote=True) for x in (r.get("examples") or [])[:MAX_EXAMPLES]],
        }
        for r in ms or []
    ]


def _filled(rounds: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for r in rounds:
        for reg in r.get("regions") or []:
            if reg.get("rows"):
                rows.append({**reg, "round": r.get("round")})
    rows.sort(key=lambda x: -int(x["rows"]))
    return [
        {
            "round": x["round"],
            "rows": x["rows"],
            "share": pct(x.get("share")),
            "labels": escape_cell(", ".join(f"{k}: {v}" for k, v in (x.get("labels") or {}).items()), 120),
            "example": escape_cell((x.get("examples") or [""])[0], 100),
        }
        for x in rows[:MAX_REGIONS]
    ]


def _seeding(block: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not block:
        return None
    ref = block.get("reference") or {}
    examples = block.get("examples") or {}
    unmapped = [
        {"column": escape_inline(col), "n_values": u.get("values"), "rows": u.get("rows")}
        for col, u in (ref.get("unmapped") or {}).items()
    ]
    return {
        "rows": ref.get("rows"),
        "labels": escape_inline(", ".join(f"{c} → {d}" for c, d in (ref.get("labels") or {}).items()))
        or None,
        "per_request": examples.get("per_request"),
        "from": _FROM.get(examples.get("from") or ""),
        "without": sum((examples.get("slots_without_examples") or {}).values()),
        "unmapped": unmapped,
        "threshold": SafeMd(f"{block.get('leakage_threshold', 0.95):g}"),
        "regenerated": block.get("regenerated_near_copies") or 0,
        "still": block.get("still_near_copies"),
    }


def gap_fill(f: CardFacts) -> dict[str, Any]:
    """Template keys ``seeding`` (None without reference seeding) and ``gap_fill`` (None without gap
    filling): rounds [{n, before, after, rows, cost}], filled regions, top regions before/after, rows added
    per label, why the loop stopped, cost."""
    seeding = _seeding(f.report.get("seeding"))
    block = f.report.get("gap_fill")
    if not block:
        return {"seeding": seeding, "gap_fill": None}
    rounds = list(block.get("rounds") or [])
    values = f.dims_order
    added = [
        {
            "dimension": escape_inline(d),
            "value": escape_inline(v),
            "rows": n,
            "new": v not in values.get(d, []),
        }
        for d, counts in (block.get("added_per_label") or {}).items()
        for v, n in counts.items()
    ]
    return {
        "seeding": seeding,
        "gap_fill": {
            "rows": block.get("rows") or 0,
            "labels_from": escape_inline(block.get("labels_from") or "—"),
            "target": pct((block.get("settings") or {}).get("target"), 0),
            "stopped": escape_inline(block.get("stopped") or "—", 300),
            "before": _coverage(block.get("before")),
            "after": _coverage(block.get("after")),
            "rounds": [
                {
                    "n": r.get("round"),
                    "before": _coverage(r.get("before")),
                    "after": _coverage(r.get("after")),
                    "rows": r.get("rows"),
                    "withdrawn": r.get("withdrawn") or 0,
                    "cost": _cost(r.get("cost")),
                }
                for r in rounds
            ],
            "filled": _filled(rounds),
            "top_before": _regions((block.get("before") or {}).get("top_regions")),
            "top_after": _regions((block.get("after") or {}).get("top_regions")),
            "added": added,
            "cost": _cost(block.get("cost")),
        },
    }
