"""The report facts every card section reads, derived once from ``report.json`` and the folder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hf_synth.card.files import data_configs
from hf_synth.card.report_keys import as_list, dimension_order, total_rows


@dataclass(frozen=True)
class CardFacts:
    """Inputs of the card's view model.

    ``charts`` maps each dimension to its PNG path relative to ``folder``; ``configs`` is
    {config: {split: [parquet paths relative to folder]}}; ``dims_order`` is {dimension: values in recipe
    order}; ``total`` is the number of rows in the dataset.
    """

    report: Mapping[str, Any]
    folder: Path
    repo_id: str
    charts: Mapping[str, str]
    recipe: Mapping[str, Any]
    plan: Mapping[str, Any]
    targets: Mapping[str, Any]
    realised: Mapping[str, Any]
    generation: Mapping[str, Any]
    dims_order: dict[str, list[str]]
    strata_by: list[str]
    configs: dict[str, dict[str, list[str]]]
    pretty: str
    total: int

    @classmethod
    def from_report(
        cls, report: Mapping[str, Any], folder: Path, repo_id: str, charts: Mapping[str, str]
    ) -> CardFacts:
        """Read the facts from ``report`` (the content of report.json) for the card of ``folder``."""
        recipe = report.get("recipe") or {}
        plan = report.get("plan") or {}
        dims_order = dimension_order(recipe)
        return cls(
            report=report,
            folder=folder,
            repo_id=repo_id,
            charts=charts,
            recipe=recipe,
            plan=plan,
            targets=plan.get("targets") or {},
            realised=report.get("realised") or {},
            generation=report.get("generation") or {},
            dims_order=dims_order,
            strata_by=as_list(recipe.get("strata_by")) or list(dims_order),
            configs=data_configs(report, folder),
            pretty=str(recipe.get("pretty_name") or recipe.get("name") or folder.name),
            total=total_rows(report),
        )

    @property
    def fields_spec(self) -> Any:
        """The recipe's ``fields`` (normally {name: spec}); {} when absent."""
        return self.recipe.get("fields") or {}

    @property
    def text_field(self) -> Any:
        """Name of the recipe's text field, if it names one."""
        return self.recipe.get("text_field")
