"""`GeneratedDataset`: what `hf_synth.generate` returns, a `DatasetDict` carrying its run's facts."""

from __future__ import annotations

from pathlib import Path

import datasets

from hf_synth.dataset.report import Report
from hf_synth.dataset.validate import ValidationResult
from hf_synth.errors import EXIT_OK, EXIT_VALIDATION
from hf_synth.generation.engine import GenerationStats

__all__ = ["GeneratedDataset"]


class GeneratedDataset(datasets.DatasetDict):
    """The generated `DatasetDict`, holding the run's `report`, `validation`, `stats` and `folder`."""

    report: Report
    validation: ValidationResult
    stats: GenerationStats
    folder: Path

    @property
    def ok(self) -> bool:
        """True when every target was met (validation passed)."""
        return bool(self.validation.ok)

    @property
    def exit_code(self) -> int:
        """The CLI exit code of this result: 0, or 1 when validation failed."""
        return EXIT_OK if self.ok else EXIT_VALIDATION
