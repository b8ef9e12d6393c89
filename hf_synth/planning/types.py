"""The planner's input (`PlanSpec`) and its checks."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hf_synth.errors import PlanError

STRATUM_SEP = " | "
NO_EDGE = "none"


@dataclass(frozen=True)
class DimensionSpec:
    """One dimension: its values (strings, recipe order) and their relative weights (> 0)."""

    name: str
    values: tuple[str, ...]
    weights: tuple[float, ...]


@dataclass(frozen=True)
class EdgeKindSpec:
    """One edge-case kind.

    `count` is an exact number of rows when given; otherwise the kind shares the edge budget
    (`PlanSpec.edge_share`) with the other uncounted kinds in proportion to `weight`.
    `partner` is None, "same_stratum" or "across:<dimension>".
    `where` restricts the kind to rows whose values it allows: ((dimension, (allowed values, ...)), ...),
    empty for every row; a partner row must satisfy it too.
    """

    name: str
    count: int | None
    weight: float = 1.0
    partner: str | None = None
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def where_path(self) -> str:
        """The recipe key path of this kind's condition (used in error messages)."""
        return f"edge_cases.kinds.{self.name}.where"


@dataclass(frozen=True)
class PlanSpec:
    """Input of `make_plan`; see DESIGN.md."""

    dimensions: tuple[DimensionSpec, ...]
    strata_by: tuple[str, ...]
    cell_counts: dict[tuple[str, ...], int] | None
    size: int | None
    splits: tuple[tuple[str, float], ...]
    edge_share: float
    edge_kinds: tuple[EdgeKindSpec, ...]
    seed: int
    #: Facts about the recipe the plan carries into its notes (e.g. weights that strata.counts overrides).
    notes: tuple[str, ...] = ()


def strata_dims(spec: PlanSpec) -> tuple[str, ...]:
    """The stratum dimensions: `strata_by`, or every dimension when it is empty."""
    return spec.strata_by if spec.strata_by else tuple(d.name for d in spec.dimensions)


