"""Checks: functions ``(item, context) -> None | reason`` that built-in and user kinds share, and the parser
of the user check strings.

User check names (`USER_CHECKS`; text checks act on the kind's ``field``):

- ``non_ascii`` / ``not_ascii_only``: contains a non-ASCII letter, mark, number or symbol
- ``ascii_only``: every character is ASCII
- ``special_chars``: contains a zero-width / bidi / combining / control character
- ``min_words:N`` / ``max_words:N``: word count (see `word_count`) >= N / <= N
- ``min_chars:N`` / ``max_chars:N``: length in characters (code points) >= N / <= N
- ``contains:<text>`` / ``not_contains:<text>``: substring test, case-insensitive (casefold)
- ``regex:<pattern>``: ``re.search`` finds the pattern (Python syntax, case-sensitive)
- ``empty:<field>`` / ``not_empty:<field>`` / ``whitespace:<field>`` / ``null:<field>``: that field is
  "" / a non-blank value / only whitespace / None
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from hf_synth.edge_cases.settings import field_attr
from hf_synth.edge_cases.text import is_hard_special, is_non_ascii_visible, word_count
from hf_synth.errors import EdgeCaseConfigError

if TYPE_CHECKING:
    from hf_synth.edge_cases.base import EdgeContext

__all__ = [
    "USER_CHECKS",
    "Check",
    "all_of",
    "check_ascii_only",
    "check_chars",
    "check_contains",
    "check_empty",
    "check_non_ascii",
    "check_not_empty",
    "check_null",
    "check_regex",
    "check_special_chars",
    "check_whitespace",
    "check_words",
    "parse_user_check",
    "same_value",
    "text_value",
    "user_check_list",
]

#: A check: None when ``item`` has the property, else a short reason.
Check = Callable[[dict[str, Any], "EdgeContext"], "str | None"]


def text_value(item: dict[str, Any], name: str) -> str | None:
    """Field ``name`` of ``item`` when it is a string, else None."""
    value = item.get(name)
    return value if isinstance(value, str) else None


def same_value(a: Any, b: Any) -> bool:
    """Equality that does not let True pass for 1 (bool is an int subclass) and holds for two NaNs."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True  # a copied NaN is still a copy
    return a == b


def _text_check(name: str, test: Callable[[str], str | None]) -> Check:
    """A check of field ``name`` that fails on a non-string and otherwise returns ``test(text)``."""

    def run(item: dict[str, Any], ctx: EdgeContext) -> str | None:
        text = text_value(item, name)
        if text is None:
            return f"{name} is not a string"
        return test(text)

    return run


def _within(name: str, n: int, unit: str, minimum: int | None, maximum: int | None) -> str | None:
    if minimum is not None and n < minimum:
        return f"{name} has {n} {unit}, expected at least {minimum}"
    if maximum is not None and n > maximum:
        return f"{name} has {n} {unit}, expected at most {maximum}"
    return None


def check_non_ascii(name: str) -> Check:
    """Check: field ``name`` contains a non-ASCII letter, mark, number or symbol."""
    return _text_check(
        name,
        lambda text: (
            None
            if any(is_non_ascii_visible(c) for c in text)
            else f"{name} has no non-ASCII letter, mark or symbol"
        ),
    )


def check_ascii_only(name: str) -> Check:
    """Check: every character (code point) of field ``name`` is ASCII."""

    def test(text: str) -> str | None:
        bad = next((c for c in text if ord(c) > 127), None)
        return None if bad is None else f"{name} contains non-ASCII character U+{ord(bad):04X}"

    return _text_check(name, test)


def check_special_chars(name: str) -> Check:
    """Check: field ``name`` contains a zero-width, bidi, combining or control character."""
    return _text_check(
        name,
        lambda text: (
            None
            if any(is_hard_special(c) for c in text)
            else f"{name} has no zero-width, bidi, combining or control character"
        ),
    )


def check_words(name: str, minimum: int | None = None, maximum: int | None = None) -> Check:
    """Check: field ``name`` has ``minimum``..``maximum`` words (see `word_count`)."""
    return _text_check(name, lambda text: _within(name, word_count(text), "words", minimum, maximum))


