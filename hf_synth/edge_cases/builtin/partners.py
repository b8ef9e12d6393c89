"""Partner kinds: ``exact_duplicate``, ``near_duplicate`` (same stratum), ``contrast_pair`` (across one
dimension).

Each row of these kinds is paired by the planner with a partner row (see `EdgeKind.partner`); the engine
generates the partner first and hands its finished fields to the kind in `EdgeContext.partner_item`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from hf_synth.edge_cases.base import EdgeContext, EdgeKind, Mode, PartnerMissingError
from hf_synth.edge_cases.checks import same_value, text_value
from hf_synth.edge_cases.text import jaccard_similarity, normalise_text
from hf_synth.errors import EdgeCaseConfigError

if TYPE_CHECKING:
    from hf_synth.edge_cases.base import Rng
    from hf_synth.edge_cases.settings import SettingsEnv

__all__ = ["ContrastPair", "ExactDuplicate", "NearDuplicate"]


def _partner_item(kind: EdgeKind, context: EdgeContext) -> dict[str, Any]:
    if context.partner_item is None:
        raise PartnerMissingError(f"{kind.name} needs its partner row, which has not been generated yet")
    return context.partner_item


def _partner_text(context: EdgeContext) -> str:
    return text_value(context.partner_item or {}, context.text_field) or ""


class ExactDuplicate(EdgeKind):
    """Duplicates: a copy of the partner row's fields (same stratum)."""

    description: ClassVar[str] = "An exact copy of its partner row."

    mode: ClassVar[Mode] = "transformed"
    needs_generation: ClassVar[bool] = False

    @property
    def partner(self) -> str | None:
        return "same_stratum"

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
                else same_value(a, b)
            )
            if not same:
                return f"{name} differs from the partner row's"
        return None


class NearDuplicate(EdgeKind):
    """Duplicates: a paraphrase of the partner row's text (same stratum)."""

    description: ClassVar[str] = "A close paraphrase of its partner row."

    mode: ClassVar[Mode] = "instructed"
    allowed: ClassVar[tuple[str, ...]] = ("min_similarity",)
    default_similarity: ClassVar[float] = 0.3

    @property
    def partner(self) -> str | None:
        return "same_stratum"

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: SettingsEnv) -> dict[str, Any]:
        return {"min_similarity": env.fraction(raw, "min_similarity", cls.default_similarity)}

    def instruction(self, context: EdgeContext) -> str | None:
        _partner_item(self, context)
        return (
            f"Edge case (near duplicate): write the `{context.text_field}` as a close paraphrase of the text "
            "below: same situation, details and meaning, mostly the same words, but not a verbatim copy "
            "(reword a few phrases).\n<<<\n" + _partner_text(context) + "\n>>>"
        )

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        if context.partner_item is None:
            return "partner row is not available"
        text, other = text_value(item, context.text_field), _partner_text(context)
        if normalise_text(text) == normalise_text(other):
            return "text is identical to the partner's (after normalisation)"
        sim = jaccard_similarity(text, other)
        want = self.settings["min_similarity"]
        if sim < want:
            return f"word overlap with the partner is {sim:.2f}, expected at least {want}"
        return None


class ContrastPair(NearDuplicate):
    """Duplicates: looks like the partner's text, carries this row's (different) label."""

    description: ClassVar[str] = "A near-copy of its partner row with a different value of one dimension."

    mode: ClassVar[Mode] = "instructed"
    allowed: ClassVar[tuple[str, ...]] = ("across", "min_similarity")
    default_similarity: ClassVar[float] = 0.2

    @property
    def partner(self) -> str | None:
        return f"across:{self.settings['across']}"

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: SettingsEnv) -> dict[str, Any]:
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
        return super().check(item, context)
