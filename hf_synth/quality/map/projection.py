"""2-D positions for reference and synthetic embeddings, practical at 10^5 + 10^5 rows on 2 cores.

`project_2d` runs in three steps (the choice and its measurements: benchmarks/bench_coverage_map.py):
1. Fit set: a seeded sample of `fit_rows` rows, half from each side (a side smaller than its half gives the
   rest to the other), plus up to `anchor_rows` members of every region the caller names (`anchors`), so a
   rare region of 15 reference rows is in the layout itself instead of being interpolated from others.
2. Rows are L2-normalised (cosine geometry, as the coverage metrics use), PCA to `pca_dims` fitted on the fit
   set, and t-SNE (openTSNE) lays the fit set out in 2-D (`tsne_layout`). Chosen over UMAP (umap-learn)
   by the benchmark: at 100,000 + 100,000 rows it leaves far more of a missing topic's area visibly
   empty of synthetic points (the map's purpose) for similar CPU time, needs no numba compilation, and is
   a small dependency.
3. Every other row is placed from the 2-D positions of its `n_neighbours` nearest fit rows in the PCA
   space (exact search): their weighted mean, restricted to the neighbours in the heaviest neighbourhood
   on the map (`place_among`). Optimising each placed row as well (openTSNE's / umap-learn's `transform`)
   costs far more at this size (umap-learn: ~50 ms a row, hours for 190,000 rows) and is skipped.
Memory: the fit set plus one block of `block_rows` rows at a time; nothing of size N × M.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from tqdm.auto import tqdm

__all__ = [
    "Layout",
    "Projection",
    "choose_fit_rows",
    "local_scale",
    "place_among",
    "project_2d",
    "tsne_layout",
]


@dataclass(frozen=True)
class Projection:
    """2-D positions: reference (N, 2) and synthetic (M, 2) float32, how they were made, and timings (s)."""

    reference: np.ndarray
    synthetic: np.ndarray
    method: str
    fit_rows: int
    seconds: dict[str, float] = field(default_factory=dict)


def _check(name: str, x: np.ndarray) -> None:
    if x.ndim != 2:
        raise ValueError(f"{name} embeddings must be a 2-D array (rows, dim), got shape {x.shape}")
    if len(x) == 0:
        raise ValueError(f"{name} embeddings are empty: the map needs at least one row per side")


def choose_fit_rows(
    n_reference: int,
    n_synthetic: int,
    fit_rows: int,
    seed: int,
    anchors: Sequence[Sequence[int]] = (),
    anchor_rows: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (reference indices, synthetic indices) of the fit set (see the module docstring, step 1)."""
    rng = np.random.default_rng(seed)
    half = fit_rows // 2
    take_ref = min(n_reference, max(half, fit_rows - n_synthetic))
    take_syn = min(n_synthetic, fit_rows - take_ref)
    ref = set(rng.choice(n_reference, take_ref, replace=False).tolist()) if take_ref < n_reference else None
    syn = (
        rng.choice(n_synthetic, take_syn, replace=False) if take_syn < n_synthetic else np.arange(n_synthetic)
    )
    if ref is None:
        return np.arange(n_reference), np.sort(syn)
    for members in anchors:
        members = np.asarray(members, dtype=np.int64)
        if len(members) > anchor_rows:
            members = rng.choice(members, anchor_rows, replace=False)
        ref.update(int(i) for i in members)
    return np.array(sorted(ref), dtype=np.int64), np.sort(syn)


def _require_finite(name: str, block: np.ndarray, rows: np.ndarray) -> None:
    """Raise naming the first row (index into the caller's array) that holds NaN or inf."""
    bad = ~np.isfinite(block).all(axis=1)
    if bad.any():
        raise ValueError(f"{name} embeddings: row {int(rows[np.argmax(bad)])} holds NaN or infinite values")


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


Layout = Callable[[np.ndarray, int], tuple[np.ndarray, str]]
MIN_LAYOUT_ROWS = 10


