"""The coverage result as text for people: one headline line in plain words, then the diagnostics under
their own heading, each with a one-line reading, then warnings. `hf-synth coverage` prints this."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hf_synth.quality.result import CoverageResult

__all__ = ["coverage_text", "headline_line", "rare_lines", "rare_summary"]


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


WIDE = 0.4  # an interval wider than this is reported as a range: the evidence cannot pin coverage down


def headline_line(result: CoverageResult) -> str:
    """One plain-words line: "covers about 48% of the reference (90% interval: 41%-55%); it can see
    missing topics of >= 40 reference rows." A wide interval is stated as the range it is."""
    cov = f"{_pct(result.coverage)}"
    if result.coverage_interval:
        low, high = result.coverage_interval
        if high - low > WIDE:
            line = (
                f"The synthetic set covers between {_pct(low)} and {_pct(high)} of the reference (90% "
                f"interval; too little evidence to pin it down, middle estimate {cov})"
            )
        else:
            line = (
                f"The synthetic set covers about {cov} of the reference (90% interval: {_pct(low)}-"
                f"{_pct(high)})"
            )
    else:
        line = f"The synthetic set covers about {cov} of the reference"
    if result.resolution:
        n_ref = (result.sizes or {}).get("reference")
        if n_ref and result.resolution >= n_ref:
            line += "; too few rows to see any missing topic"
        else:
            line += f"; it can see missing topics of >= {result.resolution:,} reference rows"
    return line + "."


def _diagnostics(r: CoverageResult) -> list[str]:
    lines = []
    sup = r.support or {}
    if sup.get("witnessed") is not None:
        lines += [
            f"  witnessed      {_pct(sup['witnessed'])} of reference rows have a synthetic row among their "
            f"{sup['k']} nearest reference neighbours",
            f"                 (a sample of the reference would reach {_pct(sup['expected_witnessed'])}; "
            "the headline is the coverage that explains this share)",
        ]
    if sup.get("concentration") is not None:
        c = sup["concentration"]
        how = (
            "piled on part of the reference"
            if c > 1.2
            else "more evenly spread than a sample"
            if c < 0.8
            else "spread like a sample of the reference"
        )
        lines.append(f"  concentration  {c:.2f}: synthetic rows are {how} (1 = like a sample)")
    knn = r.knn
    if knn:
        lines.append(
            f"  k-NN (k={knn['k']}, {knn['n_per_side']:,} per side)  precision {_pct(knn['precision'])} "
            f"(synthetic rows that look real), recall {_pct(knn['recall'])} (reference rows with a "
            f"synthetic look-alike)"
        )
    cl = r.clusters or {}
    if cl:
        lines.append(
            f"  regions        {cl['filled_regions']} of {cl['n_clusters']} reference regions get their "
            "share "
            f"({_pct(cl['coverage'])} of reference rows; a sample of the reference: "
            f"{_pct(cl['expected_coverage'])})"
        )
    div = r.diversity or {}
    if div:
        syn, ref = div["synthetic"], div["reference"]
        lines.append(
            f"  diversity      vendi {syn['vendi']:.1f} vs {ref['vendi']:.1f} in the reference "
            f"(effective number of distinct texts in {div['n_rows_compared']:,} rows); near-duplicates "
            f"{syn['near_duplicate_rate']:.1%}; leakage {div['leakage']['rate']:.1%} "
            "(copies of reference rows)"
        )
    nb = r.neighbours or {}
    if nb:
        how = (
            f"approximate index, recall {nb['min_recall']:.1%} of exact search on a seeded sample"
            if nb.get("approximate")
            else "exact search"
        )
        lines.append(f"  neighbours     every row ({how}; engine {nb.get('engine', 'local')})")
        wc = nb.get("witness_check")
        if wc:
            lines.append(
                f"                 witness flags equal exact search's on {wc['agreement']:.1%} of "
                f"{wc['rows']:,} sampled reference rows (witnessed {_pct(wc['witnessed_used'])} used, "
                f"{_pct(wc['witnessed_exact'])} exact)"
            )
    legacy = r.legacy_ks_score or {}
    value = "n/a" if legacy.get("value") is None else f"{legacy['value']:.3f}"
    lines.append(f"  legacy KS      {value} (the article's score; compares cluster sizes only, not coverage)")
    return lines


def rare_summary(rare: Mapping[str, Any] | None) -> str | None:
    """One line on the long tail from a `rare` block (`longtail.rare_regions`): how many small regions
    the synthetic set misses entirely, and their size range (None when the list was not computed)."""
    if not rare:
        return None
    if rare["min_rows"] > rare["max_rows"]:
        return (
            "Rare regions: too few synthetic rows to name a missing region smaller than "
            f"{rare['max_rows']:,} reference rows."
        )
    return (
        f"Rare regions: {rare['n_found']:,} small reference regions "
        f"({rare['min_rows']:,}-{rare['max_rows']:,} rows) have no synthetic row at all."
    )


def rare_lines(result: CoverageResult, listed: int = 10) -> list[str]:
    """The rare-region block of the text report: the summary line, then the largest regions first."""
    line = rare_summary(result.rare)
    if line is None:
        return []
    lines = ["", line]
    for region in (result.rare or {}).get("regions", [])[:listed]:
        lines.append(f"  {region['n_reference']:,} reference rows ({region['share']:.2%}), none synthetic:")
        for text in region["examples"][:3]:
            shown = text if len(text) <= 100 else text[:97] + "..."
            lines.append(f"    - {shown!r}")
    return lines


def coverage_text(result: CoverageResult) -> str:
    """The full text report (multi-line, no trailing newline)."""
    r = result
    sizes = r.sizes or {}
    emb = r.embedder or {}
    lines = [
        headline_line(r),
        f"({sizes.get('synthetic', '?'):,} synthetic and {sizes.get('reference', '?'):,} reference rows; "
        f"embedder {emb.get('kind', '?')} {emb.get('model_id', r.model)}; seed {r.seed})",
        "",
        "Diagnostics:",
        *_diagnostics(r),
    ]
    if r.uncovered:
        lines += ["", "Under-filled reference regions (worst first, reference examples):"]
        for region in r.uncovered[:10]:
            lines.append(
                f"  {region['share']:.1%} of the reference, "
                f"{region['synthetic_share']:.1%} of the synthetic set:"
            )
            for text in region["examples"][:3]:
                shown = text if len(text) <= 100 else text[:97] + "..."
                lines.append(f"    - {shown!r}")
    lines += rare_lines(r)
    check = r.cross_check
    if check:
        lines += [
            "",
            f"Cross-check on {check['n_synthetic']:,} + {check['n_reference']:,} rows: static "
            f"{_pct(check['static']['coverage'])} vs MiniLM {_pct(check['default']['coverage'])}",
        ]
    if emb.get("reason"):
        lines.append(f"embedder choice: {emb['reason']}")
    for warning in r.warnings:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)
