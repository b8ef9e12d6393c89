"""Benchmark: the coverage map at 100,000 reference + 100,000 synthetic 384-d embeddings, and the choice of
its 2-D projection.

Data (semi-real, offline): the 3,080 BANKING77 queries embedded with the bundled all-MiniLM-L6-v2; each
benchmark row is a random point on the segment between two queries of one intent plus small noise, so rows
keep the real geometry of the intents. Reference: 72 intents with Zipf sizes plus 5 rare intents of 15 rows.
Synthetic: the same distribution without the 5 rare intents and 5 mid-sized ones (10 missing intents).

1. render: `render_coverage_map` end to end (t-SNE layout of a 10,000-row fit set, the rest placed by
   nearest neighbours): projection (PCA, layout, placement), PNG and HTML time, HTML size, peak RSS, and the
   time headless Chromium takes to load and draw the page (minus a blank page).
2. compare (--compare): candidate layouts on one fit set with the same placement, timed (wall and CPU; the
   first UMAP row includes numba's compilation, the second does not) and scored on what the map must
   show:
   - purity: share of same-intent rows around a row on the map (2,000 seeded rows), where "around" is
     what the eye resolves, a disc of 1% of the frame side (≈ 8 px on the PNG), so rows stacked on one
     spot count as one place; the 10-nearest-rows figure in the 384-d space is given as the ceiling;
   - gap (missing intents): share of the missing intents' reference rows whose disc is < 5% synthetic,
     i.e. which sit in a visibly empty area (384-d ceiling: < 5% synthetic among the 10 nearest rows);
   - rare gap: the same for the 5 rare intents only.
   Also timed: openTSNE's and umap-learn's own `transform` for the placed rows (1,000 rows, extrapolated).

Run: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_coverage_map.py [--n 100000] [--compare]
     [--fit-rows 10000] [--out DIR]; UMAP is compared when umap-learn is installed (not a dependency).
"""

from __future__ import annotations

import argparse
import csv
import functools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklearn.neighbors import NearestNeighbors  # noqa: E402

from hf_synth.quality.map import render_coverage_map  # noqa: E402
from hf_synth.quality.map.projection import project_2d, tsne_layout  # noqa: E402

BANKING = ROOT / "hf_synth" / "data" / "banking77" / "test.csv"
CHROMIUM = "/usr/bin/chromium"


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def banking_like(n_ref: int, n_syn: int, seed: int = 0) -> dict:
    """Semi-real embeddings with known intents (see the module docstring)."""
    from hf_synth.quality.embed.sentence import Embedder

    with BANKING.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    texts = [r["text"] for r in rows]
    intents = sorted({r["category"] for r in rows})
    lab = np.array([intents.index(r["category"]) for r in rows])
    base = Embedder(progress=False).encode(texts).astype(np.float32)
    rng = np.random.default_rng(seed)
    k = len(intents)
    perm = rng.permutation(k)
    rare, rest = perm[:5], perm[5:]
    weight = np.zeros(k)
    weight[rest] = 1.0 / np.arange(1, len(rest) + 1)
    ref_counts = np.zeros(k, dtype=int)
    ref_counts[rest] = rng.multinomial(n_ref - 5 * 15, weight[rest] / weight[rest].sum())
    ref_counts[rare] = 15
    mid = rest[len(rest) // 3 : len(rest) // 3 + 5]
    missing = np.r_[rare, mid]
    syn_weight = weight.copy()
    syn_weight[missing] = 0
    syn_counts = rng.multinomial(n_syn, syn_weight / syn_weight.sum())
    members = [np.flatnonzero(lab == c) for c in range(k)]

    def draw(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        xs, ls, src = [], [], []
        for c in np.flatnonzero(counts):
            i = rng.choice(members[c], counts[c])
            j = rng.choice(members[c], counts[c])
            t = rng.uniform(0, 1, (counts[c], 1)).astype(np.float32)
            noise = rng.normal(scale=0.15 / np.sqrt(base.shape[1]), size=(counts[c], base.shape[1]))
            xs.append(t * base[i] + (1 - t) * base[j] + noise.astype(np.float32))
            ls.append(np.full(counts[c], c))
            src.append(i)
        x, lab_, src_ = np.vstack(xs), np.concatenate(ls), np.concatenate(src)
        order = rng.permutation(len(x))
        x = x[order] / np.linalg.norm(x[order], axis=1, keepdims=True)
        return x.astype(np.float32), lab_[order], src_[order]

    ref, ref_lab, ref_src = draw(ref_counts)
    syn, syn_lab, syn_src = draw(syn_counts)
    return {
        "ref": ref,
        "syn": syn,
        "ref_lab": ref_lab,
        "syn_lab": syn_lab,
        "ref_texts": [texts[i] for i in ref_src],
        "syn_texts": [texts[i] for i in syn_src],
        "intents": intents,
        "missing": missing,
        "rare": rare,
    }


def intent_regions(data: dict) -> list[dict]:
    """One region per reference intent, labelled by its medoid text (the row nearest the members' mean)."""
    out = []
    missing = set(data["missing"].tolist())
    n = len(data["ref"])
    for c in np.unique(data["ref_lab"]):
        members = np.flatnonzero(data["ref_lab"] == c)
        x = data["ref"][members]
        medoid = members[int(np.argmin(((x - x.mean(axis=0)) ** 2).sum(axis=1)))]
        out.append(
            {
                "members": members.tolist(),
                "label": data["ref_texts"][medoid],
                "missing": int(c) in missing,
                "share": len(members) / n,
                "examples": [data["ref_texts"][medoid]],
            }
        )
    return out


def chromium_seconds(page: Path, profile: Path, expect_plot: bool) -> float | None:
    """Wall seconds for headless Chromium to load `page`, run its scripts and dump the DOM (None: no
    Chromium). With `expect_plot`, the dumped DOM must hold plotly's scatter layer."""
    if not Path(CHROMIUM).exists():
        return None
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}", "--dump-dom",
        page.as_uri(),
    ]  # fmt: skip
    t0 = time.perf_counter()
    dom = subprocess.run(cmd, capture_output=True, timeout=600, check=True).stdout
    seconds = time.perf_counter() - t0
    if expect_plot and b"scatterlayer" not in dom:
        raise RuntimeError(f"Chromium did not draw {page}: no plotly scatter layer in the DOM")
    return seconds


