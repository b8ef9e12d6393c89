"""What a coverage map draws, computed once and shared by the PNG and the HTML renderers.

Input: 2-D positions of the reference (N, 2) and synthetic (M, 2) rows from `projection.project_2d`.
Output: a `MapLayers` of plain arrays and strings:
- the reference density on a regular grid (the grey layer; every reference row counts, none is dropped);
- every synthetic row with its colour category (the PNG draws all of them);
- capped, seeded samples of rows with their hover texts (the HTML draws only these: a browser stays
  responsive with a few thousand SVG markers, not with 200,000);
- the outline, anchor and short label of every uncovered region, with label positions chosen so that
  labels do not overlap one another.
Pure functions over numpy arrays: no I/O, no plotting library.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter

__all__ = [
    "MapLayers",
    "Region",
    "build_layers",
    "category_codes",
    "check_regions",
    "density_grid",
    "density_shade",
    "map_bounds",
    "region_outline",
    "seeded_sample",
    "short_label",
]

# Categorical colours (matplotlib's tab10 without its red, which marks uncovered regions, and its grey,
# which is the reference); the "other values" bucket gets a colour of its own.
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
SINGLE_COLOUR = "#1f77b4"
OTHER_COLOUR = "#393b79"
MAX_CATEGORIES = len(PALETTE)  # the rest of the values share one "other" colour


@dataclass(frozen=True)
class Region:
    """One uncovered region as drawn: outline polylines, label anchor and label position (2,)."""

    label: str
    share: float
    n_members: int
    outlines: list[np.ndarray]  # closed polylines (k, 2); a region split by the projection has several
    anchor: np.ndarray
    label_xy: np.ndarray  # NaN when no free spot was found: outline drawn, label not
    examples: tuple[str, ...] = ()


@dataclass
class MapLayers:
    """Everything a renderer needs; arrays are float32 map coordinates unless stated."""

    bounds: tuple[float, float, float, float]  # x0, x1, y0, y1
    density: np.ndarray  # (bins, bins) smoothed reference rows per cell, rows = y
    n_reference: int
    n_synthetic: int
    synthetic_xy: np.ndarray  # (M, 2) every synthetic row
    synthetic_code: np.ndarray  # (M,) int index into categories
    categories: list[str]  # legend names, "other …" last when present
    colours: list[str]
    colour_by: str | None
    reference_hover: np.ndarray  # (h,) reference row indices drawn as hoverable points
    reference_hover_xy: np.ndarray  # (h, 2) their positions (other reference rows live in `density` only)
    synthetic_hover: np.ndarray  # (g,) synthetic row indices drawn as hoverable points
    regions: list[Region] = field(default_factory=list)


def seeded_sample(n: int, cap: int, seed: int, codes: np.ndarray | None = None) -> np.ndarray:
    """Sorted indices of ≤ cap rows out of n, the same for the same seed.

    With `codes` (n,) the sample is stratified: every category keeps at least min(its size, 20) rows and
    the rest is proportional, so a rare value still has hoverable points in the HTML.
    """
    cap = max(0, int(cap))
    if n <= cap:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if codes is None:
        return np.sort(rng.choice(n, cap, replace=False))
    chosen: list[np.ndarray] = []
    values, counts = np.unique(codes, return_counts=True)
    floor = np.minimum(counts, 20)
    spare = max(0, cap - int(floor.sum()))
    extra = np.floor(spare * (counts - floor) / max(1, int((counts - floor).sum()))).astype(int)
    for value, take in zip(values, floor + extra, strict=True):
        members = np.flatnonzero(codes == value)
        chosen.append(rng.choice(members, min(len(members), int(take)), replace=False))
    return np.sort(np.concatenate(chosen))


def map_bounds(*xys: np.ndarray, margin: float = 0.06) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) holding the 0.1st-99.9th percentile of the points plus a margin.

    Percentiles, not min/max, so a handful of stray points cannot shrink the rest of the map to a dot;
    rows outside are clipped to the frame by the renderers (they still count in the density).
    """
    pts = np.concatenate([np.asarray(a, dtype=np.float64).reshape(-1, 2) for a in xys])
    if len(pts) == 0:
        return (-1.0, 1.0, -1.0, 1.0)
    lo = np.percentile(pts, 0.1, axis=0)
    hi = np.percentile(pts, 99.9, axis=0)
    span = np.maximum(hi - lo, 1e-6)
    # Square frame: both renderers draw with equal aspect, so distances read the same in x and y.
    side = float(span.max()) * (1 + 2 * margin)
    centre = (lo + hi) / 2
    return (
        float(centre[0] - side / 2),
        float(centre[0] + side / 2),
        float(centre[1] - side / 2),
        float(centre[1] + side / 2),
    )


