"""Generated rows → a typed `datasets.DatasetDict`, and the parquet files of a Hub-ready folder."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq

from hf_synth.planning.plan import Plan
from hf_synth.recipe import Recipe
from hf_synth.recipe.audit import UNCLEAR, VERIFIED_COLUMN, audit_dimensions, judged_column
from hf_synth.recipe.fields import FieldSpec, value_str

CONFIGS = ("default", "clean", "edge_cases")


def field_feature(spec: FieldSpec) -> datasets.Value:
    """The `datasets` feature type a field is stored as (every field column is nullable in Arrow)."""
    if spec.type == "integer":
        return datasets.Value("int64")
    if spec.type == "number":
        return datasets.Value("float64")
    if spec.type == "boolean":
        return datasets.Value("bool")
    return datasets.Value("string")


def to_feature_value(spec: FieldSpec, value: Any) -> Any:
    """A validated field value in the form its feature column stores (enum values as their text)."""
    if value is None:
        return None
    if spec.type == "enum":
        return value_str(value)
    return value


def build_features(recipe: Recipe) -> datasets.Features:
    """Explicit features: a ClassLabel per dimension, typed fields, edge-case flags, stratum and slot id."""
    feats: dict[str, Any] = {}
    for name, values in recipe.dimension_values().items():
        feats[name] = datasets.ClassLabel(names=values)
    for name, spec in recipe.fields.items():
        feats[name] = field_feature(spec)
    feats["edge_case"] = datasets.ClassLabel(names=["none", *recipe.edge_kind_names()])
    feats["is_edge_case"] = datasets.Value("bool")
    feats["edge_case_of"] = datasets.Value("int64")
    feats["stratum"] = datasets.Value("string")
    feats["slot_id"] = datasets.Value("int64")
    values = recipe.dimension_values()
    for dim in audit_dimensions(recipe):
        # The judge's reading: the dimension's names plus "unclear"; null where the row was not judged.
        feats[judged_column(dim)] = datasets.ClassLabel(names=[*values[dim], UNCLEAR])
    if recipe.audit is not None:
        feats[VERIFIED_COLUMN] = datasets.Value("bool")
    return datasets.Features(feats)


def build_dataset_dict(
    recipe: Recipe,
    plan: Plan,
    rows: dict[int, dict[str, Any]],
    *,
    allow_missing: bool = False,
    verdicts: dict[int, dict[str, str] | None] | None = None,
) -> datasets.DatasetDict:
    """One split per plan split, rows ordered by slot id. `rows` maps slot id → generated fields.

    Raises KeyError naming the first slot without a row, so a dataset is never silently short; with
    `allow_missing` (an incomplete run, marked so in its report) such slots are left out. With a recipe
    `audit`, `verdicts` (slot id → the judge's reading {dimension: value or "unclear"}, None or absent when
    not judged) fills `judged_<dimension>` and `label_verified` (null for rows not judged).
    """
    features = build_features(recipe)
    audited = audit_dimensions(recipe)
    dims = [d.name for d in plan.spec.dimensions]
    split_names = [name for name, _ in plan.spec.splits]
    columns: dict[str, dict[str, list[Any]]] = {s: {c: [] for c in features} for s in split_names}
    for i in range(len(plan.slot_id)):
        sid = int(plan.slot_id[i])
        if sid not in rows:
            if allow_missing:
                continue
            raise KeyError(f"slot {sid} has no generated row")
        cols = columns[split_names[int(plan.split[i])]]
        for d in dims:
            cols[d].append(int(plan.codes[d][i]))
        item = rows[sid]
        for name, spec in recipe.fields.items():
            cols[name].append(to_feature_value(spec, item.get(name)))
        edge = int(plan.edge[i])
        cols["edge_case"].append(edge)
        cols["is_edge_case"].append(edge > 0)
        partner = int(plan.partner[i])
        cols["edge_case_of"].append(partner if partner >= 0 else None)
        cols["stratum"].append(plan.stratum_id(i))
        cols["slot_id"].append(sid)
        if recipe.audit is not None:
            _add_verdict(cols, features, audited, (verdicts or {}).get(sid), plan, i)
    return datasets.DatasetDict(
        {s: datasets.Dataset.from_dict(columns[s], features=features) for s in split_names}
    )


def _add_verdict(
    cols: dict[str, list[Any]],
    features: datasets.Features,
    dims: list[str],
    verdict: dict[str, str] | None,
    plan: Plan,
    i: int,
) -> None:
    """Append one row's judged columns and `label_verified` (all audited dimensions read as planned)."""
    for d in dims:
        judged = None if verdict is None else features[judged_column(d)].str2int(verdict[d])
        cols[judged_column(d)].append(judged)
    ok = None if verdict is None else all(verdict[d] == _planned(plan, d, i) for d in dims)
    cols[VERIFIED_COLUMN].append(ok)


