"""Human-readable tables of a plan (`hf-synth plan`)."""

from __future__ import annotations

from typing import Any

from hf_synth.generation.audit.estimate import format_audit_estimate


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    widths = [
        max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def format_plan(table: dict[str, Any], max_cells: int = 60) -> str:
    """Cells with their split counts, each dimension's marginal, splits, edge kinds, notes and estimate."""
    splits = table["split_names"]
    n_strata, possible = table["n_strata"], table.get("n_strata_possible", table["n_strata"])
    strata = f"{n_strata:,} strata" if n_strata == possible else f"{n_strata:,} of {possible:,} strata"
    parts = [
        f"{table['total']:,} rows in {strata} (by {', '.join(table['strata_by'])}), seed {table['seed']}"
    ]
    rows = [
        [c["stratum"], c["n"], *(c["splits"].get(s, 0) for s in splits)] for c in table["cells"][:max_cells]
    ]
    parts.append(_table(["stratum", "rows", *splits], rows))
    if len(table["cells"]) > max_cells:
        parts.append(f"... {len(table['cells']) - max_cells} more strata (use --json for all)")
    for dim, counts in table["marginals"].items():
        total = sum(counts.values()) or 1
        parts.append(_table([dim, "rows", "share"], [[v, n, f"{n / total:.1%}"] for v, n in counts.items()]))
    parts.append(_table(["split", "rows"], [[s, n] for s, n in table["splits"].items()]))
    if table["edge_cases"]:
        per_split = table.get("edge_cases_splits", {})
        where = table.get("edge_where", {})
        rows = [
            [
                k,
                n,
                *(per_split.get(k, {}).get(s, "") for s in splits),
                "; ".join(f"{d}: {', '.join(v)}" for d, v in where.get(k, {}).items()) or "any row",
            ]
            for k, n in table["edge_cases"].items()
        ]
        parts.append(_table(["edge case", "rows", *splits, "where"], rows))
    for note in table["notes"]:
        parts.append(f"note: {note}")
    est = table.get("estimate")
    if est:
        cost = est["cost_usd_expected"]
        cost_s = (
            "unknown model price"
            if cost is None
            else (
                f"${cost:,.2f} expected, ${est['cost_usd_max']:,.2f} at most, "
                f"${est['cost_usd_batch_expected']:,.2f} with --batch"
            )
        )
        parts.append(
            f"estimate ({est['model']}, {est['method']}): {est['requests']} requests, "
            f"{est['input_tokens']:,} input tokens, ~{est['output_tokens_expected']:,} output tokens "
            f"(≤ {est['output_tokens_max']:,}); {cost_s}"
        )
        if est.get("audit"):
            parts.append(format_audit_estimate(est["audit"]))
    return "\n\n".join(parts)
