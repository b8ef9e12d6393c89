"""Edge-case kinds: the LLM instruction, the deterministic transform and the check of each kind.

A recipe declares edge cases under ``edge_cases.kinds``; `build_kinds` turns that mapping into
`EdgeKind` objects. For one slot the engine

1. appends ``kind.instruction(context)`` (when not None) to the rendered prompt,
2. validates the LLM's item against the field types,
3. applies ``kind.transform(item, context, rng)`` (pure: returns a new dict),
4. keeps the row when ``kind.check(item, context)`` is None, else regenerates it (the string is the reason).

Built-in kinds (mode: *instructed* = only the LLM is asked, *transformed* = only the transform makes the
property, *both* = the LLM is asked and the transform enforces or completes it):

=================  ===========  ==========================================================================
kind               mode         property (what `check` verifies)
=================  ===========  ==========================================================================
very_short         instructed   text field has ``min_words``..``max_words`` words (default 1..5)
very_long          instructed   text field has >= ``min_words`` words (default 500)
min_value          both         numeric ``field`` == its minimum
max_value          both         numeric ``field`` == its maximum
invalid_value      both         ``field`` is one of ``values`` (default: just outside [minimum, maximum],
                                or 0 / -1 without bounds; ``"unknown"`` for enums)
unicode_names      both         ``field`` (default text field) contains a non-ASCII letter, mark or symbol
special_chars      both         ``field`` contains a zero-width / bidi / combining / control character
empty_field        transformed  ``field`` == ""
whitespace_only    transformed  ``field`` is non-empty and only whitespace
null_optional      transformed  ``field`` (default: every optional field) is None
exact_duplicate    transformed  every field equals the partner row's (strings after `normalise_text`)
near_duplicate     instructed   token Jaccard with the partner text >= ``min_similarity`` (0.3), not equal
contrast_pair      instructed   like near_duplicate (``min_similarity`` 0.2) and the ``across`` value differs
=================  ===========  ==========================================================================

User-defined kinds: any other name with ``{instruction: "...", check: <check> | [<check>, ...] | null}``
and optionally ``field`` (the field text checks look at; default the text field). Check names
(`USER_CHECKS`; text checks act on ``field``):

- ``non_ascii`` / ``not_ascii_only``: contains a non-ASCII letter, mark, number or symbol
- ``ascii_only``: every character is ASCII
- ``special_chars``: contains a zero-width / bidi / combining / control character
- ``min_words:N`` / ``max_words:N``: word count (see `word_count`) >= N / <= N
- ``min_chars:N`` / ``max_chars:N``: length in characters (code points) >= N / <= N
- ``contains:<text>`` / ``not_contains:<text>``: substring test, case-insensitive (casefold)
- ``regex:<pattern>``: ``re.search`` finds the pattern (Python syntax, case-sensitive)
- ``empty:<field>`` / ``not_empty:<field>`` / ``whitespace:<field>`` / ``null:<field>``: that field is
  "" / a non-blank value / only whitespace / None

Every kind also accepts the planner's quota keys ``count`` (exact number of rows) or ``weight``.
Nothing here does I/O or calls an LLM; randomness comes only from the ``rng`` argument.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from hf_synth.errors import EdgeCaseConfigError

if TYPE_CHECKING:
    import random

    import numpy as np

    from hf_synth.recipe.fields import FieldSpec

    Rng = random.Random | np.random.Generator

__all__ = [
    "BUILTIN_KINDS",
    "USER_CHECKS",
    "EdgeCaseConfigError",
    "EdgeContext",
    "EdgeKind",
    "PartnerMissingError",
    "build_kinds",
    "find_exact_duplicates",
    "jaccard_similarity",
    "normalise_text",
    "word_count",
    "word_tokens",
]

Mode = Literal["instructed", "transformed", "both"]
Check = Callable[[dict[str, Any], "EdgeContext"], "str | None"]


# --------------------------------------------------------------------------------------------------
# errors and context
# --------------------------------------------------------------------------------------------------


class PartnerMissingError(ValueError):
    """A partner kind (near_duplicate, contrast_pair, exact_duplicate) was used before its partner row
    existed; the engine must generate the partner slot first and defer this one."""


@dataclass
class EdgeContext:
    """What a kind may look at for one slot.

    ``values`` are this row's dimension values (strings); ``partner_item`` / ``partner_values`` are the
    partner row's finished fields and dimension values, or None when the kind has no partner.
    """

    fields: dict[str, FieldSpec]
    text_field: str
    values: dict[str, str] = field(default_factory=dict)
    partner_item: dict[str, Any] | None = None
    partner_values: dict[str, str] | None = None


# --------------------------------------------------------------------------------------------------
# text helpers
# --------------------------------------------------------------------------------------------------

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
_ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")  # ZWSP, ZWNJ, ZWJ, word joiner, BOM
# LRM, RLM, ALM, RLE, PDF, RLI, PDI
_BIDI = ("\u200e", "\u200f", "\u061c", "\u202b", "\u202c", "\u2067", "\u2069")
# Combining marks without precomposed forms, so a later NFC step cannot silently absorb them.
_COMBINING = ("\u0336", "\u0332", "\u20dd", "\u0361")
# No NUL: C-string based tools (terminals, some SQLite/CSV paths) truncate at it.
_CONTROL = ("\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x7f")
_MATH = ("∑", "∞", "≠", "√", "≤", "≥", "±", "∫", "∂", "≈", "×", "÷", "∅", "∈")
_HARD_SPECIALS = _ZERO_WIDTH + _BIDI + _COMBINING + _CONTROL


def _is_hard_special(ch: str) -> bool:
    """Zero-width / bidi / other format chars (Cf), combining marks (Mn, Me), controls but \\t \\n \\r."""
    cat = unicodedata.category(ch)
    return cat in ("Cf", "Mn", "Me") or (cat == "Cc" and ch not in "\t\n\r")


def _is_non_ascii_visible(ch: str) -> bool:
    """Non-ASCII letter, mark, number or symbol (emoji are symbols); not mere non-ASCII whitespace."""
    return ord(ch) > 127 and unicodedata.category(ch)[0] in "LMNS"


# Names for unicode_names: accents, non-Latin scripts, right-to-left, emoji.
UNICODE_NAMES: tuple[str, ...] = (
    "Jülia Müller",
    "Zoë Deschênes",
    "José López",
    "王小明",
    "Ольга Иванова",
    "محمد",
    "😀 Emoji Fan",
    "Søren Kierkegård",
    "Łukasz Wróbel",
    "Nguyễn Thị Hương",
    "Αλέξανδρος Παπαδόπουλος",
    "佐藤 花子",
    "김민준",
    "अनन्या शर्मा",
    "François Lefèvre",
    "Çağla Öztürk",
    "שרה כהן",
    "Siobhán Ó Briain",
    "Björk Guðmundsdóttir",
    "Ana 🌸 Souza",
)

_WHITESPACE_VALUES = (" ", "   ", "\t", "\n", "\n\n", " \t \n ", "\u00a0", "\u3000", "\u2003 \u2003")


def _randbelow(rng: Rng, n: int) -> int:
    """Uniform int in [0, n) from either a ``random.Random`` or a ``numpy.random.Generator``."""
    if hasattr(rng, "integers"):
        return int(rng.integers(n))
    return rng.randrange(n)


def _pick(rng: Rng, seq: tuple[Any, ...] | list[Any]) -> Any:
    return seq[_randbelow(rng, len(seq))]


# --------------------------------------------------------------------------------------------------
# field-spec access (FieldSpec is a pydantic model; plain mappings work too)
# --------------------------------------------------------------------------------------------------


def _fattr(spec: Any, name: str, default: Any = None) -> Any:
    if isinstance(spec, Mapping):
        return spec.get(name, default)
    return getattr(spec, name, default)


def _ftype(spec: Any) -> str:
    t = _fattr(spec, "type", "string")
    return getattr(t, "value", t)


def _same_value(a: Any, b: Any) -> bool:
    """Equality that does not let True pass for 1 (bool is an int subclass)."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True  # a copied NaN is still a copy
    return a == b


