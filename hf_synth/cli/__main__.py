"""`python -m hf_synth.cli ...` runs the `hf-synth` command."""

import sys

from hf_synth.cli.main import main

sys.exit(main())
