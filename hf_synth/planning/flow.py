"""Integer flows with lower and upper bounds on every arc: the one solver behind every rounding here.

A *feasible circulation* is found by the textbook reduction: an arc (u, v) with bounds [lo, hi] becomes an arc
of capacity hi - lo, and its lower bound becomes a demand (v receives lo, u sends lo) that a super source and
a super sink settle; the circulation exists exactly when one `scipy.sparse.csgraph.maximum_flow` saturates
the super source. Callers model an s-t flow of value F by adding the arc t → s with bounds [F, F]. Because
the bounds are integers, an integral solution exists whenever any real one does (network matrices are
totally unimodular) — that is what lets the planner *prove* a rounding exists before it asks for one.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_flow

__all__ = ["Arcs", "bounded_flow"]

_INT32_MAX = 2**31 - 1


class Arcs:
    """A growing list of arcs (tail, head, lower bound, upper bound); blocks of numpy arrays, no Python loop
    per arc. Node ids are plain integers handed out by `nodes`."""

    def __init__(self) -> None:
        self.n_nodes = 0
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def nodes(self, n: int) -> np.ndarray:
        """`n` fresh node ids (int64, shape (n,))."""
        out = np.arange(self.n_nodes, self.n_nodes + n, dtype=np.int64)
        self.n_nodes += n
        return out

    def add(
        self, tail: np.ndarray | int, head: np.ndarray | int, lo: np.ndarray | int, hi: np.ndarray | int
    ) -> slice:
        """Append arcs (broadcast to a common length); returns their positions in `bounded_flow`'s result."""
        t, h, a, b = np.broadcast_arrays(
            np.asarray(tail, np.int64),
            np.asarray(head, np.int64),
            np.asarray(lo, np.int64),
            np.asarray(hi, np.int64),
        )
        start = sum(p[0].shape[0] for p in self._parts)
        self._parts.append((t.ravel(), h.ravel(), a.ravel(), b.ravel()))
        return slice(start, start + t.size)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(tail, head, lo, hi), each int64 of shape (m,)."""
        if not self._parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty, empty
        return tuple(np.concatenate([p[i] for p in self._parts]) for i in range(4))  # type: ignore[return-value]

    def solve(self, rng: np.random.Generator) -> np.ndarray | None:
        """`bounded_flow` of these arcs."""
        return bounded_flow(self.n_nodes, *self.arrays(), rng)


def bounded_flow(
    n_nodes: int,
    tail: np.ndarray,
    head: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray | None:
    """An integral circulation with lo[e] <= flow[e] <= hi[e] on every arc, or None when none exists.

    Args:
        n_nodes: nodes are 0..n_nodes-1.
        tail, head: int64 (m,), arc e goes tail[e] → head[e]. No two arcs may join the same ordered pair
            of nodes, and no pair of nodes may be joined in both directions: flows are read per pair
            (callers build layered networks, where this holds by construction; it is not re-checked).
        lo, hi: int64 (m,), 0 <= lo <= hi < 2**31.
        rng: decides which of the admissible circulations is returned: nodes are relabelled at random
            because the max-flow routine scans them in label order.

    Returns:
        int64 (m,) flows, or None when the bounds admit no circulation.
    """
    m = tail.shape[0]
    if np.any(lo < 0) or np.any(lo > hi):
        return None
    if m and int(hi.max()) > _INT32_MAX:
        raise ValueError("flow bounds above 2**31 - 1 are not supported")
    excess = np.bincount(head, lo, minlength=n_nodes) - np.bincount(tail, lo, minlength=n_nodes)
    excess = np.rint(excess).astype(np.int64)
    need = int(excess[excess > 0].sum())
    if need == 0:
        return lo.copy()  # the lower bounds balance at every node: they are a circulation
    cap = hi - lo
    label = rng.permutation(n_nodes)
    ss, tt = n_nodes, n_nodes + 1
    pos, neg = np.flatnonzero(excess > 0), np.flatnonzero(excess < 0)
    keep = cap > 0
    src = np.concatenate([label[tail[keep]], np.full(pos.shape[0], ss), label[neg]])
    dst = np.concatenate([label[head[keep]], label[pos], np.full(neg.shape[0], tt)])
    caps = np.concatenate([cap[keep], excess[pos], -excess[neg]])
    graph = csr_matrix(
        (caps.astype(np.int32), (src.astype(np.int32), dst.astype(np.int32))),
        shape=(n_nodes + 2, n_nodes + 2),
    )
    result = maximum_flow(graph, ss, tt, method="dinic")
    if int(result.flow_value) != need:
        return None
    out = lo.copy()
    idx = np.flatnonzero(keep)
    if idx.shape[0]:
        flows = np.asarray(result.flow[label[tail[idx]], label[head[idx]]]).ravel()
        out[idx] += flows.astype(np.int64)
    return out