def density_grid(
    xy: np.ndarray, bounds: tuple[float, float, float, float], bins: int = 200, smooth: float | None = None
) -> np.ndarray:
    """Reference rows per grid cell, (bins, bins) float32 with rows along y, Gaussian-smoothed by `smooth`
    cells (the total count is preserved, rows outside the bounds excluded).

    Default smoothing widens as rows get fewer (1 cell at ≥ 5,000 rows, ~2.2 at 1,000), so a small
    reference reads as soft areas rather than isolated pixels."""
    if smooth is None:
        smooth = float(np.clip(np.sqrt(5_000 / max(len(xy), 1)), 1.0, 4.0))
    x0, x1, y0, y1 = bounds
    h, _, _ = np.histogram2d(
        xy[:, 1], xy[:, 0], bins=bins, range=[[y0, y1], [x0, x1]]
    )  # y first: image rows are y
    if smooth > 0:
        h = gaussian_filter(h, smooth, mode="constant")
    return h.astype(np.float32)


def density_shade(density: np.ndarray, gamma: float = 0.45) -> np.ndarray:
    """Grey level in [0, 1] per cell: density over its 99.5th percentile among non-empty cells, clipped,
    to the power `gamma`. The percentile (not the maximum) keeps one very dense cluster from washing out
    every other area; the power lifts sparse areas so a thin but real part of the reference stays visible."""
    filled = density[density > 0]
    if filled.size == 0:
        return np.zeros_like(density, dtype=np.float32)
    top = float(np.percentile(filled, 99.5)) or float(filled.max())
    return (np.clip(density / top, 0.0, 1.0) ** gamma).astype(np.float32)