# --------------------------------------------------------------------------------------------------
# check builders (shared by built-in and user-defined kinds)
# --------------------------------------------------------------------------------------------------


def _text_value(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value if isinstance(value, str) else None


def check_non_ascii(name: str) -> Check:
    """Check: field ``name`` contains a non-ASCII letter, mark, number or symbol."""

    def run(item: dict[str, Any], ctx: EdgeContext) -> str | None:
        text = _text_value(item, name)
        if text is None:
            return f"{name} is not a string"
        if not any(_is_non_ascii_visible(c) for c in text):
            return f"{name} has no non-ASCII letter, mark or symbol"
        return None

    return run


def check_ascii_only(name: str) -> Check:
    """Check: every character (code point) of field ``name`` is ASCII."""

    def run(item: dict[str, Any], ctx: EdgeContext) -> str | None:
        text = _text_value(item, name)
        if text is None:
            return f"{name} is not a string"
        bad = next((c for c in text if ord(c) > 127), None)
        return None if bad is None else f"{name} contains non-ASCII character U+{ord(bad):04X}"

    return run


def check_special_chars(name: str) -> Check:
    """Check: field ``name`` contains a zero-width, bidi, combining or control character."""

    def run(item: dict[str, Any], ctx: EdgeContext) -> str | None:
        text = _text_value(item, name)
        if text is None:
            return f"{name} is not a string"
        if not any(_is_hard_special(c) for c in text):
            return f"{name} has no zero-width, bidi, combining or control character"
        return None

    return run


def check_words(name: str, minimum: int | None = None, maximum: int | None = None) -> Check:
    """Check: field ``name`` has ``minimum``..``maximum`` words (see `word_count`)."""

    def run(item: dict[str, Any], ctx: EdgeContext) -> str | None:
        text = _text_value(item, name)
        if text is None:
            return f"{name} is not a string"
        n = word_count(text)
        if minimum is not None and n < minimum:
            return f"{name} has {n} words, expected at least {minimum}"
        if maximum is not None and n > maximum:
            return f"{name} has {n} words, expected at most {maximum}"
        return None

    return run


def check_chars(name: str, minimum: int | None = None, maximum: int | None = None) -> Check:
    """Check: field ``name`` has ``minimum``..``maximum`` characters (code points)."""

    def run(item: dict[str, Any], ctx: EdgeContext) -> str | None:
        text = _text_value(item, name)
        if text is None:
            return f"{name} is not a string"
        n = len(text)
        if minimum is not None and n < minimum:
            return f"{name} has {n} characters, expected at least {minimum}"
        if maximum is not None and n > maximum:
            return f"{name} has {n} characters, expected at most {maximum}"
        return None

    return run


def check_contains(name: str, needle: str, negate: bool = False) -> Check:
    """Check: field ``name`` contains ``needle`` (casefolded); with ``negate`` it must not."""
    folded = needle.casefold()

    def run(item: dict[str, Any], ctx: EdgeContext) -> str | None:
        text = _text_value(item, name)
        if text is None:
            return f"{name} is not a string"
        found = folded in text.casefold()
        if found == negate:
            return f"{name} {'contains' if negate else 'does not contain'} {needle!r}"
        return None

    return run


def check_regex(name: str, pattern: re.Pattern[str]) -> Check:
    """Check: ``pattern.search`` finds a match in field ``name``."""

    def run(item: dict[str, Any], ctx: EdgeContext) -> str | None:
        text = _text_value(item, name)
        if text is None:
            return f"{name} is not a string"
        return None if pattern.search(text) else f"{name} does not match /{pattern.pattern}/"

    return run


def check_empty(name: str) -> Check:
    """Check: field ``name`` is the empty string."""

    def run(item: dict[str, Any], ctx: EdgeContext) -> str | None:
        value = item.get(name)
        return None if value == "" else f"{name} is {value!r:.40}, expected the empty string"

    return run


def check_not_empty(name: str) -> Check:
    """Check: field ``name`` is neither None nor blank."""

    def run(item: dict[str, Any], ctx: EdgeContext) -> str | None:
        value = item.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return f"{name} is {value!r:.40}, expected a non-blank value"
        return None

    return run


def check_whitespace(name: str) -> Check:
    """Check: field ``name`` is at least one character, all whitespace."""

    def run(item: dict[str, Any], ctx: EdgeContext) -> str | None:
        value = item.get(name)
        if isinstance(value, str) and value and value.isspace():
            return None
        return f"{name} is {value!r:.40}, expected only whitespace (at least one character)"

    return run


def check_null(name: str) -> Check:
    """Check: field ``name`` is None (a missing key counts as None)."""

    def run(item: dict[str, Any], ctx: EdgeContext) -> str | None:
        value = item.get(name)
        return None if value is None else f"{name} is {value!r:.40}, expected null"

    return run


#: User check names → (argument kind, description). "field" args must name a recipe field.
USER_CHECKS: dict[str, tuple[str | None, str]] = {
    "non_ascii": (None, "contains a non-ASCII letter, mark, number or symbol"),
    "not_ascii_only": (None, "same as non_ascii"),
    "ascii_only": (None, "every character is ASCII"),
    "special_chars": (None, "contains a zero-width, bidi, combining or control character"),
    "min_words": ("int", "at least N words"),
    "max_words": ("int", "at most N words"),
    "min_chars": ("int", "at least N characters"),
    "max_chars": ("int", "at most N characters"),
    "contains": ("text", "contains the text (case-insensitive)"),
    "not_contains": ("text", "does not contain the text (case-insensitive)"),
    "regex": ("regex", "re.search finds the pattern"),
    "empty": ("field", "the field is the empty string"),
    "not_empty": ("field", "the field is not null, empty or blank"),
    "whitespace": ("field", "the field is only whitespace"),
    "null": ("field", "the field is null"),
}


def _user_check_list() -> str:
    parts = []
    for name, (arg, _) in USER_CHECKS.items():
        parts.append(
            {
                None: name,
                "int": f"{name}:N",
                "text": f"{name}:<text>",
                "regex": f"{name}:<pattern>",
                "field": f"{name}:<field>",
            }[arg]
        )
    return ", ".join(parts)


# --------------------------------------------------------------------------------------------------
# kinds
# --------------------------------------------------------------------------------------------------


@dataclass
class EdgeKind:
    """One edge-case kind of a recipe.

    ``settings`` are the resolved settings (defaults filled in, ``field`` resolved); ``partner`` is None,
    ``"same_stratum"`` or ``"across:<dimension>"`` (the planner pairs such slots). ``count`` / ``weight``
    are the planner's quota (None / 1.0 when the config did not give them).
    """

    name: str
    settings: dict[str, Any]
    partner: str | None = None
    count: int | None = None
    weight: float = 1.0

    mode: ClassVar[Mode] = "instructed"
    #: False when the transform writes every field, so the engine need not call the LLM for this kind.
    needs_generation: ClassVar[bool] = True
    #: Settings keys this kind accepts besides count/weight.
    allowed: ClassVar[tuple[str, ...]] = ()
    #: One line for the dataset card (user kinds show their instruction instead).
    description: ClassVar[str] = ""

    def __post_init__(self) -> None:
        """Hook for subclasses that derive state from ``settings`` (dataclass calls it from __init__)."""

    def instruction(self, context: EdgeContext) -> str | None:
        """Text appended to the prompt of this slot, or None when the LLM needs no instruction."""
        return None

    def transform(self, item: dict[str, Any], context: EdgeContext, rng: Rng) -> dict[str, Any]:
        """The item after the kind's deterministic change (a new dict; ``item`` is not mutated)."""
        return dict(item)

    def request_max_tokens(self, base: int, n_items: int, n_string_fields: int, backend: str) -> int:
        """The output token budget of a request for ``n_items`` rows of this kind (``base``: the recipe's)."""
        return base

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        """None when the finished row has the kind's property, else a short reason."""
        return None

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: _Env) -> dict[str, Any]:
        """Validate the raw settings (count/weight removed) and fill defaults; raises EdgeCaseConfigError."""
        return {}


