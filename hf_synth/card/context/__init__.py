"""The card's view model, one module per card section (see ``build.SECTIONS``)."""

from hf_synth.card.context.build import SECTIONS, build_context
from hf_synth.card.context.facts import CardFacts

__all__ = ["SECTIONS", "CardFacts", "build_context"]
