"""The coverage map of a measured coverage: what `measure_coverage(..., coverage_map=MapRequest(...))` draws.

`MapRequest` says where the two files go and how to colour the synthetic points; `draw_for_coverage` takes
the finished coverage report (its `uncovered` regions), the embeddings and texts both sides were measured
on, and writes the PNG and the HTML page. The uncovered regions' reference rows are found again by the same
seeded k-means the report used (`regions.fit_reference_regions` with the report's seed and region count),
and each is checked against the report's own row count, so an outline never shows a region the report
does not list. `read_labels` reads label columns of a synthetic file or folder row-aligned with the texts
the coverage kept (nulls and edge-case rows dropped by the same rule as `textsource.load_texts`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hf_synth.quality.map.render import HTML_NAME, PNG_NAME, render_coverage_map

__all__ = [
    "MapRequest",
    "default_colour_column",
    "draw_for_coverage",
    "folder_map_request",
    "read_labels",
    "uncovered_regions",
]


@dataclass(frozen=True)
class MapRequest:
    """Where and how to draw the coverage map.

    out_dir: folder the two files go into (`png_name`, `html_name` are relative to it).
    colour_by: the synthetic label column that colours the points (None: one colour).
    labels: {column: one value per synthetic text, in the order measured}; shown on hover. None with a
        synthetic file/folder: `label_columns` are read from it (`read_labels`).
    label_columns: columns to read from the synthetic source when `labels` is None (colour_by included).
    """

    out_dir: Path
    colour_by: str | None = None
    labels: Mapping[str, Sequence[str]] | None = None
    label_columns: Sequence[str] = ()
    png_name: str = PNG_NAME
    html_name: str = HTML_NAME
    progress: bool = True


def folder_map_request(
    folder: Path,
    enabled: bool,
    labels: Mapping[str, Sequence[str]],
    *,
    progress: bool = True,
) -> MapRequest | None:
    """The map of a generated folder: `images/coverage_map.png` and `.html`, coloured by the first label
    column (the recipe's first dimension), every column shown on hover. None when `enabled` is False; the
    map files an earlier run left are then removed, so the folder holds no map its card does not show."""
    if not enabled:
        for name in (PNG_NAME, HTML_NAME):
            (Path(folder) / name).unlink(missing_ok=True)
        return None
    return MapRequest(
        out_dir=Path(folder), colour_by=next(iter(labels), None), labels=dict(labels), progress=progress
    )


def uncovered_regions(reference_emb: np.ndarray, coverage: Mapping[str, Any]) -> tuple[list[dict], list[str]]:
    """The report's uncovered regions with their reference rows, as `render_coverage_map` takes them.

    Args:
        reference_emb: (N, d) the reference embeddings the report was measured on, same row order.
        coverage: the coverage report dict (`CoverageResult.to_json()`): `uncovered` (entries with
            "cluster", "share", "n_reference", "examples"), `clusters["n_clusters"]` and `seed`.
    Returns: (regions [{"members", "label" (the medoid text), "missing": True, "share", "examples"}],
        notes: one line per listed region that could not be matched to its rows, so it is not outlined).
    """
    from hf_synth.quality.neighbours import nearest_centroid
    from hf_synth.quality.regions import fit_reference_regions

    listed = [u for u in coverage.get("uncovered") or [] if "cluster" in u]
    n_clusters = (coverage.get("clusters") or {}).get("n_clusters")
    if not listed or not n_clusters:
        return [], []
    centroids = fit_reference_regions(reference_emb, int(n_clusters), int(coverage.get("seed", 0)))
    labels, _ = nearest_centroid(np.asarray(reference_emb, dtype=np.float32), centroids)
    regions, notes = [], []
    for entry in listed:
        members = np.flatnonzero(labels == int(entry["cluster"]))
        expected = entry.get("n_reference")
        if expected is not None and len(members) != int(expected):
            notes.append(
                f"uncovered region {entry['cluster']} not outlined: {len(members)} reference rows found "
                f"again, the report counts {expected}"
            )
            continue
        examples = [str(x) for x in entry.get("examples") or []]
        regions.append(
            {
                "members": members,
                "label": examples[0] if examples else f"region {entry['cluster']}",
                "missing": True,
                "share": float(entry.get("share", len(members) / max(1, len(reference_emb)))),
                "examples": examples,
            }
        )
    return regions, notes


def draw_for_coverage(
    request: MapRequest,
    coverage: Mapping[str, Any],
    vectors: Mapping[str, np.ndarray],
    texts: Mapping[str, Sequence[str]],
    labels: Mapping[str, Sequence[str]] | None,
    seed: int,
) -> dict[str, Any]:
    """Write the map of one coverage measurement; returns the report's `map` block.

    Args:
        vectors, texts: {"synthetic": (M, d) / M texts, "reference": (N, d) / N texts}, the rows measured.
        labels: {column: M values} or None (one colour).
    Returns: {"png", "html" (paths relative to request.out_dir, posix), "colour_by", "method",
        "regions_outlined", "regions_labelled", "uncovered_regions", "points": {"reference", "synthetic"},
        "notes": [str]}.
        No timings: the block is part of report.json, which an unchanged re-run must not rewrite.
    Raises: ValueError when `colour_by` is not among `labels` or a label column has the wrong length.
    """
    regions, notes = uncovered_regions(vectors["reference"], coverage)
    colour_by = request.colour_by if labels and request.colour_by in labels else None
    if request.colour_by is not None and colour_by is None:
        raise ValueError(f"colour_by={request.colour_by!r} is not a synthetic label column")
    out_dir = Path(request.out_dir)
    result = render_coverage_map(
        vectors["reference"],
        vectors["synthetic"],
        reference_texts=texts["reference"],
        synthetic_texts=texts["synthetic"],
        synthetic_labels=labels,
        colour_by=colour_by,
        regions=regions,
        out_dir=out_dir,
        png_name=request.png_name,
        html_name=request.html_name,
        seed=seed,
        progress=request.progress,
    )
    return {
        "png": Path(request.png_name).as_posix(),
        "html": Path(request.html_name).as_posix(),
        "colour_by": colour_by,
        "method": result["method"],
        "regions_outlined": result["regions_outlined"],
        "regions_labelled": result["regions_labelled"],
        "uncovered_regions": len(coverage.get("uncovered") or []),
        "points": {"reference": len(texts["reference"]), "synthetic": len(texts["synthetic"])},
        "notes": notes,
    }


def _class_names(source: Path) -> dict[str, list[str]]:
    """{column: ClassLabel names} of a generated folder (report.json `features`), {} elsewhere."""
    try:
        report = json.loads((source / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out = {}
    for name, feature in (report.get("features") or {}).items():
        if isinstance(feature, dict) and feature.get("_type") == "ClassLabel" and feature.get("names"):
            out[name] = [str(x) for x in feature["names"]]
    return out


def default_colour_column(source: str | Path) -> str | None:
    """The first recipe dimension of a generated folder (report.json), else None."""
    path = Path(source)
    if not path.is_dir():
        return None
    try:
        report = json.loads((path / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    dims = (report.get("recipe") or {}).get("dimensions") or {}
    return next(iter(dims), None) if isinstance(dims, dict) else None


def read_labels(
    source: str | Path, text_column: str, columns: Sequence[str], exclude_flag: str | None
) -> dict[str, list[str]]:
    """Label columns of a synthetic source, one value per text `textsource.load_texts` keeps (rows with a
    null text or a true `exclude_flag` dropped). ClassLabel codes of a generated folder become their names;
    a null label becomes "(none)".

    Raises ValueError naming the file and its columns when a column is missing.
    """
    from hf_synth.quality.textsource import _read_table, detect, is_true

    _, files, _ = detect(source)
    names = _class_names(Path(source)) if Path(source).is_dir() else {}
    out: dict[str, list[str]] = {c: [] for c in columns}
    for f in files:
        table = _read_table(f)
        for c in columns:
            if c not in table.column_names:
                raise ValueError(f"{f}: no column {c!r}; columns are {table.column_names}")
        texts = table.column(text_column).to_pylist()
        flags = (
            table.column(exclude_flag).to_pylist()
            if exclude_flag and exclude_flag in table.column_names
            else [False] * len(texts)
        )
        keep = [t is not None and not is_true(g) for t, g in zip(texts, flags, strict=True)]
        for c in columns:
            values = table.column(c).to_pylist()
            classes = names.get(c)
            for v, k in zip(values, keep, strict=True):
                if not k:
                    continue
                if v is None:
                    out[c].append("(none)")
                elif classes is not None and isinstance(v, int) and 0 <= v < len(classes):
                    out[c].append(classes[v])
                else:
                    out[c].append(str(v))
    return out