class VeryShort(EdgeKind):
    """Boundary: the text field is ``min_words``..``max_words`` words (LLM-instructed)."""

    description: ClassVar[str] = 'Text field of only a few words.'

    mode: ClassVar[Mode] = "instructed"
    allowed: ClassVar[tuple[str, ...]] = ("field", "min_words", "max_words")

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: _Env) -> dict[str, Any]:
        name = env.field(raw, types=("string",))
        lo = env.int_setting(raw, "min_words", 1, minimum=1)
        hi = env.int_setting(raw, "max_words", 5, minimum=lo)
        return {"field": name, "min_words": lo, "max_words": hi}

    def instruction(self, context: EdgeContext) -> str | None:
        s = self.settings
        return (
            f"Edge case (very short): the `{s['field']}` must be extremely brief, "
            f'{s["min_words"]} to {s["max_words"]} words only, e.g. "Broken login", '
            '"Page won\'t load", "Crash".'
        )

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        s = self.settings
        return check_words(s["field"], s["min_words"], s["max_words"])(item, context)

    def request_max_tokens(self, base: int, n_items: int, n_string_fields: int, backend: str) -> int:
        if backend != "local":
            return base  # Claude needs room for the tool call
        # Small local models ignore length instructions; a hard budget (split over the string fields by the
        # backend) makes the row short.
        return min(base, 10 * max(1, n_string_fields))


