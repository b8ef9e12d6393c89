"""The closing lines of `generate` and `demo`: rows, strata, edge cases, validation, coverage, cost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hf_synth.cli.audit_line import audit_line
from hf_synth.dataset.report import Report


def _coverage_line(cov: dict[str, Any] | None) -> str:
    if not cov:
        return "coverage    - (no reference set in the recipe)"
    line = "coverage    " + _with_interval(
        {"coverage": cov["coverage"], "interval": cov.get("coverage_interval")}
    ) + " of the reference"
    if cov.get("warnings"):
        line += f"; {len(cov['warnings'])} warning(s) in report.json"
    return line


def _with_interval(measured: dict[str, Any]) -> str:
    # Three decimals and the interval: a small set's move (0.0007 → 0.0012) must not print as 0.00 → 0.00.
    interval = measured.get("interval")
    text = f"{measured['coverage']:.3f}"
    return text + (f" (90%: {interval[0]:.3f}-{interval[1]:.3f})" if interval else "")


def _gap_line(block: dict[str, Any] | None) -> str | None:
    if not block:
        return None
    before, after = block.get("before") or {}, block.get("after") or {}
    moved = ""
    if before.get("coverage") is not None and after.get("coverage") is not None:
        moved = f", coverage {_with_interval(before)} → {_with_interval(after)}"
    return (
        f"gap fill    {block.get('rows', 0)} of these rows added in {len(block.get('rounds') or [])} round(s)"
        f"{moved}; stopped: {block.get('stopped') or '-'}"
    )


def summary(folder: Path, report: Report, stats: Any | None = None) -> str:
    """Rows, strata, edge cases, validation, coverage, tokens, cost and where the output went.

    `stats` (this invocation's `GenerationStats`) adds what this run did; without it, totals only.
    """
    gen = report.generation
    targets = report.plan["targets"]
    edges = targets.get("edge_cases", {})
    val = report.validation or {}
    gap_rows = (report.gap_fill or {}).get("rows") or 0
    # The strata and splits are the plan's; gap rows come on top of them.
    made = f"{gen['rows']}"
    if gap_rows:
        made += f" ({gen['rows'] - gap_rows} planned + {gap_rows} gap rows)"
    lines = [
        f"rows        {made} in {len(targets['strata'])} strata, {'planned ' if gap_rows else ''}splits "
        + ", ".join(f"{k}={v}" for k, v in targets["splits"].items())
        + (" (gap rows come on top)" if gap_rows else ""),
        f"edge cases  {sum(edges.values())} (" + ", ".join(f"{k}={v}" for k, v in edges.items()) + ")",
    ]
    for note in report.plan.get("notes") or []:
        lines.append(f"plan note   {note}")
    if not report.complete:
        missing = (report.incomplete or {}).get("missing_rows", "?")
        lines.append(f"INCOMPLETE  {missing} rows missing: re-run the same command to resume")
    lines.append(f"validation  {'OK: every quota exact' if val.get('ok') else 'FAILED'}")
    lines.append(_coverage_line(report.coverage))
    audited = audit_line(report.audit)
    if audited:
        lines.append(audited)
    gap = _gap_line(report.gap_fill)
    if gap:
        lines.append(gap)
    fid = report.label_fidelity
    if fid:
        accs = ", ".join(
            f"{d}={v['accuracy']:.2f} (chance {v['majority_share']:.2f})"
            for d, v in fid.items()
            if isinstance(v, dict) and v.get("accuracy") is not None
        )
        lines.append(f"fidelity    label accuracy from text: {accs}")
    this_run = ""
    if stats is not None:
        this_run = f" ({stats.requests} this run, {stats.resumed} rows resumed)"
    lines += [
        f"requests    {gen['requests']} total{this_run}, {gen['failed_attempts']} failed attempts, "
        f"{gen['regenerated_duplicates']} duplicates regenerated",
        f"tokens      {gen['input_tokens']} in / {gen['output_tokens']} out, "
        f"cache {gen['cache_read_tokens']} read / {gen['cache_write_tokens']} written"
        + (f" ({gen['cache_note']})" if gen.get("cache_note") else ""),
        f"cost        ${gen['cost_usd']:.4f} ({gen['backend']}: {gen['model']})",
        f"time        {gen['seconds']:.1f} s over {(report.provenance or {}).get('runs', 1)} run(s)",
        f"output      {folder.resolve()}  (load: datasets.load_dataset({str(folder)!r}))",
    ]
    return "\n".join(lines)
