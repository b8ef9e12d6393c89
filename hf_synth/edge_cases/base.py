"""The edge-kind contract: `EdgeContext` (what a kind sees for one slot) and `EdgeKind` with its hooks.

For one slot the engine

1. appends ``kind.instruction(context)`` (when not None) to the rendered prompt, with an output budget of
   ``kind.request_max_tokens(...)`` tokens,
2. validates the LLM's item against the field types (or, when ``kind.needs_generation`` is False, sends
   no request at all),
3. applies ``kind.transform(item, context, rng)`` (pure: returns a new dict),
4. keeps the row when ``kind.check(item, context)`` is None, else regenerates it (the string is the reason).

Nothing here does I/O or calls an LLM; randomness comes only from the ``rng`` argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from hf_synth.edge_cases.common import CommonSettings

if TYPE_CHECKING:
    import random

    import numpy as np

    from hf_synth.edge_cases.settings import SettingsEnv
    from hf_synth.recipe.fields import FieldSpec

    Rng = random.Random | np.random.Generator

__all__ = ["EdgeContext", "EdgeKind", "Mode", "PartnerMissingError", "pick"]

#: *instructed* = only the LLM is asked, *transformed* = only the transform makes the property,
#: *both* = the LLM is asked and the transform enforces or completes it.
Mode = Literal["instructed", "transformed", "both"]


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


@dataclass
class EdgeKind:
    """One edge-case kind of a recipe.

    ``settings`` are the kind's own resolved settings (defaults filled in, ``field`` resolved; plain data,
    JSON-able: the engine hashes them into the request key); ``common`` the settings every kind accepts
    (`CommonSettings`: the planner's quota).
    """

    name: str
    settings: dict[str, Any]
    common: CommonSettings = field(default_factory=CommonSettings)

    mode: ClassVar[Mode] = "instructed"
    #: False when the transform writes every field, so the engine need not call the LLM for this kind.
    needs_generation: ClassVar[bool] = True
    #: Settings keys this kind accepts besides the common ones (count/weight).
    allowed: ClassVar[tuple[str, ...]] = ()
    #: One line for the dataset card (user kinds show their instruction instead).
    description: ClassVar[str] = ""
    #: False when the kind's point is a text no reader can label (empty, blank, garbled): the blind label
    #: audit skips such rows and counts them as skipped.
    auditable: ClassVar[bool] = True

    def __post_init__(self) -> None:
        """Hook for subclasses that derive state from ``settings`` (dataclass calls it from __init__)."""

    @property
    def count(self) -> int | None:
        """Exact number of rows of this kind, None when the planner shares rows out by `weight`."""
        return self.common.count

    @property
    def weight(self) -> float:
        """Relative weight inside the edge share (1.0 when the config did not give one)."""
        return self.common.weight

    @property
    def partner(self) -> str | None:
        """How the planner pairs slots: None, ``"same_stratum"`` or ``"across:<dimension>"``."""
        return None

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
    def resolve(cls, raw: dict[str, Any], env: SettingsEnv) -> dict[str, Any]:
        """Validate the raw settings (common keys removed) and fill defaults; raises EdgeCaseConfigError."""
        return {}


def pick(rng: Rng, seq: tuple[Any, ...] | list[Any]) -> Any:
    """A uniform choice from ``seq`` drawn from a ``random.Random`` or a ``numpy.random.Generator``."""
    n = len(seq)
    return seq[int(rng.integers(n)) if hasattr(rng, "integers") else rng.randrange(n)]
