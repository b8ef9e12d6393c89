"""`measure_coverage`: the one entry point for coverage of a reference set by a synthetic set.

It checks both inputs first (files, columns, sizes: every problem is a `UsageError` naming the file and
the flag that fixes it, raised before any model loads), picks the embedder (`default` MiniLM, `static`,
`auto`, a model path or an embedder object), then one of three paths:

- in memory: both text columns read into lists and embedded with the SQLite-cached sentence-transformer
  (`coverage.coverage_report`); used for the sentence-transformer on the local engine, and whenever a
  side is given as a list of texts;
- out of core: each column streamed into a memory-mapped embedding store (`embed.store.embed_to_store`),
  every metric then on the memmaps; used for the static embedder or `engine="ray"`;
- Ray: the out-of-core path with the embedding done by Ray Data (`embed.ray_engine`).

When `auto` picked the static model, `cross_check` recomputes the headline with MiniLM on a seeded
subsample, so a static figure is never shown without its MiniLM counterpart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hf_synth.errors import UsageError
from hf_synth.quality.language import english_warning
from hf_synth.quality.result import CoverageResult

__all__ = [
    "AUTO_STATIC_THRESHOLD",
    "EDGE_FLAG",
    "coverage_from_sources",
    "cross_check",
    "measure_coverage",
]

AUTO_STATIC_THRESHOLD = 20_000  # as embed.static; repeated as a literal so this module imports no model code
EDGE_FLAG = "is_edge_case"  # the generated dataset's edge-case column
ENGINES = ("local", "ray")
EMBEDDER_KINDS = ("default", "static", "auto")
_FLAGS = {
    "synthetic": "--text-column (text_column=)",
    "reference": "--reference-text-column (reference_text_column=)",
}


@dataclass
class _Side:
    """One input after checking: a path with its files and column, or texts given directly."""

    name: str  # "synthetic" | "reference"
    path: str | None
    texts: list[str] | None
    column: str | None
    kind: str
    files: list[Path] = field(default_factory=list)
    n_rows: int = 0  # rows in the files (before nulls and exclusions)


def _check_side(name: str, source: Any, column: str | None, fallback: str | None) -> _Side:
    """Resolve a source without reading its texts (parquet: footer only); UsageError on bad input."""
    from hf_synth.quality.textsource import resolve_column

    if not isinstance(source, (str, Path)):
        texts = ["" if t is None else str(t) for t in source]
        return _Side(name, None, texts, None, "texts", n_rows=len(texts))
    try:
        kind, files, col = resolve_column(source, column, fallback_columns=[fallback] if fallback else [])
    except FileNotFoundError as exc:
        raise UsageError(f"{name} {exc}") from exc
    except ValueError as exc:
        hint = f"; choose it with {_FLAGS[name]}" if "no column" in str(exc) else ""
        raise UsageError(f"{name}: {exc}{hint}") from exc
    from hf_synth.quality.embed.store import _capacity

    try:
        n_rows = _capacity(files, col)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{name}: {exc}") from exc
    return _Side(name, str(source), None, col, kind, files, n_rows)


def _pick_embedder(embedder: Any, model: str | None, n_rows: int, engine: str) -> tuple[Any, dict[str, Any]]:
    """(embedder object, the report's `embedder` block)."""
    from hf_synth.quality.embed.static import StaticEmbedder, describe_embedder, make_embedder

    if not isinstance(embedder, str):
        return embedder, describe_embedder(embedder)
    picked = make_embedder(embedder, n_rows, source_model=model, threshold=AUTO_STATIC_THRESHOLD)
    block = describe_embedder(picked)
    block["requested"] = embedder
    if embedder == "auto":
        chose = "static" if isinstance(picked, StaticEmbedder) else "default"
        rel = ">" if chose == "static" else "<="
        block["reason"] = f"auto: {n_rows:,} texts {rel} {AUTO_STATIC_THRESHOLD:,} → {chose}"
    return picked, block


def _english_only(embedder: Any) -> bool:
    """True for the bundled all-MiniLM-L6-v2 and static models distilled from it (English-only)."""
    from hf_synth.quality.embed.sentence import resolve_model

    minilm = resolve_model(None)[0]
    return minilm in (getattr(embedder, "model_id", ""), getattr(embedder, "source_model_id", ""))


def _sample_rows(n: int, max_rows: int | None, seed: int) -> np.ndarray | None:
    """Seeded random row numbers (ascending) when n > max_rows, else None (all rows)."""
    if not max_rows or n <= max_rows:
        return None
    return np.sort(np.random.default_rng([seed, 0x4D52]).choice(n, max_rows, replace=False))


def measure_coverage(
    synthetic: str | Path | Sequence[str],
    reference: str | Path | Sequence[str],
    *,
    text_column: str | None = None,
    reference_text_column: str | None = None,
    embedder: Any = "default",
    model: str | None = None,
    engine: str = "local",
    store_dir: str | Path | None = None,
    cross_check_rows: int = 2_000,
    reference_max_rows: int | None = None,
    include_edge_cases: bool = False,
    seed: int = 0,
    k: int = 5,
    n_clusters: int | None = None,
    max_samples: int | None = None,
    neighbours: str = "auto",
    coverage_map: Any = None,
) -> CoverageResult:
    """How much of `reference` the `synthetic` set covers, with every diagnostic.

    Args:
        synthetic, reference: a generated folder, a Hub-style folder, a .csv/.jsonl/.parquet file, or a
            list of texts.
        text_column, reference_text_column: columns to read (None: report.json's text_field, then the
            other side's column, then `text`).
        embedder: "default" (MiniLM), "static", "auto" (static above 20,000 texts, cross-checked), a
            model path, or an embedder object (`encode(texts) -> (n, d)`, `model_id`).
        model: sentence-transformer the default/static embedders are built from (None: bundled MiniLM).
        engine: "local" or "ray" (Ray Data embeds; both sides must be paths).
        store_dir: folder for the memory-mapped stores (None: next to a generated folder, else the cache).
        cross_check_rows: rows per side of the auto embedder's MiniLM cross-check (0: skip).
        reference_max_rows: use a seeded random sample of this many reference rows (not the first rows).
        include_edge_cases: keep rows flagged in an `is_edge_case` column (default: left out).
        seed: seeds every subsample, k-means and the max_rows sample. k: neighbours of the kNN block.
        n_clusters: reference regions (None: about 12 reference rows each).
        max_samples: None (default): full resolution, every row in the headline, its interval, the
            regions and the rare list; a number: the subsample path (seeded subsamples per side).
        neighbours: "auto" (exact where it fits the time, approximate with measured recall beyond),
            "exact" or "approximate". With engine="ray" the neighbour search runs as Ray tasks.
        coverage_map: a `quality.map.MapRequest`: also draw the coverage map of exactly the rows measured
            (PNG + HTML into its folder); its description is the result's `map` block.
    Returns:
        `CoverageResult` (see `coverage.coverage_from_embeddings` for the blocks), with `sources`,
        `embedder`, `engine`, and `cross_check` when auto chose the static model.
    Raises:
        UsageError: a missing file or folder, a missing column, an unreadable or empty file, fewer than 2
            texts on a side, an unknown embedder or engine, a missing map label column; all before any
            model is loaded.
    """
    if engine not in ENGINES:
        raise UsageError(f"--engine {engine!r}: use one of {', '.join(ENGINES)}")
    if (
        isinstance(embedder, str)
        and embedder not in EMBEDDER_KINDS
        and not Path(embedder).expanduser().exists()
    ):
        raise UsageError(f"--embedder {embedder!r}: use default, static, auto or a model folder")
    syn = _check_side("synthetic", synthetic, text_column, reference_text_column)
    ref = _check_side("reference", reference, reference_text_column, text_column)
    if engine == "ray" and (syn.path is None or ref.path is None):
        raise UsageError("--engine ray needs both sides as files or folders, not lists of texts")
    for side in (syn, ref):
        if side.n_rows < 2:
            where = side.path or "the given texts"
            raise UsageError(f"{side.name} {where}: need at least 2 texts, found {side.n_rows} rows")
    map_labels = _map_labels(coverage_map, syn, include_edge_cases)
    chosen, block = _pick_embedder(embedder, model, syn.n_rows + ref.n_rows, engine)
    from hf_synth.quality.embed.sentence import Embedder

    flag = None if include_edge_cases else EDGE_FLAG
    options = {
        "seed": seed,
        "k": k,
        "n_clusters": n_clusters,
        "max_samples": max_samples,
        "search": _neighbour_search(neighbours, engine, seed),
    }
    in_memory = syn.path is None or ref.path is None or (isinstance(chosen, Embedder) and engine == "local")
    vectors: dict[str, Any] | None = None
    if in_memory:
        report, texts = _in_memory(syn, ref, chosen, flag, reference_max_rows, options)
    else:
        vector_source = _ray_source(embedder, chosen, model) if engine == "ray" else None
        report, texts, vectors = _out_of_core(
            syn, ref, chosen, vector_source, store_dir, flag, reference_max_rows, options
        )
    report["embedder"] = block
    report["engine"] = engine
    if _english_only(chosen):
        for side in ("synthetic", "reference"):
            warning = english_warning(texts[side], side, str(block.get("model_id")))
            if warning:
                report["warnings"].append(warning)
    from hf_synth.quality.embed.static import StaticEmbedder

    if embedder == "auto" and isinstance(chosen, StaticEmbedder) and cross_check_rows > 0:
        report["cross_check"] = cross_check(
            texts["synthetic"],
            texts["reference"],
            fast=chosen,
            slow=Embedder(model),
            n_per_side=cross_check_rows,
            seed=seed,
            k=k,
        )
    if coverage_map is not None:
        from hf_synth.quality.map.from_coverage import draw_for_coverage

        # The in-memory path embeds inside `coverage_report`; encoding again hits the sentence-transformer's
        # disk cache (the static model has none: it embeds ~50,000 texts/s).
        vectors = vectors or {side: chosen.encode(list(texts[side])) for side in ("synthetic", "reference")}
        report["map"] = draw_for_coverage(coverage_map, report, vectors, texts, map_labels, seed)
    return CoverageResult.from_json(report)


def _neighbour_search(mode: str, engine: str, seed: int) -> Any:
    """The run's `NeighbourSearch` (UsageError on an unknown mode; Ray tasks with engine="ray")."""
    from hf_synth.quality.neighbours import MODES, NeighbourSearch, SearchOptions

    if mode not in MODES:
        raise UsageError(f"--neighbours {mode!r}: use one of {', '.join(MODES)}")
    executor = None
    if engine == "ray":
        from hf_synth.quality.ray_search import RayExecutor

        executor = RayExecutor()
    return NeighbourSearch(SearchOptions(mode=mode, seed=seed, executor=executor))


def _map_labels(request: Any, syn: _Side, include_edge_cases: bool) -> dict[str, Any] | None:
    """The synthetic label columns of the map, checked before any model loads (UsageError otherwise)."""
    if request is None:
        return None
    if request.labels is not None:
        labels = dict(request.labels)
    elif request.label_columns and syn.path is not None:
        from hf_synth.quality.map.from_coverage import read_labels

        try:
            labels = read_labels(
                syn.path, syn.column, request.label_columns, None if include_edge_cases else EDGE_FLAG
            )  # type: ignore[arg-type]
        except (OSError, ValueError) as exc:
            raise UsageError(f"--map-color (MapRequest.colour_by): {exc}") from exc
    else:
        labels = {}
    if request.colour_by is not None and request.colour_by not in labels:
        known = ", ".join(sorted(labels)) or "none"
        raise UsageError(
            f"--map-color (MapRequest.colour_by) {request.colour_by!r}: not a label column of the "
            f"synthetic set (have: {known})"
        )
    return labels or None


def _source_block(side: _Side, column: str | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"path": side.path, "kind": side.kind, "column": column, "files": len(side.files)}
    return {**block, **(extra or {})}


def _too_few(side: str, n: int, where: str | None) -> UsageError:
    return UsageError(
        f"{side} {where or 'texts'}: need at least 2 texts after dropping nulls and edge-case rows, found {n}"
    )


def _in_memory(
    syn: _Side, ref: _Side, embedder: Any, flag: str | None, max_rows: int | None, options: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Sequence[str]]]:
    """Both sides read into lists and embedded with `embedder` (`coverage.coverage_report`)."""
    from hf_synth.quality.coverage import coverage_report
    from hf_synth.quality.textsource import load_texts

    texts: dict[str, list[str]] = {}
    notes: list[str] = []
    sources: dict[str, Any] = {}
    for side in (syn, ref):
        if side.texts is not None:
            texts[side.name] = side.texts
            sources[side.name] = _source_block(side, None, {"rows": len(side.texts)})
            continue
        try:
            src = load_texts(side.path, side.column, exclude_flag=flag)  # type: ignore[arg-type]
        except (OSError, ValueError) as exc:
            raise UsageError(f"{side.name}: {exc}") from exc
        texts[side.name] = src.texts
        notes += _dropped(side.name, src.column, src.n_null, src.n_excluded)
        sources[side.name] = _source_block(side, src.column, {"excluded_edge_cases": src.n_excluded})
    keep = _sample_rows(len(texts["reference"]), max_rows, options["seed"])
    if keep is not None:
        notes.append(
            f"reference: a seeded random sample of {len(keep):,} of {len(texts['reference']):,} rows"
        )
        texts["reference"] = [texts["reference"][i] for i in keep]
    for name in ("synthetic", "reference"):
        if len(texts[name]) < 2:
            raise _too_few(name, len(texts[name]), (syn if name == "synthetic" else ref).path)
    report = coverage_report(texts["synthetic"], texts["reference"], embedder=embedder, **options)
    report["warnings"] = notes + report["warnings"]
    report["sources"] = sources
    return report, texts


