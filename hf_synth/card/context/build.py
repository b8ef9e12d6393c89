"""The card's view model: one dict the template renders, assembled from one function per card section."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hf_synth.card.context.audit import audit
from hf_synth.card.context.citation import citation
from hf_synth.card.context.coverage import coverage
from hf_synth.card.context.distributions import charts as charts_section
from hf_synth.card.context.distributions import splits, strata
from hf_synth.card.context.edges import edge_cases
from hf_synth.card.context.facts import CardFacts
from hf_synth.card.context.fidelity import fidelity
from hf_synth.card.context.fields import fields
from hf_synth.card.context.overview import overview
from hf_synth.card.context.provenance import provenance
from hf_synth.card.context.status import status
from hf_synth.card.context.validation import validation

#: The card's sections in template order; each returns the template keys it owns (disjoint across sections).
SECTIONS: tuple[Callable[[CardFacts], dict[str, Any]], ...] = (
    overview,
    status,
    fields,
    strata,
    charts_section,
    splits,
    edge_cases,
    coverage,
    fidelity,
    audit,
    validation,
    provenance,
    citation,
)


def build_context(
    report: Mapping[str, Any], folder: Path, repo_id: str, charts: Mapping[str, str]
) -> dict[str, Any]:
    """The template's view model: numbers formatted, user/LLM text escaped or wrapped as data.

    ``report`` is the content of report.json, ``folder`` the dataset folder (parquet files are read for exact
    row counts), ``repo_id`` what the loading snippets pass to ``load_dataset``, ``charts`` {dimension: PNG
    path relative to ``folder``}.
    """
    facts = CardFacts.from_report(report, folder, repo_id, charts)
    context: dict[str, Any] = {}
    for section in SECTIONS:
        part = section(facts)
        clash = context.keys() & part.keys()
        if clash:  # a programming error: two sections would silently overwrite each other's keys
            raise RuntimeError(f"card sections both define {sorted(clash)}")
        context.update(part)
    return context
