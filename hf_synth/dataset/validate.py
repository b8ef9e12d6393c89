"""Targets vs realised counts of a generated folder, read from its parquet files and report.json."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import chisquare

from hf_synth.dataset.build import read_split_tables
from hf_synth.recipe.fields import FieldSpec
from hf_synth.recipe.schema import validate_item


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


def _field_failures(tables: dict[str, Any], report: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows whose fields break their declared types (edge rows are exempt from ranges by design)."""
    # The field types come from the report (not by re-parsing recipe.yaml), so a folder validates on its own.
    fields = {name: FieldSpec.model_validate(spec) for name, spec in report["recipe"]["fields"].items()}
    failures = []
    for split, table in tables.items():
        cols = {name: table.column(name).to_pylist() for name in fields}
        slot = table.column("slot_id").to_pylist()
        edge = table.column("is_edge_case").to_pylist()
        for i in range(table.num_rows):
            item = {name: cols[name][i] for name in fields}
            _, errors = validate_item(item, fields, check_range=not edge[i])
            if errors and not edge[i]:
                failures.append({"split": split, "slot_id": slot[i], "errors": errors})
    return failures


@dataclass
class ValidationResult:
    """What `validate_folder` found: `ok`, per-level `tables` ({cell: {target, realised}}), `chi_square`
    per dimension (statistic, p-value, max absolute deviation in rows) and `failures` (short or excess
    cells, duplicate slot ids, rows breaking the field types)."""

    ok: bool
    tables: dict[str, Any]
    chi_square: dict[str, Any]
    failures: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The JSON-able form (`hf-synth validate --json`)."""
        return asdict(self)


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
    field_fails = _field_failures(tables_by_split, report)
    if field_fails:
        failures.append({"level": "fields", "cell": "rows breaking field types", "slots": field_fails[:50]})
    return ValidationResult(ok=not failures, tables=tables, chi_square=chi, failures=failures)


def format_validation(result: ValidationResult) -> str:
    """A short human-readable summary of `validate_folder`'s result."""
    lines = []
    for level in ("strata", "splits", "edge_cases"):
        table = result.tables.get(level, {})
        exact = sum(1 for v in table.values() if v["target"] == v["realised"])
        lines.append(f"{level:<11} {exact}/{len(table)} cells exact")
    for dim, table in result.tables["marginals"].items():
        chi = result.chi_square[dim]
        p = "n/a" if chi["p_value"] is None else f"{chi['p_value']:.3f}"
        lines.append(
            f"{dim:<11} {sum(v['realised'] for v in table.values())} rows, chi-square p={p}, "
            f"max |deviation|={chi['max_abs_deviation']:.0f}"
        )
    if result.ok:
        lines.append("OK: every exact quota holds")
    else:
        lines.append(f"FAILED: {len(result.failures)} problems")
        for f in result.failures[:30]:
            if "target" in f:
                lines.append(f"  {f['level']}: {f['cell']}: target {f['target']}, realised {f['realised']}")
            else:
                lines.append(f"  {f['level']}: {f['cell']}: {f.get('slots')}")
    return "\n".join(lines)