def tsne_layout(z: np.ndarray, seed: int, *, main_iterations: int = 250) -> tuple[np.ndarray, str]:
    """2-D layout (n, 2) of the fit set's PCA coordinates (n, p) and a description of how it was made.

    openTSNE (Poličar, Stražar & Zupan 2024) with its FFT-accelerated gradients (Linderman et al. 2019):
    perplexity 30 on exact neighbours, PCA initialisation, 250 early-exaggeration iterations (12×), then
    `main_iterations` (openTSNE's default is 500; on the benchmark 100 and 250 score the same and 500 no
    better, at 2.5× the time). Deterministic for a seed with n_jobs=2.
    """
    n = len(z)
    if n < MIN_LAYOUT_ROWS or float(np.ptp(z[:, 0])) < 1e-6:
        # t-SNE needs neighbourhoods (and its PCA start divides by the spread): a handful of rows, or rows
        # that are all the same point, are drawn by their first two principal axes.
        out = np.zeros((n, 2), dtype=np.float32)
        out[:, : min(2, z.shape[1])] = z[:, :2]
        return out, f"first two principal components (fewer than {MIN_LAYOUT_ROWS} rows, or all alike)"
    import openTSNE
    from openTSNE import affinity, initialization

    perplexity = float(min(30.0, (n - 1) / 3))
    # Exact neighbours (sklearn, deterministic): at ~10,000 rows faster than openTSNE's default Annoy index.
    aff = affinity.PerplexityBasedNN(z, perplexity=perplexity, method="exact", n_jobs=2, random_state=seed)
    start = initialization.pca(z, random_state=seed)
    # openTSNE's own "auto" rule (Barnes-Hut below 10,000 rows, FFT above), named so it does not log it.
    method = "fft" if n >= 10_000 else "bh"
    emb = openTSNE.TSNEEmbedding(start, aff, n_jobs=2, random_state=seed, negative_gradient_method=method)
    emb = emb.optimize(n_iter=250, exaggeration=12, momentum=0.5)
    emb = emb.optimize(n_iter=main_iterations, momentum=0.8)
    how = f"t-SNE (openTSNE {openTSNE.__version__}, perplexity {perplexity:.3g}, "
    how += f"{250 + main_iterations} iterations)"
    return np.asarray(emb, dtype=np.float32), how


def local_scale(fit_xy: np.ndarray, k: int = 10) -> float:
    """Median 2-D distance from a laid-out row to its k-th nearest laid-out row: the size of a
    neighbourhood on the map, in layout units."""
    if len(fit_xy) < 2:
        return 1.0
    k = min(k, len(fit_xy) - 1)
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(fit_xy).kneighbors(fit_xy)
    return float(np.median(dist[:, -1])) or 1.0


def place_among(dist: np.ndarray, neighbours_xy: np.ndarray, radius: float) -> np.ndarray:
    """2-D positions (n, 2) of rows from their nearest laid-out rows: distances (n, k), ascending, in the
    PCA space, and those rows' 2-D positions (n, k, 2).

    The plain weighted mean of the k positions lands in empty space when the neighbours sit in two places
    on the map (streaks of points between clusters, filling exactly the gaps the map must show). So the
    mean is taken only over the neighbours within `radius` of the heaviest place: the neighbour with the
    most weight within `radius` of it. Weights fall from 1 at the nearest to e^-1 at the farthest neighbour.
    """
    spread = np.maximum(dist[:, -1:] - dist[:, :1], 1e-9)
    w = np.exp(-(dist - dist[:, :1]) / spread)
    gaps = neighbours_xy[:, :, None, :] - neighbours_xy[:, None, :, :]
    close = (gaps**2).sum(axis=-1) <= radius**2  # (n, k, k)
    mass = np.einsum("nij,nj->ni", close, w)
    centre = np.argmax(mass, axis=1)
    keep = close[np.arange(len(dist)), centre] * w
    keep /= keep.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkc->nc", keep, neighbours_xy).astype(np.float32)


def _place(
    name: str,
    x: np.ndarray,
    pca: PCA,
    index: NearestNeighbors,
    fit_xy: np.ndarray,
    radius: float,
    block_rows: int,
    bar: tqdm,
) -> np.ndarray:
    """2-D positions (len(x), 2) of rows by `place_among` their nearest fit rows, blockwise."""
    out = np.empty((len(x), 2), dtype=np.float32)
    for start in range(0, len(x), block_rows):
        block = _normalise(x[start : start + block_rows])
        _require_finite(name, block, np.arange(start, start + len(block)))
        dist, idx = index.kneighbors(pca.transform(block).astype(np.float32))
        out[start : start + len(block)] = place_among(dist, fit_xy[idx], radius)
        bar.update(len(block))
    return out


