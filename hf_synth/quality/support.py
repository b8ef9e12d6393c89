"""The headline: how much of the reference the synthetic set covers, as an estimate with a 90% interval.

Notation: N reference rows, M synthetic rows, k = 3. Exact repeats are dropped on each side. A synthetic
near-copy (cosine ≥ 0.95 to an earlier-visited synthetic row, seeded order) is thinned when it lies within
COPY_SCALE (0.25) times its own distance to the nearest reference row: such a pair witnesses nearly the same
reference rows (every reference row is at least four gaps away, so the two can disagree only on a reference
row whose radius is within 25% of its distance to them) and would otherwise count as two rows. Near-copies
farther apart than that are independent draws of a dense region, as the reference's own near-copies there are:
thinning every near-copy took synthetic rows away exactly where the reference's radii are smallest, and a 4x
sample of a 40,939-row reference read 0.971-0.983 for a truth of 1. The reference is the yardstick and keeps
its near-copies: thinning it widens the radii around them and raised the witnessed share of sets confined to
part of BANKING77 by ~0.03; no reference row is ever removed because of the synthetic side.

What is measured. A reference row is *witnessed* when a synthetic row lies within the distance to its
k-th nearest other reference row. W = share of witnessed reference rows. W is a plain count: a set that
stays inside a part of the reference can only witness rows of that part and its immediate neighbours.

What W is compared with. Say the synthetic rows are a sample of the reference distribution restricted to
a part of reference mass c (density p/c there, nothing elsewhere). Inside that part the cN reference rows
and the M synthetic rows are exchangeable in distance order, so a reference row there is witnessed unless
its k nearest are all reference rows:

    f(c) = E[W | c] = c · (1 − ∏_{i=1..k} (cN − i) / (cN + M − i)),

exactly at c = 1 (two samples of one distribution) and in the local limit elsewhere. f increases in c, so
each c predicts one W, and the data say which c fit.

Noise. The standard deviation of W comes from a two-sample delete-one jackknife (every synthetic row and
every reference row left out once, neighbour radii updated exactly), never below k/N (one synthetic row's
worth of witnesses), with Student's t quantile at min(N, M) − 1 degrees of freedom. The jackknife
variance is biased upward (Efron & Stein 1981), so the interval errs wide, never narrow.

The figures.
- interval = {c : |W − f(c)| ≤ t·sd}, i.e. [f⁻¹(W − t·sd), f⁻¹(W + t·sd)] (t ≈ 1.645), and its lower end
  is never above W itself. At c = 1 the expectation f(1) is exact, so two samples of one distribution
  get an interval containing 1 in at least ~90% of draws at any size, whatever the embedding. The lower
  end ≤ W means a set confined to a share c of the reference cannot claim more than c plus the rows at
  its border, however its rows were placed ("spread" sets included).
- point (`coverage`) = median of c over [1/N, 1] weighted by how well f(c) fits W (Gaussian likelihood,
  prior uniform in log c). Where the data pin c down this is f⁻¹(W); where they cannot (few synthetic
  rows: f is flat, and 124 rows spread over 62 of 77 topics look like a complete 124-row sample), it sits
  inside the plausible range instead of at its top, so thin evidence cannot claim high coverage.
- resolution = the smallest missing share δ that would move W beyond its noise (f(1) − f(1 − δ) =
  t·sd), in reference rows: "can see missing topics of ≥ resolution reference rows".
- concentration (diagnostic) = share of synthetic rows with another synthetic row within their k-th
  nearest reference radius / its expectation for a sample of the reference (1 − ∏ (N+1−i)/(N+M−i)):
  > 1 when the synthetic set piles onto part of the reference, < 1 when it is more evenly spread than a
  sample (hand-placed rows).

Why k = 3: the witness radius must stay inside a topic, because rows at a topic's border are witnessed from
the neighbouring topic ("spill"), and the inversion amplifies spill (f is flatter than the identity).
On BANKING77 with MiniLM, k = 4 put sets of 31 of 77 intents at c + 0.15 on average; k = 3 keeps them
0.02 below while two samples of one distribution still read ≥ 0.93 from 300 rows.

Full resolution. Every row of both sides is used (after exact repeats and synthetic near-copies are
dropped): the neighbour searches go through `neighbours.NeighbourSearch`, exact where it fits the time and
partitioned (approximate, recall measured against exact search on a seeded sample) beyond; the searches
and their recall are in the result's `neighbours` block. An approximate search is also checked end to end:
on a seeded sample of reference rows the witness flags are recomputed with exact search, and the error
they show in W (bias and its standard error) is added to W's sd, so the interval carries it.
Above THIN_ONE_GROUP synthetic rows near-copies
are looked for within the leaves of a k-means partition (a near-copy pair split across two leaves is kept:
thinning errs towards keeping rows). The concentration diagnostic is a mean over synthetic rows: above
CONCENTRATION_QUERIES rows it is estimated on a seeded sample of them (against all keys). `max_samples`
subsamples each side first (seeded), the pre-full-resolution behaviour, only when asked for.

Limits: "covered" is at the resolution of k = 3 reference neighbours in the embedding space; topics the
embedding cannot tell apart count as one (rows at a topic border are witnessed by a neighbouring topic).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import brentq
from scipy.stats import t as student_t

from hf_synth.quality.diversity import find_near_duplicates
from hf_synth.quality.neighbours import LEAF_ROWS, NeighbourSearch, knn_search, tolerance, unique_index

__all__ = [
    "K_WITNESS",
    "estimate_coverage",
    "expected_self_hit",
    "thin_near_copies",
    "witness_curve",
]

K_WITNESS = 3  # neighbours of the witness radius: fine enough that a topic's border stays thin
Z90 = 1.6448536269514722  # two-sided 90%
GRID = 512  # points of the log-c grid for the point estimate
THIN_ONE_GROUP = 20_000  # synthetic rows up to which near-copies are looked for among all rows
COPY_SCALE = 0.25  # a near-copy is thinned within this share of its distance to the nearest reference row
CONCENTRATION_QUERIES = 20_000  # synthetic rows the concentration mean is taken over (seeded sample)


def witness_curve(c: np.ndarray | float, n_ref: int, n_syn: int, k: int) -> np.ndarray:
    """f(c) = c · (1 − ∏_{i=1..k} (cN − i)/(cN + M − i)): expected witnessed share at coverage c.

    Args: c: coverage share(s) > 0 (array or scalar); n_ref = N, n_syn = M rows; k: witness neighbours.
    Returns: array like c. Increasing in c, bounded by k·M/N as c → ∞; equals c while cN ≤ k.
    """
    c = np.atleast_1d(np.asarray(c, dtype=np.float64))
    n_in = c[:, None] * n_ref
    i = np.arange(1, k + 1, dtype=np.float64)[None, :]
    ratio = np.where(n_in > i, (n_in - i) / np.maximum(n_in + n_syn - i, 1e-300), 0.0)
    return c * (1.0 - np.prod(ratio, axis=1))


def _invert(w: float, n_ref: int, n_syn: int, k: int) -> float | None:
    """f⁻¹(w): 0 for w ≤ 0, None when no finite c reaches w (w ≥ sup f)."""
    if w <= 0:
        return 0.0
    if w >= k * n_syn / n_ref * (1 - 1e-9) or witness_curve(1e6, n_ref, n_syn, k)[0] <= w:
        return None
    hi = 1.0
    while witness_curve(hi, n_ref, n_syn, k)[0] < w:
        hi *= 2.0
    return float(brentq(lambda c: witness_curve(c, n_ref, n_syn, k)[0] - w, 1e-12, hi, xtol=1e-9))


def expected_self_hit(n_real: int, n_fake: int, k: int) -> float:
    """Expected share of fake points with ANOTHER fake inside their k-th-nearest-real radius, i.i.d. case.

    A fake point sees N reals and M − 1 other fakes, exchangeable in distance order; it misses unless its
    first k neighbours are all real: 1 − ∏_{i=1..k} (N+1−i)/(N+M−i). 0-1.
    """
    if n_fake < 2 or not 1 <= k <= n_real:
        raise ValueError(f"need n_fake ≥ 2 and 1 ≤ k ≤ n_real (got {n_fake}, {k}, {n_real})")
    i = np.arange(1, k + 1, dtype=np.float64)
    return float(1.0 - np.prod((n_real + 1 - i) / (n_real + n_fake - i)))


def thin_near_copies(
    x: np.ndarray,
    threshold: float | None,
    rng: np.random.Generator,
    *,
    partition_out: list | None = None,
    nearest_real: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Row numbers (ascending) of x (n, d) kept after dropping near-copies WITHIN this one set.

    Rows are visited in a seeded random order and a row is a near-copy when its cosine to an earlier-visited
    row is ≥ threshold (`find_near_duplicates`). With `nearest_real` ((q, d) rows → (q,) distances to their
    nearest reference row), a near-copy is dropped only when that earlier row is within COPY_SCALE times the
    near-copy's distance to its nearest reference row (module docstring); without it, every near-copy is
    dropped. Up to THIN_ONE_GROUP rows every pair is compared; above, only rows in one leaf of a seeded
    k-means partition (~LEAF_ROWS rows a leaf), so the cost is O(n · LEAF_ROWS · d) instead of O(n² · d); that
    partition, restricted to the kept rows, is appended to `partition_out` (the neighbour index reuses it).
    None → keep every row.
    """
    if threshold is None or len(x) < 2:
        return np.arange(len(x))
    order = rng.permutation(len(x))
    found: list[np.ndarray] = []
    twins: list[np.ndarray] = []
    part = None
    if len(x) <= THIN_ONE_GROUP:
        dup, twin = find_near_duplicates(
            x[order], np.zeros(len(x), dtype=np.int8), threshold, with_earlier=True
        )
        found.append(order[dup])
        twins.append(order[twin])
    else:
        from hf_synth.quality.partition import build_partition

        part = build_partition(x, LEAF_ROWS, int(rng.integers(2**31)))
        rank = np.empty(len(x), dtype=np.int64)
        rank[order] = np.arange(len(x))
        for j in range(part.n_leaves):
            members = part.order[part.bounds[j] : part.bounds[j + 1]]
            if len(members) < 2:
                continue
            members = members[np.argsort(rank[members], kind="stable")]  # visit order within the leaf
            dup, twin = find_near_duplicates(
                x[members], np.zeros(len(members), dtype=np.int8), threshold, with_earlier=True
            )
            found.append(members[dup])
            twins.append(members[twin])
    copies = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    if nearest_real is not None and len(copies):
        rows = np.asarray(x[copies], dtype=np.float32)
        gap = np.linalg.norm(rows - np.asarray(x[np.concatenate(twins)], dtype=np.float32), axis=1)
        copies = copies[gap <= COPY_SCALE * nearest_real(rows)]
    keep = np.ones(len(x), dtype=bool)
    keep[copies] = False
    kept = np.flatnonzero(keep)
    if part is not None and partition_out is not None:
        partition_out.append(part if len(kept) == len(x) else part.subset(kept, x))
    return kept


