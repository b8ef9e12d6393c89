"""Every error hf-synth raises on purpose, each with the process exit code the CLI ends with.

The library raises these and never exits; `hf_synth.cli.main` maps them to exit codes in one place:

- 0 done
- 1 validation failed: the data does not meet its targets (`ValidationFailedError`)
- 2 bad recipe, bad arguments or bad input files; nothing was spent (`UsageError` and its subclasses)
- 3 incomplete run or budget reached; finished work is kept, re-run to resume (`IncompleteRunError`,
  `BudgetExceededError`); an incomplete folder is not pushed (`IncompleteFolderError`)
- 4 the backend refused: missing or rejected API key, bad request, model not found (`BackendRefusedError`)
- 5 the Hub failed or refused: unreachable, auth, tag exists, concurrent change (`HubError`)
- 130 interrupted (Ctrl-C)

Messages never contain secrets: whoever builds one from a server's answer scrubs tokens first.
"""

from __future__ import annotations

import importlib
from typing import Any

EXIT_OK = 0
EXIT_VALIDATION = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
EXIT_BACKEND = 4
EXIT_HUB = 5
EXIT_INTERRUPTED = 130


class HfSynthError(Exception):
    """Base of every error hf-synth raises on purpose; `exit_code` is what the CLI exits with."""

    exit_code: int = EXIT_USAGE


class UsageError(HfSynthError, ValueError):
    """Bad arguments or bad input (a file that cannot be read, a column that does not exist)."""

    exit_code = EXIT_USAGE


class RecipeError(UsageError):
    """A recipe that cannot be run; `str()` lists one `key.path: what was expected` per line."""

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        head = f"invalid recipe {source}" if source else "invalid recipe"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in problems))


class PlanError(UsageError):
    """A plan specification that no plan can satisfy (e.g. edge-case counts above the size)."""


class EdgeCaseConfigError(UsageError):
    """An invalid edge-case kind setting; `path` is its recipe key path (edge_cases.kinds.<kind>...)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


class OutputFolderError(UsageError):
    """The output folder belongs to another recipe, was not made by hf-synth, or is in use."""


class ValidationFailedError(HfSynthError):
    """A generated folder does not meet its targets (counts, edge-case checks, field types)."""

    exit_code = EXIT_VALIDATION


class IncompleteRunError(HfSynthError):
    """Quotas could not be met within the attempts; finished work stays in the run store."""

    exit_code = EXIT_INCOMPLETE

    def __init__(self, short_cells: dict[str, int], slot_errors: dict[int, str]) -> None:
        self.short_cells = short_cells
        self.slot_errors = slot_errors
        cells = ", ".join(f"{cell} (short {n})" for cell, n in sorted(short_cells.items()))
        sample = "; ".join(f"slot {sid}: {err}" for sid, err in list(slot_errors.items())[:5])
        super().__init__(
            f"{sum(short_cells.values())} rows could not be generated; short cells: {cells}. "
            f"Last errors: {sample}. Re-run the same command to resume."
        )


class IncompleteFolderError(HfSynthError):
    """A folder holding an incomplete run (report.json `complete: false`) was to be published; it is not."""

    exit_code = EXIT_INCOMPLETE


class BudgetExceededError(HfSynthError):
    """The next requests would spend more than the budget; finished work stays resumable."""

    exit_code = EXIT_INCOMPLETE

    def __init__(self, budget: float, spent: float, pending: int) -> None:
        self.budget, self.spent, self.pending = budget, spent, pending
        super().__init__(
            f"budget ${budget:.2f} reached (spent ${spent:.4f} including failed requests); {pending} rows "
            "not generated. Re-run with a larger --budget to resume."
        )


class BackendRefusedError(HfSynthError):
    """The backend refused for good (auth, bad request, missing model): retrying cannot help."""

    exit_code = EXIT_BACKEND


def import_extra(module: str, extra: str, purpose: str) -> Any:
    """Import an optional dependency, or raise UsageError naming the pip extra that installs it.

    A missing extra is the user's set-up, not a bug: it gets exit 2 and the command to run, not a traceback.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UsageError(f'{purpose} needs {module.split(".")[0]}: pip install "hf-synth[{extra}]"') from exc


class HubError(HfSynthError):
    """The Hub could not be read or written; the message says why and what to do (never the token)."""

    exit_code = EXIT_HUB


__all__ = [
    "EXIT_BACKEND",
    "EXIT_HUB",
    "EXIT_INCOMPLETE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "EXIT_VALIDATION",
    "BackendRefusedError",
    "BudgetExceededError",
    "EdgeCaseConfigError",
    "HfSynthError",
    "HubError",
    "IncompleteFolderError",
    "IncompleteRunError",
    "OutputFolderError",
    "PlanError",
    "RecipeError",
    "UsageError",
    "ValidationFailedError",
    "import_extra",
]