class VeryLong(EdgeKind):
    """Boundary: the text field has at least ``min_words`` words (LLM-instructed)."""

    description: ClassVar[str] = 'Text field of hundreds of words.'

    mode: ClassVar[Mode] = "instructed"
    allowed: ClassVar[tuple[str, ...]] = ("field", "min_words")

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: _Env) -> dict[str, Any]:
        name = env.field(raw, types=("string",))
        return {"field": name, "min_words": env.int_setting(raw, "min_words", 500, minimum=1)}

    def instruction(self, context: EdgeContext) -> str | None:
        s = self.settings
        return (
            f"Edge case (very long): the `{s['field']}` must be long and detailed, at least "
            f"{s['min_words']} words. Write at least {s['min_words']} words."
        )

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        s = self.settings
        return check_words(s["field"], minimum=s["min_words"])(item, context)

    def request_max_tokens(self, base: int, n_items: int, n_string_fields: int, backend: str) -> int:
        # A very long row cannot fit the recipe's budget for ordinary rows (~1.4 tokens per word).
        return max(base, int(self.settings["min_words"] * 1.6 * n_items) + 256)


class _NumericBound(EdgeKind):
    """min_value / max_value: a numeric field set to its minimum / maximum."""

    mode: ClassVar[Mode] = "both"
    allowed: ClassVar[tuple[str, ...]] = ("field",)
    bound: ClassVar[str] = "minimum"

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: _Env) -> dict[str, Any]:
        def has_bound(spec: Any) -> bool:
            return _ftype(spec) in ("integer", "number") and _fattr(spec, cls.bound) is not None

        name = env.field(
            raw,
            types=("integer", "number"),
            default_pick=has_bound,
            what=f"an integer/number field with a {cls.bound}",
        )
        spec = env.fields[name]
        bound = _fattr(spec, cls.bound)
        if bound is None:
            raise EdgeCaseConfigError(env.key("field"), f"field '{name}' has no {cls.bound}")
        if _ftype(spec) == "integer":
            # An integer field's bound may be fractional; the extreme allowed integer is inside it.
            bound = math.ceil(bound) if cls.bound == "minimum" else math.floor(bound)
        else:
            bound = float(bound)
        return {"field": name, "value": bound}

    def instruction(self, context: EdgeContext) -> str | None:
        s = self.settings
        return (
            f"Edge case (boundary value): `{s['field']}` is at its {self.bound}, {s['value']}. "
            f"Write the other fields so they are consistent with {s['field']} = {s['value']}."
        )

    def transform(self, item: dict[str, Any], context: EdgeContext, rng: Rng) -> dict[str, Any]:
        out = dict(item)
        out[self.settings["field"]] = self.settings["value"]
        return out

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        s = self.settings
        value = item.get(s["field"])
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != s["value"]:
            return f"{s['field']} is {value!r}, expected its {self.bound} {s['value']}"
        return None


class MinValue(_NumericBound):
    """Boundary: a numeric field at its minimum."""

    description: ClassVar[str] = 'A numeric field at its minimum.'

    bound: ClassVar[str] = "minimum"


class MaxValue(_NumericBound):
    """Boundary: a numeric field at its maximum."""

    description: ClassVar[str] = 'A numeric field at its maximum.'

    bound: ClassVar[str] = "maximum"


class InvalidValue(EdgeKind):
    """Invalid but parseable: the field holds a value the business rules forbid."""

    description: ClassVar[str] = 'A field holding an invalid or out-of-range value.'

    mode: ClassVar[Mode] = "both"
    allowed: ClassVar[tuple[str, ...]] = ("field", "values")

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: _Env) -> dict[str, Any]:
        name = env.field(
            raw,
            types=("integer", "number", "enum", "string"),
            default_pick=lambda spec: _ftype(spec) in ("integer", "number"),
            what="an integer, number, enum or string field",
        )
        spec = env.fields[name]
        ftype = _ftype(spec)
        lo, hi = _fattr(spec, "minimum"), _fattr(spec, "maximum")
        values = raw.get("values")
        if values is None:
            values = cls._default_values(name, spec, env)
        else:
            values = cls._given_values(values, name, spec, env)
        return {"field": name, "values": values, "type": ftype, "minimum": lo, "maximum": hi}

    @staticmethod
    def _default_values(name: str, spec: Any, env: _Env) -> list[Any]:
        ftype = _ftype(spec)
        lo, hi = _fattr(spec, "minimum"), _fattr(spec, "maximum")
        if ftype == "enum":
            choices = {str(v) for v in _fattr(spec, "values") or ()}
            return [next(v for v in ("unknown", "n/a", "other", "???") if v not in choices)]
        if ftype == "string":
            raise EdgeCaseConfigError(
                env.key("values"), f"invalid_value on string field '{name}' needs a 'values' list of strings"
            )
        is_int = ftype == "integer"
        if lo is None and hi is None:
            # The article's classic business-rule violations: a quantity of 0, a negative amount.
            return [0, -1] if is_int else [0.0, -1.0]
        out: list[Any] = []
        if lo is not None:
            below = math.ceil(lo) - 1 if is_int else float(lo) - 1.0
            out += [v for v in ((0, -1) if is_int else (0.0, -1.0)) if v < lo]
            out.append(below)
        if hi is not None:
            out.append(math.floor(hi) + 1 if is_int else float(hi) + 1.0)
        return list(dict.fromkeys(out))

    @staticmethod
    def _given_values(values: Any, name: str, spec: Any, env: _Env) -> list[Any]:
        path = env.key("values")
        if not isinstance(values, list) or not values:
            raise EdgeCaseConfigError(path, f"expected a non-empty list of values, got {values!r}")
        ftype = _ftype(spec)
        lo, hi = _fattr(spec, "minimum"), _fattr(spec, "maximum")
        for i, v in enumerate(values):
            if ftype == "integer" and (isinstance(v, bool) or not isinstance(v, int)):
                raise EdgeCaseConfigError(f"{path}[{i}]", f"field '{name}' is an integer; got {v!r}")
            if ftype == "number" and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise EdgeCaseConfigError(f"{path}[{i}]", f"field '{name}' is a number; got {v!r}")
            if ftype in ("string", "enum") and not isinstance(v, str):
                raise EdgeCaseConfigError(f"{path}[{i}]", f"field '{name}' holds strings; got {v!r}")
            bounded = lo is not None or hi is not None
            if (
                ftype in ("integer", "number")
                and bounded
                and (lo is None or v >= lo)
                and (hi is None or v <= hi)
            ):
                raise EdgeCaseConfigError(
                    f"{path}[{i}]", f"{v!r} lies inside [{lo}, {hi}]; an invalid value must lie outside"
                )
            if ftype == "enum" and v in {str(c) for c in _fattr(spec, "values") or ()}:
                raise EdgeCaseConfigError(f"{path}[{i}]", f"{v!r} is a valid choice of enum field '{name}'")
        return list(values)

    def instruction(self, context: EdgeContext) -> str | None:
        s = self.settings
        shown = ", ".join(repr(v) for v in s["values"])
        return (
            f"Edge case (invalid but parseable value): `{s['field']}` will be set to an invalid value "
            f"(one of {shown}). Write the other fields as if the request really had that value."
        )

    def transform(self, item: dict[str, Any], context: EdgeContext, rng: Rng) -> dict[str, Any]:
        out = dict(item)
        name = self.settings["field"]
        if not self._is_invalid(out.get(name)):
            out[name] = _pick(rng, self.settings["values"])
        return out

    def _is_invalid(self, value: Any) -> bool:
        return any(_same_value(value, v) for v in self.settings["values"])

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        s = self.settings
        value = item.get(s["field"])
        if not self._is_invalid(value):
            return f"{s['field']} is {value!r}, expected one of the invalid values {s['values']!r}"
        if s["type"] in ("integer", "number"):
            lo, hi = s["minimum"], s["maximum"]
            if (
                (lo is not None or hi is not None)
                and (lo is None or value >= lo)
                and (hi is None or value <= hi)
            ):
                return f"{s['field']} is {value!r}, inside [{lo}, {hi}]"
        return None


