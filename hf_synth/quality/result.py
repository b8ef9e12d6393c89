"""`CoverageResult`: the typed result of `measure_coverage`, and its JSON form (`--json`, report.json)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["CoverageResult"]


@dataclass
class CoverageResult:
    """Coverage of a reference set by a synthetic set: the headline with its interval, and diagnostics.

    Shares are 0-1 of the reference. `coverage` is the point estimate, `coverage_interval` [low, high] its
    90% interval (both clipped to [0, 1]; the unclipped values are in `support`), `resolution` the smallest
    topic, in reference rows, whose absence would move the figure beyond its noise. The blocks `support`,
    `knn`, `clusters`, `diversity`, `legacy_ks_score` are plain dicts owned by the module that computes
    them (see `hf_synth.quality.coverage.coverage_from_embeddings`). `uncovered` ranks reference regions
    by missing mass; `rare` lists small regions the synthetic set misses entirely (`longtail`);
    `neighbours` says how the neighbours were found (exact, or approximate with the measured recall).
    """

    coverage: float
    coverage_definition: str
    support: dict[str, Any] | None
    knn: dict[str, Any] | None
    clusters: dict[str, Any]
    uncovered: list[dict[str, Any]]
    legacy_ks_score: dict[str, Any]
    diversity: dict[str, Any]
    sizes: dict[str, Any]
    seed: int
    coverage_interval: list[float] | None = None
    resolution: int | None = None
    warnings: list[str] = field(default_factory=list)
    model: str | None = None
    embedder: dict[str, Any] | None = None
    engine: str | None = None
    sources: dict[str, Any] | None = None
    cross_check: dict[str, Any] | None = None
    rare: dict[str, Any] | None = None
    neighbours: dict[str, Any] | None = None
    map: dict[str, Any] | None = None  # the coverage map's files and what it shows (`quality.map`)

    def to_json(self) -> dict[str, Any]:
        """The JSON object (`hf-synth coverage --json`, `report.json["coverage"]`); None-valued optional
        blocks (engine, sources, cross_check, rare, neighbours, map) are left out."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("engine", "sources", "cross_check", "rare", "neighbours", "map"):
            if out[key] is None:
                del out[key]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CoverageResult:
        """Build from `to_json()` output or a `coverage_from_embeddings` dict (unknown keys are an error)."""
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown coverage keys: {sorted(unknown)}")
        return cls(**data)
