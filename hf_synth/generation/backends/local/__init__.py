"""The embedded local backend: a transformers causal LM (SmolLM2-135M-Instruct GGUF by default) on CPU.

`model` finds and loads the model, `fields` holds the per-field prompts and parsing, `batching` runs rows of
work from concurrent requests together, `backend` is the `Backend` itself.
"""

from hf_synth.generation.backends.local.backend import LocalBackend
from hf_synth.generation.backends.local.fields import clean_text, coerce_number, is_one_line, parse_number
from hf_synth.generation.backends.local.model import (
    LocalModelNotFoundError,
    default_local_model,
    resolve_model_path,
)

__all__ = [
    "LocalBackend",
    "LocalModelNotFoundError",
    "clean_text",
    "coerce_number",
    "default_local_model",
    "is_one_line",
    "parse_number",
    "resolve_model_path",
]
