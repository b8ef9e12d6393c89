"""`hf-synth coverage SYNTHETIC --reference REFERENCE`: how much of a real set a synthetic set covers.

Parses arguments, calls `hf_synth.quality.measure.measure_coverage`, prints the result: with --json
exactly one JSON object on stdout (logs and progress bars go to stderr), else the text of
`hf_synth.quality.readout.coverage_text`. Input errors are `UsageError`s (exit code 2).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from hf_synth.cli.command import command

# Plain constant (not imported from the quality package) so `--help` does not import numpy.
AUTO_STATIC_THRESHOLD = 20_000


def register(subparsers: Any) -> None:
    """Add the `coverage` command."""
    p = subparsers.add_parser(
        "coverage",
        help="measure how much of a real reference set a synthetic dataset covers",
        description=(
            "Each side is a generated folder (data/*.parquet + report.json), a Hub-style folder "
            "(parquet/csv/jsonl files below it) or a .csv/.jsonl/.parquet file."
        ),
    )
    p.add_argument("synthetic", help="synthetic dataset: folder or file")
    p.add_argument("--reference", required=True, help="real reference dataset: folder or file")
    p.add_argument(
        "--text-column", default=None, help="text column of SYNTHETIC (default: report text_field, else text)"
    )
    p.add_argument(
        "--reference-text-column", default=None, help="text column of REFERENCE (default: as above)"
    )
    p.add_argument(
        "--reference-max-rows",
        type=int,
        default=None,
        help="use a seeded random sample of this many reference rows (default: all)",
    )
    p.add_argument(
        "--max-samples",
        type=int,
        default=None,
        help="the subsample path: headline and rare list on seeded subsamples of this many rows per side "
        "(default: every row, full resolution)",
    )
    p.add_argument(
        "--neighbours",
        choices=["auto", "exact", "approximate"],
        default="auto",
        help="neighbour search: exact where it fits the time, approximate beyond with its recall measured "
        "and reported (auto, default), or always one of them; runs as Ray tasks with --engine ray",
    )
    p.add_argument(
        "--include-edge-cases",
        action="store_true",
        help="keep rows flagged is_edge_case (default: left out of coverage)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--seed", type=int, default=0, help="seed for subsamples and k-means (default 0)")
    p.add_argument(
        "--model", default=None, help="sentence-transformers name or path (default: all-MiniLM-L6-v2)"
    )
    p.add_argument(
        "--embedder",
        default="default",
        help=(
            "default (MiniLM, or --model), static (model2vec distilled from it, ~100x faster), auto (static "
            f"above {AUTO_STATIC_THRESHOLD:,} texts, cross-checked with MiniLM on a subsample), "
            "or a model path (default: default)"
        ),
    )
    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local: this process; ray: embed with Ray Data on $RAY_ADDRESS or a local Ray (default local)",
    )
    p.add_argument(
        "--store-dir",
        default=None,
        help="folder for the memory-mapped embedding stores (default: DIR/.hf-synth/embeddings of a "
        "generated folder, else the embeddings cache)",
    )
    p.add_argument(
        "--cross-check-rows",
        type=int,
        default=2_000,
        help="rows per side of the auto embedder's MiniLM cross-check (0: skip; default 2000)",
    )
    p.add_argument("--k", type=int, default=5, help="neighbours for the kNN diagnostics (default 5)")
    p.add_argument("--n-clusters", type=int, default=None, help="reference regions (default: N/12, 2-256)")
    p.add_argument(
        "--map",
        metavar="DIR",
        default=None,
        help="also draw the coverage map: DIR/coverage_map.png and DIR/coverage_map.html (interactive)",
    )
    p.add_argument(
        "--map-color",
        metavar="COLUMN",
        default=None,
        help="synthetic column that colours the map's points (default: the first recipe dimension of a "
        "generated folder, else one colour)",
    )
    p.set_defaults(func=run)


@command
def run(args: argparse.Namespace) -> int:
    """Measure coverage and print it. Returns the exit code (0; errors exit through `command`)."""
    from hf_synth.quality.measure import measure_coverage
    from hf_synth.quality.readout import coverage_text

    request = _map_request(args)
    # Libraries sometimes print; in --json mode stdout must hold only the JSON object.
    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
        result = measure_coverage(
            args.synthetic,
            args.reference,
            text_column=args.text_column,
            reference_text_column=args.reference_text_column,
            embedder=args.embedder or "default",
            model=args.model,
            engine=args.engine,
            store_dir=args.store_dir,
            cross_check_rows=args.cross_check_rows,
            reference_max_rows=args.reference_max_rows,
            include_edge_cases=args.include_edge_cases,
            seed=args.seed,
            k=args.k,
            n_clusters=args.n_clusters,
            max_samples=args.max_samples,
            neighbours=args.neighbours,
            coverage_map=request,
        )
    if args.json:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
    else:
        print(coverage_text(result))
        if result.map is not None:
            for key in ("png", "html"):
                print(f"coverage map: {Path(args.map) / result.map[key]}")
    return 0


def _map_request(args: argparse.Namespace) -> Any:
    """The `MapRequest` of --map/--map-color (None without --map; --map-color alone is a UsageError)."""
    from hf_synth.errors import UsageError

    if args.map is None:
        if args.map_color is not None:
            raise UsageError("--map-color needs --map DIR (the folder the map is written to)")
        return None
    from hf_synth.quality.map.from_coverage import MapRequest, default_colour_column

    colour = args.map_color or default_colour_column(args.synthetic)
    return MapRequest(
        out_dir=Path(args.map),
        colour_by=colour,
        label_columns=[colour] if colour else [],
        png_name="coverage_map.png",
        html_name="coverage_map.html",
    )
