"""Benchmark: plan 1,000,000 slots (≈2,000 strata, 2 non-strata dimensions, 3 splits, 8 edge kinds).

Run: `.venv/bin/python benchmarks/bench_plan.py [N]`; prints the wall-clock seconds of `make_plan`.
The budget is 5 s on a 2-core machine.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from hf_synth.planning.plan import DimensionSpec, EdgeKindSpec, PlanSpec, make_plan


def _dim(name: str, n: int, rng: np.random.Generator) -> DimensionSpec:
    values = tuple(f"{name}_{i}" for i in range(n))
    return DimensionSpec(name, values, tuple(float(w) for w in rng.uniform(0.5, 2.0, n)))


def bench_spec(size: int = 1_000_000) -> PlanSpec:
    """Spec used by the benchmark: 3 stratum dimensions (10 × 10 × 20 = 2,000 cells) + 2 others."""
    rng = np.random.default_rng(0)
    dims = (
        _dim("product", 10, rng),
        _dim("rating", 10, rng),
        _dim("topic", 20, rng),
        _dim("tone", 5, rng),
        _dim("length", 4, rng),
    )
    kinds = (
        EdgeKindSpec("exact_duplicate", None, partner="same_stratum"),
        EdgeKindSpec("near_duplicate", None, partner="same_stratum"),
        EdgeKindSpec("contrast_pair", None, partner="across:rating"),
        EdgeKindSpec("empty_text", None),
        EdgeKindSpec("very_long", None, weight=0.5),
        EdgeKindSpec("wrong_language", None),
        EdgeKindSpec("typos", None, weight=2.0),
        EdgeKindSpec("injection", 500),
    )
    return PlanSpec(
        dimensions=dims,
        strata_by=("product", "rating", "topic"),
        cell_counts=None,
        size=size,
        splits=(("train", 0.8), ("validation", 0.1), ("test", 0.1)),
        edge_share=0.05,
        edge_kinds=kinds,
        seed=1234,
    )


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    spec = bench_spec(size)
    start = time.perf_counter()
    plan = make_plan(spec)
    seconds = time.perf_counter() - start
    print(
        f"make_plan: {len(plan):,} slots, {len(plan.strata):,} strata, "
        f"{int(np.count_nonzero(plan.edge)):,} edge rows in {seconds:.2f} s"
    )


if __name__ == "__main__":
    main()