def bench_render(data: dict, out: Path, fit_rows: int) -> None:
    n, m = len(data["ref"]), len(data["syn"])
    labels = {
        "intent": [data["intents"][c] for c in data["syn_lab"]],
        "length": [
            "short" if len(t) < 40 else "medium" if len(t) < 80 else "long" for t in data["syn_texts"]
        ],
    }
    t0, c0 = time.perf_counter(), time.process_time()
    result = render_coverage_map(
        data["ref"],
        data["syn"],
        reference_texts=data["ref_texts"],
        synthetic_texts=data["syn_texts"],
        synthetic_labels=labels,
        colour_by="intent",
        regions=intent_regions(data),
        out_dir=out,
        seed=0,
        fit_rows=fit_rows,
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    s = result["seconds"]
    print(
        f"render_coverage_map, {n:,} reference + {m:,} synthetic (d={data['ref'].shape[1]}), fresh process:"
    )
    print(f"  method: {result['method']}")
    print(
        f"  projection {s['pca'] + s['layout'] + s['place']:.1f} s (PCA {s['pca']:.1f}, "
        f"layout {s['layout']:.1f}, placement {s['place']:.1f}); "
        f"PNG {s['png']:.1f} s; HTML {s['html']:.1f} s"
    )
    print(f"  total {wall:.1f} s wall, {cpu:.1f} s CPU; peak RSS {peak_rss_gb():.2f} GB")
    print(
        f"  HTML {result['html_bytes'] / 1e6:.1f} MB ({result['hover_points']['reference']:,} + "
        f"{result['hover_points']['synthetic']:,} hoverable points); PNG "
        f"{result['png'].stat().st_size / 1e3:.0f} kB; {result['regions_outlined']} regions outlined"
    )
    with tempfile.TemporaryDirectory() as tmp:
        blank = Path(tmp) / "blank.html"
        blank.write_text("<!DOCTYPE html><title>blank</title>", encoding="utf-8")
        base = chromium_seconds(blank, Path(tmp) / "p0", expect_plot=False)
        page = chromium_seconds(result["html"], Path(tmp) / "p1", expect_plot=True)
    if base is None or page is None:
        print(f"  browser: {CHROMIUM} not found, page load not timed")
    else:
        print(f"  headless Chromium: page loaded and drawn in {page - base:.1f} s (blank page {base:.1f} s)")


# --------------------------------------------------------------------------------------- comparison


def _knn(points: np.ndarray, queries: np.ndarray, k: int, skip_self: bool) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=k + int(skip_self), algorithm="brute").fit(points)
    idx = index.kneighbors(points[queries], return_distance=False)
    return idx[:, 1:] if skip_self else idx


