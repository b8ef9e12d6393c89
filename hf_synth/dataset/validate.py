"""Validation of a generated folder: realised counts against the plan, and the content of the written rows.

Reads only the folder (its parquet files and report.json), so a folder validates on its own.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binomtest, chisquare

from hf_synth.dataset.build import read_split_tables
from hf_synth.dataset.content import check_content
from hf_synth.generation.audit.stats import check_audit


def _counts_table(targets: dict[str, int], realised: Counter) -> tuple[dict[str, dict[str, int]], list[dict]]:
    table, failures = {}, []
    for key in sorted(set(targets) | set(realised), key=str):
        t, r = int(targets.get(key, 0)), int(realised.get(key, 0))
        table[key] = {"target": t, "realised": r}
        if t != r:
            failures.append({"cell": key, "target": t, "realised": r})
    return table, failures


def _chi2(table: dict[str, dict[str, int]]) -> dict[str, float | None]:
    target = np.array([v["target"] for v in table.values()], dtype=float)
    real = np.array([v["realised"] for v in table.values()], dtype=float)
    dev = float(np.max(np.abs(real - target))) if len(target) else 0.0
    if len(target) < 2 or target.sum() == 0 or real.sum() != target.sum() or (target == 0).any():
        return {"statistic": None, "p_value": None, "max_abs_deviation": dev}
    stat, p = chisquare(real, target)
    return {"statistic": float(stat), "p_value": float(p), "max_abs_deviation": dev}


def realised_counts(tables: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """Count strata, marginals, splits, edge kinds and stratum×split in the split → Arrow table map."""
    features = report["features"]
    dims = list(report["recipe"]["dimensions"])
    edge_names = features["edge_case"]["names"]
    strata: Counter = Counter()
    marginals: dict[str, Counter] = {d: Counter() for d in dims}
    splits: Counter = Counter()
    edges: Counter = Counter()
    strata_splits: dict[str, Counter] = {}
    slot_ids: list[int] = []
    for split, table in tables.items():
        splits[split] += table.num_rows
        stratum = table.column("stratum").to_pylist()
        strata.update(stratum)
        for s in stratum:
            strata_splits.setdefault(s, Counter())[split] += 1
        for d in dims:
            names = features[d]["names"]
            marginals[d].update(names[c] for c in table.column(d).to_pylist())
        edges.update(edge_names[c] for c in table.column("edge_case").to_pylist() if c)
        slot_ids.extend(table.column("slot_id").to_pylist())
    return {
        "strata": strata,
        "marginals": marginals,
        "splits": splits,
        "edge_cases": edges,
        "strata_splits": strata_splits,
        "slot_ids": slot_ids,
    }


def fidelity_warnings(label_fidelity: dict[str, Any] | None, alpha: float = 0.05) -> list[str]:
    """A warning per dimension whose labels the texts do not carry better than chance.

    `label_fidelity` is the report's block (`hf_synth.quality.fidelity.label_fidelity`): per dimension the
    held-out accuracy over `n_rows` and the majority share. One-sided exact binomial test of the correct count
    against always guessing the majority value; p > alpha reads as "not above chance".
    """
    out = []
    for dim, block in (label_fidelity or {}).items():
        if not isinstance(block, dict) or block.get("accuracy") is None or not block.get("n_rows"):
            continue
        n, acc, chance = int(block["n_rows"]), float(block["accuracy"]), float(block["majority_share"])
        p = binomtest(round(acc * n), n, min(max(chance, 1e-9), 1 - 1e-9), alternative="greater").pvalue
        if p > alpha:
            out.append(
                f"label fidelity: '{dim}' cannot be read from the texts better than chance (held-out "
                f"accuracy {acc:.2f} vs {chance:.2f} for always guessing the most common value, {n} rows, "
                f"p={p:.2f})"
            )
    return out


@dataclass
class ValidationResult:
    """What `validate_folder` found: `ok`, per-level `tables` ({cell: {target, realised}}), `chi_square`
    per dimension (statistic, p-value, max absolute deviation in rows) and `failures` (short or excess
    cells, duplicate slot ids, rows breaking the field types)."""

    ok: bool
    tables: dict[str, Any]
    chi_square: dict[str, Any]
    failures: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = True  # False: the run stopped short; rows are missing by design until it resumes
    content: dict[str, Any] = field(default_factory=dict)  # `check_content` summary of the written rows
    warnings: list[str] = field(default_factory=list)  # not failures: e.g. labels not above chance
    audit: dict[str, Any] = field(default_factory=dict)  # `check_audit`: the judge's readings of the rows

    def to_json(self) -> dict[str, Any]:
        """The JSON-able form (`hf-synth validate --json`)."""
        return asdict(self)

    def to_report(self) -> dict[str, Any]:
        """The report's `validation` block (the per-cell tables live in `realised`)."""
        return {k: v for k, v in self.to_json().items() if k != "tables"}


