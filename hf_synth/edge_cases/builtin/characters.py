"""Character kinds: ``unicode_names`` (non-ASCII names), ``special_chars`` (invisible/control characters)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from hf_synth.edge_cases.base import EdgeContext, EdgeKind, Mode, pick
from hf_synth.edge_cases.checks import check_non_ascii, check_special_chars
from hf_synth.edge_cases.text import COMBINING, HARD_SPECIALS, MATH, is_non_ascii_visible
from hf_synth.errors import EdgeCaseConfigError

if TYPE_CHECKING:
    from hf_synth.edge_cases.base import Rng
    from hf_synth.edge_cases.settings import SettingsEnv

__all__ = ["UNICODE_NAMES", "SpecialChars", "UnicodeNames"]

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


class UnicodeNames(EdgeKind):
    """Special characters: names with accents, non-Latin scripts or emoji."""

    description: ClassVar[str] = "Non-ASCII letters, marks or symbols in a field."

    mode: ClassVar[Mode] = "both"
    allowed: ClassVar[tuple[str, ...]] = ("field", "names")

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: SettingsEnv) -> dict[str, Any]:
        name = env.field(raw, types=("string",))
        names = raw.get("names", list(UNICODE_NAMES))
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise EdgeCaseConfigError(env.key("names"), "expected a non-empty list of name strings")
        for i, n in enumerate(names):
            if not any(is_non_ascii_visible(c) for c in n):
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
        if isinstance(value, str) and any(is_non_ascii_visible(c) for c in value):
            return out  # the LLM already followed the instruction
        person = pick(rng, self.settings["names"])
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

    description: ClassVar[str] = "Zero-width, bidi, combining or control characters in a field."

    mode: ClassVar[Mode] = "both"
    auditable: ClassVar[bool] = False
    allowed: ClassVar[tuple[str, ...]] = ("field", "n_chars")

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: SettingsEnv) -> dict[str, Any]:
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
        chars = [pick(rng, HARD_SPECIALS)]
        chars += [pick(rng, HARD_SPECIALS + MATH) for _ in range(self.settings["n_chars"] - 1)]
        for ch in chars:
            if ch in COMBINING:
                # A combining mark belongs after a letter; elsewhere it would be an orphan.
                spots = [i + 1 for i, c in enumerate(text) if c.isalpha()] or [len(text)]
            else:
                spots = list(range(len(text) + 1))
            pos = pick(rng, spots)
            text = text[:pos] + ch + text[pos:]
        out[name] = text
        return out

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        return check_special_chars(self.settings["field"])(item, context)
