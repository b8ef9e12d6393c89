"""Ray Data engine (optional extra `distributed`: `pip install "ray[data]"`): embedding as `map_batches`.

`ray_vector_source(kind, source_model)` returns a function for `embedstore.embed_to_store(...,
vector_source=...)`: given a source's files and text column, it builds a Ray Dataset over them
(`ray.data.read_parquet`; csv/jsonl files are read locally and handed over with `from_arrow`), embeds with
`map_batches` on a pool of actors (each loads the model once), and streams the vectors back in source
order (`preserve_order`), so the store, and every metric computed from it, is the same as with the
single-process engine. The metrics then run on the driver over the memory-mapped store (blockwise, as in
the local engine): they cost seconds to a minute at a million rows, where embedding with MiniLM costs hours
on CPU, so only the embedding is distributed.

Where Ray runs: `RAY_ADDRESS` (or `address=`) → that cluster; otherwise a local instance with the
machine's CPUs. When the cluster has GPUs, sentence-transformer actors take one GPU each and encode on
"cuda"; static-model actors stay on CPU (a table lookup gains nothing from a GPU).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hf_synth.errors import import_extra

__all__ = ["ensure_ray", "ray_available", "ray_vector_source"]


def ray_available() -> bool:
    """True when `ray.data` can be imported."""
    try:
        import ray.data  # noqa: F401
    except ImportError:
        return False
    return True


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Connect to Ray once per process: `address` or $RAY_ADDRESS, else start a local instance.

    Raises:
        UsageError: ray is not installed (the message names the extra to install).
    """
    ray = import_extra("ray", "distributed", "--engine ray")
    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            # A local instance: no dashboard (a web server the CLI does not need), quiet workers.
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    return ray


class _EmbedActor:
    """Ray Data callable class: one embedder per actor, (texts) → (vectors) per batch."""

    def __init__(self, kind: str, source_model: str | None, device: str) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from hf_synth.quality.embed.sentence import Embedder
        from hf_synth.quality.embed.static import StaticEmbedder, make_embedder

        self.embedder: Any
        if kind == "static":
            self.embedder = StaticEmbedder(source_model)
        elif kind == "default":
            # No vector cache in actors: on a cluster the cache folder is per node and rarely shared.
            self.embedder = Embedder(source_model, device=device, use_cache=False, progress=False)
        else:
            picked = make_embedder(kind)
            self.embedder = (
                picked
                if isinstance(picked, StaticEmbedder)
                else Embedder(kind, device=device, use_cache=False, progress=False)
            )

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [t for t in batch["text"].tolist() if t is not None]  # nulls dropped, as locally
        vectors = self.embedder.encode([t if isinstance(t, str) else str(t) for t in texts])
        return {"embedding": vectors.astype(np.float32, copy=False)}


def ray_vector_source(
    kind: str,
    source_model: str | None = None,
    *,
    batch_size: int = 8_192,
    concurrency: int | None = None,
    address: str | None = None,
) -> Callable[[list[Path], str], Iterator[np.ndarray]]:
    """A `vector_source` for `embedstore.embed_to_store` that embeds with Ray Data `map_batches`.

    Args:
        kind: embedder kind as `static_embed.make_embedder` ("static", "default", or a model path); "auto"
            must be resolved by the caller to "static" or "default" first (it depends on the row count).
        source_model: sentence-transformer the embedder is built from (None → bundled MiniLM).
        batch_size: texts per `map_batches` call (rows per block handed to an actor).
        concurrency: actors; None → one per GPU when the cluster has GPUs (sentence-transformers), else
            one per CPU of the cluster but one (left to the parquet read tasks).
    Returns:
        f(files, column) → iterator of (n_i, d) float32 arrays, rows in source order, nulls dropped.
    """

    def source(files: list[Path], column: str) -> Iterator[np.ndarray]:
        ray = ensure_ray(address)
        import pyarrow as pa

        from hf_synth.quality.textsource import _read_table

        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # rows must come back in source order
        resources = ray.cluster_resources()
        n_gpus = int(resources.get("GPU", 0))
        use_gpu = n_gpus > 0 and kind != "static"
        # One CPU stays free for the read tasks: actors holding every CPU starve them and the
        # pipeline deadlocks (seen on a 2-CPU local instance).
        n_actors = concurrency or (n_gpus if use_gpu else max(1, int(resources.get("CPU", 1)) - 1))
        if all(f.suffix.lower() == ".parquet" for f in files):
            ds = ray.data.read_parquet([str(f) for f in files]).select_columns([column])
        else:
            ds = ray.data.from_arrow([_read_table(f).select([column]) for f in files])
        ds = ds.rename_columns({column: "text"}) if column != "text" else ds
        ds = ds.map_batches(
            _EmbedActor,
            fn_constructor_kwargs={
                "kind": kind,
                "source_model": source_model,
                "device": "cuda" if use_gpu else "cpu",
            },
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=n_actors),
            num_gpus=1 if use_gpu else 0,
            num_cpus=0 if use_gpu else 1,
        )
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            emb = batch["embedding"]
            yield np.asarray(emb if not isinstance(emb, pa.Array) else emb.to_numpy(), dtype=np.float32)

    return source
