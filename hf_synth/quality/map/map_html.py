"""The interactive coverage map (`coverage_map.html`): one self-contained page drawn by plotly.js.

The page needs no network: plotly.js (from the installed `plotly` package) is inlined. A browser cannot
stay responsive with 200,000 hoverable SVG markers, so the page draws the reference density as one image-
like heatmap over all reference rows, plus capped, seeded samples of hoverable points (stratified by colour
value on the synthetic side), and says so on the page. Hover shows a row's text and its labels; each
legend entry (reference sample, one per colour value, uncovered regions) toggles its series.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from hf_synth.quality.map.layers import MapLayers, density_shade, hover_text, short_label

__all__ = ["DIV_ID", "write_html"]

DIV_ID = "coverage-map"  # fixed, so the page is byte-for-byte reproducible (plotly defaults to a uuid)
_FONT = 'system-ui, "Segoe UI", Roboto, "Noto Sans", "Noto Sans CJK SC", "DejaVu Sans", sans-serif'
_REGION = "#C0392B"

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: {font}; margin: 16px 24px; color: #222; }}
h1 {{ font-size: 20px; margin: 0 0 4px 0; }}
p.note {{ font-size: 13px; color: #555; margin: 2px 0; max-width: 1100px; }}
</style>
</head>
<body>
<h1>{title}</h1>
{notes}
{plot}
</body>
</html>
"""


