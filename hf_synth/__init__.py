"""hf-synth: stratified synthetic text datasets for the Hugging Face ecosystem."""

__version__ = "0.1.0"
