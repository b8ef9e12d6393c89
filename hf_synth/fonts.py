"""Fonts for every PNG hf-synth draws (card charts, coverage map): DejaVu Sans, then Noto Sans CJK.

Matplotlib's bundled DejaVu Sans has no CJK glyphs, so a dimension value such as ``東京`` would be drawn as
empty boxes. The Noto Sans CJK font ships as a PyPI package (``noto-cjk-sans-jp-regular``: one OpenType file,
SIL OFL, which holds the Japanese, Korean and simplified/traditional Chinese glyphs); it is registered with
matplotlib's font manager on first use and put after DejaVu Sans in the family list, so matplotlib (3.6+)
falls back to it glyph by glyph. Without the package the charts still draw, and :func:`undrawable` names what
they cannot show.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

BASE_FAMILY = "DejaVu Sans"
CJK_PACKAGE = "noto_cjk_sans_jp_regular"
CJK_FILE = "NotoSansCJKjp-Regular.otf"


def cjk_font_file() -> Path | None:
    """Path of the packaged Noto Sans CJK font file, or None when the package is not installed.

    Found through the package's import spec, without importing it (importing would run its ``__init__``).
    """
    spec = importlib.util.find_spec(CJK_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / CJK_FILE
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=1)
def chart_families() -> tuple[str, ...]:
    """The font family list for charts, in fallback order: DejaVu Sans, then Noto Sans CJK when installed.

    Registers the CJK font file with matplotlib's font manager once per process (additive: it changes no
    rcParams of the caller).
    """
    from matplotlib import font_manager

    path = cjk_font_file()
    if path is None:
        log.debug("%s is not installed: charts cannot draw CJK characters", CJK_PACKAGE)
        return (BASE_FAMILY,)
    try:
        font_manager.fontManager.addfont(str(path))
        name = font_manager.FontProperties(fname=str(path)).get_name()
    except (OSError, RuntimeError, ValueError) as exc:  # a damaged font file: draw without it
        log.warning("cannot load the CJK chart font %s: %s", path, exc)
        return (BASE_FAMILY,)
    return (BASE_FAMILY, name)


@lru_cache(maxsize=1)
def _drawable_codepoints() -> frozenset[int]:
    """Every code point some font of :func:`chart_families` has a glyph for."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    points: set[int] = set()
    for family in chart_families():
        prop = font_manager.FontProperties(family=family)
        path = font_manager.findfont(prop, fallback_to_default=False)
        points.update(FT2Font(path).get_charmap())
    return frozenset(points)


def undrawable(text: str) -> str:
    """The distinct characters of ``text`` (in order of appearance) that no chart font can draw; "" when
    every visible character has a glyph. Whitespace is never reported."""
    drawable = _drawable_codepoints()
    out: list[str] = []
    for ch in text:
        if not ch.isspace() and ord(ch) not in drawable and ch not in out:
            out.append(ch)
    return "".join(out)


@contextmanager
def drawing_fonts() -> Iterator[None]:
    """matplotlib's ``font.family`` set to :func:`chart_families` for the drawing inside the block.

    The CJK fallback has a regular face only; for bold text matplotlib uses it and logs that it did, a
    note every drawing would print, so the font manager's log is raised to errors for the block.
    """
    import matplotlib

    fm_log = logging.getLogger("matplotlib.font_manager")
    level = fm_log.level
    fm_log.setLevel(logging.ERROR)
    try:
        with matplotlib.rc_context({"font.family": list(chart_families())}):
            yield
    finally:
        fm_log.setLevel(level)