def _f4(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def _density_trace(layers: MapLayers) -> dict:
    x0, x1, y0, y1 = layers.bounds
    bins = layers.density.shape[0]
    # The PNG's grey levels; empty cells are transparent (NaN → null).
    z = np.where(layers.density > 0, np.round(density_shade(layers.density), 3), np.nan)
    step_x, step_y = (x1 - x0) / bins, (y1 - y0) / bins
    return {
        "type": "heatmap",
        "name": f"reference density ({layers.n_reference:,} rows)",
        "z": _f4(z),
        "x0": x0 + step_x / 2,
        "dx": step_x,
        "y0": y0 + step_y / 2,
        "dy": step_y,
        "zmin": 0.0,
        "zmax": 1.0,
        "zsmooth": "best",
        "colorscale": [
            [0.0, "#ffffff"],
            [0.25, "#d9d9d9"],
            [0.5, "#a6a6a6"],
            [0.75, "#6e6e6e"],
            [1.0, "#4a4a4a"],
        ],
        "showscale": False,
        "hoverinfo": "skip",
        "showlegend": True,
    }


def _points_trace(
    name: str,
    xy: np.ndarray,
    texts: list[str],
    colour: str,
    size: float,
    opacity: float,
    side: str,
    rim: float = 0.0,
) -> dict:
    return {
        "type": "scatter",
        "mode": "markers",
        "name": name,
        "x": _f4(xy[:, 0]),
        "y": _f4(xy[:, 1]),
        "text": texts,
        "hovertemplate": f"%{{text}}<extra>{html.escape(side)}</extra>",
        "marker": {
            "color": colour,
            "size": size,
            "opacity": opacity,
            "line": {"width": rim, "color": "white"},
        },
    }


def _region_traces(layers: MapLayers) -> tuple[list[dict], list[dict]]:
    """(traces, annotations): all outlines in one toggleable trace, one hoverable marker per region."""
    if not layers.regions:
        return [], []
    xs: list[float | None] = []
    ys: list[float | None] = []
    for region in layers.regions:
        for line in region.outlines:
            xs += [round(float(v), 4) for v in line[:, 0]] + [None]
            ys += [round(float(v), 4) for v in line[:, 1]] + [None]
    hover = []
    for region in layers.regions:
        lines = [
            f"<b>uncovered</b>: {html.escape(region.label)}",
            f"{region.share:.2%} of the reference ({region.n_members:,} rows)",
        ]
        lines += [f"· {html.escape(e)}" for e in region.examples]
        hover.append("<br>".join(lines))
    outline = {
        "type": "scatter",
        "mode": "lines",
        "name": f"uncovered regions ({len(layers.regions)})",
        "legendgroup": "uncovered",
        "x": xs,
        "y": ys,
        "line": {"color": _REGION, "width": 1.6},
        "fill": "toself",
        "fillcolor": "rgba(192,57,43,0.10)",
        "hoverinfo": "skip",
    }
    anchors = np.array([r.anchor for r in layers.regions], dtype=np.float32)
    markers = {
        "type": "scatter",
        "mode": "markers",
        "name": "uncovered region labels",
        "legendgroup": "uncovered",
        "showlegend": False,
        "x": _f4(anchors[:, 0]),
        "y": _f4(anchors[:, 1]),
        "text": hover,
        "hovertemplate": "%{text}<extra></extra>",
        "marker": {"color": _REGION, "size": 7, "symbol": "diamond"},
    }
    annotations = [
        {
            "x": float(r.anchor[0]),
            "y": float(r.anchor[1]),
            "ax": float(r.label_xy[0]),
            "ay": float(r.label_xy[1]),
            "axref": "x",
            "ayref": "y",
            "xref": "x",
            "yref": "y",
            "text": html.escape(r.label),
            "showarrow": True,
            "arrowhead": 0,
            "arrowcolor": _REGION,
            "arrowwidth": 1,
            "font": {"size": 11, "color": "#7b1d12"},
            "bgcolor": "rgba(255,255,255,0.9)",
            "bordercolor": _REGION,
            "borderwidth": 1,
            "borderpad": 2,
        }
        for r in layers.regions
        if not np.isnan(r.label_xy).any()  # no free spot for the label: the diamond's hover names it
    ]
    return [outline, markers], annotations


def write_html(
    layers: MapLayers,
    path: Path,
    *,
    title: str,
    notes: Sequence[str],
    reference_texts: Sequence[str],
    synthetic_texts: Sequence[str],
    synthetic_labels: Mapping[str, Sequence[str]] | None,
) -> Path:
    """Write the interactive page for `layers` to `path` and return the path.

    Hover texts are built here only for the sampled rows (`layers.reference_hover`,
    `layers.synthetic_hover`), so the page size is bounded by the caps, not by the data.
    """
    import plotly.graph_objects as go

    traces: list[dict] = [_density_trace(layers)]
    ref_idx = layers.reference_hover
    if len(ref_idx):
        traces.append(
            _points_trace(
                f"reference rows (sample of {len(ref_idx):,})",
                # Reference positions are not kept in the layers (only the density), so the caller's
                # sample positions travel in `reference_hover_xy`.
                layers.reference_hover_xy,
                [hover_text(reference_texts[i], {}) for i in ref_idx],
                "#555555",
                4.0,
                0.45,
                "reference",
            )
        )
    labels = dict(synthetic_labels or {})
    syn_idx = layers.synthetic_hover
    codes = layers.synthetic_code[syn_idx]
    counts = np.bincount(layers.synthetic_code, minlength=len(layers.categories))
    few = len(syn_idx) <= 100  # a few dots drawn bigger, with a white rim (more would hide each other)
    for code, (name, colour) in enumerate(zip(layers.categories, layers.colours, strict=True)):
        rows = syn_idx[codes == code]
        texts = [hover_text(synthetic_texts[i], {k: str(v[i]) for k, v in labels.items()}) for i in rows]
        shown = f"{len(rows):,} of {int(counts[code]):,}"
        traces.append(
            _points_trace(
                f"{short_label(name, 32)} ({shown})",
                layers.synthetic_xy[rows],
                texts,
                colour,
                9.0 if few else 6.0,
                0.85,
                "synthetic",
                rim=0.8 if few else 0.0,
            )
        )
    region_traces, annotations = _region_traces(layers)
    traces += region_traces
    x0, x1, y0, y1 = layers.bounds
    legend_title = f"synthetic by {layers.colour_by}" if layers.colour_by else "series"
    fig = go.Figure(
        data=traces,
        layout={
            "template": "simple_white",
            "font": {"family": _FONT},
            "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
            "xaxis": {"range": [x0, x1], "visible": False},
            "yaxis": {"range": [y0, y1], "visible": False, "scaleanchor": "x", "scaleratio": 1},
            "hovermode": "closest",
            "hoverlabel": {"align": "left", "font": {"family": _FONT}},
            "legend": {
                "title": {"text": html.escape(legend_title)},
                "itemsizing": "constant",
                "x": 1.01,
                "y": 0.95,
                "xanchor": "left",
            },
            "annotations": annotations,
            "plot_bgcolor": "white",
        },
    )
    plot = fig.to_html(
        include_plotlyjs=True,
        full_html=False,
        div_id=DIV_ID,
        default_height="820px",
        default_width="100%",
        config={"displaylogo": False, "responsive": True, "scrollZoom": True},
    )
    page = _PAGE.format(
        title=html.escape(title),
        font=_FONT,
        notes="\n".join(f'<p class="note">{html.escape(n)}</p>' for n in notes),
        plot=plot,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
