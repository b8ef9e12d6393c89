"""The folder's data files as the card sees them: configs and their parquet files, exact row counts/sizes, and
per-split counts of a column."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hf_synth.card.report_keys import as_list

CONFIG_ORDER = ("default", "clean", "edge_cases")


def _rel(folder: Path, p: str) -> str:
    path = Path(p)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(folder.resolve())
        except ValueError:
            return p
    return path.as_posix()


def data_configs(report: Mapping[str, Any], folder: Path) -> dict[str, dict[str, list[str]]]:
    """``report["files"]`` as {config: {split: [paths]}} in config order, paths relative to ``folder``.

    Configs and splits without files are dropped.
    """
    files = report.get("files") or {}
    names = [c for c in CONFIG_ORDER if c in files] + [c for c in files if c not in CONFIG_ORDER]
    out: dict[str, dict[str, list[str]]] = {}
    for name in names:
        splits = {s: [_rel(folder, p) for p in as_list(paths)] for s, paths in (files[name] or {}).items()}
        splits = {s: paths for s, paths in splits.items() if paths}
        if splits:
            out[name] = splits
    return out


def parquet_stats(folder: Path, paths: list[str]) -> tuple[int, int] | None:
    """(rows, bytes) over ``paths`` from parquet footers; None when a file is missing or unreadable."""
    import pyarrow.parquet as pq

    rows = size = 0
    for p in paths:
        f = folder / p
        try:
            rows += pq.ParquetFile(f).metadata.num_rows
            size += f.stat().st_size
        except Exception:  # any unreadable or missing file means "unknown", never a crash
            return None
    return rows, size


def column_counts(folder: Path, paths: list[str], column: str) -> Counter[Any] | None:
    """How often each value of ``column`` occurs over the parquet files ``paths`` (only that column is
    read); None when a file is missing, unreadable or lacks the column. ClassLabels count their int codes."""
    import pyarrow.parquet as pq

    counts: Counter[Any] = Counter()
    for p in paths:
        try:
            values = pq.read_table(folder / p, columns=[column]).column(column).to_pylist()
        except Exception:  # missing file or column: "unknown", never a crash
            return None
        counts.update(values)
    return counts


def edge_counts_by_split(
    folder: Path, configs: Mapping[str, Mapping[str, list[str]]], kind_names: list[str]
) -> dict[str, dict[str, int]] | None:
    """Realised edge-case rows per kind and split, {kind: {split: rows}}, counted in the data files.

    Reads the ``edge_case`` column (codes into ``kind_names``, 0 = ordinary row) of the files of the
    ``edge_cases`` config, or of ``default`` when there is none; None when a file cannot be read.
    """
    files = configs.get("edge_cases") or configs.get("default") or {}
    out: dict[str, dict[str, int]] = {}
    for split, paths in files.items():
        counts = column_counts(folder, list(paths), "edge_case")
        if counts is None:
            return None
        for code, n in counts.items():
            if code:  # 0 = an ordinary row
                name = kind_names[code] if isinstance(code, int) and code < len(kind_names) else str(code)
                out.setdefault(name, {})[split] = out.get(name, {}).get(split, 0) + n
    return out
