"""`hf-synth audit DIR`: run the blind label audit on a folder `hf-synth generate` made.

The folder's own recipe (`DIR/recipe.yaml`) is resumed with an `audit` block: the rows are already
finished under the backend, model and `--limit` that made them (read from `DIR/report.json`), so nothing is
generated again except the rows the audit sends back; then the data files, report and card are rewritten
with the `label_verified` and `judged_<dimension>` columns.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from hf_synth.cli.command import command
from hf_synth.cli.resume import read_folder, rerun

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `audit` command."""
    p = subparsers.add_parser(
        "audit",
        help="blind label audit of a generated folder: a judge re-labels every row from its text",
        description="A judge model reads every row's text fields (never its labels) and says which value of "
        "each audited dimension it shows. Disagreeing rows are regenerated with the judge's reading fed "
        "back (or flagged, or dropped and refilled); the folder gains label_verified and judged_<dimension> "
        "columns, and validation fails when a dimension's agreement is below min_agreement. Options "
        "override the recipe's audit block.",
    )
    p.add_argument("dir", help="output folder of `hf-synth generate`")
    p.add_argument("--recipe", help="recipe YAML to resume (default: DIR/recipe.yaml, the recipe as run)")
    p.add_argument(
        "--dimensions",
        help="comma-separated dimensions to audit (default: the recipe's audit.dimensions, else the stratum "
        "dimensions)",
    )
    p.add_argument(
        "--judge-backend",
        choices=["anthropic", "local"],
        help="the judge's backend (default: the backend that generated the rows)",
    )
    p.add_argument("--judge-model", help="the judge's model (with --judge-backend)")
    p.add_argument(
        "--on-disagree",
        choices=["regenerate", "flag", "drop-and-refill"],
        help="what happens to a row the judge reads differently (default: the recipe's, else regenerate)",
    )
    p.add_argument(
        "--min-agreement", type=float, help="validation fails below this agreement, per dimension (0..1)"
    )
    p.add_argument("--items-per-request", type=int, help="rows quoted per judge request (local: always 1)")
    p.add_argument(
        "--model",
        help="the generation model, when the name in DIR/report.json does not resolve here (local: the "
        "model folder or .gguf path that made the rows)",
    )
    p.add_argument("--budget", type=float, metavar="USD", help="stop cleanly before the folder spends more")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--no-quality", action="store_true", help="skip coverage, label fidelity and near-dup control"
    )
    p.set_defaults(func=run)


def audit_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The `audit` keys the command line sets (over the recipe's block)."""
    block: dict[str, Any] = {}
    if args.dimensions:
        block["dimensions"] = [d.strip() for d in args.dimensions.split(",") if d.strip()]
    if args.judge_backend:
        block["backend"] = {"name": args.judge_backend, "model": args.judge_model}
    elif args.judge_model:
        from hf_synth.errors import UsageError

        raise UsageError("--judge-model needs --judge-backend (anthropic or local)")
    if args.on_disagree:
        block["on_disagree"] = args.on_disagree
    if args.min_agreement is not None:
        block["min_agreement"] = args.min_agreement
    if args.items_per_request is not None:
        block["items_per_request"] = args.items_per_request
    return block


@command
def run(args: argparse.Namespace) -> int:
    """Audit the folder, then print the summary; exit 1 when validation failed."""
    from hf_synth.generation.audit.setup import with_audit
    from hf_synth.recipe import load_recipe, resolve_data_path

    folder, report, recipe_path = read_folder(args, "audit")
    recipe = with_audit(load_recipe(recipe_path), audit_overrides(args))
    ref = recipe.reference
    if ref is not None and "://" not in ref.path and not resolve_data_path(ref.path).is_file():
        # recipe.yaml names the reference by file name only; without the file there is no coverage to redo.
        log.warning(
            "reference %s not found: coverage is not measured (pass the recipe with --recipe)", ref.path
        )
        recipe = recipe.model_copy(update={"reference": None})
    return rerun(recipe, folder, report, args, quality=not args.no_quality)