def _planned(plan: Plan, dim: str, i: int) -> str:
    spec = next(d for d in plan.spec.dimensions if d.name == dim)
    return spec.values[int(plan.codes[dim][i])]


def _write_parquet_named_by_content(ds: datasets.Dataset, data_dir: Path, stem: str) -> str:
    """Write `ds` to data_dir/<stem>-<sha8>.parquet atomically; the name changes with the content."""
    fd, tmp = tempfile.mkstemp(dir=data_dir, suffix=".parquet.tmp")
    os.close(fd)
    try:
        ds.to_parquet(tmp)
        digest = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()[:8]
        final = data_dir / f"{stem}-{digest}.parquet"
        if not final.is_file():  # the same name means the same bytes: an unchanged file is not rewritten
            # mkstemp makes the file private (0600); data files are for everyone who can read the folder.
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return f"data/{final.name}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_data_files(dd: datasets.DatasetDict, folder: Path) -> dict[str, dict[str, list[str]]]:
    """Write clean and edge-case rows of each split to separate parquet files under folder/data.

    Returns {config: {split: [relative paths]}} for the configs `default` (all rows), `clean` and
    `edge_cases` (absent when there are no edge rows). Data files of earlier runs are removed only after
    the new ones are in place, so an interrupted write never leaves a folder without data.
    """
    data_dir = folder / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    old = {p.name for p in data_dir.glob("*.parquet")}
    files: dict[str, dict[str, list[str]]] = {c: {} for c in CONFIGS}
    for split, ds in dd.items():
        flags = ds["is_edge_case"]
        clean_idx = [i for i, f in enumerate(flags) if not f]
        edge_idx = [i for i, f in enumerate(flags) if f]
        clean_path = _write_parquet_named_by_content(ds.select(clean_idx), data_dir, f"{split}-clean")
        files["clean"][split] = [clean_path]
        files["default"][split] = [clean_path]
        if edge_idx:
            edge_path = _write_parquet_named_by_content(ds.select(edge_idx), data_dir, f"{split}-edge")
            files["edge_cases"][split] = [edge_path]
            files["default"][split].append(edge_path)
    keep = {Path(p).name for split_files in files["default"].values() for p in split_files}
    for name in old - keep:
        (data_dir / name).unlink(missing_ok=True)
    if not files["edge_cases"]:
        del files["edge_cases"]
    return files


def data_bytes(folder: Path, files: dict[str, dict[str, list[str]]]) -> dict[str, int]:
    """Split → bytes of its parquet files in the default config."""
    return {
        split: sum((folder / p).stat().st_size for p in paths) for split, paths in files["default"].items()
    }


def read_split_tables(folder: Path, files: dict[str, dict[str, list[str]]], config: str = "default") -> dict:
    """Split → pyarrow Table of a config's files (fast path for validation; no datasets cache involved)."""
    import pyarrow as pa

    out = {}
    for split, paths in files.get(config, {}).items():
        tables = [pq.read_table(folder / p) for p in paths]
        out[split] = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    return out