class UnicodeNames(EdgeKind):
    """Special characters: names with accents, non-Latin scripts or emoji."""

    description: ClassVar[str] = 'Non-ASCII letters, marks or symbols in a field.'

    mode: ClassVar[Mode] = "both"
    allowed: ClassVar[tuple[str, ...]] = ("field", "names")

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: _Env) -> dict[str, Any]:
        name = env.field(raw, types=("string",))
        names = raw.get("names", list(UNICODE_NAMES))
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise EdgeCaseConfigError(env.key("names"), "expected a non-empty list of name strings")
        for i, n in enumerate(names):
            if not any(_is_non_ascii_visible(c) for c in n):
                raise EdgeCaseConfigError(f"{env.key('names')}[{i}]", f"{n!r} has no non-ASCII character")
        return {"field": name, "names": list(names), "append": name == env.text_field}

    def instruction(self, context: EdgeContext) -> str | None:
        examples = ", ".join(self.settings["names"][:5])
        return (
            f"Edge case (Unicode names): the `{self.settings['field']}` must mention at least one person's "
            f"name written with accents, a non-Latin script or emoji, e.g. {examples}."
        )

    def transform(self, item: dict[str, Any], context: EdgeContext, rng: Rng) -> dict[str, Any]:
        out = dict(item)
        name = self.settings["field"]
        value = out.get(name)
        if isinstance(value, str) and any(_is_non_ascii_visible(c) for c in value):
            return out  # the LLM already followed the instruction
        person = _pick(rng, self.settings["names"])
        if self.settings["append"] and isinstance(value, str) and value.strip():
            # The main text keeps its content; a sign-off is the least intrusive place for a name.
            out[name] = f"{value.rstrip()}\n\n— {person}"
        else:
            out[name] = person
        return out

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        return check_non_ascii(self.settings["field"])(item, context)


class SpecialChars(EdgeKind):
    """Special characters: zero-width, bidi, combining and control characters, math symbols."""

    description: ClassVar[str] = 'Zero-width, bidi, combining or control characters in a field.'

    mode: ClassVar[Mode] = "both"
    allowed: ClassVar[tuple[str, ...]] = ("field", "n_chars")

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: _Env) -> dict[str, Any]:
        name = env.field(raw, types=("string",))
        return {"field": name, "n_chars": env.int_setting(raw, "n_chars", 3, minimum=1, maximum=100)}

    def instruction(self, context: EdgeContext) -> str | None:
        return (
            f"Edge case (special characters): the `{self.settings['field']}` should naturally contain "
            "special characters such as math symbols (≤, ≥, ∞, √, ±), currency signs, emoji or unusual "
            "punctuation."
        )

    def transform(self, item: dict[str, Any], context: EdgeContext, rng: Rng) -> dict[str, Any]:
        out = dict(item)
        name = self.settings["field"]
        text = out.get(name)
        text = text if isinstance(text, str) else ""
        # The first character always comes from the invisible/control pool so the check is guaranteed;
        # the rest mixes in math symbols, which an LLM can also write itself.
        chars = [_pick(rng, _HARD_SPECIALS)]
        chars += [_pick(rng, _HARD_SPECIALS + _MATH) for _ in range(self.settings["n_chars"] - 1)]
        for ch in chars:
            if ch in _COMBINING:
                # A combining mark belongs after a letter; elsewhere it would be an orphan.
                spots = [i + 1 for i, c in enumerate(text) if c.isalpha()] or [len(text)]
            else:
                spots = list(range(len(text) + 1))
            pos = _pick(rng, spots)
            text = text[:pos] + ch + text[pos:]
        out[name] = text
        return out

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        return check_special_chars(self.settings["field"])(item, context)