def category_codes(values: Sequence[str] | None, n: int) -> tuple[np.ndarray, list[str]]:
    """(codes (n,) int, names) for a label column: the most frequent MAX_CATEGORIES values keep their own
    code (ties broken by value, so the order is stable), the rest share "other (k values)"."""
    if values is None:
        return np.zeros(n, dtype=np.int64), ["synthetic"]
    if len(values) != n:
        raise ValueError(f"a label column has {len(values)} values for {n} synthetic rows")
    strings = np.asarray(["" if v is None else str(v) for v in values], dtype=object)
    uniq, inverse, counts = np.unique(strings, return_inverse=True, return_counts=True)
    order = sorted(range(len(uniq)), key=lambda i: (-counts[i], uniq[i]))
    keep = order[:MAX_CATEGORIES] if len(uniq) > MAX_CATEGORIES + 1 else order
    remap = np.full(len(uniq), len(keep), dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    names = [str(uniq[i]) or "(empty)" for i in keep]
    if len(keep) < len(uniq):
        names.append(f"other ({len(uniq) - len(keep)} values)")
    return remap[inverse], names


def short_label(text: str, max_chars: int = 42) -> str:
    """One line of at most max_chars characters (whitespace collapsed, ellipsis when cut)."""
    line = " ".join(str(text).split())
    return line if len(line) <= max_chars else line[: max_chars - 1].rstrip() + "…"


def hover_text(text: str, labels: dict[str, str], width: int = 72, max_chars: int = 360) -> str:
    """HTML-escaped hover text: the row text wrapped at `width`, then one `dimension: value` line each.

    Escaped because plotly renders a subset of HTML tags in hover labels: a row containing `<b>` must
    show the characters, not turn bold.
    """
    body = " ".join(str(text).split())
    if len(body) > max_chars:
        body = body[: max_chars - 1] + "…"
    lines = [html.escape(body[i : i + width]) for i in range(0, max(1, len(body)), width)]
    lines += [f"<i>{html.escape(k)}</i>: {html.escape(v)}" for k, v in labels.items()]
    return "<br>".join(lines)


def region_outline(
    xy: np.ndarray, bounds: tuple[float, float, float, float], bins: int = 200, sigma: float = 1.5
) -> tuple[list[np.ndarray], np.ndarray]:
    """(closed polylines, anchor (2,)) outlining where a region's members lie on the map.

    The outline is a contour of the members' own smoothed density (Gaussian of `sigma` grid cells) at half
    the peak a single isolated member makes, or a tenth of the region's own peak if higher, so it hugs the
    members wherever the projection put them: a region split in two gets two shapes, not one hull spanning
    the covered space between them. Pieces holding fewer than max(2, 10%) of the members (strays) are
    dropped unless nothing else is left. The
    anchor (where the label points) is the members' densest cell.
    """
    from contourpy import contour_generator
    from matplotlib.path import Path as MplPath

    xy = np.asarray(xy, dtype=np.float64)
    x0, x1, y0, y1 = bounds
    grid = density_grid(xy, bounds, bins=bins, smooth=sigma).astype(np.float64)
    xs = np.linspace(x0, x1, bins + 1)
    ys = np.linspace(y0, y1, bins + 1)
    xc, yc = (xs[:-1] + xs[1:]) / 2, (ys[:-1] + ys[1:]) / 2
    iy, ix = np.unravel_index(int(np.argmax(grid)), grid.shape)
    anchor = np.array([xc[ix], yc[iy]], dtype=np.float32)
    # Half the peak of one isolated member, or a tenth of the region's own peak when members are stacked
    # (placed rows share positions): a fixed level would ring a stack of 1,000 members ~4 sigma out.
    level = max(0.5 / (2 * np.pi * sigma**2), 0.1 * float(grid.max()))
    # Pad by one empty cell so a shape touching the frame still closes.
    padded = np.pad(grid, 1)
    step_x, step_y = xs[1] - xs[0], ys[1] - ys[0]
    gx = np.r_[xc[0] - step_x, xc, xc[-1] + step_x]
    gy = np.r_[yc[0] - step_y, yc, yc[-1] + step_y]
    lines = [np.asarray(line) for line in contour_generator(gx, gy, padded).lines(level) if len(line) >= 3]
    if not lines:  # every member outside the frame or none at all: a small ring at the anchor
        angle = np.linspace(0, 2 * np.pi, 17)
        lines = [anchor + 2 * sigma * step_x * np.c_[np.cos(angle), np.sin(angle)]]
    inside = [int(MplPath(line).contains_points(xy).sum()) for line in lines]
    floor = max(2, int(np.ceil(0.1 * len(xy))))
    kept = [line for line, k in zip(lines, inside, strict=True) if k >= floor]
    kept = kept or [lines[int(np.argmax(inside))]]
    closed = [np.vstack([line, line[:1]]).astype(np.float32) for line in kept]
    return closed, anchor


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection area of two boxes (x0, x1, y0, y1)."""
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[2], b[2]))


def _extent(shapes: list[np.ndarray], anchor: np.ndarray) -> tuple[float, float, float, float]:
    """Box (x0, x1, y0, y1) of the outline piece around the anchor (the label goes next to the densest
    piece when the projection split a region), else of the first piece."""
    boxes = [
        (float(s[:, 0].min()), float(s[:, 0].max()), float(s[:, 1].min()), float(s[:, 1].max()))
        for s in shapes
    ]
    for box in boxes:
        if box[0] <= anchor[0] <= box[1] and box[2] <= anchor[1] <= box[3]:
            return box
    return boxes[0]


def _place_labels(
    extents: list[tuple[float, float, float, float]],
    texts: list[str],
    bounds: tuple[float, float, float, float],
    font_frac: float,
    avoid: np.ndarray | None = None,
) -> np.ndarray:
    """Label centres (k, 2) just outside each region's extent (x0, x1, y0, y1), greedy in the given order.

    Tries above, below, right and left of the region, then farther out, and keeps the first spot that
    overlaps no placed label, no region outline box and stays in the frame (else the least bad one). A
    label whose best spot still overlaps a placed label or leaves the frame is not drawn (NaN centre): its
    region keeps its outline, and the HTML page names it on hover. `avoid` (k, 2): points a label should
    not hide (the synthetic dots when they are few), each one inside a spot costing like a small overlap. Box
    size is estimated from the character count (0.6 em per character, em = font_frac of the frame side),
    which holds for both renderers because both draw a square frame of similar size.
    """
    x0, x1, y0, y1 = bounds
    em = font_frac * (x1 - x0)
    placed: list[tuple[float, float, float, float]] = []
    out = np.empty((len(extents), 2), dtype=np.float32)
    for i, ((ex0, ex1, ey0, ey1), text) in enumerate(zip(extents, texts, strict=True)):
        w, h = 0.6 * em * len(text) + em, 1.6 * em
        mx, my = (ex0 + ex1) / 2, (ey0 + ey1) / 2
        best, best_cost, best_clash = (mx, ey1 + h), np.inf, np.inf
        for gap in (0.6 * em, 2.5 * em, 5.0 * em, 8.0 * em):
            spots = [
                (mx, ey1 + gap + h / 2),
                (mx, ey0 - gap - h / 2),
                (ex1 + gap + w / 2, my),
                (ex0 - gap - w / 2, my),
            ]
            for cx, cy in spots:
                box = (cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2)
                outside = max(0.0, x0 - box[0]) + max(0.0, box[1] - x1) + max(0.0, y0 - box[2])
                outside += max(0.0, box[3] - y1)
                clash = sum(_overlap(box, b) for b in placed) + outside * w * 10
                cost = clash + 0.3 * sum(_overlap(box, e) for e in extents)
                if avoid is not None and len(avoid):
                    inside = (avoid[:, 0] >= box[0]) & (avoid[:, 0] <= box[1])
                    inside &= (avoid[:, 1] >= box[2]) & (avoid[:, 1] <= box[3])
                    cost += 2.0 * em * em * float(inside.sum())
                if cost < best_cost:
                    best, best_cost, best_clash = (cx, cy), cost, clash
                if cost == 0:
                    break
            if best_cost == 0:
                break
        if best_clash > 0:
            out[i] = np.nan
            continue
        out[i] = best
        placed.append((best[0] - w / 2, best[0] + w / 2, best[1] - h / 2, best[1] + h / 2))
    return out


def check_regions(regions: Sequence[dict], n_reference: int) -> None:
    """Raise ValueError naming the first region whose members are not reference row indices."""
    for i, region in enumerate(regions):
        if not isinstance(region, dict):
            raise ValueError(f"regions[{i}] must be a dict with 'members', 'label', 'missing', 'share'")
        members = np.asarray(region.get("members", []))
        if members.size and (
            not np.issubdtype(members.dtype, np.integer) or members.min() < 0 or members.max() >= n_reference
        ):
            raise ValueError(
                f"region {region.get('label')!r} (regions[{i}]) has a member that is not a reference row "
                f"index in 0..{n_reference - 1}"
            )


def build_layers(
    reference_xy: np.ndarray,
    synthetic_xy: np.ndarray,
    *,
    synthetic_colour_values: Sequence[str] | None,
    colour_by: str | None,
    regions: Sequence[dict],
    seed: int,
    hover_reference: int = 2_000,
    hover_synthetic: int = 6_000,
    max_regions: int = 40,
    label_font_frac: float = 0.016,
    bins: int = 200,
) -> MapLayers:
    """Assemble `MapLayers` from the projected positions.

    Args:
        reference_xy (N, 2), synthetic_xy (M, 2): projected rows.
        synthetic_colour_values: M values of the colour dimension, or None for one colour.
        regions: dicts {"members": reference row indices, "label": str, "missing": bool, "share": float,
            optional "examples": list of str}; only missing regions are drawn, largest share first, at
            most `max_regions`.
        hover_reference, hover_synthetic: caps on the hoverable points of each side (seeded samples;
            the synthetic one stratified by colour value).
    """
    n, m = len(reference_xy), len(synthetic_xy)
    check_regions(regions, n)
    bounds = map_bounds(reference_xy, synthetic_xy)
    codes, names = category_codes(synthetic_colour_values, m)
    if synthetic_colour_values is None:
        colours = [SINGLE_COLOUR]
    else:
        colours = PALETTE[: min(len(names), MAX_CATEGORIES)]
        if len(names) > MAX_CATEGORIES:
            colours.append(OTHER_COLOUR)
    drawn: list[Region] = []
    missing = [r for r in regions if r.get("missing")]
    missing.sort(key=lambda r: (-float(r.get("share", 0.0)), str(r.get("label", ""))))
    kept = []
    for r in missing[:max_regions]:
        members = np.asarray(r.get("members", []), dtype=np.int64)
        if members.size == 0:
            continue
        kept.append((r, members))
    anchors = np.empty((len(kept), 2), dtype=np.float32)
    outlines = []
    for i, (_, members) in enumerate(kept):
        shapes, anchors[i] = region_outline(reference_xy[members], bounds, bins=bins)
        outlines.append(shapes)
    texts = [short_label(str(r.get("label", ""))) for r, _ in kept]
    extents = [_extent(shapes, anchor) for shapes, anchor in zip(outlines, anchors, strict=True)]
    # A few synthetic dots are what a reader looks for: labels keep off them (thousands cover everything).
    avoid = np.asarray(synthetic_xy, dtype=np.float32) if m <= 2_000 else None
    label_xy = _place_labels(extents, texts, bounds, label_font_frac, avoid) if kept else anchors
    for i, (r, members) in enumerate(kept):
        drawn.append(
            Region(
                label=texts[i],
                share=float(r.get("share", 0.0)),
                n_members=int(members.size),
                outlines=outlines[i],
                anchor=anchors[i],
                label_xy=label_xy[i],
                examples=tuple(short_label(str(t), 120) for t in list(r.get("examples") or [])[:3]),
            )
        )
    reference_hover = seeded_sample(n, hover_reference, seed)
    return MapLayers(
        bounds=bounds,
        density=density_grid(reference_xy, bounds, bins=bins),
        n_reference=n,
        n_synthetic=m,
        synthetic_xy=np.asarray(synthetic_xy, dtype=np.float32),
        synthetic_code=codes,
        categories=names,
        colours=colours,
        colour_by=colour_by,
        reference_hover=reference_hover,
        reference_hover_xy=np.asarray(reference_xy, dtype=np.float32)[reference_hover],
        synthetic_hover=seeded_sample(m, hover_synthetic, seed + 1, codes),
        regions=drawn,
    )