def check_chars(name: str, minimum: int | None = None, maximum: int | None = None) -> Check:
    """Check: field ``name`` has ``minimum``..``maximum`` characters (code points)."""
    return _text_check(name, lambda text: _within(name, len(text), "characters", minimum, maximum))


def check_contains(name: str, needle: str, negate: bool = False) -> Check:
    """Check: field ``name`` contains ``needle`` (casefolded); with ``negate`` it must not."""
    folded = needle.casefold()

    def test(text: str) -> str | None:
        if (folded in text.casefold()) == negate:
            return f"{name} {'contains' if negate else 'does not contain'} {needle!r}"
        return None

    return _text_check(name, test)


def check_regex(name: str, pattern: re.Pattern[str]) -> Check:
    """Check: ``pattern.search`` finds a match in field ``name``."""
    return _text_check(
        name, lambda text: None if pattern.search(text) else f"{name} does not match /{pattern.pattern}/"
    )


def all_of(*checks: Check) -> Check:
    """A check that runs ``checks`` in order and returns the first reason (None when all pass)."""

    def run(item: dict[str, Any], ctx: EdgeContext) -> str | None:
        return next((reason for check in checks if (reason := check(item, ctx))), None)

    return run


def _value_check(name: str, ok: Callable[[Any], bool], expected: str) -> Check:
    """A check that field ``name`` (a missing key counts as None) satisfies ``ok``."""

    def run(item: dict[str, Any], ctx: EdgeContext) -> str | None:
        value = item.get(name)
        return None if ok(value) else f"{name} is {value!r:.40}, expected {expected}"

    return run


def check_empty(name: str) -> Check:
    """Check: field ``name`` is the empty string."""
    return _value_check(name, lambda v: v == "", "the empty string")


def check_not_empty(name: str) -> Check:
    """Check: field ``name`` is neither None nor blank."""
    return _value_check(
        name, lambda v: not (v is None or (isinstance(v, str) and not v.strip())), "a non-blank value"
    )


def check_whitespace(name: str) -> Check:
    """Check: field ``name`` is at least one character, all whitespace."""
    return _value_check(
        name,
        lambda v: isinstance(v, str) and bool(v) and v.isspace(),
        "only whitespace (at least one character)",
    )


def check_null(name: str) -> Check:
    """Check: field ``name`` is None (a missing key counts as None)."""
    return _value_check(name, lambda v: v is None, "null")


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

_ARG_SHAPES = {None: "", "int": ":N", "text": ":<text>", "regex": ":<pattern>", "field": ":<field>"}
_NO_ARG = {
    "non_ascii": check_non_ascii,
    "not_ascii_only": check_non_ascii,
    "ascii_only": check_ascii_only,
    "special_chars": check_special_chars,
}
_FIELD_ARG = {
    "empty": check_empty,
    "not_empty": check_not_empty,
    "whitespace": check_whitespace,
    "null": check_null,
}


def user_check_list() -> str:
    """The user check names with their argument shapes, comma-separated (for error messages)."""
    return ", ".join(name + _ARG_SHAPES[arg] for name, (arg, _) in USER_CHECKS.items())


def parse_user_check(spec: str, text_field: str, fields: Mapping[str, Any] | None, path: str) -> Check:
    """The check function for ``name[:arg]`` acting on ``text_field``.

    With ``fields`` (the recipe's field name → spec) a ``<field>`` argument is validated against the recipe
    too; errors are `EdgeCaseConfigError` at ``path``.
    """
    name, sep, arg = spec.partition(":")
    name = name.strip()
    if name not in USER_CHECKS:
        raise EdgeCaseConfigError(path, f"unknown check {name!r}; expected one of: {user_check_list()}")
    kind = USER_CHECKS[name][0]
    if kind is None:
        if sep:
            raise EdgeCaseConfigError(path, f"check {name!r} takes no argument")
        return _NO_ARG[name](text_field)
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
    if fields is not None and arg not in fields:
        raise EdgeCaseConfigError(path, f"field {arg!r} is not one of the recipe fields: {', '.join(fields)}")
    if fields is not None and name == "null" and not field_attr(fields[arg], "optional", False):
        raise EdgeCaseConfigError(path, f"null:{arg} can never pass; field '{arg}' is required")
    return _FIELD_ARG[name](arg)