class EmptyField(EdgeKind):
    """Missing data: a string field is the empty string."""

    description: ClassVar[str] = 'A field that is the empty string.'

    mode: ClassVar[Mode] = "transformed"
    allowed: ClassVar[tuple[str, ...]] = ("field",)

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: _Env) -> dict[str, Any]:
        return {"field": env.field(raw, types=("string",))}

    def transform(self, item: dict[str, Any], context: EdgeContext, rng: Rng) -> dict[str, Any]:
        return {**item, self.settings["field"]: ""}

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        return check_empty(self.settings["field"])(item, context)


class WhitespaceOnly(EdgeKind):
    """Missing data: a string field holds only whitespace."""

    description: ClassVar[str] = 'A field that is only whitespace.'

    mode: ClassVar[Mode] = "transformed"
    allowed: ClassVar[tuple[str, ...]] = ("field",)

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: _Env) -> dict[str, Any]:
        return {"field": env.field(raw, types=("string",))}

    def transform(self, item: dict[str, Any], context: EdgeContext, rng: Rng) -> dict[str, Any]:
        return {**item, self.settings["field"]: _pick(rng, _WHITESPACE_VALUES)}

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        return check_whitespace(self.settings["field"])(item, context)


class NullOptional(EdgeKind):
    """Missing data: optional field(s) are null."""

    description: ClassVar[str] = 'Optional fields set to null.'

    mode: ClassVar[Mode] = "transformed"
    allowed: ClassVar[tuple[str, ...]] = ("field",)

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: _Env) -> dict[str, Any]:
        optional = [n for n, f in env.fields.items() if _fattr(f, "optional", False)]
        if "field" not in raw:
            if not optional:
                raise EdgeCaseConfigError(
                    env.key("field"),
                    "null_optional needs an optional field; the recipe has none "
                    "(mark one with 'optional: true')",
                )
            return {"fields": optional}  # no field named: null every optional field
        name = env.field(raw, types=None)
        if not _fattr(env.fields[name], "optional", False):
            hint = (
                f"optional fields: {', '.join(optional)}" if optional else "the recipe has no optional field"
            )
            raise EdgeCaseConfigError(
                env.key("field"), f"null_optional needs an optional field; '{name}' is required ({hint})"
            )
        return {"fields": [name]}

    def transform(self, item: dict[str, Any], context: EdgeContext, rng: Rng) -> dict[str, Any]:
        return {**item, **dict.fromkeys(self.settings["fields"])}

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        for name in self.settings["fields"]:
            reason = check_null(name)(item, context)
            if reason:
                return reason
        return None


def _partner_item(kind: EdgeKind, context: EdgeContext) -> dict[str, Any]:
    if context.partner_item is None:
        raise PartnerMissingError(f"{kind.name} needs its partner row, which has not been generated yet")
    return context.partner_item


def _partner_text(context: EdgeContext) -> str:
    value = (context.partner_item or {}).get(context.text_field)
    return value if isinstance(value, str) else ""


class ExactDuplicate(EdgeKind):
    """Duplicates: a copy of the partner row's fields (same stratum)."""

    description: ClassVar[str] = 'An exact copy of its partner row.'

    mode: ClassVar[Mode] = "transformed"
    needs_generation: ClassVar[bool] = False

    def transform(self, item: dict[str, Any], context: EdgeContext, rng: Rng) -> dict[str, Any]:
        partner = _partner_item(self, context)
        out = dict(item)
        for name in context.fields:
            if name in partner:
                out[name] = partner[name]
        return out

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        partner = context.partner_item
        if partner is None:
            return "partner row is not available"
        for name in context.fields:
            a, b = item.get(name), partner.get(name)
            same = (
                normalise_text(a) == normalise_text(b)
                if isinstance(a, str) and isinstance(b, str)
                else (_same_value(a, b))
            )
            if not same:
                return f"{name} differs from the partner row's"
        return None


class NearDuplicate(EdgeKind):
    """Duplicates: a paraphrase of the partner row's text (same stratum)."""

    description: ClassVar[str] = 'A close paraphrase of its partner row.'

    mode: ClassVar[Mode] = "instructed"
    allowed: ClassVar[tuple[str, ...]] = ("min_similarity",)
    default_similarity: ClassVar[float] = 0.3

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: _Env) -> dict[str, Any]:
        return {"min_similarity": env.fraction(raw, "min_similarity", cls.default_similarity)}

    def instruction(self, context: EdgeContext) -> str | None:
        _partner_item(self, context)
        return (
            f"Edge case (near duplicate): write the `{context.text_field}` as a close paraphrase of the text "
            "below: same situation, details and meaning, mostly the same words, but not a verbatim copy "
            "(reword a few phrases).\n<<<\n" + _partner_text(context) + "\n>>>"
        )

    def _similarity_reason(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        if context.partner_item is None:
            return "partner row is not available"
        text, other = _text_value(item, context.text_field), _partner_text(context)
        if normalise_text(text) == normalise_text(other):
            return "text is identical to the partner's (after normalisation)"
        sim = jaccard_similarity(text, other)
        want = self.settings["min_similarity"]
        if sim < want:
            return f"word overlap with the partner is {sim:.2f}, expected at least {want}"
        return None

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        return self._similarity_reason(item, context)


class ContrastPair(NearDuplicate):
    """Duplicates: looks like the partner's text, carries this row's (different) label."""

    description: ClassVar[str] = 'A near-copy of its partner row with a different value of one dimension.'

    mode: ClassVar[Mode] = "instructed"
    allowed: ClassVar[tuple[str, ...]] = ("across", "min_similarity")
    default_similarity: ClassVar[float] = 0.2

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: _Env) -> dict[str, Any]:
        dims = ", ".join(env.dimensions) or "(none)"
        across = raw.get("across")
        if not isinstance(across, str) or across not in env.dimensions:
            got = "missing" if across is None else repr(across)
            raise EdgeCaseConfigError(
                env.key("across"), f"contrast_pair.across must name a dimension: {dims} (got {got})"
            )
        if len(env.dimensions[across]) < 2:
            raise EdgeCaseConfigError(
                env.key("across"), f"dimension '{across}' has one value; a contrast pair needs at least two"
            )
        return {
            "across": across,
            "min_similarity": env.fraction(raw, "min_similarity", cls.default_similarity),
        }

    def instruction(self, context: EdgeContext) -> str | None:
        _partner_item(self, context)
        dim = self.settings["across"]
        mine = context.values.get(dim, "?")
        theirs = (context.partner_values or {}).get(dim, "another value")
        return (
            f"Edge case (contrast pair): write the `{context.text_field}` so it looks superficially like the "
            f"text below (same topic and situation, much of the same wording) but clearly belongs to "
            f"{dim} = {mine}, whereas the text below is {dim} = {theirs}. Change only what must change."
            "\n<<<\n" + _partner_text(context) + "\n>>>"
        )

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        dim = self.settings["across"]
        if context.partner_values is not None and context.values.get(dim) == context.partner_values.get(dim):
            same = context.values.get(dim)
            return f"partner has the same {dim} ({same!r}); a contrast pair needs a different one"
        return self._similarity_reason(item, context)


