"""What commands that resume a generated folder (`audit`, `fill-gaps`) read from its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def generation_backend(report: dict[str, Any], model: str | None) -> tuple[str, str | None]:
    """(backend, model) that made the folder's rows, so their request keys match and none is redone."""
    backend = report.get("generation", {}).get("backend") or report["recipe"]["backend"]["name"]
    recorded = model or report.get("generation", {}).get("model")
    if backend == "local" and model is None:
        from hf_synth.generation.backends.local.model import default_local_model

        if recorded and Path(default_local_model()).name == recorded:
            recorded = None  # the embedded model, wherever its wheel is installed here
    return backend, recorded