def project_2d(
    reference: np.ndarray,
    synthetic: np.ndarray,
    *,
    seed: int = 0,
    fit_rows: int = 10_000,
    anchors: Sequence[Sequence[int]] = (),
    anchor_rows: int = 10,
    pca_dims: int = 50,
    n_neighbours: int = 10,
    block_rows: int = 16_384,
    progress: bool = True,
    layout: Layout = tsne_layout,
) -> Projection:
    """2-D positions of reference (N, d) and synthetic (M, d) embeddings, deterministic for a seed.

    Args:
        reference, synthetic: float arrays (rows, d) with the same d (memmaps are read blockwise).
        fit_rows: rows laid out by t-SNE (plus anchors); the rest are placed by nearest neighbours.
        anchors: reference row indices of regions that must be in the fit set (e.g. uncovered regions).
        pca_dims: PCA dimensions before the layout and the neighbour search (capped by d and the fit set).
        n_neighbours: fit rows averaged to place each other row.
        layout: (PCA coordinates of the fit set, seed) → ((n, 2) positions, description); the benchmark
            swaps in other methods through it.
    Returns: `Projection` with positions in layout units (only relative distances mean anything) and
        seconds for "pca", "layout" and "place".
    """
    _check("reference", reference)
    _check("synthetic", synthetic)
    if reference.shape[1] != synthetic.shape[1]:
        raise ValueError(
            f"reference and synthetic embeddings differ in dimension ({reference.shape[1]} vs "
            f"{synthetic.shape[1]}): embed both sides with the same model"
        )
    seconds: dict[str, float] = {}
    total = len(reference) + len(synthetic)
    t0 = time.perf_counter()
    ref_fit, syn_fit = choose_fit_rows(len(reference), len(synthetic), fit_rows, seed, anchors, anchor_rows)
    for name, x, rows in (("reference", reference, ref_fit), ("synthetic", synthetic, syn_fit)):
        _require_finite(name, np.asarray(x[rows], dtype=np.float32), rows)
    fit = np.concatenate([_normalise(reference[ref_fit]), _normalise(synthetic[syn_fit])])
    dims = max(1, min(pca_dims, fit.shape[1], len(fit) - 1)) if len(fit) > 1 else 1
    with np.errstate(invalid="ignore", divide="ignore"):  # all-identical rows: explained variance 0/0
        pca = PCA(n_components=dims, svd_solver="full").fit(fit)
    z_fit = pca.transform(fit).astype(np.float32)
    seconds["pca"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with tqdm(total=total, desc="coverage map: layout", unit="row", disable=not progress) as bar:
        fit_xy, how = layout(z_fit, seed)
        seconds["layout"] = time.perf_counter() - t0
        bar.set_description("coverage map: placing rows")
        t0 = time.perf_counter()
        k = min(n_neighbours, len(fit))
        index = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(z_fit)
        radius = local_scale(fit_xy)
        ref_xy = _place("reference", reference, pca, index, fit_xy, radius, block_rows, bar)
        syn_xy = _place("synthetic", synthetic, pca, index, fit_xy, radius, block_rows, bar)
    # Fit rows keep the layout's own positions (their nearest fit row is themselves, but averaging with
    # their other neighbours would pull them inward).
    ref_xy[ref_fit] = fit_xy[: len(ref_fit)]
    syn_xy[syn_fit] = fit_xy[len(ref_fit) :]
    seconds["place"] = time.perf_counter() - t0
    placed = total - len(fit)
    method = f"{how} of {len(fit):,} rows ({len(ref_fit):,} reference, {len(syn_fit):,} synthetic, seeded)"
    method += f" after PCA to {dims} dims"
    if placed:
        method += (
            f"; the other {placed:,} rows placed among their {k} nearest laid-out rows "
            "(weighted mean of those "
            "in the heaviest neighbourhood on the map)"
        )
    return Projection(ref_xy, syn_xy, method, len(fit), seconds)