def _prepare(
    x: np.ndarray,
    cap: int | None,
    threshold: float | None,
    rng: np.random.Generator,
    partition_out: list | None = None,
    nearest_real: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """(rows used (float32 copy), their row numbers in x, share thinned as near-copies, subsampled?)."""
    idx = unique_index(x)
    subsampled = cap is not None and len(idx) > cap
    if subsampled:
        idx = idx[np.sort(rng.choice(len(idx), cap, replace=False))]
    rows = np.asarray(x[idx], dtype=np.float32)
    kept = thin_near_copies(rows, threshold, rng, partition_out=partition_out, nearest_real=nearest_real)
    share = 1.0 - len(kept) / max(1, len(rows))
    if len(kept) < len(rows):
        rows, idx = rows[kept], idx[kept]
    return rows, idx, share, subsampled


def _witness_jackknife(
    r: np.ndarray, f: np.ndarray, k: int, search: NeighbourSearch
) -> tuple[float, float, dict[str, np.ndarray]]:
    """(W, jackknife sd of W, points) for reference rows r (N, d) and synthetic rows f (M, d).

    Leaving out synthetic row j un-witnesses the reference rows it alone witnessed; leaving out
    reference row x removes its own term and widens the radius of rows that had x among their k nearest
    (their (k+1)-th neighbour becomes the k-th), which may witness them. points: {"hit" (N,) bool
    witnessed, "ref_neighbours" (N, k+1) positions of each row's nearest other reference rows}.

    The reference → synthetic search may stop early once 2 synthetic rows lie within a row's radius
    (the row is then witnessed and not by one row alone: all the jackknife needs to know).
    """
    n, m = len(r), len(f)
    tol = tolerance(np.concatenate([r[:1000], f[:1000]]))
    n_next = min(k + 1, n - 1)
    ref_index = search.index(r, "reference")
    rr = ref_index.knn(r, n_next, exclude=np.arange(n), label="reference → reference")
    rr_d, rr_i = rr.dist, rr.index
    radius = rr_d[:, k - 1] + tol
    wider = (rr_d[:, k] if n_next > k else np.full(n, np.inf, dtype=np.float32)) + tol
    syn_index = search.index(f, "synthetic")

    def decide(d: np.ndarray, rows: np.ndarray) -> np.ndarray:
        # What the jackknife reads from the answer: witnessed, witnessed twice, witnessed at the wider radius.
        cols = [d[:, 0] <= radius[rows], d[:, 0] <= wider[rows]]
        return np.stack(cols + ([d[:, 1] <= radius[rows]] if d.shape[1] > 1 else []), axis=1)

    rs = syn_index.knn(r, min(2, m), stop_sq=radius, label="reference → synthetic", decide=decide)
    rs_d, rs_i = rs.dist, rs.index
    hit = rs_d[:, 0] <= radius
    alone = hit & ((rs_d[:, 1] > radius) if m > 1 else True)
    n_hit = int(hit.sum())
    lost = np.bincount(rs_i[alone, 0], minlength=m)
    w_without_syn = (n_hit - lost) / n
    gained = np.zeros(n)
    newly = ~hit & (rs_d[:, 0] <= wider)
    for col in range(k):
        np.add.at(gained, rr_i[newly, col], 1.0)
    w_without_ref = (n_hit - hit + gained) / (n - 1)
    var = (m - 1) / m * float(np.sum((w_without_syn - w_without_syn.mean()) ** 2))
    var += (n - 1) / n * float(np.sum((w_without_ref - w_without_ref.mean()) ** 2))
    points = {"hit": hit, "ref_neighbours": rr_i}
    if rr.check is not None or rs.check is not None:
        points["witness_check"] = _witness_check(r, f, k, tol, hit, rs.check, rr.check)
    return n_hit / n, float(np.sqrt(var)), points


def _witness_check(
    r: np.ndarray,
    f: np.ndarray,
    k: int,
    tol: float,
    hit: np.ndarray,
    syn_check: dict[str, np.ndarray] | None,
    ref_check: dict[str, np.ndarray] | None,
) -> dict[str, float]:
    """End-to-end check of an approximate witness search: on the seeded sample of reference rows that
    the approximate search was checked on, the witness flags from exact search (exact radius, exact
    nearest synthetic row) against the flags used. {"rows", "agreement" (share of equal flags),
    "witnessed_exact", "witnessed_used" (the two witnessed shares on the sample)}."""
    check = syn_check if syn_check is not None else ref_check
    rows = check["rows"]  # type: ignore[index]
    radius = knn_search(r[rows], r, k + 1)[0][:, k] + tol  # itself first (exact repeats were dropped)
    nearest = syn_check["dist"][:, 0] if syn_check is not None else knn_search(r[rows], f, 1)[0][:, 0]
    exact_hit = nearest <= radius
    diff = hit[rows].astype(np.float64) - exact_hit
    return {
        "rows": len(rows),
        "agreement": float(np.mean(exact_hit == hit[rows])),
        "witnessed_exact": float(np.mean(exact_hit)),
        "witnessed_used": float(np.mean(hit[rows])),
        # W's error from the approximate search, as an sd: its bias on the sample and that bias's
        # standard error (the headline's interval is widened by it).
        "approximation_sd": float(np.sqrt(np.mean(diff) ** 2 + np.var(diff) / max(1, len(rows)))),
    }


def _concentration(
    r: np.ndarray, f: np.ndarray, k: int, search: NeighbourSearch, seed: int
) -> tuple[float | None, int]:
    """(synthetic self-hit share within the k-th-nearest-reference radius / its expectation, queries used).

    The share is a mean over synthetic rows: above CONCENTRATION_QUERIES rows it is taken over a seeded
    sample of them, each searched against every reference and synthetic row.
    """
    if len(f) < 2:
        return None, 0
    tol = tolerance(np.concatenate([r[:1000], f[:1000]]))
    rows = np.arange(len(f))
    if len(f) > CONCENTRATION_QUERIES:
        rng = np.random.default_rng([seed, 0xC0C0])
        rows = np.sort(rng.choice(len(f), CONCENTRATION_QUERIES, replace=False))
    q = f[rows]
    radius = search.index(r, "reference").knn(q, k, label="synthetic → reference").dist[:, k - 1] + tol
    found = search.index(f, "synthetic").knn(
        q,
        1,
        exclude=rows,
        stop_sq=radius,
        label="synthetic → synthetic",
        decide=lambda d, sub: (d[:, 0] <= radius[sub])[:, None],
    )
    share = float(np.mean(found.dist[:, 0] <= radius))
    return share / expected_self_hit(len(r), len(f), k), len(rows)


def _posterior_median(w: float, sd: float, n_ref: int, n_syn: int, k: int) -> float:
    """Median of c over a log grid on [1/N, 1], weighted by the Gaussian fit of f(c) to w."""
    grid = np.geomspace(1.0 / n_ref, 1.0, GRID)
    loglik = -0.5 * ((w - witness_curve(grid, n_ref, n_syn, k)) / sd) ** 2
    weight = np.exp(loglik - loglik.max())
    cdf = np.cumsum(weight)
    return float(grid[min(GRID - 1, int(np.searchsorted(cdf, 0.5 * cdf[-1])))])


def estimate_coverage(
    real: np.ndarray,
    fake: np.ndarray,
    *,
    k: int = K_WITNESS,
    max_samples: int | None = None,
    seed: int = 0,
    near_duplicate_threshold: float | None = 0.95,
    thin_reference: bool = False,
    z: float = Z90,
    search: NeighbourSearch | None = None,
    keep_points: bool = False,
) -> dict:
    """The headline coverage of `real` by `fake`: point, 90% interval, resolution (module docstring).

    Args:
        real: (N, d) reference embeddings; fake: (M, d) synthetic embeddings (memmaps are fine: only the
            rows used are copied).
        k: witness neighbours. max_samples: None (default) uses every row; a number subsamples each side
            above it first (seeded): the subsample path, only when asked for.
        seed: seeds the subsamples and the thinning order. near_duplicate_threshold: cosine at which
            synthetic rows count as near-copies of each other; those within COPY_SCALE of their distance
            to the reference are thinned (module docstring; None: keep all).
        thin_reference: thin the reference's own near-copies too (default False: see module docstring).
        z: normal quantile of the interval (1.645: 90%); the same tail of Student's t with min(N, M) − 1
            degrees of freedom is used (the jackknife's variance is itself uncertain with few rows).
        search: the neighbour search (None: `NeighbourSearch()` with its defaults, local engine).
        keep_points: add "points" (not JSON-able): {"hit" (n,) bool, "ref_neighbours" (n, k+1),
            "ref_rows" (n,) row numbers in `real` of the reference rows used}.
    Returns:
        {"coverage" (point, 0-1), "interval" [low, high] (0-1), "interval_raw" [low, high or None when
        unbounded], "mle" (f⁻¹(W), unclipped, None when unbounded), "resolution" (reference rows, of the
        reference as given), "resolution_share", "k", "witnessed" (W), "witnessed_sd",
        "expected_witnessed" (f(1)), "concentration", "concentration_queries", "n_reference",
        "n_synthetic" (rows used), "subsampled", "thinned_share" {"synthetic", "reference"},
        "neighbours" (`NeighbourSearch.report()`: exact or partitioned, with the measured recall)}.
    Raises:
        ValueError: fewer than 2 distinct rows on a side.
    Cost: exact: O((N + M)·N·d); partitioned: O((N + M)·probes·LEAF_ROWS·d) plus the recall checks.
    """
    search = search or NeighbourSearch()
    rng = np.random.default_rng(seed)
    n_given = len(real)
    thin_ref = near_duplicate_threshold if thin_reference else None
    r, r_rows, thin_r, sub_r = _prepare(real, max_samples, thin_ref, rng)
    built: list = []

    def nearest_real(q: np.ndarray) -> np.ndarray:
        if len(r) == 0:  # no reference row: every near-copy goes (and the size check below refuses)
            return np.full(len(q), np.inf)
        found = search.index(r, "reference").knn(q, 1, label="synthetic near-copies → reference")
        return np.sqrt(np.maximum(0.0, found.dist[:, 0].astype(np.float64)))

    f, _, thin_f, sub_f = _prepare(fake, max_samples, near_duplicate_threshold, rng, built, nearest_real)
    n, m = len(r), len(f)
    if n < 2 or m < 2:
        raise ValueError(f"coverage needs ≥ 2 distinct rows per side (got reference {n}, synthetic {m})")
    k = max(1, min(int(k), n - 1))
    if built and search.options.leaf_rows == LEAF_ROWS:
        search.index(f, "synthetic", partition=built[0])
    w, sd, points = _witness_jackknife(r, f, k, search)
    # One synthetic row witnesses ~k reference rows: with no or few witnesses the jackknife sees no
    # spread, but the count cannot be known better than one synthetic row's worth.
    sd = max(sd, k / n)
    if "witness_check" in points:  # an approximate search: its measured error widens the interval
        sd = float(np.hypot(sd, points["witness_check"]["approximation_sd"]))
    # Small-sample quantile: a jackknife over few rows estimates its variance poorly (Student t, M − 1 df).
    z = float(student_t.ppf(student_t.cdf(z, np.inf), max(1, min(n, m) - 1)))
    low = _invert(w - z * sd, n, m, k)
    low = min(w, 0.0 if low is None else low)
    high = _invert(w + z * sd, n, m, k)
    mle = _invert(w, n, m, k)
    point = _posterior_median(w, sd, n, m, k)
    high_clipped = 1.0 if high is None else min(1.0, high)
    point = float(np.clip(point, low, high_clipped))
    slope = float(witness_curve(1.0, n, m, k)[0] - witness_curve(0.99, n, m, k)[0]) / 0.01
    share = min(1.0, z * sd / slope) if slope > 0 else 1.0
    concentration, n_conc = _concentration(r, f, k, search, seed)
    out = {
        "coverage": point,
        "interval": [float(low), float(high_clipped)],
        "interval_raw": [float(low), None if high is None else float(high)],
        "mle": mle,
        "resolution": int(min(n_given, max(k, np.ceil(share * n_given)))),
        "resolution_share": share,
        "k": k,
        "witnessed": w,
        "witnessed_sd": sd,
        "expected_witnessed": float(witness_curve(1.0, n, m, k)[0]),
        "concentration": concentration,
        "concentration_queries": n_conc,
        "n_reference": n,
        "n_synthetic": m,
        "subsampled": bool(sub_r or sub_f),
        "thinned_share": {"synthetic": thin_f, "reference": thin_r},
        "neighbours": search.report(),
    }
    if "witness_check" in points:
        out["neighbours"]["witness_check"] = points.pop("witness_check")
    if keep_points:
        out["points"] = {**points, "ref_rows": r_rows}
    return out
