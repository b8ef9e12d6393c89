"""The dataset card: ``README.md`` (YAML metadata + a generated Markdown block) and charts from report.json.

Modules: ``render`` (entry points, Jinja), ``readme`` (merge with an existing README), ``metadata`` (YAML),
``context/`` (the view model, one module per card section), ``escape`` and ``format`` (Markdown-safe text
and numbers), ``files`` (configs, parquet sizes, per-split column counts), ``charts`` (PNG bar charts) and
``publish`` (the card rendered for the repo id a folder is pushed to).
"""

from hf_synth.card.escape import SafeMd, escape_block, escape_cell, escape_inline, fenced, inline_code
from hf_synth.card.metadata import build_metadata, size_category
from hf_synth.card.publish import release_card
from hf_synth.card.readme import BEGIN, END, merge_readme, split_readme
from hf_synth.card.render import compose_card, render_card, render_card_from_folder, templates_dir

__all__ = [
    "BEGIN",
    "END",
    "SafeMd",
    "build_metadata",
    "compose_card",
    "escape_block",
    "escape_cell",
    "escape_inline",
    "fenced",
    "inline_code",
    "merge_readme",
    "release_card",
    "render_card",
    "render_card_from_folder",
    "size_category",
    "split_readme",
    "templates_dir",
]
