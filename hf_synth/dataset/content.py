"""What the written rows really are: field types, edge-case checks and duplicates, re-run on the data files.

Counts are exact by construction (labels, splits and edge flags are written from the plan), so checking them
proves little about the data. This module re-checks the content of every row as a reader would get it from
the parquet files: each field against its declared type, each edge-case row against its kind's check (with
its partner row where the kind has one), and ordinary rows for exact duplicates inside a stratum.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from hf_synth.edge_cases import EdgeContext, build_kinds, normalise_text
from hf_synth.errors import EdgeCaseConfigError
from hf_synth.recipe.fields import FieldSpec
from hf_synth.recipe.schema import validate_item

MAX_LISTED = 50  # failing rows listed per check (all are counted)


def _rows(tables: dict[str, Any], report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every written row as {split, slot_id, fields, values, edge, partner, stratum}."""
    features = report["features"]
    dims = list(report["recipe"]["dimensions"])
    field_names = list(report["recipe"]["fields"])
    edge_names = features["edge_case"]["names"]
    out = []
    for split, table in tables.items():
        cols = {c: table.column(c).to_pylist() for c in [*field_names, *dims, "edge_case", "slot_id"]}
        partner = table.column("edge_case_of").to_pylist()
        stratum = table.column("stratum").to_pylist()
        for i in range(table.num_rows):
            out.append(
                {
                    "split": split,
                    "slot_id": cols["slot_id"][i],
                    "fields": {f: cols[f][i] for f in field_names},
                    "values": {d: features[d]["names"][cols[d][i]] for d in dims},
                    "edge": edge_names[cols["edge_case"][i]],
                    "partner": partner[i],
                    "stratum": stratum[i],
                }
            )
    return out


def _field_checks(rows: list[dict[str, Any]], fields: dict[str, FieldSpec]) -> tuple[dict, list[dict]]:
    failed = []
    for row in rows:
        # Edge rows may break ranges on purpose (invalid_value, min/max): their kind's check guards them.
        _, errors = validate_item(row["fields"], fields, check_range=row["edge"] == "none")
        if errors and row["edge"] == "none":
            failed.append({"split": row["split"], "slot_id": row["slot_id"], "errors": errors})
    return {"rows": len(rows), "failed": len(failed)}, failed


def _edge_checks(
    rows: list[dict[str, Any]], report: dict[str, Any], fields: dict[str, FieldSpec]
) -> tuple[dict, list[dict]]:
    recipe = report["recipe"]
    config = (recipe.get("edge_cases") or {}).get("kinds") or {}
    if not config:
        return {}, []
    dims = {d: spec["values"] for d, spec in recipe["dimensions"].items()}
    try:
        kinds = {k.name: k for k in build_kinds(config, fields, recipe["text_field"], dims)}
    except EdgeCaseConfigError as exc:
        return {}, [{"kind": "(config)", "errors": [str(exc)]}]
    by_slot = {row["slot_id"]: row for row in rows}
    stats: dict[str, dict[str, int]] = {name: {"rows": 0, "failed": 0} for name in kinds}
    failed = []
    for row in rows:
        kind = kinds.get(row["edge"])
        if kind is None:
            continue
        partner = by_slot.get(row["partner"]) if row["partner"] is not None else None
        ctx = EdgeContext(
            fields=fields,
            text_field=recipe["text_field"],
            values=row["values"],
            partner_item=partner["fields"] if partner else None,
            partner_values=partner["values"] if partner else None,
        )
        stats[kind.name]["rows"] += 1
        if row["partner"] is not None and partner is None:
            reason = f"its partner row (slot {row['partner']}) is not in the data"
        else:
            reason = kind.check(row["fields"], ctx)
        if reason:
            stats[kind.name]["failed"] += 1
            failed.append(
                {"kind": kind.name, "split": row["split"], "slot_id": row["slot_id"], "reason": reason}
            )
    return stats, failed


def _duplicates(rows: list[dict[str, Any]], text_field: str) -> list[dict]:
    """Ordinary rows whose text repeats another ordinary row of the same stratum (after normalisation)."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for row in rows:
        text = row["fields"].get(text_field)
        if row["edge"] != "none" or not isinstance(text, str) or not text.strip():
            continue
        key = (row["stratum"], normalise_text(text))
        if key in seen:
            out.append({"slot_id": row["slot_id"], "duplicate_of": seen[key], "stratum": row["stratum"]})
        else:
            seen[key] = row["slot_id"]
    return out


def check_content(tables: dict[str, Any], report: dict[str, Any]) -> tuple[dict[str, Any], list[dict]]:
    """Re-check every written row. `tables`: split → Arrow table of the default config; `report`: report.json.

    Returns (summary, failures): summary = {"fields": {rows, failed}, "edge_cases": {kind: {rows, failed}},
    "duplicates": n}; failures are `validate_folder` failure entries (level fields / edge_cases.<kind> /
    duplicates), each listing up to 50 rows.
    """
    recipe = report["recipe"]
    fields = {name: FieldSpec.model_validate(spec) for name, spec in recipe["fields"].items()}
    rows = _rows(tables, report)
    field_stats, field_failed = _field_checks(rows, fields)
    edge_stats, edge_failed = _edge_checks(rows, report, fields)
    dedup_exact = ((recipe.get("dedup") or {}).get("exact", True)) is not False
    dups = _duplicates(rows, recipe["text_field"]) if dedup_exact else []
    failures: list[dict[str, Any]] = []
    if field_failed:
        failures.append(
            {"level": "fields", "cell": "rows breaking field types", "slots": field_failed[:MAX_LISTED]}
        )
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for f in edge_failed:
        by_kind[f["kind"]].append(f)
    for kind, items in by_kind.items():
        failures.append(
            {
                "level": f"edge_cases.{kind}",
                "cell": f"{len(items)} rows fail the '{kind}' check",
                "slots": items[:MAX_LISTED],
            }
        )
    if dups:
        failures.append(
            {
                "level": "duplicates",
                "cell": f"{len(dups)} ordinary rows repeat another row of their stratum",
                "slots": dups[:MAX_LISTED],
            }
        )
    summary = {
        "fields": field_stats,
        "edge_cases": edge_stats,
        "duplicates": len(dups),
        "edge_kinds_checked": dict(Counter(r["edge"] for r in rows if r["edge"] != "none")),
    }
    return summary, failures
