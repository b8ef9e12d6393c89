"""Text helpers shared by the kinds, their checks and the engine: words, normalisation, character classes.

Pure functions over strings; no kind is named here.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "BIDI",
    "COMBINING",
    "CONTROL",
    "HARD_SPECIALS",
    "MATH",
    "ZERO_WIDTH",
    "find_exact_duplicates",
    "is_hard_special",
    "is_non_ascii_visible",
    "jaccard_similarity",
    "normalise_text",
    "word_count",
    "word_tokens",
]

# Scripts written without spaces between words: each character is counted as one word (one character is
# roughly one morpheme), otherwise a whole Chinese paragraph would count as a single "word".
_CJK_RANGES = (
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x3FFFF),  # CJK extensions B..H
)
_APOSTROPHES = "'’"


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def _is_word_char(ch: str) -> bool:
    return ch == "_" or unicodedata.category(ch)[0] in "LN"


def word_tokens(text: str | None) -> list[str]:
    """The words of ``text`` (NFC), in order, as written.

    A word is a run of letters, digits, underscores and combining marks (so "naïve" in decomposed form
    and Devanagari words with vowel signs stay whole), with inner apostrophes joined ("won't" is one
    word). Each Han / Hiragana / Katakana character is a word of its own. Emoji and punctuation are
    not words.
    """
    if not text:
        return []
    text = unicodedata.normalize("NFC", text)
    tokens: list[str] = []
    cur: list[str] = []

    def flush() -> None:
        if cur:
            tokens.append("".join(cur))
            cur.clear()

    n = len(text)
    for i, ch in enumerate(text):
        if _is_cjk(ch):
            flush()
            tokens.append(ch)
        elif _is_word_char(ch):
            cur.append(ch)
        elif cur and unicodedata.category(ch)[0] == "M":
            # A mark only extends a word; an orphan mark after a space is not a word.
            cur.append(ch)
        elif cur and ch in _APOSTROPHES and i + 1 < n and _is_word_char(text[i + 1]):
            cur.append(ch)
        else:
            flush()
    flush()
    return tokens


def word_count(text: str | None) -> int:
    """Number of words in ``text`` (see `word_tokens`); 0 for None or ""."""
    return len(word_tokens(text))


_WS = re.compile(r"\s+")


def normalise_text(text: str | None) -> str:
    """Canonical form for exact-duplicate detection: NFC, casefold, whitespace runs → one space, stripped.

    None becomes "". Casefolding can un-compose characters, so NFC is applied again afterwards.
    """
    if not text:
        return ""
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())
    return _WS.sub(" ", text).strip()


def jaccard_similarity(a: str | None, b: str | None) -> float:
    """Jaccard similarity (0..1) of the casefolded word sets of two texts; 0.0 when either has no words."""
    sa = {t.casefold() for t in word_tokens(a)}
    sb = {t.casefold() for t in word_tokens(b)}
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)


def find_exact_duplicates(
    texts: list[str | None], exempt: set[int] | frozenset[int] = frozenset()
) -> list[int]:
    """Indices (ascending) of rows whose `normalise_text` equals that of an EARLIER row.

    The first occurrence is kept. ``exempt`` rows (requested duplicates) are never flagged and never count
    as the earlier occurrence either: otherwise a requested duplicate that sits before its partner would
    get the partner flagged. Rows whose text normalises to "" (None, empty, whitespace-only: edge cases
    of their own) are never duplicates.
    """
    seen: set[str] = set()
    dups: list[int] = []
    for i, text in enumerate(texts):
        if i in exempt:
            continue
        key = normalise_text(text)
        if not key:
            continue
        if key in seen:
            dups.append(i)
        else:
            seen.add(key)
    return dups


# Character classes the special-character kinds and checks use.
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")  # ZWSP, ZWNJ, ZWJ, word joiner, BOM
# LRM, RLM, ALM, RLE, PDF, RLI, PDI
BIDI = ("\u200e", "\u200f", "\u061c", "\u202b", "\u202c", "\u2067", "\u2069")
# Combining marks without precomposed forms, so a later NFC step cannot silently absorb them.
COMBINING = ("\u0336", "\u0332", "\u20dd", "\u0361")
# No NUL: C-string based tools (terminals, some SQLite/CSV paths) truncate at it.
CONTROL = ("\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x7f")
MATH = ("∑", "∞", "≠", "√", "≤", "≥", "±", "∫", "∂", "≈", "×", "÷", "∅", "∈")
HARD_SPECIALS = ZERO_WIDTH + BIDI + COMBINING + CONTROL


def is_hard_special(ch: str) -> bool:
    """Zero-width / bidi / other format chars (Cf), combining marks (Mn, Me), controls but \\t \\n \\r."""
    cat = unicodedata.category(ch)
    return cat in ("Cf", "Mn", "Me") or (cat == "Cc" and ch not in "\t\n\r")


def is_non_ascii_visible(ch: str) -> bool:
    """Non-ASCII letter, mark, number or symbol (emoji are symbols); not mere non-ASCII whitespace."""
    return ord(ch) > 127 and unicodedata.category(ch)[0] in "LMNS"