def validate_folder(folder: str | Path) -> ValidationResult:
    """Compare every exact quota of a generated folder with what its data files hold."""
    folder = Path(folder)
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    targets = report["plan"]["targets"]
    tables_by_split = read_split_tables(folder, report["files"])
    real = realised_counts(tables_by_split, report)
    tables: dict[str, Any] = {}
    failures: list[dict[str, Any]] = []
    for level in ("strata", "splits", "edge_cases"):
        tables[level], fails = _counts_table(targets.get(level, {}), real[level])
        failures += [{"level": level, **f} for f in fails]
    tables["marginals"] = {}
    chi: dict[str, Any] = {}
    for dim, dim_targets in targets["marginals"].items():
        tables["marginals"][dim], fails = _counts_table(dim_targets, real["marginals"].get(dim, Counter()))
        failures += [{"level": f"marginals.{dim}", **f} for f in fails]
        chi[dim] = _chi2(tables["marginals"][dim])
    strata_splits_fail = []
    for stratum, per_split in targets.get("strata_splits", {}).items():
        got = real["strata_splits"].get(stratum, Counter())
        for split, n in per_split.items():
            if got.get(split, 0) != n:
                strata_splits_fail.append(
                    {"cell": f"{stratum} / {split}", "target": n, "realised": got.get(split, 0)}
                )
    failures += [{"level": "strata_splits", **f} for f in strata_splits_fail]
    ids = real["slot_ids"]
    dup_ids = [sid for sid, n in Counter(ids).items() if n > 1]
    if dup_ids:
        failures.append({"level": "slot_id", "cell": "duplicate slot ids", "slots": sorted(dup_ids)[:50]})
    content, content_failures = check_content(tables_by_split, report)
    failures += content_failures
    audit, audit_failures = check_audit(tables_by_split, report)
    failures += audit_failures
    complete = report.get("complete", True) is not False
    if not complete:
        missing = (report.get("incomplete") or {}).get("missing_rows", "?")
        failures.insert(0, {"level": "complete", "cell": f"the run stopped short: {missing} rows missing"})
    return ValidationResult(
        ok=not failures,
        tables=tables,
        chi_square=chi,
        failures=failures,
        complete=complete,
        content=content,
        warnings=fidelity_warnings(report.get("label_fidelity")),
        audit=audit,
    )


def format_validation(result: ValidationResult) -> str:
    """A short human-readable summary: counts, then content, then warnings and failures."""
    lines = ["counts"]
    for level in ("strata", "splits", "edge_cases"):
        table = result.tables.get(level, {})
        exact = sum(1 for v in table.values() if v["target"] == v["realised"])
        lines.append(f"  {level:<11} {exact}/{len(table)} cells exact")
    for dim, table in result.tables["marginals"].items():
        chi = result.chi_square[dim]
        p = "n/a" if chi["p_value"] is None else f"{chi['p_value']:.3f}"
        lines.append(
            f"  {dim:<11} {sum(v['realised'] for v in table.values())} rows, chi-square p={p}, "
            f"max |deviation|={chi['max_abs_deviation']:.0f}"
        )
    content = result.content
    if content:
        lines.append("content (re-checked on the written rows)")
        fields = content.get("fields", {})
        lines.append(
            f"  fields      {fields.get('rows', 0) - fields.get('failed', 0)}/{fields.get('rows', 0)} rows "
            "match their declared types"
        )
        for kind, st in (content.get("edge_cases") or {}).items():
            lines.append(f"  {kind:<11} {st['rows'] - st['failed']}/{st['rows']} rows pass the kind's check")
        lines.append(
            f"  duplicates  {content.get('duplicates', 0)} ordinary rows repeat another of their stratum"
        )
    if result.audit:
        lines.append("label audit (a blind judge's reading of the written rows)")
        for dim, st in result.audit["per_dimension"].items():
            agree = st["agreement"]
            if agree["rate"] is None:
                lines.append(f"  {dim:<11} no row judged")
                continue
            lo, hi = agree["interval"]
            lines.append(
                f"  {dim:<11} {agree['agree']}/{agree['rows']} rows read as planned: {agree['rate']:.1%} "
                f"(90% interval {lo:.1%}-{hi:.1%}; min_agreement {st['min_agreement']:.0%})"
            )
    for warning in result.warnings:
        lines.append(f"warning: {warning}")
    if not result.complete:
        lines.append(
            "INCOMPLETE: the run stopped short; re-run `hf-synth generate` with the same recipe to resume"
        )
    if result.ok:
        lines.append("OK: every exact quota holds and every row passes its checks")
    else:
        lines.append(f"FAILED: {len(result.failures)} problems")
        for f in result.failures[:30]:
            if "target" in f:
                lines.append(f"  {f['level']}: {f['cell']}: target {f['target']}, realised {f['realised']}")
            else:
                lines.append(
                    f"  {f['level']}: {f['cell']}" + (f": {f['slots'][:5]}" if f.get("slots") else "")
                )
    return "\n".join(lines)