class UserKind(EdgeKind):
    """A recipe-defined kind: an instruction for the LLM and optional built-in checks."""

    mode: ClassVar[Mode] = "instructed"
    allowed: ClassVar[tuple[str, ...]] = ("instruction", "check", "field")

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: _Env) -> dict[str, Any]:
        text = raw.get("instruction")
        if not isinstance(text, str) or not text.strip():
            raise EdgeCaseConfigError(env.key("instruction"), "expected a non-empty instruction string")
        name = env.field(raw, types=("string",))
        spec = raw.get("check")
        specs = [] if spec is None else [spec] if isinstance(spec, str) else spec
        if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
            raise EdgeCaseConfigError(
                env.key("check"), f"expected a check name or a list of them: {_user_check_list()}"
            )
        for i, s in enumerate(specs):  # validate now, so errors carry the key path
            _parse_user_check(s, name, env, env.key("check") + (f"[{i}]" if isinstance(spec, list) else ""))
        return {"instruction": text.strip(), "field": name, "check": specs}

    def __post_init__(self) -> None:
        # Callables live outside `settings` so the settings stay plain data (JSON-able for reports).
        self._checks = [
            _parse_user_check(s, self.settings["field"], None, "") for s in self.settings["check"]
        ]

    def instruction(self, context: EdgeContext) -> str | None:
        return f"Edge case ({self.name}): {self.settings['instruction']}"

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        for run in self._checks:
            reason = run(item, context)
            if reason:
                return reason
        return None


def _parse_user_check(spec: str, text_field: str, env: _Env | None, path: str) -> Check:
    """The check function for ``name[:arg]``; with ``env`` the spec is validated against the recipe."""
    name, sep, arg = spec.partition(":")
    name = name.strip()
    if name not in USER_CHECKS:
        raise EdgeCaseConfigError(path, f"unknown check {name!r}; expected one of: {_user_check_list()}")
    kind = USER_CHECKS[name][0]
    if kind is None:
        if sep:
            raise EdgeCaseConfigError(path, f"check {name!r} takes no argument")
        return {
            "non_ascii": check_non_ascii,
            "not_ascii_only": check_non_ascii,
            "ascii_only": check_ascii_only,
            "special_chars": check_special_chars,
        }[name](text_field)
    if not sep or not arg:
        raise EdgeCaseConfigError(path, f"check {name!r} needs an argument: {name}:<{kind}>")
    if kind == "int":
        try:
            n = int(arg)
        except ValueError:
            n = -1
        if n < 0:
            raise EdgeCaseConfigError(path, f"{name} needs a non-negative integer, got {arg!r}")
        lo, hi = (n, None) if name.startswith("min") else (None, n)
        return check_words(text_field, lo, hi) if name.endswith("words") else check_chars(text_field, lo, hi)
    if kind == "text":
        return check_contains(text_field, arg, negate=name == "not_contains")
    if kind == "regex":
        try:
            pattern = re.compile(arg)
        except re.error as exc:
            raise EdgeCaseConfigError(path, f"invalid regular expression {arg!r}: {exc}") from None
        return check_regex(text_field, pattern)
    if env is not None and arg not in env.fields:
        raise EdgeCaseConfigError(
            path, f"field {arg!r} is not one of the recipe fields: {', '.join(env.fields)}"
        )
    if env is not None and name == "null" and not _fattr(env.fields[arg], "optional", False):
        raise EdgeCaseConfigError(path, f"null:{arg} can never pass; field '{arg}' is required")
    return {
        "empty": check_empty,
        "not_empty": check_not_empty,
        "whitespace": check_whitespace,
        "null": check_null,
    }[name](arg)


#: Built-in kind name → class. Partner rules: exact/near duplicates pair inside the stratum,
#: contrast pairs across the configured dimension.
BUILTIN_KINDS: dict[str, type[EdgeKind]] = {
    "very_short": VeryShort,
    "very_long": VeryLong,
    "min_value": MinValue,
    "max_value": MaxValue,
    "invalid_value": InvalidValue,
    "unicode_names": UnicodeNames,
    "special_chars": SpecialChars,
    "empty_field": EmptyField,
    "whitespace_only": WhitespaceOnly,
    "null_optional": NullOptional,
    "exact_duplicate": ExactDuplicate,
    "near_duplicate": NearDuplicate,
    "contrast_pair": ContrastPair,
}

_QUOTA_KEYS = ("count", "weight")


# --------------------------------------------------------------------------------------------------
# building kinds from the recipe
# --------------------------------------------------------------------------------------------------


