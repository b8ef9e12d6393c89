"""`render_coverage_map`: embeddings in, `images/coverage_map.png` and `coverage_map.html` out."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from hf_synth.quality.map.layers import build_layers, check_regions
from hf_synth.quality.map.map_html import write_html
from hf_synth.quality.map.map_png import write_png
from hf_synth.quality.map.projection import Projection, project_2d

__all__ = ["HTML_NAME", "PNG_NAME", "render_coverage_map"]

PNG_NAME = "images/coverage_map.png"
HTML_NAME = "images/coverage_map.html"  # under images/: a Hub release uploads (and prunes) it
TITLE = "Coverage map: where the synthetic rows sit on the reference"


def _check_inputs(
    reference_emb: np.ndarray,
    synthetic_emb: np.ndarray,
    reference_texts: Sequence[str],
    synthetic_texts: Sequence[str],
    synthetic_labels: Mapping[str, Sequence[str]] | None,
    colour_by: str | None,
    regions: Sequence[dict],
) -> None:
    check_regions(regions, len(reference_emb))
    if len(reference_texts) != len(reference_emb):
        raise ValueError(
            f"reference_texts has {len(reference_texts)} texts for {len(reference_emb)} reference embeddings"
        )
    if len(synthetic_texts) != len(synthetic_emb):
        raise ValueError(
            f"synthetic_texts has {len(synthetic_texts)} texts for {len(synthetic_emb)} synthetic embeddings"
        )
    for name, values in (synthetic_labels or {}).items():
        if len(values) != len(synthetic_emb):
            raise ValueError(
                f"synthetic_labels[{name!r}] has {len(values)} values for {len(synthetic_emb)} synthetic rows"
            )
    if colour_by is not None and colour_by not in (synthetic_labels or {}):
        known = ", ".join(sorted(synthetic_labels or {})) or "none"
        raise ValueError(f"colour_by={colour_by!r} is not a synthetic label column (columns: {known})")


def _check_projection(projection: Projection, n: int, m: int) -> None:
    if projection.reference.shape != (n, 2) or projection.synthetic.shape != (m, 2):
        raise ValueError(
            f"projection holds {len(projection.reference)} reference and {len(projection.synthetic)} "
            f"synthetic positions for {n} and {m} rows: pass the projection of these same rows"
        )


def render_coverage_map(
    reference_emb: np.ndarray,
    synthetic_emb: np.ndarray,
    *,
    reference_texts: Sequence[str],
    synthetic_texts: Sequence[str],
    synthetic_labels: Mapping[str, Sequence[str]] | None = None,
    colour_by: str | None = None,
    regions: Sequence[dict] = (),
    out_dir: Path,
    png_name: str = PNG_NAME,
    html_name: str = HTML_NAME,
    seed: int = 0,
    fit_rows: int = 10_000,
    hover_reference: int = 2_000,
    hover_synthetic: int = 6_000,
    projection: Projection | None = None,
    progress: bool = True,
) -> dict:
    """Project both sides to 2-D and write the static and the interactive coverage map into `out_dir`.

    Args:
        reference_emb (N, d), synthetic_emb (M, d): float32 embeddings (same model; memmaps fine).
        reference_texts (N), synthetic_texts (M): the texts shown on hover (any script).
        synthetic_labels: {dimension: M values}; every dimension is shown on hover.
        colour_by: the dimension that colours the synthetic points (None: one colour). The 8 most frequent
            values get their own colour, the rest share "other (k values)".
        regions: reference regions, each {"members": reference row indices, "label": short medoid text,
            "missing": bool, "share": float (reference mass, 0-1), optional "examples": [str]}; missing
            ones are outlined and labelled (largest 40 by share) and put in the layout's fit set.
        out_dir: folder; writes `png_name` (default `images/coverage_map.png`) and `html_name` (default
            `images/coverage_map.html`), both relative to it.
        seed: same inputs and seed → byte-identical files.
        fit_rows: rows laid out by t-SNE (plus anchors); the rest are placed by nearest neighbours
            (`project_2d`).
        hover_reference, hover_synthetic: caps on the hoverable points in the HTML (seeded samples).
        projection: positions from an earlier call's result["projection"] (same rows, same order): re-render,
            e.g. coloured by another dimension, without projecting again.
    Returns: {"png": path, "html": path, "projection": `Projection` (reusable), "method": how positions
        were made, "fit_rows": int, "regions_outlined": int, "regions_labelled": int (labels that found
        room), "hover_points": {"reference": int, "synthetic": int}, "seconds": {"pca", "layout",
        "place", "png", "html", "total"} (projection stages 0 when a projection was passed),
        "html_bytes": int}.
    """
    t_start = time.perf_counter()
    _check_inputs(
        reference_emb, synthetic_emb, reference_texts, synthetic_texts, synthetic_labels, colour_by, regions
    )
    if projection is None:
        anchors = [r.get("members", ()) for r in regions if r.get("missing")]
        proj = project_2d(
            reference_emb, synthetic_emb, seed=seed, fit_rows=fit_rows, anchors=anchors, progress=progress
        )
    else:
        _check_projection(projection, len(reference_emb), len(synthetic_emb))
        proj = projection
    layers = build_layers(
        proj.reference,
        proj.synthetic,
        synthetic_colour_values=(synthetic_labels or {}).get(colour_by) if colour_by else None,
        colour_by=colour_by,
        regions=regions,
        seed=seed,
        hover_reference=hover_reference,
        hover_synthetic=hover_synthetic,
    )
    n, m = len(reference_emb), len(synthetic_emb)
    n_missing = sum(1 for r in regions if r.get("missing"))
    outlined = len(layers.regions)
    region_note = (
        f"{outlined} of {n_missing} uncovered regions outlined (largest first)."
        if n_missing > outlined
        else f"{outlined} uncovered region{'s' if outlined != 1 else ''} outlined."
    )
    labelled = sum(1 for r in layers.regions if not np.isnan(r.label_xy).any())
    if labelled < outlined:
        region_note += f" {labelled} labelled with their medoid text (no room for the others' labels)."
    elif outlined:
        region_note += " Labels: each region's medoid text."
    how = f"Positions: {proj.method}. Only neighbourhoods are meaningful, not axes or long distances."
    seconds = dict(proj.seconds) if projection is None else {"pca": 0.0, "layout": 0.0, "place": 0.0}
    t0 = time.perf_counter()
    png = write_png(
        layers,
        out_dir / png_name,
        title=TITLE,
        footnote=f"Grey: density of all {n:,} reference rows. Dots: all {m:,} synthetic rows. "
        f"{region_note}\n{how}",
        seed=seed,
    )
    seconds["png"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    h_ref, h_syn = len(layers.reference_hover), len(layers.synthetic_hover)
    notes = [
        f"Grey: density of all {n:,} reference rows. Points you can hover: a seeded sample of {h_ref:,} "
        f"reference rows and {h_syn:,} of {m:,} synthetic rows (every colour value keeps at least 20 rows "
        "when it has them); the static PNG draws every synthetic row. Click a legend entry to hide or show "
        f"a series. {region_note}",
        how,
    ]
    html_path = write_html(
        layers,
        out_dir / html_name,
        title=TITLE,
        notes=notes,
        reference_texts=reference_texts,
        synthetic_texts=synthetic_texts,
        synthetic_labels=synthetic_labels,
    )
    seconds["html"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - t_start
    return {
        "png": png,
        "html": html_path,
        "projection": proj,
        "method": proj.method,
        "fit_rows": proj.fit_rows,
        "hover_points": {"reference": h_ref, "synthetic": h_syn},
        "regions_outlined": outlined,
        "regions_labelled": labelled,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "html_bytes": html_path.stat().st_size,
    }
