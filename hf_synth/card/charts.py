"""Bar charts (target vs realised) for the dataset card, one PNG per dimension.

Charts are drawn on a bare ``matplotlib.figure.Figure`` with the Agg canvas instead of pyplot, so rendering a
card never switches the global matplotlib backend of the caller's process and works without a display. Fonts
(DejaVu Sans, then Noto Sans CJK) are set for the drawing only (``rc_context``); labels are drawn verbatim
(``parse_math=False``: a value such as ``$5 or $10`` is not mathtext).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hf_synth.fonts import drawing_fonts

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_TICK = 18


# images/ names other writers own: a dimension called "coverage_map" must not overwrite the coverage map
# (`hf_synth.quality.map.PNG_NAME`).
RESERVED_STEMS = ("coverage_map",)


def safe_filename(name: str, taken: Iterable[str] = ()) -> str:
    """Return a file-system and URL safe stem for ``name`` that is not in ``taken``.

    Dimension names come from the recipe and may hold spaces, slashes, dots or unicode; the stem keeps
    only ``[A-Za-z0-9._-]`` (so the Markdown link needs no escaping), never starts with a dot (hidden file,
    ``..``) and gets a numeric suffix on collision (``a b`` and ``a/b`` both sanitise to ``a-b``).
    """
    stem = _UNSAFE.sub("-", name).strip("-.")[:60] or "dimension"
    taken_lower = {t.lower() for t in taken}
    candidate, n = stem, 2
    # Case-insensitive because the Hub and macOS/Windows checkouts may be case-insensitive.
    while candidate.lower() in taken_lower:
        candidate, n = f"{stem}-{n}", n + 1
    return candidate


def _short(label: str) -> str:
    return label if len(label) <= _MAX_TICK else label[: _MAX_TICK - 1] + "…"


def bar_chart(
    path: Path,
    title: str,
    labels: list[str],
    target: list[float],
    realised: list[float],
    judged: list[float] | None = None,
) -> Path:
    """Draw a grouped bar chart of ``target`` vs ``realised`` counts per label and save it as PNG at ``path``.

    ``judged`` (optional) adds a third bar per label: the rows a blind judge read as that label.

    The PNG is byte-for-byte reproducible for the same input (no timestamp or version metadata), so
    re-rendering a card does not create spurious diffs in the published repository.
    """
    with (
        warnings.catch_warnings(record=True) as caught,
        drawing_fonts(),
    ):
        warnings.simplefilter("always")
        _draw(path, title, labels, target, realised, judged)
    for w in caught:
        # A glyph no chart font has is drawn as a box; the card names such characters below the chart.
        log.debug("chart %s: %s", path.name, w.message)
    return path


def _draw(
    path: Path,
    title: str,
    labels: list[str],
    target: list[float],
    realised: list[float],
    judged: list[float] | None,
) -> None:
    width_in = min(14.0, max(5.0, 0.6 * len(labels) + 2.0))
    fig = Figure(figsize=(width_in, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    xs = list(range(len(labels)))
    series = [("target", target, "#9ca3af"), ("realised", realised, "#2563eb")]
    if judged is not None:
        series.append(("read so by the judge", judged, "#f59e0b"))
    w = 0.8 / len(series)
    for k, (name, values, color) in enumerate(series):
        offset = (k - (len(series) - 1) / 2) * w
        ax.bar([x + offset for x in xs], values, width=w, label=name, color=color)
    ax.set_xticks(xs)
    rotate = len(labels) > 6 or any(len(label) > 10 for label in labels)
    ax.set_xticklabels(
        [_short(label) for label in labels],
        rotation=30 if rotate else 0,
        ha="right" if rotate else "center",
        parse_math=False,
    )
    ax.set_ylabel("rows")
    ax.set_title(_short(title) if len(title) > 60 else title, parse_math=False)
    # Headroom above the tallest bar so the legend never covers a bar.
    top = max([*target, *realised, *(judged or []), 1.0])
    ax.set_ylim(0, top * 1.25)
    ax.legend(frameon=False, loc="upper center", ncol=len(series))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Software": None})


def dimension_charts(
    folder: Path,
    targets: Mapping[str, Mapping[str, float]],
    realised: Mapping[str, Mapping[str, float]],
    order: Mapping[str, list[str]] | None = None,
    judged: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, str]:
    """Write ``folder/images/<dimension>.png`` for every dimension in ``targets``.

    ``targets``/``realised`` are the report's ``marginals`` ({dimension: {value: count}}); ``order`` gives the
    recipe order of each dimension's values (default: target order, then any extra realised values);
    ``judged`` ({dimension: {value: count}}, "unclear" included) adds a third series for the dimensions a
    blind judge read. Returns {dimension: path relative to ``folder`` with forward slashes}.
    """
    out: dict[str, str] = {}
    taken: list[str] = list(RESERVED_STEMS)
    for dim, tvals in targets.items():
        rvals = realised.get(dim, {})
        jvals = (judged or {}).get(dim)
        labels = list((order or {}).get(dim) or tvals.keys())
        labels += [v for v in rvals if v not in labels]
        labels += [v for v, n in (jvals or {}).items() if v not in labels and n]
        stem = safe_filename(dim, taken)
        taken.append(stem)
        rel = f"images/{stem}.png"
        bar_chart(
            folder / rel,
            f"{dim}: target vs realised" + (" vs judged" if jvals is not None else ""),
            labels,
            [float(tvals.get(v, 0)) for v in labels],
            [float(rvals.get(v, 0)) for v in labels],
            None if jvals is None else [float(jvals.get(v, 0)) for v in labels],
        )
        out[dim] = rel
    return out
