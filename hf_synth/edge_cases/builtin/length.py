"""Length kinds: ``very_short`` and ``very_long`` (LLM-instructed word counts of a string field)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from hf_synth.edge_cases.base import EdgeContext, EdgeKind, Mode
from hf_synth.edge_cases.checks import check_words

if TYPE_CHECKING:
    from hf_synth.edge_cases.settings import SettingsEnv

__all__ = ["VeryLong", "VeryShort"]


class VeryShort(EdgeKind):
    """Boundary: the text field is ``min_words``..``max_words`` words (LLM-instructed)."""

    description: ClassVar[str] = "Text field of only a few words."

    mode: ClassVar[Mode] = "instructed"
    allowed: ClassVar[tuple[str, ...]] = ("field", "min_words", "max_words")

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: SettingsEnv) -> dict[str, Any]:
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

    description: ClassVar[str] = "Text field of hundreds of words."

    mode: ClassVar[Mode] = "instructed"
    allowed: ClassVar[tuple[str, ...]] = ("field", "min_words")

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: SettingsEnv) -> dict[str, Any]:
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
