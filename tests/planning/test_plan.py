"""Properties of `hf_synth.planning`: exact quotas, controlled rounding, partners, limits, determinism."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hf_synth.planning.plan import (
    DimensionSpec,
    EdgeKindSpec,
    PlanSpec,
    controlled_round,
    largest_remainder,
    make_plan,
)
from tests.planning.checks import check_edge_spread, check_edge_strata

EPS = 1e-9
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def within(x: np.ndarray | int, real: np.ndarray | float) -> bool:
    """x is floor or ceil of real; a real within float noise (EPS) of an integer must equal it."""
    x = np.asarray(x)
    real = np.asarray(real, dtype=np.float64)
    nearest = np.round(real)
    near = np.abs(real - nearest) <= EPS
    lo = np.where(near, nearest, np.floor(real))
    hi = np.where(near, nearest, np.ceil(real))
    return bool(np.all((x >= lo) & (x <= hi)))


# ------------------------------------------------------------------------------------------------
# Strategies

weights_st = st.one_of(
    st.integers(1, 10).map(float),
    st.floats(0.05, 20.0, allow_nan=False, allow_infinity=False),
)


@st.composite
def dimensions_st(draw: st.DrawFn) -> tuple[DimensionSpec, ...]:
    n_dims = draw(st.integers(1, 3))
    dims = []
    for i in range(n_dims):
        n_vals = draw(st.integers(1, 5))
        ws = tuple(draw(st.lists(weights_st, min_size=n_vals, max_size=n_vals)))
        dims.append(DimensionSpec(f"d{i}", tuple(f"v{j}" for j in range(n_vals)), ws))
    return tuple(dims)


@st.composite
def spec_st(draw: st.DrawFn) -> PlanSpec:
    dims = draw(dimensions_st())
    names = [d.name for d in dims]
    strata_by = tuple(draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names))))
    sdims = strata_by or tuple(names)
    by_name = {d.name: d for d in dims}
    cell_counts = None
    size = None
    if draw(st.booleans()):
        size = draw(st.integers(0, 5000))
    else:
        cell_counts = {}
        for _ in range(draw(st.integers(0, 12))):
            key = tuple(draw(st.sampled_from(by_name[n].values)) for n in sdims)
            cell_counts[key] = draw(st.integers(0, 400))
    n_splits = draw(st.integers(1, 3))
    split_names = ["train", "validation", "test"][:n_splits]
    splits = tuple((name, draw(weights_st)) for name in split_names)
    partners = [None, "same_stratum", *(f"across:{n}" for n in names)]
    kinds = []
    for k in range(draw(st.integers(0, 4))):
        count = draw(st.one_of(st.none(), st.integers(0, 15)))
        kinds.append(EdgeKindSpec(f"k{k}", count, draw(weights_st), draw(st.sampled_from(partners))))
    edge_share = draw(st.sampled_from([0.0, 0.01, 0.05, 0.2, 0.5]))
    return PlanSpec(
        dimensions=dims,
        strata_by=strata_by,
        cell_counts=cell_counts,
        size=size,
        splits=splits,
        edge_share=edge_share,
        edge_kinds=tuple(kinds),
        seed=draw(st.integers(0, 2**32)),
    )


def full_size(spec: PlanSpec) -> int:
    if spec.cell_counts is not None:
        return sum(spec.cell_counts.values())
    assert spec.size is not None
    return spec.size


def expected_edge_total(spec: PlanSpec, n: int) -> int:
    counted = sum(k.count for k in spec.edge_kinds if k.count is not None)
    if all(k.count is not None for k in spec.edge_kinds):
        return counted
    return counted + max(0, math.floor(n * spec.edge_share + 0.5) - counted)


# ------------------------------------------------------------------------------------------------
# The invariant checker shared by the property tests


def check_plan(plan, spec: PlanSpec, exact_strata_marginals: bool) -> None:
    n = len(plan)
    for arr in (plan.slot_id, plan.stratum, plan.split, plan.edge, plan.partner, *plan.codes.values()):
        assert arr.shape == (n,)
    assert np.array_equal(plan.slot_id, np.arange(n))
    assert plan.slot_id.dtype == np.int64 and plan.partner.dtype == np.int64
    assert plan.stratum.dtype == np.int32 and plan.split.dtype == np.int32 and plan.edge.dtype == np.int32
    assert all(c.dtype == np.int32 for c in plan.codes.values())

    sdims = spec.strata_by or tuple(d.name for d in spec.dimensions)
    n_strata = len(plan.strata)
    strata_n = np.bincount(plan.stratum, minlength=n_strata)
    assert np.all(strata_n > 0), "zero-count cells are dropped"
    assert int(strata_n.sum()) == n
    ids = [" | ".join(s) for s in plan.strata]
    assert list(plan.targets["strata"]) == ids
    assert list(plan.targets["strata"].values()) == strata_n.tolist()
    # slots are grouped by stratum
    assert np.all(np.diff(plan.stratum) >= 0)

    dims = {d.name: d for d in spec.dimensions}
    for s_i, values in enumerate(plan.strata):
        rows = plan.stratum == s_i
        for name, v in zip(sdims, values, strict=True):
            assert np.all(plan.codes[name][rows] == dims[name].values.index(v))

    # Dimension marginals and per-stratum shares.
    for d in spec.dimensions:
        w = np.asarray(d.weights) / sum(d.weights)
        counts = np.bincount(plan.codes[d.name], minlength=len(d.values))
        assert plan.targets["marginals"][d.name] == dict(zip(d.values, counts.tolist(), strict=True))
        assert int(counts.sum()) == n
        if d.name not in sdims or exact_strata_marginals:
            assert within(counts, n * w), (d.name, counts, n * w)
        if d.name not in sdims:
            table = np.zeros((n_strata, len(d.values)), dtype=np.int64)
            np.add.at(table, (plan.stratum, plan.codes[d.name]), 1)
            assert within(table, strata_n[:, None] * w[None, :])

    # Splits.
    sw = np.array([w for _, w in spec.splits]) / sum(w for _, w in spec.splits)
    split_names = [s for s, _ in spec.splits]
    split_counts = np.bincount(plan.split, minlength=len(spec.splits))
    assert within(split_counts, n * sw)
    assert plan.targets["splits"] == dict(zip(split_names, split_counts.tolist(), strict=True))
    st_table = np.zeros((n_strata, len(spec.splits)), dtype=np.int64)
    np.add.at(st_table, (plan.stratum, plan.split), 1)
    assert within(st_table, strata_n[:, None] * sw[None, :])
    assert plan.targets["strata_splits"] == {
        sid: dict(zip(split_names, row, strict=True)) for sid, row in zip(ids, st_table.tolist(), strict=True)
    }

    # Edge kinds.
    n_kinds = len(spec.edge_kinds)
    edge_counts = np.bincount(plan.edge, minlength=n_kinds + 1)
    assert edge_counts.shape[0] == n_kinds + 1
    assert plan.targets["edge_cases"] == {
        k.name: int(c) for k, c in zip(spec.edge_kinds, edge_counts[1:], strict=True)
    }
    # Per stratum (kind and total) within ±1 of the share of the rows each kind's `where` allows (all rows
    # without one), and every kind within ±1 of its share in every split (issue 11).
    check_edge_strata(plan)
    check_edge_spread(plan)
    for k, c in zip(spec.edge_kinds, edge_counts[1:], strict=True):
        if c == 0:
            assert any(k.name in note and "0 rows" in note for note in plan.notes), (k.name, plan.notes)

    # Partners.
    for k_i, kind in enumerate(spec.edge_kinds, start=1):
        rows = np.flatnonzero(plan.edge == k_i)
        if kind.partner is None:
            assert np.all(plan.partner[rows] == -1)
            continue
        got = plan.partner[rows]
        if np.any(got < 0):
            assert any(kind.name in note and "partner" in note for note in plan.notes)
        ok = rows[got >= 0]
        p = plan.partner[ok]
        assert np.all(plan.edge[p] == 0), "partners are ordinary slots"
        if kind.partner == "same_stratum":
            assert np.all(plan.stratum[p] == plan.stratum[ok])
        else:
            dim = kind.partner.split(":", 1)[1]
            assert np.all(plan.codes[dim][p] != plan.codes[dim][ok])
    assert np.all(plan.partner[plan.edge == 0] == -1)

    json.dumps(plan.to_table())


@SETTINGS
@given(spec=spec_st())
def test_plan_guarantees(spec: PlanSpec) -> None:
    try:
        plan = make_plan(spec)
    except ValueError as err:
        # The only legitimate refusal for a well-formed spec: explicit counts exceed the plan size.
        counted = sum(k.count or 0 for k in spec.edge_kinds)
        assert counted > full_size(spec), err
        return
    n = full_size(spec)
    assert len(plan) == n
    if spec.cell_counts is not None:
        for key, c in spec.cell_counts.items():
            assert plan.targets["strata"].get(" | ".join(key), 0) == c
    check_plan(plan, spec, exact_strata_marginals=spec.cell_counts is None)
    # Edge totals: exact, per kind by largest remainder.
    e_total = expected_edge_total(spec, n)
    assert sum(plan.targets["edge_cases"].values()) == e_total
    free = [k for k in spec.edge_kinds if k.count is None]
    for k in spec.edge_kinds:
        if k.count is not None:
            assert plan.targets["edge_cases"][k.name] == k.count
    if free:
        budget = e_total - sum(k.count for k in spec.edge_kinds if k.count is not None)
        fw = np.array([k.weight for k in free])
        got = np.array([plan.targets["edge_cases"][k.name] for k in free])
        assert within(got, budget * fw / fw.sum())


@SETTINGS
@given(spec=spec_st(), frac=st.floats(0.0, 1.2))
def test_limit_scales_with_same_guarantees(spec: PlanSpec, frac: float) -> None:
    n = full_size(spec)
    counted = sum(k.count or 0 for k in spec.edge_kinds)
    if counted > n:
        return
    limit = int(frac * n)
    plan = make_plan(spec, limit=limit)
    if limit >= n:
        full = make_plan(spec)
        assert_same(plan, full)
        return
    assert len(plan) == limit
    check_plan(plan, spec, exact_strata_marginals=spec.cell_counts is None)
    if spec.cell_counts is not None:
        # proportional: every cell is floor/ceil of limit × its share
        for key, c in spec.cell_counts.items():
            got = plan.targets["strata"].get(" | ".join(key), 0)
            assert within(got, limit * c / n)


def assert_same(a, b) -> None:
    for name in ("slot_id", "stratum", "split", "edge", "partner"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.codes.keys() == b.codes.keys()
    for k in a.codes:
        assert np.array_equal(a.codes[k], b.codes[k])
    assert a.strata == b.strata
    assert a.targets == b.targets
    assert a.notes == b.notes


@settings(max_examples=40, deadline=None)
@given(spec=spec_st())
def test_deterministic(spec: PlanSpec) -> None:
    try:
        a = make_plan(spec)
    except ValueError:
        return
    assert_same(a, make_plan(spec))


# ------------------------------------------------------------------------------------------------
# Helpers


@settings(max_examples=200, deadline=None)
@given(total=st.integers(0, 10_000), ws=st.lists(weights_st, min_size=1, max_size=12))
def test_largest_remainder(total: int, ws: list[float]) -> None:
    w = np.array(ws)
    got = largest_remainder(total, w)
    assert got.dtype == np.int64
    assert int(got.sum()) == total
    assert within(got, total * w / w.sum())


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.integers(0, 60), min_size=1, max_size=8),
    ws=st.lists(weights_st, min_size=1, max_size=6),
    seed=st.integers(0, 1000),
    free_cols=st.booleans(),
)
def test_controlled_round_rank_one(rows: list[int], ws: list[float], seed: int, free_cols: bool) -> None:
    n = np.array(rows)
    w = np.array(ws) / sum(ws)
    real = n[:, None] * w[None, :]
    cols = None if free_cols else largest_remainder(int(n.sum()), w)
    got = controlled_round(real, n, cols, np.random.default_rng(seed))
    assert got.shape == real.shape
    assert within(got, real)
    assert np.array_equal(got.sum(axis=1), n)
    if cols is None:
        assert within(got.sum(axis=0), real.sum(axis=0))
    else:
        assert np.array_equal(got.sum(axis=0), cols)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), r=st.integers(1, 6), c=st.integers(1, 6), seed=st.integers(0, 1000))
def test_controlled_round_general_free_columns(data: st.DataObject, r: int, c: int, seed: int) -> None:
    """Arbitrary table with integer row sums: a rounding with floor/ceil column sums always exists."""
    real = np.array(
        data.draw(st.lists(st.lists(st.floats(0, 5), min_size=c, max_size=c), min_size=r, max_size=r))
    )
    real[:, -1] += np.ceil(real.sum(axis=1)) - real.sum(axis=1)
    rows = np.round(real.sum(axis=1)).astype(np.int64)
    got = controlled_round(real, rows, None, np.random.default_rng(seed))
    assert within(got, real)
    assert np.array_equal(got.sum(axis=1), rows)
    assert within(got.sum(axis=0), real.sum(axis=0))


def test_controlled_round_is_randomised() -> None:
    real = np.full((4, 4), 0.5)
    outs = {controlled_round(real, [2] * 4, [2] * 4, np.random.default_rng(s)).tobytes() for s in range(20)}
    assert len(outs) > 1


def test_controlled_round_rejects_impossible_totals() -> None:
    real = np.array([[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]])
    with pytest.raises(ValueError, match="no controlled rounding"):
        controlled_round(real, [1, 1], [1, 1, 0, 0], np.random.default_rng(0))
    with pytest.raises(ValueError):
        controlled_round(real, [3, 1], [1, 1, 1, 1], np.random.default_rng(0))


# ------------------------------------------------------------------------------------------------
# The article's example and concrete behaviour

ARTICLE = {
    "laptop": {1: 20, 2: 30, 3: 50, 4: 60, 5: 40},
    "headphones": {1: 15, 2: 25, 3: 60, 4: 70, 5: 30},
    "monitor": {1: 10, 2: 20, 3: 55, 4: 75, 5: 40},
}
TONE = {"angry": 20, "confused": 30, "neutral": 25, "polite": 15, "sarcastic": 10}


def article_spec(kinds: tuple[EdgeKindSpec, ...] = (), edge_share: float = 0.0, seed: int = 7) -> PlanSpec:
    return PlanSpec(
        dimensions=(
            DimensionSpec("product", tuple(ARTICLE), (1.0, 1.0, 1.0)),
            DimensionSpec("rating", ("1", "2", "3", "4", "5"), (1.0,) * 5),
            DimensionSpec("tone", tuple(TONE), tuple(float(v) for v in TONE.values())),
        ),
        strata_by=("product", "rating"),
        cell_counts={(p, str(r)): n for p, d in ARTICLE.items() for r, n in d.items()},
        size=None,
        splits=(("train", 0.8), ("validation", 0.1), ("test", 0.1)),
        edge_share=edge_share,
        edge_kinds=kinds,
        seed=seed,
    )


def test_article_product_rating_exact_counts() -> None:
    spec = article_spec()
    plan = make_plan(spec)
    assert len(plan) == 600
    for p, d in ARTICLE.items():
        for r, n in d.items():
            assert plan.targets["strata"][f"{p} | {r}"] == n
    # tone is outside the strata: 600 × share is an integer, so the marginal is exact
    assert plan.targets["marginals"]["tone"] == {k: 6 * v for k, v in TONE.items()}
    assert plan.targets["marginals"]["product"] == {"laptop": 200, "headphones": 200, "monitor": 200}
    assert plan.targets["marginals"]["rating"] == {"1": 45, "2": 75, "3": 165, "4": 205, "5": 110}
    assert plan.targets["splits"] == {"train": 480, "validation": 60, "test": 60}
    tone = plan.codes["tone"]
    for s_i in range(len(plan.strata)):
        rows = plan.stratum == s_i
        n = int(rows.sum())
        counts = np.bincount(tone[rows], minlength=5)
        assert within(counts, n * np.array(list(TONE.values())) / 100)
    # laptop | 1 has 20 rows: tone counts are exactly 4, 6, 5, 3, 2
    rows = plan.stratum == plan.strata.index(("laptop", "1"))
    assert np.bincount(tone[rows], minlength=5).tolist() == [4, 6, 5, 3, 2]
    check_plan(plan, spec, exact_strata_marginals=False)


def test_article_with_edge_kinds_and_partners() -> None:
    kinds = (
        EdgeKindSpec("exact_duplicate", None, partner="same_stratum"),
        EdgeKindSpec("near_duplicate", None, partner="same_stratum"),
        EdgeKindSpec("contrast_pair", None, partner="across:rating"),
        EdgeKindSpec("empty_text", 4),
    )
    spec = article_spec(kinds, edge_share=0.05)
    plan = make_plan(spec)
    # 5 % of 600 = 30 rows: 4 counted, the other 26 over three equal weights -> 9, 9, 8
    assert plan.targets["edge_cases"] == {
        "exact_duplicate": 9,
        "near_duplicate": 9,
        "contrast_pair": 8,
        "empty_text": 4,
    }
    check_plan(plan, spec, exact_strata_marginals=False)
    dup = np.flatnonzero(np.isin(plan.edge, [1, 2]))
    assert np.all(plan.partner[dup] >= 0)
    # plenty of ordinary slots: duplicate partners are distinct and in the same split
    assert len(set(plan.partner[dup].tolist())) == dup.shape[0]
    assert np.all(plan.split[plan.partner[dup]] == plan.split[dup])
    contrast = np.flatnonzero(plan.edge == 3)
    p = plan.partner[contrast]
    assert np.all(p >= 0)
    assert np.all(plan.codes["rating"][p] != plan.codes["rating"][contrast])
    # preferred: everything but rating equal, and the same split
    assert np.all(plan.codes["product"][p] == plan.codes["product"][contrast])
    assert np.all(plan.codes["tone"][p] == plan.codes["tone"][contrast])
    assert np.all(plan.split[p] == plan.split[contrast])


def test_zero_quota_kind_gets_a_note() -> None:
    kinds = (EdgeKindSpec("common", None, weight=100.0), EdgeKindSpec("rare", None, weight=0.001))
    plan = make_plan(article_spec(kinds, edge_share=0.01))
    assert plan.targets["edge_cases"] == {"common": 6, "rare": 0}
    assert any("'rare'" in n and "0 rows" in n for n in plan.notes)


def test_missing_partner_is_noted() -> None:
    spec = PlanSpec(
        dimensions=(DimensionSpec("a", ("x",), (1.0,)),),
        strata_by=(),
        cell_counts=None,
        size=10,
        splits=(("train", 1.0),),
        edge_share=0.0,
        edge_kinds=(
            EdgeKindSpec("contrast", 2, partner="across:a"),
            EdgeKindSpec("dup", 3, partner="same_stratum"),
        ),
        seed=0,
    )
    plan = make_plan(spec)
    contrast = plan.edge == 1
    assert np.all(plan.partner[contrast] == -1)
    assert any("'contrast'" in n and "no partner" in n for n in plan.notes)
    assert np.all(plan.partner[plan.edge == 2] >= 0)


def test_edges_spread_over_splits() -> None:
    spec = PlanSpec(
        dimensions=(DimensionSpec("a", tuple("abcdefghij"), (1.0,) * 10),),
        strata_by=(),
        cell_counts=None,
        size=20_000,
        splits=(("train", 0.8), ("validation", 0.1), ("test", 0.1)),
        edge_share=0.1,
        edge_kinds=(EdgeKindSpec("x", None), EdgeKindSpec("y", None)),
        seed=3,
    )
    plan = make_plan(spec)
    for k in (1, 2):
        per_split = np.bincount(plan.split[plan.edge == k], minlength=3)
        assert np.all(np.abs(per_split - per_split.sum() * np.array([0.8, 0.1, 0.1])) <= 10), per_split


def test_slot_order_does_not_encode_values() -> None:
    plan = make_plan(article_spec())
    rows = plan.stratum == 0
    tone = plan.codes["tone"][rows]
    assert not np.all(np.diff(tone) >= 0)


def test_plan_helpers_and_table() -> None:
    kinds = (EdgeKindSpec("dup", None, partner="same_stratum"),)
    plan = make_plan(article_spec(kinds, edge_share=0.1))
    vals = plan.values_of(0)
    assert set(vals) == {"product", "rating", "tone"}
    assert plan.stratum_id(0) == f"{vals['product']} | {vals['rating']}"
    assert plan.split_of(0) in {"train", "validation", "test"}
    assert plan.edge_kind_of(0) in {"none", "dup"}
    table = plan.to_table()
    json.dumps(table)
    assert table["total"] == 600 and len(table["cells"]) == 15
    assert table["edge_cases"] == {"dup": 60}


def test_limit_is_proportional_not_first_n() -> None:
    plan = make_plan(article_spec(), limit=60)
    assert len(plan) == 60
    assert len(plan.strata) == 15  # every cell keeps a share, not the first cells
    assert plan.targets["strata"]["monitor | 4"] == 7  # 75 × 60 / 600 = 7.5 → 7 or 8
    assert_same(make_plan(article_spec(), limit=600), make_plan(article_spec()))
    assert len(make_plan(article_spec(), limit=0)) == 0


def test_every_dimension_is_a_stratum_when_strata_by_empty() -> None:
    spec = PlanSpec(
        dimensions=(
            DimensionSpec("a", ("x", "y", "z"), (1.0, 2.0, 3.0)),
            DimensionSpec("b", ("p", "q"), (1.0, 1.0)),
        ),
        strata_by=(),
        cell_counts=None,
        size=101,
        splits=(("train", 1.0),),
        edge_share=0.0,
        edge_kinds=(),
        seed=1,
    )
    plan = make_plan(spec)
    assert all(len(s) == 2 for s in plan.strata)
    check_plan(plan, spec, exact_strata_marginals=True)


def _base(**kw: object) -> PlanSpec:
    fields: dict = {
        "dimensions": (DimensionSpec("a", ("x", "y"), (1.0, 1.0)),),
        "strata_by": (),
        "cell_counts": None,
        "size": 10,
        "splits": (("train", 1.0),),
        "edge_share": 0.0,
        "edge_kinds": (),
        "seed": 0,
    }
    fields.update(kw)
    return PlanSpec(**fields)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"dimensions": (DimensionSpec("a", ("x", "y"), (1.0, 0.0)),)}, "weight"),
        ({"dimensions": (DimensionSpec("a", ("x", "y"), (1.0, -1.0)),)}, "weight"),
        ({"dimensions": (DimensionSpec("a", (), ()),)}, "no values"),
        ({"dimensions": (DimensionSpec("a", ("x", "y"), (1.0,)),)}, "weights"),
        ({"dimensions": (DimensionSpec("a", ("x", "x"), (1.0, 1.0)),)}, "duplicate"),
        ({"strata_by": ("nope",)}, "unknown dimension"),
        ({"splits": (("train", 0.0),)}, "split"),
        ({"splits": ()}, "split"),
        ({"size": None}, "size"),
        ({"size": -1}, "size"),
        ({"cell_counts": {("w",): 3}}, "not a value"),
        ({"cell_counts": {("x", "y"): 3}}, "tuple"),
        ({"edge_share": 1.5}, "edge_share"),
        ({"edge_kinds": (EdgeKindSpec("none", 1),)}, "reserved"),
        ({"edge_kinds": (EdgeKindSpec("e", 11),)}, "more than the plan size"),
        ({"edge_kinds": (EdgeKindSpec("e", None, partner="sideways"),)}, "partner"),
        ({"edge_kinds": (EdgeKindSpec("e", None, partner="across:zzz"),)}, "partner"),
        ({"edge_kinds": (EdgeKindSpec("e", None, weight=0.0),)}, "weight"),
        ({"seed": -3}, "seed"),
    ],
)
def test_validation_errors(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_plan(_base(**kw))


def test_negative_limit_rejected() -> None:
    with pytest.raises(ValueError, match="limit"):
        make_plan(_base(), limit=-1)