def _dropped(side: str, column: str, n_null: int, n_excluded: int) -> list[str]:
    out = []
    if n_null:
        out.append(f"{n_null} null texts skipped in the {side} column {column!r}")
    if n_excluded:
        out.append(
            f"{n_excluded} edge-case rows of the {side} set left out (include them with --include-edge-cases)"
        )
    return out


def _ray_source(requested: Any, chosen: Any, model: str | None) -> Any:
    """The Ray Data `vector_source` for the chosen embedder (UsageError when Ray is not installed)."""
    from hf_synth.quality.embed.ray_engine import ray_available, ray_vector_source
    from hf_synth.quality.embed.static import StaticEmbedder

    if not ray_available():
        raise UsageError('--engine ray needs Ray Data: pip install "hf-synth[distributed]"')
    if isinstance(chosen, StaticEmbedder):
        return ray_vector_source("static", model)
    if isinstance(requested, str) and requested not in EMBEDDER_KINDS:
        return ray_vector_source(requested, model)  # a model path
    return ray_vector_source("default", model)


def _out_of_core(
    syn: _Side,
    ref: _Side,
    embedder: Any,
    vector_source: Any,
    store_dir: str | Path | None,
    flag: str | None,
    max_rows: int | None,
    options: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Sequence[str]], dict[str, Any]]:
    """`coverage_from_sources` on two checked paths, with its notes and `sources` block; also returns the
    embeddings of the rows measured ({side: (n, d) memmap or array})."""
    dirs = (Path(store_dir) / "synthetic", Path(store_dir) / "reference") if store_dir else None
    try:
        report, info = coverage_from_sources(
            syn.path,  # type: ignore[arg-type]
            ref.path,  # type: ignore[arg-type]
            embedder,
            text_column=syn.column,
            reference_text_column=ref.column,
            store_dirs=dirs,
            vector_source=vector_source,
            exclude_flag=flag,
            reference_max_rows=max_rows,
            **options,
        )
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    notes = list(info["notes"])
    for side in ("synthetic", "reference"):
        notes += _dropped(side, info["columns"][side], info["n_null"][side], info["n_excluded"][side])
    report["warnings"] = notes + report["warnings"]
    report["sources"] = {
        side.name: _source_block(
            side,
            info["columns"][side.name],
            {"embeddings": info["stores"][side.name], "excluded_edge_cases": info["n_excluded"][side.name]},
        )
        for side in (syn, ref)
    }
    return report, info["texts"], info["vectors"]


