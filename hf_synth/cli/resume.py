"""Commands that resume a generated folder (`audit`, `fill-gaps`): what they read from it, and the re-run."""

from __future__ import annotations

import argparse
import json
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


def read_folder(args: argparse.Namespace, command: str) -> tuple[Path, dict[str, Any], Path]:
    """(folder, its report.json, the recipe to resume: --recipe or DIR/recipe.yaml) of `args.dir`.

    Raises UsageError naming the missing file and what to pass instead.
    """
    from hf_synth.errors import UsageError

    folder = Path(args.dir)
    report_path = folder / "report.json"
    recipe_path = Path(args.recipe) if args.recipe else folder / "recipe.yaml"
    if not report_path.is_file():
        raise UsageError(
            f"{report_path} not found: `hf-synth {command}` needs a folder made by `hf-synth generate`"
        )
    if not recipe_path.is_file():
        raise UsageError(f"{recipe_path} not found: pass the recipe that made {folder} with --recipe")
    return folder, json.loads(report_path.read_text(encoding="utf-8")), recipe_path


def rerun(
    recipe: Any, folder: Path, report: dict[str, Any], args: argparse.Namespace, quality: bool = True
) -> int:
    """Generate `recipe` into `folder` again with the backend, model and --limit that made it (so finished
    rows are reused, not requested), print the summary and return the exit code (0, or 1 when validation
    failed)."""
    from hf_synth.cli.summary import summary
    from hf_synth.pipeline import RunOptions, generate

    backend, model = generation_backend(report, args.model)
    result = generate(
        recipe,
        folder,
        RunOptions(
            backend=backend,
            model=model,
            limit=(report.get("plan") or {}).get("limit"),
            progress=not args.no_progress,
            quality=quality,
            budget_usd=args.budget,
        ),
    )
    print(summary(result.folder, result.report, result.stats))
    return 0 if result.ok else result.exit_code
