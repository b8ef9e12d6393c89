"""Partner rows of paired edge kinds (exact/near duplicates, contrast pairs): who quotes whom."""

from __future__ import annotations

import numpy as np

from hf_synth.planning.types import PlanSpec, strata_dims


def within_stratum_perm(stratum: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A permutation that shuffles positions only inside each (contiguous) stratum block."""
    key = stratum.astype(np.float64) + 0.5 * rng.random(stratum.shape[0])
    return np.argsort(key, kind="stable")


def _compose_key(columns: list[tuple[np.ndarray, int]], n: int) -> np.ndarray:
    """Mixed-radix int64 key of several small-integer columns, compressed when it could overflow."""
    key = np.zeros(n, dtype=np.int64)
    bound = 1
    for col, size in columns:
        if bound * size > 2**40:
            _, key = np.unique(key, return_inverse=True)
            key = key.astype(np.int64).ravel()
            bound = int(key.max()) + 1 if n else 1
        key = key * size + col
        bound *= size
    return key


def _pick(
    pool_key: np.ndarray,
    pool_val: np.ndarray,
    pool_ids: np.ndarray,
    q_key: np.ndarray,
    q_val: np.ndarray,
    n_vals: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """For every query, a pool slot with the same key and a different value (-1 when none).

    Values are in -1..n_vals-1 (-1 never occurs in the pool, so a query value of -1 means "any").
    The pool is shuffled; queries of one (key, value) group walk the admissible part of their key's
    pool cyclically, starting just after their own value's block, so partners are distinct while
    the pool lasts and different values start at different places.
    """
    n_q = q_key.shape[0]
    out = np.full(n_q, -1, dtype=np.int64)
    n_p = pool_key.shape[0]
    if n_q == 0 or n_p == 0:
        return out
    # Renumber keys by the (few) distinct query keys and drop pool slots no query can use: the pool
    # is usually most of the plan, so this keeps the sorts below small.
    uq = np.unique(q_key)
    at = np.minimum(np.searchsorted(uq, pool_key), uq.shape[0] - 1)
    usable = uq[at] == pool_key
    pk, pool_val, pool_ids = at[usable].astype(np.int64), pool_val[usable], pool_ids[usable]
    n_p = pk.shape[0]
    if n_p == 0:
        return out
    qk = np.searchsorted(uq, q_key).astype(np.int64)
    pc = pk * (n_vals + 1) + pool_val + 1
    qc = qk * (n_vals + 1) + q_val + 1
    order = np.lexsort((rng.random(n_p), pc))
    pk_s, pc_s, pid_s = pk[order], pc[order], pool_ids[order]
    ks = np.searchsorted(pk_s, qk, "left")
    ke = np.searchsorted(pk_s, qk, "right")
    vs = np.searchsorted(pc_s, qc, "left")
    ve = np.searchsorted(pc_s, qc, "right")
    comp = (ke - ks) - (ve - vs)
    q_order = np.lexsort((rng.random(n_q), qc))
    qc_sorted = qc[q_order]
    rank = np.empty(n_q, dtype=np.int64)
    rank[q_order] = np.arange(n_q) - np.searchsorted(qc_sorted, qc_sorted, "left")
    ok = comp > 0
    j = rank % np.maximum(comp, 1)
    pos = ve + j
    pos = np.where(pos >= ke, ks + (pos - ke), pos)
    out[ok] = pid_s[pos[ok]]
    return out


def assign_partners(
    spec: PlanSpec,
    codes: dict[str, np.ndarray],
    stratum: np.ndarray,
    split: np.ndarray,
    edge: np.ndarray,
    rng: np.random.Generator,
    notes: list[str],
) -> np.ndarray:
    n = edge.shape[0]
    partner = np.full(n, -1, dtype=np.int64)
    pool_all = np.flatnonzero(edge == 0).astype(np.int64)
    n_splits = len(spec.splits)
    n_strata = int(stratum.max()) + 1 if n else 1
    sizes = {d.name: len(d.values) for d in spec.dimensions}
    sdims = set(strata_dims(spec))

    def key_of(idx: np.ndarray, cols: list[str], with_split: bool) -> np.ndarray:
        parts: list[tuple[np.ndarray, int]] = []
        for c in cols:
            if c == "__stratum__":
                parts.append((stratum[idx].astype(np.int64), n_strata))
            else:
                parts.append((codes[c][idx].astype(np.int64), sizes[c]))
        if with_split:
            parts.append((split[idx].astype(np.int64), n_splits))
        return _compose_key(parts, idx.shape[0])

    dims = {d.name: d for d in spec.dimensions}

    def allowed(kind: int) -> np.ndarray:
        """The ordinary slots a partner of `kind` may be: those its `where` allows."""
        ok = np.ones(pool_all.shape[0], dtype=bool)
        for dim, values in spec.edge_kinds[kind].where:
            table = np.zeros(len(dims[dim].values), dtype=bool)
            table[[dims[dim].values.index(v) for v in values]] = True
            ok &= table[codes[dim][pool_all]]
        return pool_all[ok]

    def resolve(
        queries: np.ndarray, tiers: list[tuple[list[str], bool]], val_dim: str | None, pool: np.ndarray
    ) -> None:
        todo = queries
        for cols, with_split in tiers:
            if todo.shape[0] == 0:
                break
            if val_dim is None:
                pool_val = np.zeros(pool.shape[0], dtype=np.int64)
                q_val = np.full(todo.shape[0], -1, dtype=np.int64)
                n_vals = 1
            else:
                pool_val = codes[val_dim][pool].astype(np.int64)
                q_val = codes[val_dim][todo].astype(np.int64)
                n_vals = sizes[val_dim]
            got = _pick(
                key_of(pool, cols, with_split),
                pool_val,
                pool,
                key_of(todo, cols, with_split),
                q_val,
                n_vals,
                rng,
            )
            found = got >= 0
            partner[todo[found]] = got[found]
            todo = todo[~found]

    same = [k + 1 for k, e in enumerate(spec.edge_kinds) if e.partner == "same_stratum"]
    # Kinds with the same condition share one pool, so their partners stay distinct while it lasts.
    groups: dict[tuple, list[int]] = {}
    for k in same:
        groups.setdefault(spec.edge_kinds[k - 1].where, []).append(k)
    for members in groups.values():
        queries = np.flatnonzero(np.isin(edge, members)).astype(np.int64)
        # Same split first (the brief's preference), then a partner with equal values everywhere, since a
        # duplicate copies its partner's row.
        every = ["__stratum__"] + [d.name for d in spec.dimensions if d.name not in sdims]
        resolve(
            queries,
            [(every, True), (["__stratum__"], True), (every, False), (["__stratum__"], False)],
            None,
            allowed(members[0] - 1),
        )
    for k, e in enumerate(spec.edge_kinds):
        if e.partner is None or not e.partner.startswith("across:"):
            continue
        dim = e.partner[len("across:") :]
        others = [d.name for d in spec.dimensions if d.name != dim]
        strata_others = [d for d in others if d in sdims]
        tiers: list[tuple[list[str], bool]] = []
        for cols, with_split in [
            (others, True),
            (others, False),
            (strata_others, True),
            (strata_others, False),
            ([], True),
            ([], False),
        ]:
            if (cols, with_split) not in tiers:
                tiers.append((cols, with_split))
        resolve(np.flatnonzero(edge == k + 1).astype(np.int64), tiers, dim, allowed(k))

    for k, e in enumerate(spec.edge_kinds):
        if e.partner is None:
            continue
        rows = edge == k + 1
        missing = int(np.count_nonzero(rows & (partner < 0)))
        if missing:
            where = (
                "in the same stratum"
                if e.partner == "same_stratum"
                else (f"with a different {e.partner[len('across:') :]!r}")
            )
            if e.where:
                where += " that its `where` allows"
            notes.append(
                f"edge kind {e.name!r}: {missing} of {int(np.count_nonzero(rows))} rows have no partner "
                f"(no ordinary slot {where}); partner = -1"
            )
    return partner
