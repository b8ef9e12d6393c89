"""What the judge's readings say about the written rows: per audited dimension, the realised-by-judge
distribution, the agreement with the planned label (with a Wilson score interval) and the confusion matrix.

Everything is computed from the data columns (`<dimension>`, `judged_<dimension>`, `label_verified`,
`edge_case`) of split → Arrow table maps, so the report (from the freshly built dataset) and `validate` (from
the parquet files) derive the same figures from the same rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from hf_synth.recipe.audit import UNCLEAR, VERIFIED_COLUMN, judged_column

__all__ = ["INTERVAL_LEVEL", "agreement", "check_audit", "dimension_summary", "summarise_tables"]

#: Confidence level of the agreement intervals.
INTERVAL_LEVEL = 0.9


def agreement(agree: int, rows: int, level: float = INTERVAL_LEVEL) -> dict[str, Any]:
    """Agreement rate of `agree` of `rows`, with its Wilson score interval at `level` (None when rows=0)."""
    if rows <= 0:
        return {
            "agree": 0,
            "rows": 0,
            "rate": None,
            "interval": None,
            "level": level,
            "method": "Wilson score",
        }
    from scipy.stats import binomtest  # ~0.25 s of import that a run without an audit never needs

    ci = binomtest(agree, rows).proportion_ci(confidence_level=level, method="wilson")
    return {
        "agree": agree,
        "rows": rows,
        "rate": agree / rows,
        "interval": [float(ci.low), float(ci.high)],
        "level": level,
        "method": "Wilson score",
    }


def dimension_summary(
    planned: Sequence[str], judged: Sequence[str | None], values: Sequence[str], min_agreement: float
) -> dict[str, Any]:
    """Figures of one dimension over rows aligned in `planned` (value names) and `judged` (value names,
    "unclear", or None for rows the judge did not read).

    Returns {"values", "planned": {value: n} over the judged rows, "judged": {value: n} with "unclear",
    "agreement" (see `agreement`), "confusion": {planned value: {judged value: n}}, "not_judged": n,
    "min_agreement", "passed"}.
    """
    pairs = [(p, j) for p, j in zip(planned, judged, strict=True) if j is not None]
    answers = [*values, UNCLEAR]
    confusion = {p: dict.fromkeys(answers, 0) for p in values}
    for p, j in pairs:
        confusion.setdefault(p, dict.fromkeys(answers, 0))
        confusion[p][j] = confusion[p].get(j, 0) + 1
    judged_counts = Counter(j for _, j in pairs)
    planned_counts = Counter(p for p, _ in pairs)
    agree = agreement(sum(1 for p, j in pairs if p == j), len(pairs))
    return {
        "values": list(values),
        "planned": {v: planned_counts.get(v, 0) for v in values},
        "judged": {v: judged_counts.get(v, 0) for v in answers},
        "agreement": agree,
        "confusion": confusion,
        "not_judged": len(planned) - len(pairs),
        "min_agreement": min_agreement,
        "passed": agree["rate"] is not None and agree["rate"] >= min_agreement,
    }


#: How `rows.skipped` names gap rows the judge cannot read (their label is not a value of the recipe).
GAP_LABEL_SKIP = "gap rows with a label the recipe lacks"


def _names(features: Mapping[str, Any], column: str) -> list[str]:
    return list(features[column]["names"])


def summarise_tables(
    tables: Mapping[str, Any],
    features: Mapping[str, Any],
    dimensions: Sequence[str],
    min_agreement: float,
    skipped_kinds: Sequence[str] = (),
) -> dict[str, Any]:
    """Per audited dimension `dimension_summary` over the rows of split → Arrow table `tables` (the
    `features` dict of report.json names the classes), plus row counts: {"per_dimension": {...}, "rows":
    {"total", "judged", "verified", "disagreeing", "not_judged", "skipped": {kind: n}}}. Rows of the
    `skipped_kinds` (edge kinds no reader can label) are counted apart and left out of every figure;
    "not_judged" counts the other rows the judge did not read. "_columns" holds the audited rows' planned
    and judged values and `label_verified`, aligned (for `check_audit`)."""
    planned: dict[str, list[str]] = {d: [] for d in dimensions}
    judged: dict[str, list[str | None]] = {d: [] for d in dimensions}
    verified: list[bool | None] = []
    edge_names = _names(features, "edge_case")
    skipped: Counter = Counter()
    total = 0
    unnamed = 0  # gap rows whose label is a reference value the recipe lacks: the judge cannot answer it
    for table in tables.values():
        kinds = [edge_names[c] for c in table.column("edge_case").to_pylist()]
        keep = [k not in skipped_kinds for k in kinds]
        named = [True] * len(kinds)
        for d in dimensions:
            names, answers = _names(features, d), set(_names(features, judged_column(d)))
            codes = table.column(d).to_pylist()
            named = [n and names[c] in answers for n, c in zip(named, codes, strict=True)]
        unnamed += sum(1 for k, n in zip(keep, named, strict=True) if k and not n)
        keep = [k and n for k, n in zip(keep, named, strict=True)]
        skipped.update(k for k in kinds if k in skipped_kinds)
        total += len(kinds)
        for d in dimensions:
            names, jnames = _names(features, d), _names(features, judged_column(d))
            cols = zip(
                table.column(d).to_pylist(), table.column(judged_column(d)).to_pylist(), keep, strict=True
            )
            for c, j, k in cols:
                if k:
                    planned[d].append(names[c])
                    judged[d].append(None if j is None else jnames[j])
        verified += [v for v, k in zip(table.column(VERIFIED_COLUMN).to_pylist(), keep, strict=True) if k]
    per_dim = {
        d: dimension_summary(planned[d], judged[d], _names(features, d), min_agreement) for d in dimensions
    }
    return {
        "per_dimension": per_dim,
        "rows": {
            "total": total,
            "judged": sum(1 for v in verified if v is not None),
            "verified": sum(1 for v in verified if v is True),
            "disagreeing": sum(1 for v in verified if v is False),
            "not_judged": sum(1 for v in verified if v is None),
            "skipped": {
                **{k: skipped.get(k, 0) for k in skipped_kinds},
                **({GAP_LABEL_SKIP: unnamed} if unnamed else {}),
            },
        },
        "_columns": {"planned": planned, "judged": judged, "verified": verified},
    }


def check_audit(tables: Mapping[str, Any], report: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict]]:
    """Re-derive the audit's figures from the written rows and check them (for `validate`).

    Returns (summary, failures): summary as `summarise_tables` (without the raw columns);
    failures name each dimension whose agreement is below `min_agreement`, rows the judge never read that it
    should have, and rows whose `label_verified` contradicts their judged columns. ({}, []) without an audit.
    """
    block = report.get("audit")
    if not block:
        return {}, []
    dims = list(block["dimensions"])
    min_agreement = float(block["min_agreement"])
    summary = summarise_tables(
        tables, report["features"], dims, min_agreement, block.get("skipped_kinds", [])
    )
    columns = summary.pop("_columns")
    failures: list[dict[str, Any]] = []
    for d, s in summary["per_dimension"].items():
        rate = s["agreement"]["rate"]
        if rate is None:
            failures.append({"level": f"audit.{d}", "cell": f"no row's '{d}' was judged"})
        elif rate < min_agreement:
            lo, hi = s["agreement"]["interval"]
            failures.append(
                {
                    "level": f"audit.{d}",
                    "cell": f"judged agreement on '{d}' is {rate:.1%} (90% interval {lo:.1%}-{hi:.1%}, "
                    f"{s['agreement']['agree']}/{s['agreement']['rows']} rows), below min_agreement "
                    f"{min_agreement:.0%}",
                }
            )
    missing = summary["rows"]["not_judged"]
    if missing > 0:
        failures.append({"level": "audit", "cell": f"{missing} auditable rows were never judged"})
    contradictions = 0
    for i, v in enumerate(columns["verified"]):
        readings = [(columns["planned"][d][i], columns["judged"][d][i]) for d in dims]
        expected = None if any(j is None for _, j in readings) else all(p == j for p, j in readings)
        contradictions += expected != v
    if contradictions:
        failures.append(
            {
                "level": "audit",
                "cell": f"{contradictions} rows' {VERIFIED_COLUMN} contradicts their judged columns",
            }
        )
    return summary, failures
