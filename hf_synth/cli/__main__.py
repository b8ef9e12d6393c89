"""`python -m hf_synth.cli ...` runs the `hf-synth` command."""

from hf_synth.cli import entry

entry()
