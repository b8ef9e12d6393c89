"""Markdown escaping for text that comes from a recipe or a language model.

Recipe values and generated text reach the card only through these helpers; the result is a :class:`SafeMd`,
which the template prints unchanged (every other printed value is escaped by ``format.markdown_value``).
"""

from __future__ import annotations

import re
from typing import Any


class SafeMd(str):
    """A string that is already valid, escaped Markdown; the template prints it unchanged."""


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Zero-width, bidi and other format characters (Unicode Cf) plus C1 controls and line/paragraph separators:
# invisible or reordering in a rendered card (Trojan-source style), so they are shown as ⟨U+XXXX⟩.
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
    r"\u2060-\u206f\ufeff\ufff9-\ufffb]"
)
# Backslash-escape the characters that start inline Markdown constructs: code spans, emphasis, links/images,
# table cells, strikethrough. HTML specials are turned into entities separately.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_ORDERED_ITEM = re.compile(r"^(\d{1,9})([.)])(\s|$)")
_BULLET_OR_RULE = re.compile(r"^(?:[-+=]+\s*$|[-+]\s)")


def truncate(text: str, max_len: int | None) -> str:
    """Cut ``text`` to at most ``max_len`` characters, ending with an ellipsis when it was cut."""
    if max_len is None or len(text) <= max_len:
        return text
    return text[: max(1, max_len - 1)].rstrip() + "…"


def clean(text: Any) -> str:
    """``text`` as a string with newlines normalised to ``\\n`` and C0 control characters dropped."""
    s = "" if text is None else str(text)
    return _CONTROL.sub("", s.replace("\r\n", "\n").replace("\r", "\n"))


def _visible(text: Any) -> str:
    """Like :func:`clean` but shows invisible characters as ⟨U+XXXX⟩ instead of dropping or keeping them."""
    s = "" if text is None else str(text)
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    return _INVISIBLE.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", s)


def _escape_line(line: str) -> str:
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    line = _MD_SPECIAL.sub(r"\\\1", line)
    # Leading whitespace would turn the line into an indented code block (or a lazy continuation).
    line = line.lstrip(" \t")
    if line.startswith("#"):
        return "\\" + line
    if _BULLET_OR_RULE.match(line):
        return "\\" + line
    m = _ORDERED_ITEM.match(line)
    if m:
        return m.group(1) + "\\" + line[len(m.group(1)) :]
    return line


def escape_inline(text: Any, max_len: int | None = None) -> SafeMd:
    """Escape ``text`` for use inside a Markdown paragraph, list item or heading, on one line.

    Whitespace runs collapse to one space; a single leading/trailing space is kept so template fragments
    such as ``" × "`` keep their spacing.
    """
    s = re.sub(r"\s+", " ", _visible(text))
    core = s.strip()
    if not core:
        return SafeMd(s)
    lead = " " if s.startswith(" ") else ""
    trail = " " if s.endswith(" ") else ""
    return SafeMd(lead + _escape_line(truncate(core, max_len)) + trail)


def escape_cell(text: Any, max_len: int | None = 160) -> SafeMd:
    """Escape ``text`` for one Markdown table cell: no raw ``|``, HTML or newlines survive."""
    if text is None:
        return SafeMd("—")
    lines = [" ".join(line.split()) for line in truncate(_visible(text).strip(), max_len).split("\n")]
    # <br> is our own markup, the only HTML the card emits from data; it keeps line structure visible.
    return SafeMd("<br>".join(_escape_line(line) for line in lines if line))


def escape_block(text: Any, max_len: int | None = None, quote: bool = False) -> SafeMd:
    """Escape multi-line ``text`` as Markdown with its line breaks kept; ``quote`` makes it a blockquote."""
    lines = truncate(_visible(text).strip(), max_len).split("\n")
    out = []
    for line in lines:
        esc = _escape_line(line)
        # A trailing backslash is a CommonMark hard line break: it keeps the text's own line structure.
        out.append(esc + "\\" if esc else "")
    if out and out[-1].endswith("\\"):
        out[-1] = out[-1][:-1]
    if quote:
        return SafeMd("\n".join(("> " + line) if line else ">" for line in out))
    return SafeMd("\n".join(out))


def _longest_backtick_run(s: str) -> int:
    return max((len(run) for run in re.findall(r"`+", s)), default=0)


def fenced(text: Any, lang: str = "") -> SafeMd:
    """Wrap ``text`` verbatim in a fenced code block whose fence is longer than any backtick run in it."""
    s = clean(text)
    fence = "`" * max(3, _longest_backtick_run(s) + 1)
    lang = re.sub(r"[^A-Za-z0-9_+-]", "", lang)
    return SafeMd(f"{fence}{lang}\n{s.rstrip(chr(10))}\n{fence}")


def inline_code(text: Any) -> SafeMd:
    """Render ``text`` as an inline code span (do not use inside table cells: ``|`` still splits them)."""
    s = " ".join(clean(text).split())
    tick = "`" * (_longest_backtick_run(s) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return SafeMd(f"{tick}{pad}{s}{pad}{tick}")
