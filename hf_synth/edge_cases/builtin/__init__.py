"""The built-in kind classes, one module per family (registered by name in `hf_synth.edge_cases.registry`)."""

from hf_synth.edge_cases.builtin.characters import SpecialChars, UnicodeNames
from hf_synth.edge_cases.builtin.length import VeryLong, VeryShort
from hf_synth.edge_cases.builtin.missing import EmptyField, NullOptional, WhitespaceOnly
from hf_synth.edge_cases.builtin.partners import ContrastPair, ExactDuplicate, NearDuplicate
from hf_synth.edge_cases.builtin.values import InvalidValue, MaxValue, MinValue

__all__ = [
    "ContrastPair",
    "EmptyField",
    "ExactDuplicate",
    "InvalidValue",
    "MaxValue",
    "MinValue",
    "NearDuplicate",
    "NullOptional",
    "SpecialChars",
    "UnicodeNames",
    "VeryLong",
    "VeryShort",
    "WhitespaceOnly",
]
