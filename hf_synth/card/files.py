"""The folder's data files as the card sees them: configs and their parquet files, exact row counts/sizes."""

from __future__ import annotations

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
