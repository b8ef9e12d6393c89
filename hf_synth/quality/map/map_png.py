"""The static coverage map (`images/coverage_map.png`) drawn with matplotlib's Agg canvas.

Reference density in grey (every reference row), every synthetic row as a dot coloured by the chosen
dimension, uncovered regions outlined in red and labelled with their short medoid text. Drawn on a bare
`Figure` (no pyplot), so the caller's matplotlib backend is untouched; byte-for-byte reproducible for the
same layers (no timestamp or version in the file).
"""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from hf_synth.fonts import drawing_fonts
from hf_synth.quality.map.layers import MapLayers, density_shade, short_label

__all__ = ["REGION_COLOUR", "write_png"]

REGION_COLOUR = "#C0392B"
# From the white background, so thin density fades out instead of ending in a hard edge.
_GREYS = LinearSegmentedColormap.from_list(
    "reference", ["#ffffff", "#d9d9d9", "#a6a6a6", "#6e6e6e", "#4a4a4a"]
)


def _dot_style(n: int) -> tuple[float, float]:
    """(marker area in pt², alpha) for n synthetic dots: big and opaque when few, small and translucent
    when many, so 100 rows stay visible and 100,000 rows do not paint the whole frame solid."""
    size = float(np.clip(120.0 / np.sqrt(max(n, 1) / 100.0), 4.0, 60.0))
    alpha = float(np.clip(1.2 - 0.2 * np.log10(max(n, 1)), 0.35, 0.9))
    return size, alpha


def write_png(layers: MapLayers, path: Path, *, title: str, footnote: str, seed: int) -> Path:
    """Draw `layers` into a PNG at `path` (1,200 × 1,000 px) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Fonts resolve when a text is created, so the fallback list must be active for the whole drawing.
    with drawing_fonts(), warnings.catch_warnings():
        # A script none of the installed fonts covers renders as boxes; that is cosmetic, not an error.
        warnings.filterwarnings("ignore", message=".*[Gg]lyph.*missing.*")
        fig = _draw(layers, title=title, footnote=footnote, seed=seed)
        fig.savefig(path, format="png", metadata={"Software": None})
    return path


def _draw(layers: MapLayers, *, title: str, footnote: str, seed: int) -> Figure:
    fig = Figure(figsize=(12, 10), dpi=100)
    FigureCanvasAgg(fig)
    fig.set_layout_engine(None)
    ax = fig.add_axes((0.02, 0.08, 0.70, 0.84))
    x0, x1, y0, y1 = layers.bounds
    ax.imshow(
        density_shade(layers.density),
        extent=(x0, x1, y0, y1),
        origin="lower",
        cmap=_GREYS,
        vmin=0.0,
        vmax=1.0,
        interpolation="bilinear",
        zorder=0,
    )
    m = len(layers.synthetic_xy)
    size, alpha = _dot_style(m)
    # A seeded shuffle so no colour is systematically painted over the others.
    order = np.random.default_rng(seed).permutation(m)
    colours = np.asarray(layers.colours, dtype=object)[layers.synthetic_code[order]]
    ax.scatter(
        layers.synthetic_xy[order, 0],
        layers.synthetic_xy[order, 1],
        s=size,
        c=list(colours),
        alpha=alpha,
        # A white rim keeps a few dots readable on dark reference density; thousands would turn it grey.
        linewidths=0.6 if m <= 2_000 else 0,
        edgecolors="white",
        rasterized=True,
        zorder=2,
    )
    for region in layers.regions:
        for line in region.outlines:
            ax.fill(*line.T, facecolor=REGION_COLOUR, alpha=0.10, edgecolor="none", zorder=3)
            ax.plot(line[:, 0], line[:, 1], color=REGION_COLOUR, lw=1.4, zorder=3)
        if np.isnan(region.label_xy).any():
            continue  # no free spot for its label (see layers._place_labels)
        ax.annotate(
            region.label,
            xy=region.anchor,
            xytext=region.label_xy,
            textcoords="data",
            ha="center",
            va="center",
            fontsize=9,
            color="#7b1d12",
            bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": REGION_COLOUR, "lw": 0.8, "alpha": 0.92},
            arrowprops={"arrowstyle": "-", "color": REGION_COLOUR, "lw": 0.7, "shrinkA": 0, "shrinkB": 0},
            zorder=4,
            annotation_clip=False,
        )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#cccccc")
    counts = np.bincount(layers.synthetic_code, minlength=len(layers.categories))
    handles = [
        Patch(facecolor="#8f8f8f", edgecolor="none", label=f"reference density ({layers.n_reference:,} rows)")
    ]
    handles += [
        Line2D(
            [], [], marker="o", ls="", color=c, markersize=7, label=f"{short_label(name, 28)} ({int(k):,})"
        )
        for name, c, k in zip(layers.categories, layers.colours, counts, strict=True)
    ]
    if layers.regions:
        handles.append(
            Patch(
                facecolor=(0.75, 0.22, 0.17, 0.10), edgecolor=REGION_COLOUR, lw=1.6, label="uncovered region"
            )
        )
    legend_title = (
        f"synthetic by {short_label(layers.colour_by, 24)}" if layers.colour_by else "synthetic rows"
    )
    fig.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(0.735, 0.92),
        frameon=False,
        title=legend_title,
        alignment="left",
        fontsize=10,
        title_fontsize=11,
    )
    fig.text(0.02, 0.955, title, fontsize=15, weight="bold", ha="left", va="center")
    wrapped = "\n".join(textwrap.fill(part, 165) for part in footnote.split("\n"))
    fig.text(0.02, 0.045, wrapped, fontsize=9, color="#555555", ha="left", va="center", linespacing=1.4)
    return fig
