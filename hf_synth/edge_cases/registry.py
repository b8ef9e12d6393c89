"""The one registry of built-in kinds: name → class, and the card's description of each.

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

Partner rules (`EdgeKind.partner`): exact/near duplicates pair inside the stratum, contrast pairs across the
configured dimension.
"""

from __future__ import annotations

from hf_synth.edge_cases.base import EdgeKind
from hf_synth.edge_cases.builtin import (
    ContrastPair,
    EmptyField,
    ExactDuplicate,
    InvalidValue,
    MaxValue,
    MinValue,
    NearDuplicate,
    NullOptional,
    SpecialChars,
    UnicodeNames,
    VeryLong,
    VeryShort,
    WhitespaceOnly,
)

__all__ = ["BUILTIN_KINDS", "kind_description"]

#: Built-in kind name → class, in the order the card and error messages list them.
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


def kind_description(name: str) -> str | None:
    """The card's one-line description of a built-in kind, None for other names."""
    cls = BUILTIN_KINDS.get(name)
    return cls.description if cls is not None else None
