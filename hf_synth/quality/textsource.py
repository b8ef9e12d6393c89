"""Read a text column from a generated folder, a Hub-style folder, or a csv / jsonl / parquet file.

Kinds of source (see DESIGN.md "Output folder"):

- generated: a folder with `report.json` and `data/*.parquet` (every split of config `default`, i.e.
  every parquet file under `data/`). Default text column: `report["recipe"]["text_field"]`, else `text`.
- hub: any other folder; every `.parquet`, `.csv`, `.jsonl` file below it (hidden folders such as
  `.hf-synth` or `.git` skipped), in sorted path order. Default column: `text`.
- file: a single `.csv`, `.jsonl` / `.json` or `.parquet` file. Default column: `text`.

Null cells are dropped (counted in `TextSource.n_null`); every other value is converted with `str`.
With `exclude_flag` (e.g. `is_edge_case`), rows whose flag column is true are left out
(`TextSource.n_excluded`); a source without that column keeps every row.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

SUFFIXES = (".parquet", ".csv", ".jsonl", ".json")
# Inside a folder, .json files are metadata (dataset_info.json, report.json), not rows.
FOLDER_SUFFIXES = (".parquet", ".csv", ".jsonl")


@dataclass
class TextSource:
    """Texts read from one source, with where they came from."""

    texts: list[str]
    column: str
    kind: str  # "generated" | "hub" | "file"
    files: list[str] = field(default_factory=list)
    n_null: int = 0
    n_excluded: int = 0


def _read_table(path: Path) -> pa.Table:
    try:
        return _read_table_unchecked(path)
    except pa.ArrowInvalid as exc:  # e.g. "Empty CSV file": say which file
        raise ValueError(f"{path}: cannot read it ({exc})") from exc


def _read_table_unchecked(path: Path) -> pa.Table:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pq.read_table(path)
    if suffix == ".csv":
        # Every column is read as a string: type inference would turn a text column "007" into int 7.
        with path.open(encoding="utf-8", newline="") as f:
            header = next(csv.reader(f), [])
        if not header:
            raise ValueError(f"{path}: empty CSV file (no header row)")
        options = pacsv.ConvertOptions(column_types={name: pa.string() for name in header})
        return pacsv.read_csv(path, convert_options=options)
    if suffix in (".jsonl", ".json"):
        if suffix == ".json":
            text = path.read_text(encoding="utf-8").lstrip()
            if text.startswith("["):  # a JSON array of records rather than JSON lines
                return pa.Table.from_pylist(json.loads(text))
        return pajson.read_json(path, read_options=pajson.ReadOptions(block_size=1 << 26))
    raise ValueError(f"unsupported file type {path.name!r}: use .csv, .jsonl, .json or .parquet")


def _files_below(folder: Path) -> list[Path]:
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).parts
        if any(part.startswith(".") for part in rel):
            continue
        if path.is_file() and path.suffix.lower() in FOLDER_SUFFIXES:
            found.append(path)
    return found


def _generated_text_field(folder: Path) -> str | None:
    try:
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        value = (report.get("recipe") or {}).get("text_field")
        return str(value) if value else None
    except (OSError, ValueError, AttributeError):
        return None


def detect(path: str | Path) -> tuple[str, list[Path], str | None]:
    """Classify a source → (kind, files to read, default text column from report.json or None)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if p.is_file():
        return "file", [p], None
    data = sorted((p / "data").glob("*.parquet")) if (p / "data").is_dir() else []
    if (p / "report.json").is_file() and data:
        return "generated", data, _generated_text_field(p)
    files = _files_below(p)
    if not files:
        raise ValueError(f"{path}: no .parquet, .csv or .jsonl files found below this folder")
    return "hub", files, None


def is_true(value: object) -> bool:
    """A flag cell as bool: True, 1, or "true"/"1"/"yes" in any case (csv files hold flags as text)."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value) if value is not None else False


def column_names(path: Path) -> list[str]:
    """Column names of one data file (parquet: from its footer, without reading rows)."""
    if path.suffix.lower() == ".parquet":
        try:
            return list(pq.read_schema(path).names)
        except pa.ArrowInvalid as exc:
            raise ValueError(f"{path}: not a readable parquet file ({exc})") from exc
    return list(_read_table(path).column_names)


def resolve_column(
    path: str | Path, column: str | None = None, *, fallback_columns: Sequence[str] = ()
) -> tuple[str, list[Path], str]:
    """(kind, files, column) of a source, checking that every file has the column; reads no text.

    column None → report.json's text_field, then `fallback_columns`, then `text`: the first present in
    the first file. Raises FileNotFoundError / ValueError naming the file (and the columns it has).
    """
    kind, files, report_field = detect(path)
    if column is None:
        present = set(column_names(files[0]))
        candidates = [c for c in (report_field, *fallback_columns, "text") if c]
        column = next((c for c in candidates if c in present), candidates[0])
    for f in files:
        names = column_names(f)
        if column not in names:
            raise ValueError(f"{f}: no column {column!r}; columns are {names}")
    return kind, files, column


def load_texts(
    path: str | Path,
    column: str | None = None,
    *,
    fallback_columns: Sequence[str] = (),
    exclude_flag: str | None = None,
) -> TextSource:
    """Read every text of one column from a source.

    Args:
        path: generated folder, Hub-style folder, or a .csv/.jsonl/.json/.parquet file.
        column: column to read; None → the source's default (report.json text_field, else `text`),
            or the first of `fallback_columns` present in the first file.
        fallback_columns: tried in order, after the report's text_field and before `text`, when `column`
            is None (the CLI passes the other side's explicit column here).
        exclude_flag: a boolean column; rows where it is true are skipped (counted in `n_excluded`).

    Raises:
        ValueError: the column is missing from a file (the message names the file and lists its columns).
    """
    kind, files, column = resolve_column(path, column, fallback_columns=fallback_columns)
    texts: list[str] = []
    n_null = n_excluded = 0
    for f in files:
        table = _read_table(f)
        values = table.column(column).to_pylist()
        flags = (
            table.column(exclude_flag).to_pylist()
            if exclude_flag and exclude_flag in table.column_names
            else [False] * len(values)
        )
        for value, flag in zip(values, flags, strict=True):
            if value is None:
                n_null += 1
            elif is_true(flag):
                n_excluded += 1
            else:
                texts.append(value if isinstance(value, str) else str(value))
    return TextSource(
        texts=texts,
        column=column,
        kind=kind,
        files=[str(f) for f in files],
        n_null=n_null,
        n_excluded=n_excluded,
    )
