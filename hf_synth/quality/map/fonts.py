"""Font fallback for text of any script in the matplotlib PNG.

matplotlib's bundled DejaVu Sans has no CJK glyphs, and its font cache may predate fonts installed on the
system later (so `Noto Sans CJK` can be installed yet unknown to matplotlib). `fallback_families()` registers
the installed glyph-rich system fonts with matplotlib once per process and returns a family list for
`font.family`; matplotlib (≥ 3.6) then takes each glyph from the first family that has it. Debian/Ubuntu:
`apt-get install fonts-noto-cjk` gives Chinese, Japanese and Korean.
"""

from __future__ import annotations

import functools
from pathlib import Path

__all__ = ["fallback_families"]

# File-name stems of fonts worth registering, in preference order (bold too where titles need it).
_PREFERRED = (
    "NotoSansCJK-Regular",
    "NotoSansCJK-Bold",
    "NotoSansCJKjp-Regular",
    "NotoSansCJKsc-Regular",
    "NotoSans-Regular",
    "NotoSansArabic-Regular",
    "NotoSansHebrew-Regular",
    "NotoSansDevanagari-Regular",
    "NotoSansThai-Regular",
    "DroidSansFallbackFull",
    "DroidSansFallback",
    "wqy-zenhei",
    "wqy-microhei",
)


@functools.lru_cache(maxsize=1)
def fallback_families() -> tuple[str, ...]:
    """("DejaVu Sans", then the family of every installed fallback font found, preferred first)."""
    from matplotlib import font_manager

    by_stem = {Path(p).stem: p for p in font_manager.findSystemFonts()}
    families: list[str] = ["DejaVu Sans"]
    for stem in _PREFERRED:
        path = by_stem.get(stem)
        if path is None:
            continue
        try:
            font_manager.fontManager.addfont(path)
            name = font_manager.FontProperties(fname=path).get_name()
        except (OSError, RuntimeError, ValueError):  # an unreadable or unsupported font file: skip it
            continue
        if name not in families:
            families.append(name)
    return tuple(families)
