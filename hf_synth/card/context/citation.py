"""Card section "License and citation": the license and BibTeX entries for the dataset and for hf-synth."""

from __future__ import annotations

import re
from typing import Any

from hf_synth import __version__
from hf_synth.card.context.facts import CardFacts
from hf_synth.card.escape import clean, fenced

# A Hub repo id ("org/name"); only these get a URL, local paths would be meaningless to readers.
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def bibtex_escape(s: str) -> str:
    """``s`` on one line with BibTeX's special characters backslash-escaped."""
    s = " ".join(clean(s).split())
    return re.sub(r"([\\{}%&#$_^~])", r"\\\1", s)


def _dataset_entry(f: CardFacts, year: str, version: str) -> str:
    key = re.sub(r"\W+", "_", str(f.recipe.get("name") or f.pretty), flags=re.ASCII).strip("_").lower()
    key = key or "dataset"
    lines = [
        f"@misc{{{key}_{year.replace('.', '')},",
        f"  title        = {{{bibtex_escape(f.pretty)}}},",
        f"  year         = {{{year}}},",
    ]
    if f.recipe.get("version"):
        lines.append(f"  version      = {{{bibtex_escape(str(f.recipe['version']))}}},")
    if _HUB_ID.fullmatch(f.repo_id) is not None:
        # \url{} takes a Hub id's characters (letters, digits, _ . - /) verbatim.
        lines.append(f"  howpublished = {{\\url{{https://huggingface.co/datasets/{f.repo_id}}}}},")
    lines.append(f"  note         = {{Synthetic dataset generated with hf-synth {bibtex_escape(version)}}}")
    lines.append("}")
    return "\n".join(lines)


def _tool_entry(year: str, version: str) -> str:
    return "\n".join(
        [
            "@software{hf_synth,",
            "  title   = {hf-synth: stratified synthetic text datasets for the Hugging Face ecosystem},",
            "  author  = {{hf-synth contributors}},",
            f"  version = {{{bibtex_escape(version)}}},",
            f"  year    = {{{year}}}",
            "}",
        ]
    )


def citation(f: CardFacts) -> dict[str, Any]:
    """Template keys: license, bib_dataset and bib_tool (fenced BibTeX; the year is "n.d." when unknown)."""
    year = str(f.report.get("created_at") or "")[:4]
    year = year if year.isdigit() else "n.d."
    version = str(f.report.get("hf_synth_version") or __version__)
    return {
        "license": f.recipe.get("license") or "other",
        "bib_dataset": fenced(_dataset_entry(f, year, version), "bibtex"),
        "bib_tool": fenced(_tool_entry(year, version), "bibtex"),
    }