def quality(data: dict, xy: np.ndarray, hd_cache: dict, seed: int = 1) -> dict:
    """Purity and gap figures (module docstring) of 2-D positions `xy` (N + M, 2) of the pooled rows.

    On the map a neighbourhood is what the eye resolves: the disc of radius 1% of the frame side (≈ 8 px
    on the PNG), so rows stacked on one spot count as one place. In 384-d it is the 10 nearest rows.
    purity = mean share of same-intent rows in a row's neighbourhood; gap = share of the missing intents'
    reference rows whose neighbourhood is < 5% synthetic rows.
    """
    from scipy.spatial import cKDTree

    from hf_synth.quality.map.layers import map_bounds

    rng = np.random.default_rng(seed)
    lab = np.r_[data["ref_lab"], data["syn_lab"]]
    side = np.r_[np.zeros(len(data["ref"]), int), np.ones(len(data["syn"]), int)]
    queries = rng.choice(len(lab), 2_000, replace=False)
    missing_rows = np.flatnonzero((side == 0) & np.isin(lab, data["missing"]))
    rare_rows = np.flatnonzero((side == 0) & np.isin(lab, data["rare"]))
    if len(missing_rows) > 2_000:
        missing_rows = rng.choice(missing_rows, 2_000, replace=False)
    if not hd_cache:
        pooled = np.vstack([data["ref"], data["syn"]])
        nn = _knn(pooled, queries, 10, True)
        hd_cache["purity_hd"] = float((lab[nn] == lab[queries, None]).mean())
        for name, rows in (("gap", missing_rows), ("rare_gap", rare_rows)):
            nn = _knn(pooled, rows, 10, True)
            hd_cache[f"{name}_hd"] = float((side[nn].mean(axis=1) < 0.05).mean())
    out = dict(hd_cache)
    x0, x1, _, _ = map_bounds(xy)
    tree = cKDTree(xy)
    radius = 0.01 * (x1 - x0)

    def discs(rows: np.ndarray) -> list[np.ndarray]:
        return [
            np.setdiff1d(d, [r]) for r, d in zip(rows, tree.query_ball_point(xy[rows], radius), strict=True)
        ]

    out["purity_2d"] = float(
        np.mean([(lab[d] == lab[q]).mean() for q, d in zip(queries, discs(queries), strict=True) if len(d)])
    )
    for name, rows in (("gap", missing_rows), ("rare_gap", rare_rows)):
        out[f"{name}_2d"] = float(np.mean([len(d) == 0 or side[d].mean() < 0.05 for d in discs(rows)]))
    return out


def umap_layout(
    z: np.ndarray, seed: int, *, n_neighbors: int = 15, min_dist: float = 0.1, n_epochs: int | None = None
) -> tuple[np.ndarray, str]:
    """2-D layout (n, 2) of the fit set's PCA coordinates (n, p) and a description of how it was made.

    n_epochs: None → 500 up to 4,096 rows, else 200. umap-learn's own default switches at 10,000 rows,
    which would make a 10,000-row fit 2.5× slower than a 10,001-row one.
    """
    n = len(z)
    if n < 4:  # UMAP needs a neighbourhood; a handful of rows is drawn by its first two principal axes
        out = np.zeros((n, 2), dtype=np.float32)
        out[:, : min(2, z.shape[1])] = z[:, :2]
        return out, "first two principal components (fewer than 4 rows)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # umap-learn announces that TensorFlow (ParametricUMAP) is missing
        import umap

    k = min(n_neighbors, n - 1)  # neighbours per row, the row itself included (umap-learn's convention)
    # Exact neighbours from sklearn instead of umap-learn's NNDescent: exact, and it skips compiling
    # pynndescent (≈ 70 of the ≈ 110 CPU seconds a first 10,000-row fit takes in a fresh process).
    dist, idx = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(z).kneighbors(z)
    reducer = umap.UMAP(
        n_neighbors=k,
        min_dist=min_dist,
        metric="euclidean",
        random_state=seed,
        # Spectral initialisation needs more rows than eigenvectors asked for; tiny sets start from PCA.
        init="spectral" if n > 2 * k + 2 else "pca",
        n_jobs=1,
        n_epochs=n_epochs or (500 if n <= 4_096 else 200),
        precomputed_knn=(idx, dist, None),
    )
    with warnings.catch_warnings():
        # umap-learn warns that random_state disables parallelism (determinism is the point here) and
        # that a precomputed kNN without its search index cannot `transform` (not used).
        warnings.filterwarnings("ignore", category=UserWarning, module="umap")
        out = np.asarray(reducer.fit_transform(z), dtype=np.float32)
    return (
        out,
        f"UMAP (umap-learn {umap.__version__}, n_neighbors={k}, min_dist={min_dist:g}, exact neighbours)",
    )