def is_int(x: object) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def validate_spec(spec: PlanSpec) -> None:
    """Raise `PlanError` naming the first thing no plan can satisfy."""
    names: set[str] = set()
    for i, dim in enumerate(spec.dimensions):
        where = f"dimension {dim.name!r} (#{i})"
        if not isinstance(dim.name, str) or not dim.name:
            raise PlanError(f"dimension #{i} needs a non-empty string name")
        if dim.name in names:
            raise PlanError(f"duplicate dimension name {dim.name!r}")
        names.add(dim.name)
        if len(dim.values) == 0:
            raise PlanError(f"{where} has no values")
        if len(set(dim.values)) != len(dim.values):
            raise PlanError(f"{where} has duplicate values")
        if not all(isinstance(v, str) for v in dim.values):
            raise PlanError(f"{where}: values must be strings")
        if len(dim.weights) != len(dim.values):
            raise PlanError(f"{where} has {len(dim.values)} values but {len(dim.weights)} weights")
        for v, w in zip(dim.values, dim.weights, strict=True):
            if not isinstance(w, (int, float, np.integer, np.floating)) or isinstance(w, bool):
                raise PlanError(f"{where}: weight of {v!r} must be a number, got {w!r}")
            if not math.isfinite(float(w)) or float(w) <= 0:
                raise PlanError(f"{where}: weight of {v!r} must be finite and > 0, got {w!r}")
    if len(set(spec.strata_by)) != len(spec.strata_by):
        raise PlanError(f"strata_by has duplicates: {list(spec.strata_by)}")
    for name in spec.strata_by:
        if name not in names:
            raise PlanError(f"strata_by names unknown dimension {name!r}")
    dims = {d.name: d for d in spec.dimensions}
    sdims = strata_dims(spec)
    if spec.cell_counts is not None:
        for key, n in spec.cell_counts.items():
            if not isinstance(key, tuple) or len(key) != len(sdims):
                raise PlanError(
                    f"cell_counts key {key!r} must be a tuple of {len(sdims)} values of {list(sdims)}"
                )
            for dname, v in zip(sdims, key, strict=True):
                if v not in dims[dname].values:
                    raise PlanError(f"cell_counts key {key!r}: {v!r} is not a value of {dname!r}")
            if not is_int(n) or n < 0:
                raise PlanError(f"cell_counts[{key!r}] must be an integer >= 0, got {n!r}")
    elif spec.size is None:
        raise PlanError("either cell_counts or size must be given")
    elif not is_int(spec.size) or spec.size < 0:
        raise PlanError(f"size must be an integer >= 0, got {spec.size!r}")
    if len(spec.splits) == 0:
        raise PlanError("at least one split is needed")
    split_names = [name for name, _ in spec.splits]
    if len(set(split_names)) != len(split_names):
        raise PlanError(f"duplicate split names: {split_names}")
    for name, w in spec.splits:
        if not isinstance(name, str) or not name:
            raise PlanError(f"split names must be non-empty strings, got {name!r}")
        if isinstance(w, bool) or not math.isfinite(float(w)) or float(w) <= 0:
            raise PlanError(f"split {name!r}: weight must be finite and > 0, got {w!r}")
    share = float(spec.edge_share)
    if not math.isfinite(share) or not 0.0 <= share <= 1.0:
        raise PlanError(f"edge_share must be in [0, 1], got {spec.edge_share!r}")
    kinds: set[str] = set()
    for kind in spec.edge_kinds:
        if not isinstance(kind.name, str) or not kind.name:
            raise PlanError(f"edge kind names must be non-empty strings, got {kind.name!r}")
        if kind.name == NO_EDGE:
            raise PlanError(f"edge kind name {NO_EDGE!r} is reserved for ordinary rows")
        if kind.name in kinds:
            raise PlanError(f"duplicate edge kind {kind.name!r}")
        kinds.add(kind.name)
        if kind.count is not None and (not is_int(kind.count) or kind.count < 0):
            raise PlanError(f"edge kind {kind.name!r}: count must be an integer >= 0, got {kind.count!r}")
        if isinstance(kind.weight, bool) or not math.isfinite(float(kind.weight)) or kind.weight <= 0:
            raise PlanError(f"edge kind {kind.name!r}: weight must be finite and > 0, got {kind.weight!r}")
        _validate_where(kind, dims)
        p = kind.partner
        across_ok = isinstance(p, str) and p.startswith("across:") and p[len("across:") :] in names
        if p is not None and p != "same_stratum" and not across_ok:
            raise PlanError(
                f"edge kind {kind.name!r}: partner must be None, 'same_stratum' or "
                f"'across:<dimension>' with a known dimension, got {p!r}"
            )
    if not is_int(spec.seed) or spec.seed < 0:
        raise PlanError(f"seed must be an integer >= 0, got {spec.seed!r}")


def _validate_where(kind: EdgeKindSpec, dims: dict[str, DimensionSpec]) -> None:
    """A `where` names known dimensions and values, each once; an across-partner needs two allowed values."""
    path = kind.where_path
    seen: set[str] = set()
    for entry in kind.where:
        if not isinstance(entry, tuple) or len(entry) != 2:
            raise PlanError(f"{path}: expected (dimension, values) pairs, got {entry!r}")
        dim, allowed = entry
        if dim not in dims:
            raise PlanError(f"{path}.{dim}: not a dimension ({', '.join(dims)})")
        if dim in seen:
            raise PlanError(f"{path}.{dim}: named twice")
        seen.add(dim)
        if not isinstance(allowed, tuple) or not allowed:
            raise PlanError(f"{path}.{dim}: expected a non-empty tuple of values")
        for v in allowed:
            if v not in dims[dim].values:
                raise PlanError(f"{path}.{dim}: {v!r} is not a value of {dim!r}")
        if len(set(allowed)) != len(allowed):
            raise PlanError(f"{path}.{dim}: values repeat")
        if kind.partner == f"across:{dim}" and len(allowed) < 2:
            raise PlanError(
                f"{path}.{dim}: {kind.name} pairs rows with a different {dim}, but the condition allows "
                f"only {allowed[0]!r}; allow at least two values"
            )
