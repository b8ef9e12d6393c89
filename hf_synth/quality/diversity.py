"""Diversity of a text set, near-duplicates and leakage of reference texts.

Embedding inputs are float arrays of shape (n, d); rows are L2-normalised here, so cosine = dot product.
Every pairwise computation is blockwise: memory is O(block × n), never O(n²).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

# Budget of float32 cells in one similarity block (2**24 cells = 64 MiB).
BLOCK_CELLS = 1 << 24

_TOKEN = re.compile(r"\w+|[^\w\s]")


def normalise(emb: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), float32, shape unchanged (n, d)."""
    emb = np.asarray(emb, dtype=np.float32)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.maximum(norms, 1e-12)


def _rows_per_block(n_cols: int) -> int:
    return max(1, min(4096, BLOCK_CELLS // max(1, n_cols)))


def max_cosine(queries: np.ndarray, keys: np.ndarray, query_index: np.ndarray | None = None) -> np.ndarray:
    """Highest cosine similarity of each query row to any key row, blockwise.

    Args:
        queries: (q, d); keys: (n, d). Rows are normalised here.
        query_index: (q,) int — when queries are rows of `keys`, their row numbers there; the query's own
            row is then excluded (by index, so an exact duplicate elsewhere still counts).
    Returns:
        (q,) float32 in [-1, 1]; -inf when nothing is left to compare with.
    """
    q, k = normalise(queries), normalise(keys)
    out = np.full(len(q), -np.inf, dtype=np.float32)
    if len(k) == 0:
        return out
    step = _rows_per_block(len(k))
    for start in range(0, len(q), step):
        sims = q[start : start + step] @ k.T
        if query_index is not None:
            rows = np.arange(sims.shape[0])
            sims[rows, query_index[start : start + step]] = -np.inf
        out[start : start + step] = sims.max(axis=1)
    return out


def vendi_score(emb: np.ndarray) -> float:
    """Vendi Score (Friedman & Dieng 2023, "The Vendi Score: A Diversity Evaluation Metric for ML").

    VS = exp(−Σ λ_i log λ_i) with λ the eigenvalues of K/n, K the cosine-similarity kernel. For normalised
    rows X (n, d), K/n = X Xᵀ/n has the same non-zero eigenvalues as the d×d matrix Xᵀ X / n, so the cost is
    O(n·d²) time and O(d²) memory. Range [1, min(n, d)]: 1 for identical rows, n for n orthonormal rows.
    The "effective number of distinct items".
    """
    x = normalise(emb).astype(np.float64)
    if len(x) == 0:
        return 0.0
    cov = x.T @ x / len(x)
    # One thread: a d×d eigen-solve is tiny, and threaded LAPACK on a busy machine was 100x slower.
    with threadpool_limits(1):
        lam = np.linalg.eigvalsh(cov)
    lam = lam[lam > 1e-12]
    lam = lam / lam.sum()  # zero rows would make the trace < 1
    return float(np.exp(-(lam * np.log(lam)).sum()))


def _tokens(text: str) -> list[str]:
    # Words and punctuation marks; CJK runs count as one word (no segmentation without a tokeniser).
    return _TOKEN.findall(text.lower())


def distinct_n(texts: Sequence[str], n: int) -> float:
    """distinct-n (Li et al. 2016, "A Diversity-Promoting Objective Function for Neural Conversation
    Models"): unique n-grams / total n-grams over all texts, lower-cased word tokens. 0-1; 0 when no text
    has n tokens. Depends on corpus size: compare sets of equal size.
    """
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        toks = _tokens(text)
        grams = [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def compression_ratio(texts: Sequence[str]) -> float:
    """gzip compression ratio (Shaib et al. 2024, "Standardizing the Measurement of Text Diversity"):
    UTF-8 bytes of the newline-joined texts / bytes after gzip. ≥ ~1; higher = more repetitive.
    """
    raw = "\n".join(texts).encode("utf-8", "surrogatepass")
    if not raw:
        return 0.0
    return len(raw) / len(gzip.compress(raw, compresslevel=9, mtime=0))


def near_duplicate_rate(
    emb: np.ndarray, threshold: float = 0.95, *, max_queries: int = 10_000, seed: int = 0
) -> float:
    """Share of rows whose cosine to some OTHER row is ≥ threshold (0-1).

    Exact when n ≤ max_queries; otherwise estimated on a seeded random sample of max_queries rows
    (each still compared with all n rows): standard error ≤ 0.5/√max_queries.
    """
    n = len(emb)
    if n < 2:
        return 0.0
    idx = np.arange(n)
    if n > max_queries:
        idx = np.sort(np.random.default_rng(seed).choice(n, size=max_queries, replace=False))
    sims = max_cosine(emb[idx], emb, query_index=idx)
    return float(np.mean(sims >= threshold))


def leakage(
    syn_emb: np.ndarray,
    ref_emb: np.ndarray,
    threshold: float = 0.95,
    *,
    max_queries: int = 10_000,
    seed: int = 0,
) -> dict:
    """Synthetic rows that are near-copies of a reference text (cosine ≥ threshold).

    Returns {"rate": share of synthetic rows (0-1), "rows": synthetic row indices found (ascending),
    "n_checked": rows checked, "exact": all rows checked}. Above max_queries synthetic rows a seeded
    random sample is checked and `rows` lists only the leaked rows of that sample.
    """
    n = len(syn_emb)
    idx = np.arange(n)
    if n > max_queries:
        idx = np.sort(np.random.default_rng(seed).choice(n, size=max_queries, replace=False))
    sims = max_cosine(syn_emb[idx], ref_emb) if n else np.zeros(0, dtype=np.float32)
    hit = idx[sims >= threshold]
    return {
        "rate": float(len(hit) / len(idx)) if len(idx) else 0.0,
        "rows": [int(i) for i in hit],
        "n_checked": len(idx),
        "exact": bool(len(idx) == n),
        "threshold": threshold,
    }


def find_near_duplicates(
    emb: np.ndarray, groups: np.ndarray, threshold: float = 0.95, *, with_earlier: bool = False
) -> Any:
    """Rows whose cosine to an EARLIER row of the same group is ≥ threshold (the engine regenerates them).

    Args:
        emb: (n, d) embeddings (normalised here).
        groups: (n,) group key per row (e.g. stratum index); rows of different groups are never compared.
        threshold: cosine similarity, e.g. 0.95.
        with_earlier: also return, for each found row, the earlier row of its group it is most similar to.
    Returns:
        int64 array of row indices, ascending (the first row of every near-duplicate family is kept);
        with `with_earlier`, (those indices, (len,) int64 row indices of their most similar earlier rows).
    Blockwise: memory O(block × group size), time O(Σ group size² · d).
    """
    x = normalise(emb)
    groups = np.asarray(groups)
    if len(x) != len(groups):
        raise ValueError(f"emb has {len(x)} rows but groups has {len(groups)}")
    n = len(x)
    if n < 2:
        none = np.zeros(0, dtype=np.int64)
        return (none, none) if with_earlier else none
    _, inverse = np.unique(groups, return_inverse=True)
    order = np.argsort(inverse, kind="stable")  # rows of one group together, original order kept
    g_sorted = inverse[order]
    xs = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(g_sorted)) + 1]
    sizes = np.diff(np.r_[starts, n])
    first = np.repeat(starts, sizes)  # sorted position of each row's group start
    size_of = np.repeat(sizes, sizes)
    flagged: list[np.ndarray] = []
    earlier: list[np.ndarray] = []
    # Blocks run over the group-sorted rows, so many small groups share one matrix product; a block
    # compares its rows with every earlier row back to the start of its first group.
    pos = 0
    while pos < n:
        # About one group per block (at least 256 rows): larger blocks would mostly compare across groups.
        step = min(_rows_per_block(pos - first[pos] + 1024), max(256, int(size_of[pos])))
        stop = min(pos + step, n)
        lo = first[pos]
        sims = xs[pos:stop] @ xs[lo:stop].T
        rows = np.arange(pos, stop)[:, None]
        cols = np.arange(lo, stop)[None, :]
        # Only strictly earlier rows of the same group count.
        sims[(cols >= rows) | (g_sorted[lo:stop][None, :] != g_sorted[pos:stop][:, None])] = -np.inf
        best = sims.argmax(axis=1)
        hit = sims[np.arange(len(best)), best] >= threshold
        flagged.append(order[pos:stop][hit])
        earlier.append(order[lo + best[hit]])
        pos = stop
    found = np.concatenate(flagged).astype(np.int64)
    rank = np.argsort(found, kind="stable")
    if with_earlier:
        return found[rank], np.concatenate(earlier).astype(np.int64)[rank]
    return found[rank]


def _text_stats(texts: Sequence[str], emb: np.ndarray, threshold: float, seed: int) -> dict:
    unique = len(set(texts))
    return {
        "vendi": vendi_score(emb),
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "compression_ratio": compression_ratio(texts),
        "exact_duplicate_rate": 1.0 - unique / len(texts) if texts else 0.0,
        "near_duplicate_rate": near_duplicate_rate(emb, threshold, seed=seed),
    }


def diversity_report(
    syn_texts: Sequence[str],
    syn_emb: np.ndarray,
    ref_texts: Sequence[str] | None = None,
    ref_emb: np.ndarray | None = None,
    *,
    seed: int = 0,
    near_duplicate_threshold: float = 0.95,
    leakage_threshold: float = 0.95,
    max_rows: int = 10_000,
    max_leakage_queries: int = 5_000,
) -> dict:
    """Diversity figures of the synthetic set, and of the reference beside it.

    Every figure here depends on the number of rows (more rows → more repeated n-grams, more chance of a
    near-duplicate), so both sides are measured on seeded subsamples of the same size
    n = min(len(syn), len(ref), max_rows). Leakage uses every synthetic row (up to 10,000) against the
    whole reference (a seeded sample of max_leakage_queries rows
    when there are more; standard error ≤ 0.5/√5000 ≈ 0.007).

    Returns {"n_rows_compared", "synthetic": {...}, "reference": {...} | None, "leakage": {...} | None,
    "near_duplicate_threshold"}; each side holds vendi, distinct_1, distinct_2, compression_ratio,
    exact_duplicate_rate, near_duplicate_rate.
    """
    rng = np.random.default_rng(seed)
    sizes = [len(syn_texts)] + ([len(ref_texts)] if ref_texts is not None else [])
    n = min([*sizes, max_rows])

    def pick(texts: Sequence[str], emb: np.ndarray) -> tuple[list[str], np.ndarray]:
        idx = np.arange(len(texts)) if len(texts) == n else np.sort(rng.choice(len(texts), n, replace=False))
        return [texts[i] for i in idx], emb[idx]

    report: dict = {"n_rows_compared": int(n), "near_duplicate_threshold": near_duplicate_threshold}
    report["synthetic"] = _text_stats(*pick(syn_texts, syn_emb), near_duplicate_threshold, seed)
    if ref_texts is not None and ref_emb is not None:
        report["reference"] = _text_stats(*pick(ref_texts, ref_emb), near_duplicate_threshold, seed)
        report["leakage"] = leakage(
            syn_emb, ref_emb, leakage_threshold, max_queries=max_leakage_queries, seed=seed
        )
    else:
        report["reference"] = None
        report["leakage"] = None
    return report