@dataclass
class _Env:
    """What settings validation needs: the recipe's fields, text field, dimensions and the key path."""

    fields: dict[str, Any]
    text_field: str
    dimensions: dict[str, list[str]]
    path: str

    def key(self, name: str) -> str:
        return f"{self.path}.{name}"

    def field(
        self,
        raw: dict[str, Any],
        types: tuple[str, ...] | None,
        default_pick: Callable[[Any], bool] | Literal[False] | None = False,
        what: str = "",
    ) -> str:
        """The ``field`` setting, checked against the recipe fields and the allowed types.

        Without ``field``: the text field, or (with ``default_pick``) the only field it accepts.
        """
        path = self.key("field")
        name = raw.get("field")
        if name is None:
            if default_pick is False:
                name = self.text_field
            else:
                pick = default_pick or (lambda spec: types is None or _ftype(spec) in types)
                found = [n for n, spec in self.fields.items() if pick(spec)]
                if len(found) != 1:
                    cands = ", ".join(found) if found else "none in this recipe"
                    raise EdgeCaseConfigError(
                        path, f"name {what or 'a field'} with 'field' (candidates: {cands})"
                    )
                name = found[0]
        if not isinstance(name, str) or name not in self.fields:
            raise EdgeCaseConfigError(
                path, f"field {name!r} is not one of the recipe fields: {', '.join(self.fields)}"
            )
        ftype = _ftype(self.fields[name])
        if types is not None and ftype not in types:
            raise EdgeCaseConfigError(path, f"field '{name}' is {ftype}; expected {' or '.join(types)}")
        return name

    def int_setting(
        self, raw: dict[str, Any], key: str, default: int, minimum: int = 0, maximum: int | None = None
    ) -> int:
        value = raw.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < minimum
            or (maximum is not None and value > maximum)
        ):
            limit = f" and <= {maximum}" if maximum is not None else ""
            raise EdgeCaseConfigError(
                self.key(key), f"expected an integer >= {minimum}{limit}, got {value!r}"
            )
        return value

    def fraction(self, raw: dict[str, Any], key: str, default: float) -> float:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise EdgeCaseConfigError(self.key(key), f"expected a number between 0 and 1, got {value!r}")
        return float(value)


def _partner_rule(cls: type[EdgeKind], settings: dict[str, Any]) -> str | None:
    if cls is ContrastPair:
        return f"across:{settings['across']}"
    if cls in (ExactDuplicate, NearDuplicate):
        return "same_stratum"
    return None


def build_kinds(
    config: Mapping[str, Mapping[str, Any] | None],
    fields: Mapping[str, FieldSpec],
    text_field: str,
    dimensions: Mapping[str, list[str]],
    path: str = "edge_cases.kinds",
) -> list[EdgeKind]:
    """Validate ``edge_cases.kinds`` and build one `EdgeKind` per entry, in config order.

    ``config`` maps kind name → settings (None counts as {}); ``fields`` are the recipe fields,
    ``text_field`` the main string field, ``dimensions`` name → values (strings). Raises
    `EdgeCaseConfigError` whose path names the offending key, e.g. ``edge_cases.kinds.empty_field.field``.
    """
    if not isinstance(config, Mapping):
        raise EdgeCaseConfigError(
            path, f"expected a mapping of kind name to settings, got {type(config).__name__}"
        )
    fields = dict(fields)
    dims = {k: list(v) for k, v in dimensions.items()}
    kinds: list[EdgeKind] = []
    for name, raw in config.items():
        kpath = f"{path}.{name}"
        if not isinstance(name, str) or not name.strip():
            raise EdgeCaseConfigError(kpath, "a kind name must be a non-empty string")
        if name == "none":
            raise EdgeCaseConfigError(kpath, "'none' is reserved for rows without an edge case")
        raw = {} if raw is None else raw
        if not isinstance(raw, Mapping):
            raise EdgeCaseConfigError(kpath, f"expected a mapping of settings, got {raw!r:.60}")
        raw = dict(raw)
        cls = BUILTIN_KINDS.get(name)
        if cls is None:
            if "instruction" not in raw:
                raise EdgeCaseConfigError(
                    kpath,
                    f"unknown edge-case kind; built-in kinds are: {', '.join(BUILTIN_KINDS)}; "
                    "a user-defined kind needs an 'instruction' (and optionally a 'check')",
                )
            cls = UserKind
        env = _Env(fields, text_field, dims, kpath)
        for key in raw:
            if key not in cls.allowed and key not in _QUOTA_KEYS:
                accepted = ", ".join((*cls.allowed, *_QUOTA_KEYS))
                hint = (
                    f" ({name} is a built-in kind; to define your own kind, pick another name)"
                    if cls is not UserKind and key in ("instruction", "check")
                    else ""
                )
                raise EdgeCaseConfigError(
                    env.key(str(key)), f"unknown setting; {name} accepts: {accepted}{hint}"
                )
        count, weight = _quota(raw, env)
        settings = cls.resolve({k: v for k, v in raw.items() if k not in _QUOTA_KEYS}, env)
        kinds.append(
            cls(
                name=name, settings=settings, partner=_partner_rule(cls, settings), count=count, weight=weight
            )
        )
    return kinds


def _quota(raw: dict[str, Any], env: _Env) -> tuple[int | None, float]:
    count, weight = raw.get("count"), raw.get("weight")
    if count is not None and weight is not None:
        raise EdgeCaseConfigError(env.key("weight"), "give either 'count' (exact rows) or 'weight', not both")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise EdgeCaseConfigError(env.key("count"), f"expected a non-negative integer, got {count!r}")
    if weight is not None and (
        isinstance(weight, bool)
        or not isinstance(weight, (int, float))
        or not weight > 0
        or math.isinf(weight)
    ):
        raise EdgeCaseConfigError(env.key("weight"), f"expected a positive number, got {weight!r}")
    return count, 1.0 if weight is None else float(weight)


def kind_description(name: str) -> str | None:
    """The card's one-line description of a built-in kind, None for other names."""
    cls = BUILTIN_KINDS.get(name)
    return cls.description if cls is not None else None
