"""The edge-case stage: kinds of unusual rows a recipe asks for, each with its LLM instruction,
deterministic transform, check, token budget and card description, so no other stage names a kind.

`text` word tokens, normalisation, similarity, character classes · `checks` check functions and user
check strings · `settings` what a kind's `resolve` sees · `common` settings every kind accepts ·
`base` `EdgeContext` and the `EdgeKind` hooks · `builtin/` the built-in kinds by family · `user`
user-defined kinds · `registry` name → built-in class · `build` recipe config → kinds.
"""

from hf_synth.edge_cases.base import EdgeContext, EdgeKind, PartnerMissingError
from hf_synth.edge_cases.build import build_kinds
from hf_synth.edge_cases.checks import USER_CHECKS
from hf_synth.edge_cases.registry import BUILTIN_KINDS, kind_description
from hf_synth.edge_cases.text import (
    find_exact_duplicates,
    jaccard_similarity,
    normalise_text,
    word_count,
    word_tokens,
)
from hf_synth.errors import EdgeCaseConfigError

__all__ = [
    "BUILTIN_KINDS",
    "USER_CHECKS",
    "EdgeCaseConfigError",
    "EdgeContext",
    "EdgeKind",
    "PartnerMissingError",
    "build_kinds",
    "find_exact_duplicates",
    "jaccard_similarity",
    "kind_description",
    "normalise_text",
    "word_count",
    "word_tokens",
]
