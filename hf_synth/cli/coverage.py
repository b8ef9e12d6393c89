"""`hf-synth coverage SYNTHETIC --reference REFERENCE`: how much of a real set a synthetic set covers.

Registered by `add_subparser`; the handler returns an exit code (0 ok, 2 bad input).
With --json, stdout holds exactly one JSON object; logs and progress bars go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from hf_synth.cli.command import command

# Plain constant (not imported from static_embed) so `--help` does not import numpy.
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
    p.add_argument("--k", type=int, default=5, help="neighbours for the kNN metrics (default 5)")
    p.add_argument("--n-clusters", type=int, default=None, help="reference regions (default: N/12, 2-256)")
    p.set_defaults(func=run)


def _summary(report: dict) -> str:
    knn, cl, div, sizes = report["knn"], report["clusters"], report["diversity"], report["sizes"]
    lines = [
        f"coverage: {report['coverage']:.3f}   (synthetic {sizes['synthetic']} rows, "
        f"reference {sizes['reference']} rows, seed {report['seed']})",
        f"  embedder: {_embedder_line(report)}",
        f"  definition: {report['coverage_definition']}",
    ]
    if knn:
        lines.append(
            f"kNN (k={knn['k']}, {knn['n_per_side']} per side x {knn['n_resamples']}): "
            f"precision {knn['precision']:.3f}  recall {knn['recall']:.3f}  density {knn['density']:.3f}  "
            f"coverage {knn['coverage']:.3f} (a sample of the reference: {knn['expected_coverage']:.3f})"
        )
    lines.append(
        f"regions: {cl['filled_regions']}/{cl['n_clusters']} filled, {cl['coverage']:.3f} of reference mass "
        f"(a sample of the reference: {cl['expected_coverage']:.3f}); "
        f"total variation {cl['total_variation']:.3f}"
    )
    syn, ref = div["synthetic"], div["reference"]
    lines.append(
        f"diversity on {div['n_rows_compared']} rows (synthetic | reference): vendi {syn['vendi']:.1f} | "
        f"{ref['vendi']:.1f}, distinct-2 {syn['distinct_2']:.3f} | {ref['distinct_2']:.3f}, "
        f"near-duplicates {syn['near_duplicate_rate']:.1%} | {ref['near_duplicate_rate']:.1%}, "
        f"leakage {div['leakage']['rate']:.1%}"
    )
    legacy = report["legacy_ks_score"]
    value = "n/a" if legacy["value"] is None else f"{legacy['value']:.3f}"
    lines.append(f"legacy KS score: {value} (not a coverage measure)")
    if report["uncovered"]:
        lines.append("under-filled reference regions (worst first):")
        for region in report["uncovered"][:10]:
            lines.append(
                f"  {region['share']:.1%} of reference, {region['synthetic_share']:.1%} of synthetic, e.g.:"
            )
            for text in region["examples"][:3]:
                shown = text if len(text) <= 100 else text[:97] + "..."
                lines.append(f"    - {shown!r}")
    check = report.get("cross_check")
    if check:
        lines.append(
            f"cross-check on {check['n_synthetic']} + {check['n_reference']} rows (seed {check['seed']}): "
            f"headline static {check['static']['coverage']:.3f} vs MiniLM "
            f"{check['default']['coverage']:.3f}, kNN coverage {check['static']['knn_coverage']:.3f} vs "
            f"{check['default']['knn_coverage']:.3f}"
        )
    for warning in report["warnings"]:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


def _embedder_line(report: dict) -> str:
    emb = report.get("embedder") or {}
    text = f"{emb.get('kind', '?')} ({emb.get('model_id', report.get('model'))})"
    if emb.get("reason"):
        text += f"; {emb['reason']}"
    return text


def _n_rows(path: str) -> int:
    """Rows of a source without reading its texts (parquet metadata; csv/jsonl are read)."""
    from hf_synth.quality.embed.store import _capacity
    from hf_synth.quality.textsource import detect

    _, files, _ = detect(path)
    return _capacity(files, "")


@command
def run(args: argparse.Namespace) -> int:
    """Load both sides, compute the report, print it. Returns the exit code."""
    from hf_synth.quality.embed.sentence import Embedder

    kind = getattr(args, "embedder", "default") or "default"
    engine = getattr(args, "engine", "local") or "local"
    if kind not in ("default", "static", "auto") and not Path(kind).expanduser().exists():
        print(
            f"hf-synth coverage: --embedder {kind!r}: use default, static, auto or a model folder",
            file=sys.stderr,
        )
        return 2
    try:
        n_rows = _n_rows(args.synthetic) + _n_rows(args.reference)
    except (OSError, ValueError) as exc:
        print(f"hf-synth coverage: {exc}", file=sys.stderr)
        return 2
    from hf_synth.quality.embed.static import StaticEmbedder, describe_embedder, make_embedder

    embedder = make_embedder(kind, n_rows, source_model=args.model, threshold=AUTO_STATIC_THRESHOLD)
    block = describe_embedder(embedder)
    block["requested"] = kind
    if kind == "auto":
        chose = "static" if isinstance(embedder, StaticEmbedder) else "default"
        rel = ">" if chose == "static" else "<="
        block["reason"] = f"auto: {n_rows:,} texts {rel} {AUTO_STATIC_THRESHOLD:,} → {chose}"
    if isinstance(embedder, Embedder) and engine == "local":
        code, report = _run_in_memory(args, embedder)
    else:
        code, report = _run_out_of_core(args, embedder, engine)
    if code:
        return code
    report["embedder"] = block
    report["engine"] = engine
    if kind == "auto" and isinstance(embedder, StaticEmbedder) and args.cross_check_rows > 0:
        from hf_synth.quality.embed.static import cross_check
        from hf_synth.quality.embed.store import read_text_column

        syn_texts, _, _ = read_text_column(args.synthetic, report["sources"]["synthetic"]["column"])
        ref_texts, _, _ = read_text_column(args.reference, report["sources"]["reference"]["column"])
        sink = sys.stderr if args.json else sys.stdout
        with contextlib.redirect_stdout(sink):
            report["cross_check"] = cross_check(
                syn_texts,
                ref_texts,
                fast=embedder,
                slow=Embedder(args.model),
                n_per_side=args.cross_check_rows,
                seed=args.seed,
                k=args.k,
            )
    if args.json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        print(_summary(report))
    return 0


def _run_out_of_core(args: argparse.Namespace, embedder: Any, engine: str) -> tuple[int, dict]:
    """Stream both sides into memory-mapped stores (locally or with Ray Data), then every metric."""
    from hf_synth.quality.embed.static import StaticEmbedder
    from hf_synth.quality.embed.store import coverage_from_sources

    vector_source = None
    if engine == "ray":
        from hf_synth.quality.embed.ray_engine import ray_vector_source

        kind = "static" if isinstance(embedder, StaticEmbedder) else "default"
        if kind == "default" and args.embedder not in ("default", "auto"):
            kind = args.embedder  # a model path
        vector_source = ray_vector_source(kind, args.model)
    store_dirs = None
    if args.store_dir:
        root = Path(args.store_dir)
        store_dirs = (root / "synthetic", root / "reference")
    sink = sys.stderr if args.json else sys.stdout
    try:
        with contextlib.redirect_stdout(sink):
            report, info = coverage_from_sources(
                args.synthetic,
                args.reference,
                embedder,
                text_column=args.text_column,
                reference_text_column=args.reference_text_column or args.text_column,
                store_dirs=store_dirs,
                vector_source=vector_source,
                seed=args.seed,
                k=args.k,
                n_clusters=args.n_clusters,
            )
    except (OSError, ValueError) as exc:
        print(f"hf-synth coverage: {exc}", file=sys.stderr)
        return 2, {}
    for side in ("synthetic", "reference"):
        if info["n_null"][side]:
            report["warnings"].append(
                f"{info['n_null'][side]} null texts skipped in the {side} column {info['columns'][side]!r}"
            )
    from hf_synth.quality.textsource import detect

    report["sources"] = {}
    for side, path in (("synthetic", args.synthetic), ("reference", args.reference)):
        kind, files, _ = detect(path)
        report["sources"][side] = {
            "path": str(path),
            "kind": kind,
            "column": info["columns"][side],
            "files": len(files),
            "embeddings": info["stores"][side],
        }
    return 0, report


def _run_in_memory(args: argparse.Namespace, embedder: Any) -> tuple[int, dict]:
    """Both sides read into lists and embedded with the SQLite-cached sentence-transformer."""
    from hf_synth.quality.coverage import coverage_report
    from hf_synth.quality.textsource import load_texts

    try:
        # A column named for one side is the natural default for the other (two csv files, one schema).
        syn = load_texts(
            args.synthetic, args.text_column, fallback_columns=[args.reference_text_column or ""]
        )
        ref = load_texts(
            args.reference, args.reference_text_column, fallback_columns=[args.text_column or ""]
        )
    except (OSError, ValueError) as exc:
        print(f"hf-synth coverage: {exc}", file=sys.stderr)
        return 2, {}
    if len(syn.texts) < 2 or len(ref.texts) < 2:
        print(
            f"hf-synth coverage: need at least 2 texts per side (synthetic {len(syn.texts)}, "
            f"reference {len(ref.texts)})",
            file=sys.stderr,
        )
        return 2, {}
    # Libraries sometimes print; in --json mode stdout must hold only the JSON object.
    sink = sys.stderr if args.json else sys.stdout
    with contextlib.redirect_stdout(sink):
        report = coverage_report(
            syn.texts,
            ref.texts,
            embedder=embedder,
            seed=args.seed,
            k=args.k,
            n_clusters=args.n_clusters,
        )
    for side, src in (("synthetic", syn), ("reference", ref)):
        if src.n_null:
            report["warnings"].append(f"{src.n_null} null texts skipped in the {side} column {src.column!r}")
    report["sources"] = {
        side: {"path": str(path), "kind": src.kind, "column": src.column, "files": len(src.files)}
        for side, path, src in (("synthetic", args.synthetic, syn), ("reference", args.reference, ref))
    }
    return 0, report
