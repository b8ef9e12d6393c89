"""Is a text set English? A cheap check before trusting an English-only embedder (all-MiniLM-L6-v2).

No language-identification model: two signals that need none. A text is counted as not English when
most of its letters are outside the Latin script, or when it has at least four words and none of them is
among the commonest English function words (every English sentence of that length has one: "the", "my",
"to", "is", "I", ...). Latin-script languages other than English (Spanish, German, ...) are caught by the
second signal; English keyword lists without function words ("card arrival late fee") are not flagged
until they reach four words without one, which is the price of needing no model.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

__all__ = ["english_warning", "non_english_share"]

_FUNCTION_WORDS = frozenset(
    [
        "a",
        "about",
        "after",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
SAMPLE = 2_000  # texts looked at per side (evenly spaced), so the check costs milliseconds
WARN_SHARE = 0.2


def _looks_english(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return True  # digits, punctuation, empty: nothing to say
    latin = sum(unicodedata.name(ch, "").startswith("LATIN") for ch in letters)
    if latin < len(letters) / 2:
        return False
    words = [w.lower() for w in _WORD.findall(text)]
    return len(words) < 4 or any(w in _FUNCTION_WORDS or w.split("'")[0] in _FUNCTION_WORDS for w in words)


def non_english_share(texts: Sequence[str]) -> tuple[float, list[str]]:
    """(share of up to `SAMPLE` evenly spaced texts that do not look English, up to 3 of them)."""
    n = len(texts)
    if n == 0:
        return 0.0, []
    step = max(1, n // SAMPLE)
    sample = [texts[i] for i in range(0, n, step)][:SAMPLE]
    odd = [t for t in sample if not _looks_english(t)]
    return len(odd) / len(sample), odd[:3]


def english_warning(texts: Sequence[str], side: str, model_id: str) -> str | None:
    """A warning line when more than 20% of a side's texts do not look English, else None."""
    share, examples = non_english_share(texts)
    if share <= WARN_SHARE:
        return None
    shown = ", ".join(repr(t if len(t) <= 40 else t[:37] + "...") for t in examples)
    return (
        f"{share:.0%} of the {side} texts do not look English (e.g. {shown}); {model_id} was trained on "
        "English only, so its distances between them mean little: pass a multilingual model with --model"
    )
