"""The `hf-synth` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from hf_synth.recipe import RecipeError, load_recipe

DEMO_RECIPE = Path(__file__).resolve().parent / "data" / "demo.yaml"

EXIT_VALIDATION = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3


def _plan_cmd(args: argparse.Namespace) -> int:
    from hf_synth.planning.plan import make_plan
    from hf_synth.planning.spec import plan_spec

    recipe = load_recipe(args.recipe)
    plan = make_plan(plan_spec(recipe), limit=args.limit)
    table = plan.to_table()
    if args.estimate:
        from hf_synth.planning.estimate import estimate_run

        table["estimate"] = estimate_run(recipe, plan)
    if args.json:
        print(json.dumps(table, indent=2, ensure_ascii=False))
        return 0
    from hf_synth.planning.view import format_plan

    print(format_plan(table))
    return 0


def _generate_cmd(args: argparse.Namespace) -> int:
    from hf_synth.pipeline import RunOptions, generate, summary

    recipe = load_recipe(args.recipe)
    options = RunOptions(
        backend=args.backend,
        model=args.model,
        concurrency=args.concurrency,
        limit=args.limit,
        progress=not args.no_progress,
        quality=not args.no_quality,
        batch=True if args.batch else None,
        budget_usd=args.budget,
    )
    out = Path(args.out)
    generate(recipe, out, options)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    print(summary(out, report))
    return 0 if report["validation"]["ok"] else EXIT_VALIDATION


def _validate_cmd(args: argparse.Namespace) -> int:
    from hf_synth.dataset.validate import format_validation, validate_folder

    result = validate_folder(args.dir)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(format_validation(result))
    return 0 if result["ok"] else EXIT_VALIDATION


def _demo_cmd(args: argparse.Namespace) -> int:
    import datasets

    from hf_synth.pipeline import RunOptions, generate, summary

    recipe = load_recipe(args.recipe or DEMO_RECIPE)
    out = Path(args.out)
    print(
        f"hf-synth demo: generating '{recipe.name}' with the embedded local model into {out}", file=sys.stderr
    )
    generate(recipe, out, RunOptions(backend="local", limit=args.limit))
    loaded = datasets.load_dataset(str(out))
    print("\nloaded back with datasets.load_dataset:")
    print(loaded)
    first = loaded[next(iter(loaded))][0]
    print("first row:", json.dumps(first, ensure_ascii=False)[:400])
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    print()
    print(summary(out, report))
    return 0 if report["validation"]["ok"] else EXIT_VALIDATION


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-synth", description="Stratified synthetic text datasets for the Hugging Face ecosystem."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("plan", help="print the exact quotas of a recipe (no LLM call)")
    p.add_argument("recipe")
    p.add_argument("--limit", type=int, help="scale the plan down to N rows, keeping every guarantee")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--estimate", action="store_true", help="estimate requests, tokens and dollars")
    p.set_defaults(func=_plan_cmd)

    g = sub.add_parser("generate", help="generate (or resume) a recipe into a Hub-ready folder")
    g.add_argument("recipe")
    g.add_argument("--out", required=True, help="output folder (re-running resumes it)")
    g.add_argument("--backend", choices=["anthropic", "local"])
    g.add_argument("--model", help="model name (anthropic) or local model folder / GGUF path")
    g.add_argument("--limit", type=int, help="scale the plan down to N rows, keeping every guarantee")
    g.add_argument("--concurrency", type=int, help="requests in flight")
    g.add_argument("--batch", action="store_true", help="use the Message Batches API (50%% off)")
    g.add_argument("--budget", type=float, metavar="USD", help="stop cleanly before spending more than USD")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument(
        "--no-quality", action="store_true", help="skip coverage, label fidelity and near-dup control"
    )
    g.set_defaults(func=_generate_cmd)

    v = sub.add_parser("validate", help="check a generated folder's realised counts against its targets")
    v.add_argument("dir")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_validate_cmd)

    d = sub.add_parser("demo", help="generate the embedded demo recipe with the local model and load it back")
    d.add_argument("--out", default="out/demo")
    d.add_argument("--recipe", help="another recipe to run instead of the demo")
    d.add_argument("--limit", type=int)
    d.set_defaults(func=_demo_cmd)

    from hf_synth import release
    from hf_synth.card import card
    from hf_synth.cli import coverage as coverage_cli
    from hf_synth.cli import hub as hub_cli

    coverage_cli.add_subparser(sub)
    card.add_subparser(sub)
    hub_cli.add_subparsers(sub)
    release.add_subparser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # Third-party request logs would drown the progress bar.
    for noisy in ("httpx", "httpx2", "httpcore", "urllib3", "filelock", "huggingface_hub", "datasets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from hf_synth.generation.engine import BudgetExceededError, IncompleteRunError

    try:
        return int(args.func(args) or 0)
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (IncompleteRunError, BudgetExceededError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    except KeyboardInterrupt:
        print("interrupted: finished rows are kept; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