def _pca_layout(z: np.ndarray, seed: int) -> tuple[np.ndarray, str]:
    return np.ascontiguousarray(z[:, :2], dtype=np.float32), "first two principal components"


def bench_compare(data: dict, fit_rows: int) -> None:
    anchors = [r["members"] for r in intent_regions(data) if r["missing"]]
    candidates = [
        ("t-SNE (default)", tsne_layout, anchors),
        ("t-SNE, no anchors", tsne_layout, ()),
        ("t-SNE, 100 main it.", functools.partial(tsne_layout, main_iterations=100), anchors),
        ("t-SNE, 500 main it.", functools.partial(tsne_layout, main_iterations=500), anchors),
        ("PCA", _pca_layout, anchors),
    ]
    if _umap_importable():
        candidates[-1:-1] = [
            ("UMAP", umap_layout, anchors),
            ("UMAP, min_dist 0", functools.partial(umap_layout, min_dist=0.0), anchors),
        ]
    else:
        print("  (umap-learn not installed: UMAP not compared)")
    hd: dict = {}
    print(
        f"\nlayout candidates, fit set {fit_rows:,} rows + up to 10 rows of every missing intent (anchors), "
        "the rest placed among their 10 nearest fit rows:"
    )
    for name, layout, anchor_sets in candidates:
        t0, c0 = time.perf_counter(), time.process_time()
        proj = project_2d(
            data["ref"],
            data["syn"],
            seed=0,
            fit_rows=fit_rows,
            anchors=anchor_sets,
            layout=layout,
            progress=False,
        )
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        q = quality(data, np.vstack([proj.reference, proj.synthetic]), hd)
        print(
            f"  {name:20s} layout {proj.seconds['layout']:6.1f} s, total {wall:6.1f} s wall / "
            f"{cpu:6.1f} s CPU"
            f" | purity {q['purity_2d']:.3f} (384-d {q['purity_hd']:.3f}) | gap {q['gap_2d']:.3f} "
            f"(384-d {q['gap_hd']:.3f}) | rare gap {q['rare_gap_2d']:.3f} (384-d {q['rare_gap_hd']:.3f})",
            flush=True,
        )
    bench_transform(data, fit_rows)


def bench_transform(data: dict, fit_rows: int, probe_rows: int = 1_000) -> None:
    """Seconds per row of the libraries' own `transform` (optimises each new row against a fitted map),
    the alternative to the nearest-neighbour placement; measured on `probe_rows`, extrapolated."""
    import openTSNE
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    fit = np.vstack(
        [
            data["ref"][rng.choice(len(data["ref"]), fit_rows // 2, replace=False)],
            data["syn"][rng.choice(len(data["syn"]), fit_rows // 2, replace=False)],
        ]
    )
    pca = PCA(50, svd_solver="full").fit(fit)
    probe = pca.transform(data["syn"][:probe_rows])
    rest = len(data["ref"]) + len(data["syn"]) - fit_rows
    fitted = {"openTSNE": lambda z: openTSNE.TSNE(n_jobs=2, random_state=0).fit(z)}
    if _umap_importable():
        import umap

        fitted["umap-learn"] = lambda z: umap.UMAP(random_state=0).fit(z)
    for name, fit_fn in fitted.items():
        model = fit_fn(pca.transform(fit))
        t0 = time.perf_counter()
        model.transform(probe)
        per_row = (time.perf_counter() - t0) / len(probe)
        print(
            f"  {name} transform: {per_row * 1e3:.2f} ms/row → {per_row * rest:.0f} s for the other "
            f"{rest:,} rows "
            "(nearest-neighbour placement: see 'place' above)"
        )


def _umap_importable() -> bool:
    try:
        import umap  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000, help="rows per side")
    parser.add_argument("--fit-rows", type=int, default=10_000)
    parser.add_argument("--compare", action="store_true", help="also compare layout candidates")
    parser.add_argument("--out", type=Path, default=None, help="keep the map here (default: a temp dir)")
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.1f} (1-min average) on {os.cpu_count()} CPUs", flush=True)
    data = banking_like(args.n, args.n)
    out = args.out or Path(tempfile.mkdtemp(prefix="coverage-map-"))
    try:
        bench_render(data, out, args.fit_rows)
        if args.compare:
            bench_compare(data, args.fit_rows)
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    print(f"load at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
