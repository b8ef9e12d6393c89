"""How a small model writes one field: per-type prompts, and cleaning / parsing of what it wrote (pure)."""

from __future__ import annotations

import hashlib
import math
import random
import re
from typing import Any

from hf_synth.generation.backends.base import FatalBackendError, GenerationRequest

_QUOTES = "\"'“”‘’`«»"
_NUMBER_RE = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+")


def _label_pattern(field_name: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in re.split(r"[_\s-]+", field_name) if w]
    name = r"[\s_-]*".join(words) if words else re.escape(field_name)
    # "Title:", "**Title**:", "## Title -", "Answer:" ... at the very start.
    return re.compile(
        rf"^\s*(?:#+\s*)?(?:\*\*|__)?\s*(?:{name}|answer|output|response)\s*(?:\*\*|__)?\s*[:\-–—]\s*(?:\*\*|__)?",
        re.IGNORECASE,
    )


def clean_text(text: str, field_name: str, *, one_line: bool = False) -> str:
    """Strip labels ("Title:"), markdown emphasis and surrounding quotes; keep the text before the first blank
    line (before the first line break when `one_line`)."""
    text = text.replace("\r\n", "\n").strip()
    text = re.split(r"\n\s*\n" if not one_line else r"\n", text, maxsplit=1)[0].strip()
    text = _label_pattern(field_name).sub("", text, count=1).strip()
    # Emphasis / heading markers wrapping the whole answer carry no content.
    text = re.sub(r"^#+\s+", "", text)
    for marker in ("**", "__"):
        if text.startswith(marker) and text.endswith(marker) and len(text) > 2 * len(marker):
            text = text[len(marker) : -len(marker)].strip()
        elif text.startswith(marker) and text.count(marker) == 1:
            text = text[len(marker) :].strip()  # its closing half was cut by the token budget
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    elif text and text[0] in _QUOTES and text.count(text[0]) == 1:
        text = text[1:].strip()  # an opening quote whose closing half was cut by the token budget
    return text


# Names / descriptions of fields that are one line by nature: a 135M model otherwise runs a "title" on for
# a whole paragraph (seen in a product-review run: 150-word titles).
_ONE_LINE_NAME = re.compile(r"\b(?:title|headline|subject|name|label|tag|keywords?|topic)s?\b", re.IGNORECASE)
_ONE_LINE_DESCRIPTION = re.compile(
    r"\b(?:title|headline|subject line)\b|\bone[- ]line\b|\bsingle line\b", re.IGNORECASE
)
ONE_LINE_TOKENS = 48  # token budget of a one-line field


def is_one_line(field_name: str, spec: Any) -> bool:
    """Whether a string field is one line by nature (a title, headline, name...): generation then stops at
    the first line break and gets at most `ONE_LINE_TOKENS` tokens."""
    description = getattr(spec, "description", None) or ""
    return bool(_ONE_LINE_NAME.search(_human(field_name)) or _ONE_LINE_DESCRIPTION.search(description))


def parse_number(text: str) -> float | None:
    """First number in `text` ("1,200" → 1200.0, "-3.5" → -3.5), or None when there is none."""
    match = _NUMBER_RE.search(text)
    if match is None:
        return None
    try:
        return float(match.group(0).replace(",", ""))
    except ValueError:
        return None


def _range(minimum: float | None, maximum: float | None) -> tuple[float, float]:
    """A finite [lo, hi] for fallbacks: the field's bounds, widened by 100 on an open side."""
    lo = minimum if minimum is not None else (maximum - 100.0 if maximum is not None else 0.0)
    hi = maximum if maximum is not None else lo + 100.0
    return float(lo), float(max(lo, hi))


def coerce_number(
    value: float | None,
    *,
    integer: bool,
    minimum: float | None,
    maximum: float | None,
    rng: random.Random,
) -> int | float:
    """Clamp a parsed number into [minimum, maximum]; a value drawn uniformly from the range when None."""
    lo, hi = _range(minimum, maximum)
    if value is None or not math.isfinite(value):
        if integer:
            ilo, ihi = math.ceil(lo), math.floor(hi)
            return rng.randint(ilo, ihi) if ilo <= ihi else ilo
        return round(rng.uniform(lo, hi), 2)
    if minimum is not None:
        value = max(value, float(minimum))
    if maximum is not None:
        value = min(value, float(maximum))
    if integer:
        result = round(value)
        # Rounding may step outside a fractional bound (e.g. 2.6 with maximum 2.7 → 3).
        if maximum is not None and result > maximum:
            result = math.floor(maximum)
        if minimum is not None and result < minimum:
            result = math.ceil(minimum)
        return int(result)
    return float(value)


def _seed(*parts: Any) -> int:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


def _logaddexp(a: float, b: float) -> float:
    if a == float("-inf"):
        return b
    top = max(a, b)
    return top + math.log(math.exp(a - top) + math.exp(b - top))


def _human(name: str) -> str:
    return name.replace("_", " ").strip()


def _describe(name: str, spec: Any) -> str:
    description = (getattr(spec, "description", None) or "").strip().rstrip(".")
    return f"{_human(name)} ({description})" if description else _human(name)


def base_prompt(request: GenerationRequest) -> str:
    """The request prompt, with the previous attempt's rejection reason fed back."""
    prompt = request.prompt.strip()
    if request.feedback:
        prompt += f"\n\nNote: a previous answer was rejected ({request.feedback.strip()}). Avoid that."
    return prompt

def choice_prompt(base: str, name: str, spec: Any) -> tuple[list[Any], list[str], str]:
    """(values returned, answer texts scored, user prompt) of an enum or boolean field."""
    if getattr(spec, "type", None) == "boolean":
        user = f"{base}\n\nIs this true: {_describe(name, spec)}? Answer only yes or no."
        return [True, False], ["yes", "no"], user
    values = list(getattr(spec, "values", None) or [])
    if not values:
        raise FatalBackendError(f"enum field {name!r} has no values")
    answers = [str(v) for v in values]
    user = (
        f"{base}\n\nChoose the {_describe(name, spec)}. Options: {', '.join(answers)}. "
        "Answer with one option only."
    )
    return values, answers, user

def number_prompt(base: str, name: str, spec: Any) -> str:
    """The user prompt of an integer or number field (its bounds spelt out)."""
    kind = "whole number" if getattr(spec, "type", None) == "integer" else "number"
    lo, hi = getattr(spec, "minimum", None), getattr(spec, "maximum", None)
    bounds = ""
    if lo is not None and hi is not None:
        bounds = f" between {lo:g} and {hi:g}"
    elif lo is not None:
        bounds = f" of at least {lo:g}"
    elif hi is not None:
        bounds = f" of at most {hi:g}"
    return f"{base}\n\nWrite only the {_describe(name, spec)} as a {kind}{bounds}, digits only."

def pick(scores: list[float], temperature: float, rng: random.Random) -> int:
    """Index drawn from softmax(scores / temperature) (argmax at temperature 0)."""
    if temperature <= 0:
        return max(range(len(scores)), key=scores.__getitem__)
    top = max(scores)
    weights = [math.exp((s - top) / temperature) for s in scores]
    return rng.choices(range(len(scores)), weights=weights)[0]
