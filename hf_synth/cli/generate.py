"""`hf-synth generate RECIPE --out DIR`: generate (or resume) a recipe into a Hub-ready folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from hf_synth.cli.command import command


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `generate` command."""
    g = subparsers.add_parser("generate", help="generate (or resume) a recipe into a Hub-ready folder")
    g.add_argument("recipe", help="recipe YAML file")
    g.add_argument("--out", required=True, help="output folder (re-running the same command resumes it)")
    g.add_argument(
        "--backend",
        choices=["anthropic", "local"],
        help="anthropic (Claude; needs ANTHROPIC_API_KEY) or local (the embedded model); default: the "
        "recipe's, falling back to local when no API key is set",
    )
    g.add_argument("--model", help="model name (anthropic) or local model folder / GGUF path")
    g.add_argument("--limit", type=int, help="scale the plan down to N rows, keeping every guarantee")
    g.add_argument("--concurrency", type=int, help="requests in flight (default: the recipe's)")
    g.add_argument("--batch", action="store_true", help="use the Message Batches API (50%% off)")
    g.add_argument("--budget", type=float, metavar="USD", help="stop cleanly before spending more than USD")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    g.add_argument(
        "--audit",
        action="store_true",
        help="blind label audit: a judge re-labels every row from its text and disagreeing rows are "
        "regenerated (the recipe's `audit` block, or its defaults when the recipe has none)",
    )
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="delete the contents of --out first when it holds another recipe's dataset or files hf-synth "
        "did not write (the removed names are printed)",
    )
    g.add_argument(
        "--no-quality", action="store_true", help="skip coverage, label fidelity and near-dup control"
    )
    g.set_defaults(func=run)


@command
def run(args: argparse.Namespace) -> int:
    """Generate, then print the summary; exit 1 when validation failed."""
    from hf_synth.pipeline import RunOptions, generate

    result = generate(
        args.recipe,
        Path(args.out),
        RunOptions(
            backend=args.backend,
            model=args.model,
            concurrency=args.concurrency,
            limit=args.limit,
            progress=not args.no_progress,
            quality=not args.no_quality,
            batch=True if args.batch else None,
            budget_usd=args.budget,
            audit=args.audit,
        ),
        overwrite=args.overwrite,
    )
    from hf_synth.cli.summary import summary  # after the run: it imports datasets (see hf_synth.preload)

    print(summary(result.folder, result.report, result.stats))
    return 0 if result.ok else result.exit_code
