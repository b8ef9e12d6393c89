"""`RayExecutor`: the neighbour search's tasks (key shards, runs of leaves) as Ray tasks (`--engine ray`).

`neighbours.NeighbourSearch` cuts every search into tasks over shared arrays (queries, keys) and merges
their results in task order. Here each shared array is put into the Ray object store once (workers read it
zero-copy), each task runs as a remote call of the same module-level function the local executor calls,
and results are collected in task order, so the neighbours are the same as with the local engine: the
arithmetic per task is identical, only where it runs differs. The cluster is `ensure_ray()`'s
($RAY_ADDRESS, or a local instance).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hf_synth.quality.embed.ray_engine import ensure_ray

__all__ = ["RayExecutor"]


class RayExecutor:
    """Runs `neighbours` search tasks on Ray (see the module docstring)."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        self._ray = ensure_ray(address, num_cpus)
        self._remote: dict[Callable[..., Any], Any] = {}
        self._puts: dict[int, tuple[np.ndarray, Any]] = {}

    def put(self, array: np.ndarray) -> Any:
        """An object-store reference to `array` (put once per array object)."""
        known = self._puts.get(id(array))
        if known is not None and known[0] is array:
            return known[1]
        ref = self._ray.put(np.ascontiguousarray(array))
        self._puts[id(array)] = (array, ref)
        return ref

    def map(
        self,
        fn: Callable[..., Any],
        shared: dict[str, Any],
        tasks: Sequence[tuple],
        *,
        progress: Any = None,
        weights: Sequence[float] | None = None,
    ) -> list[Any]:
        """[fn(*shared.values(), *task) for task in tasks] as Ray tasks, results in task order."""
        ray = self._ray
        remote = self._remote.get(fn)
        if remote is None:
            # One CPU per task: tasks run side by side, each with single-threaded BLAS inside.
            remote = self._remote[fn] = ray.remote(num_cpus=1)(fn)
        refs = [remote.remote(*shared.values(), *task) for task in tasks]
        position = {ref: j for j, ref in enumerate(refs)}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            if progress is not None:
                j = position[done[0]]
                progress.update(weights[j] if weights is not None else 1)
        return ray.get(refs)
