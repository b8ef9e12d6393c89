"""Numbers and report values as Markdown: counts, ratios, percentages, quoted examples, table cells.

:func:`markdown_value` is also the Jinja ``finalize`` hook, so every ``{{ value }}`` of the template that is
not :class:`~hf_synth.card.escape.SafeMd` goes through it.
"""

from __future__ import annotations

import math
from pathlib import PurePath
from typing import Any

from hf_synth.card.escape import SafeMd, escape_block, escape_cell, escape_inline


def num(value: Any, digits: int = 3) -> str:
    """``value`` with thousands separators: ints as is, floats with ``digits`` decimals, None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    try:
        f = float(value)
    except (TypeError, ValueError):
        return escape_inline(value)
    if math.isnan(f):
        return "n/a"
    return f"{f:,.{digits}f}"


def pct(value: Any, digits: int = 1) -> str:
    """A fraction in [0, 1] as a percentage with ``digits`` decimals (``0.831`` → ``83.1%``)."""
    if value is None:
        return "—"
    try:
        return f"{100 * float(value):.{digits}f}%"
    except (TypeError, ValueError):
        return escape_inline(value)


def markdown_value(value: Any) -> str:
    """Any value as Markdown: SafeMd unchanged, None as a dash, booleans as yes/no, text escaped."""
    if isinstance(value, SafeMd):
        return value
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return num(value)
    return escape_inline(value)


def _describe_blank(value: Any) -> str | None:
    """A visible description for values that would render as nothing (None, "", whitespace only)."""
    if value is None:
        return "(null)"
    if isinstance(value, str) and not value.strip():
        return "(empty string)" if value == "" else f"(whitespace only: {len(value)} characters)"
    return None


def quote_value(value: Any, max_len: int = 600) -> SafeMd:
    """An example value as an escaped blockquote; blank values are described instead of vanishing."""
    blank = _describe_blank(value)
    if blank is not None:
        return SafeMd("> " + blank)
    return escape_block(value, max_len, quote=True)


def quote_inline(value: Any, max_len: int = 120) -> SafeMd:
    """An example value on one line; blank values are described, numbers and booleans printed as such."""
    blank = _describe_blank(value)
    if blank is not None:
        return SafeMd(blank)
    if isinstance(value, (bool, int, float)):
        return SafeMd(markdown_value(value))
    return escape_inline(value, max_len)


def cell_value(value: Any, max_len: int = 200) -> SafeMd:
    """A scalar for a table cell: null as a dash, booleans as YAML spells them, text escaped."""
    if value is None:
        return SafeMd("—")
    if isinstance(value, bool):
        return SafeMd("true" if value else "false")
    if isinstance(value, (int, float)):
        return SafeMd(str(value))
    return escape_cell(value, max_len)


def model_name(value: Any) -> str | None:
    """A model id for the card without any local path: ``path:/home/u/models/minilm`` (how the quality stage
    names a local model folder) and absolute paths become ``local model minilm``; Hub ids are unchanged."""
    if value is None:
        return None
    s = str(value)
    if "path:" in s:
        prefix, _, path = s.partition("path:")
        return f"{prefix}local model {PurePath(path.rstrip('/')).name}"
    if PurePath(s).is_absolute():
        return f"local model {PurePath(s.rstrip('/')).name}"
    return s
