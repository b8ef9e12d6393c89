"""`hf-synth demo`: the embedded offline demo (local model, BANKING77 reference), loaded back."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hf_synth.cli.command import command

DEMO_RECIPE = Path(__file__).resolve().parents[1] / "data" / "demo.yaml"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `demo` command."""
    d = subparsers.add_parser(
        "demo", help="generate the embedded demo recipe with the local model and load it back"
    )
    d.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    d.add_argument("--recipe", help="another recipe to run instead of the demo")
    d.add_argument("--limit", type=int, help="scale the plan down to N rows")
    d.set_defaults(func=run)


@command
def run(args: argparse.Namespace) -> int:
    """Generate the demo offline, load it with `datasets.load_dataset`, print a row and the summary."""
    import datasets

    from hf_synth.cli.summary import summary
    from hf_synth.pipeline import RunOptions, generate
    from hf_synth.recipe import load_recipe

    recipe = load_recipe(args.recipe or DEMO_RECIPE)
    out = Path(args.out)
    print(
        f"hf-synth demo: generating '{recipe.name}' with the embedded local model into {out}", file=sys.stderr
    )
    result = generate(recipe, out, RunOptions(backend="local", limit=args.limit))
    loaded = datasets.load_dataset(str(out))
    print("\nloaded back with datasets.load_dataset:")
    print(loaded)
    first = loaded[next(iter(loaded))][0]
    print("first row:", json.dumps(first, ensure_ascii=False)[:400])
    print()
    print(summary(result.folder, result.report, result.stats))
    return 0 if result.ok else result.exit_code