def coverage_from_sources(
    synthetic: str | Path,
    reference: str | Path,
    embedder: Any,
    *,
    text_column: str | None = None,
    reference_text_column: str | None = None,
    store_dirs: tuple[Path, Path] | None = None,
    batch_rows: int | None = None,
    vector_source: Any = None,
    timings: dict[str, float] | None = None,
    exclude_flag: str | None = None,
    reference_max_rows: int | None = None,
    **coverage_kwargs: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Out-of-core coverage: stream both text columns into memmapped stores, then every metric on them.

    Args:
        synthetic, reference: sources as `textsource.load_texts`.
        embedder: `Embedder`/`StaticEmbedder`. vector_source: see `embed_to_store` (Ray engine).
        store_dirs: (synthetic, reference) store folders; None → `store_dir_for` each source.
        timings: filled with seconds for "embed_synthetic", "embed_reference", "read_texts", "metrics".
        exclude_flag: rows whose flag column (e.g. is_edge_case) is true are left out of the metrics
            (their vectors stay in the store).
        reference_max_rows: a seeded random sample of this many reference rows (seed from coverage_kwargs).
        coverage_kwargs: passed to `coverage.coverage_from_embeddings` (seed, k, n_clusters, ...).
    Returns:
        (coverage report dict as `coverage_from_embeddings`, plus "model"; info {"stores": paths,
        "n_null", "n_excluded", "columns": {side: ...}, "texts": {side: texts used}, "vectors": {side:
        embeddings of those texts}, "notes": [str]}).
    """
    import hashlib
    import time

    from hf_synth.quality.coverage import coverage_from_embeddings
    from hf_synth.quality.embed.store import (
        DEFAULT_BATCH_ROWS,
        embed_to_store,
        non_null_flags,
        read_text_column,
        store_dir_for,
    )

    timings = timings if timings is not None else {}
    dirs = store_dirs or (store_dir_for(synthetic), store_dir_for(reference))
    slug = hashlib.sha256(embedder.model_id.encode()).hexdigest()[:12]
    info: dict[str, Any] = {k: {} for k in ("stores", "n_null", "n_excluded", "columns", "texts", "vectors")}
    info["notes"] = []
    arrays: dict[str, Any] = {}
    for side, src, col, folder in (
        ("synthetic", synthetic, text_column, dirs[0]),
        ("reference", reference, reference_text_column, dirs[1]),
    ):
        t0 = time.perf_counter()
        store = embed_to_store(
            src,
            col,
            embedder,
            folder,
            f"{side}-{slug}",
            batch_rows=batch_rows or DEFAULT_BATCH_ROWS,
            vector_source=vector_source,
        )
        timings[f"embed_{side}"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        texts, n_null, column = read_text_column(src, store.meta()["column"])
        flags = non_null_flags(src, column, exclude_flag) if exclude_flag else None
        timings["read_texts"] = timings.get("read_texts", 0.0) + time.perf_counter() - t0
        rows: Any = store.array()
        keep = np.flatnonzero(~flags) if flags is not None and flags.any() else None
        if side == "reference":
            n = len(rows) if keep is None else len(keep)
            sample = _sample_rows(n, reference_max_rows, coverage_kwargs.get("seed", 0))
            if sample is not None:
                info["notes"].append(f"reference: a seeded random sample of {len(sample):,} of {n:,} rows")
                keep = sample if keep is None else keep[sample]
        if keep is not None:
            rows, texts = rows[keep], [texts[int(i)] for i in keep]
        if len(rows) < 2:
            raise _too_few(side, len(rows), str(src))
        arrays[side] = rows
        info["stores"][side] = str(store.npy)
        info["n_null"][side] = n_null
        info["n_excluded"][side] = int(flags.sum()) if flags is not None else 0
        info["columns"][side] = column
        info["texts"][side] = texts
        info["vectors"][side] = rows
    t0 = time.perf_counter()
    report = coverage_from_embeddings(
        arrays["synthetic"],
        arrays["reference"],
        info["texts"]["synthetic"],
        info["texts"]["reference"],
        **coverage_kwargs,
    )
    timings["metrics"] = time.perf_counter() - t0
    report["model"] = embedder.model_id
    return report, info


def cross_check(
    syn_texts: Sequence[str],
    ref_texts: Sequence[str],
    *,
    fast: Any,
    slow: Any | None = None,
    n_per_side: int = 2_000,
    seed: int = 0,
    **coverage_kwargs: Any,
) -> dict[str, Any]:
    """Headline and kNN coverage on one seeded subsample, embedded by `fast` and by `slow` (MiniLM).

    The same n_per_side synthetic and reference rows (seeded, without replacement) go through
    `coverage.coverage_report` twice, so the two figures differ only by the embedder. Subsample figures
    are not the full-set figures (the headline's resolution depends on the row counts); compare the two
    embedders here with each other. Cost: ~n_per_side·2 / 190 s of MiniLM on 2 CPU cores (~20 s for 2,000
    + 2,000).

    Returns {"n_synthetic", "n_reference", "seed", "static": {...}, "default": {...},
    "difference": fast headline − MiniLM headline}, each side {"model_id", "coverage",
    "coverage_interval", "knn_coverage", "cluster_coverage"}.
    """
    from hf_synth.quality.coverage import coverage_report
    from hf_synth.quality.embed.sentence import Embedder

    slow = slow if slow is not None else Embedder()
    rng = np.random.default_rng(seed)

    def pick(texts: Sequence[str]) -> list[str]:
        idx = np.arange(len(texts))
        if len(texts) > n_per_side:
            idx = np.sort(rng.choice(len(texts), n_per_side, replace=False))
        return [texts[int(i)] for i in idx]

    syn, ref = pick(syn_texts), pick(ref_texts)
    out: dict[str, Any] = {"n_synthetic": len(syn), "n_reference": len(ref), "seed": seed}
    for name, embedder in (("static", fast), ("default", slow)):
        rep = coverage_report(syn, ref, embedder=embedder, seed=seed, **coverage_kwargs)
        out[name] = {
            "model_id": embedder.model_id,
            "coverage": rep["coverage"],
            "coverage_interval": rep.get("coverage_interval"),
            "knn_coverage": rep["knn"]["coverage"] if rep["knn"] else None,
            "cluster_coverage": rep["clusters"]["coverage"],
        }
    out["difference"] = out["static"]["coverage"] - out["default"]["coverage"]
    return out
