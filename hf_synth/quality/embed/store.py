"""Out-of-core embeddings: a text column streamed from parquet into a memory-mapped `.npy` file.

`embed_to_store(source, column, embedder, directory, name)` reads the column in Arrow record batches
(`batch_rows` texts at a time), embeds each batch and appends its rows to `<name>.npy`, a float32
(n_capacity, d) array in numpy's .npy format, read back with `np.load(mmap_mode="r")`. float32, not
float16: the metrics compute in float32, and a float16 store would force a full float32 copy of the array
into RAM on every read.
A JSON sidecar `<name>.json` holds {"model_id", "count", "dim", "dtype", "column", "fingerprint"
(source files' paths, sizes and mtimes), "content_sha256" (hash of every text, in order), "seconds"}.

Rows are the non-null texts in source order; `count` ≤ the array's first dimension (null cells reserve a
trailing zero row each, since the row count is fixed before the nulls are seen). `EmbeddingStore.array()`
returns the `count` rows as a read-only memmap: nothing is read into RAM until a block is touched, and the
coverage metrics only ever touch row blocks or seeded subsamples of it.

Memory while writing: one batch of texts and its vectors (batch_rows × d × 4 bytes, 64 MiB at 65,536
rows and d = 256); the written file sits in the OS page cache, not in the process. The texts themselves
are kept as an Arrow string column (`ArrowTexts`: ~1 byte per character, not a Python object per row).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hf_synth.quality.textsource import _read_table, detect

__all__ = [
    "ArrowTexts",
    "EmbeddingStore",
    "embed_to_store",
    "iter_text_batches",
    "non_null_flags",
    "read_text_column",
    "store_dir_for",
]

DEFAULT_BATCH_ROWS = 65_536


class ArrowTexts(Sequence[str]):
    """A read-only sequence of str over an Arrow string column (nulls already removed).

    Indexing converts one cell to a Python str; iteration converts chunk by chunk. Memory is the Arrow
    buffers (~text bytes + 8 bytes offset per row), not one Python object per text.
    """

    def __init__(self, column: pa.ChunkedArray) -> None:
        self._col = column.combine_chunks() if column.num_chunks > 1 else column.chunk(0)

    def __len__(self) -> int:
        return len(self._col)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return self._col[i].to_pylist()
        return self._col[int(i)].as_py()

    def __iter__(self) -> Iterator[str]:
        step = 65_536
        for start in range(0, len(self._col), step):
            yield from self._col[start : start + step].to_pylist()


def _source_files(source: str | Path) -> tuple[str, list[Path], str | None]:
    return detect(source)


def _resolve_column(files: list[Path], column: str | None, report_field: str | None) -> str:
    if column:
        return column
    first = files[0]
    names = pq.read_schema(first).names if first.suffix == ".parquet" else _read_table(first).column_names
    candidates = [c for c in (report_field, "text") if c]
    return next((c for c in candidates if c in names), candidates[0])


def iter_text_batches(
    source: str | Path, column: str | None = None, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[pa.Array]:
    """Stream a text column as Arrow string arrays of ≤ batch_rows cells each (nulls kept, in order).

    Parquet files are read one record batch at a time (only that column is decoded); csv/jsonl files are
    read whole (they have no row groups) and then sliced.
    """
    _, files, report_field = _source_files(source)
    column = _resolve_column(files, column, report_field)
    for f in files:
        if f.suffix.lower() == ".parquet":
            pf = pq.ParquetFile(f)
            if column not in pf.schema_arrow.names:
                raise ValueError(f"{f}: no column {column!r}; columns are {pf.schema_arrow.names}")
            for batch in pf.iter_batches(batch_size=batch_rows, columns=[column]):
                yield pc.cast(batch.column(0), pa.large_string())
        else:
            table = _read_table(f)
            if column not in table.column_names:
                raise ValueError(f"{f}: no column {column!r}; columns are {table.column_names}")
            col = pc.cast(table.column(column).combine_chunks(), pa.large_string())
            for start in range(0, len(col), batch_rows):
                yield col[start : start + batch_rows]


def read_text_column(source: str | Path, column: str | None = None) -> tuple[ArrowTexts, int, str]:
    """(non-null texts as `ArrowTexts`, number of null cells dropped, column name) of a source."""
    _, files, report_field = _source_files(source)
    column = _resolve_column(files, column, report_field)
    chunks = list(iter_text_batches(source, column))
    col = pa.chunked_array(chunks, type=pa.large_string())
    n_null = col.null_count
    return ArrowTexts(pc.drop_null(col)), int(n_null), column


def _capacity(files: list[Path], column: str) -> int:
    total = 0
    for f in files:
        if f.suffix.lower() == ".parquet":
            total += pq.ParquetFile(f).metadata.num_rows
        else:
            total += _read_table(f).num_rows
    return total


def _fingerprint(files: list[Path], column: str, model_id: str) -> str:
    parts = [model_id, column] + [f"{f.resolve()}|{f.stat().st_size}|{f.stat().st_mtime_ns}" for f in files]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass
class EmbeddingStore:
    """Embeddings of one text column on disk: `<directory>/<name>.npy` + `<name>.json`."""

    directory: Path
    name: str

    @property
    def npy(self) -> Path:
        return self.directory / f"{self.name}.npy"

    @property
    def meta_path(self) -> Path:
        return self.directory / f"{self.name}.json"

    def meta(self) -> dict[str, Any]:
        return json.loads(self.meta_path.read_text(encoding="utf-8"))

    def array(self) -> np.ndarray:
        """Read-only float32 memmap (count, d); no row is read until it is used."""
        mm = np.load(self.npy, mmap_mode="r")
        return mm[: self.meta()["count"]]

    def iter_blocks(self, rows: int = DEFAULT_BATCH_ROWS) -> Iterator[np.ndarray]:
        """Consecutive (≤ rows, d) float32 blocks, each a copy in RAM (rows × d × 4 bytes)."""
        arr = self.array()
        for start in range(0, len(arr), rows):
            yield np.array(arr[start : start + rows])


def embed_to_store(
    source: str | Path,
    column: str | None,
    embedder: Any,
    directory: str | Path,
    name: str,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    vector_source: Callable[[list[Path], str], Iterator[np.ndarray]] | None = None,
    reuse: bool = True,
) -> EmbeddingStore:
    """Embed one text column of a source into an `EmbeddingStore`, batch by batch.

    Args:
        source: generated folder, Hub-style folder or file (as `textsource.load_texts`).
        column: text column; None → report.json text_field, else `text`.
        embedder: `Embedder` / `StaticEmbedder` (anything with `encode(list[str]) -> (n, d)` and
            `model_id`).
        directory, name: where the store goes (created).
        batch_rows: texts per read + encode step (bounds memory).
        vector_source: replaces the local read + `embedder.encode` loop: called with (files, column), it
            yields (n_i, d) arrays whose rows are the column's non-null texts in source order (the Ray
            engine passes one, `ray_engine.ray_vector_source`). The texts are then still read locally
            once for the content hash (cheap next to embedding).
        reuse: an existing store with the same fingerprint (model id, column, source paths, sizes,
            mtimes) is returned without re-embedding.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    store = EmbeddingStore(directory, name)
    _, files, report_field = _source_files(source)
    column = _resolve_column(files, column, report_field)
    fingerprint = _fingerprint(files, column, embedder.model_id)
    if reuse and store.meta_path.is_file() and store.npy.is_file():
        try:
            if store.meta().get("fingerprint") == fingerprint:
                return store
        except ValueError:
            pass  # a corrupt sidecar: rebuild
    start = time.perf_counter()
    capacity = _capacity(files, column)
    digest = hashlib.sha256()

    def texts_of_batches() -> Iterator[list[str]]:
        for arr in iter_text_batches(source, column, batch_rows):
            texts = pc.drop_null(arr).to_pylist()
            for t in texts:
                digest.update(t.encode("utf-8", "surrogatepass") + b"\x00")
            yield texts

    encoded: Iterator[np.ndarray] = (
        vector_source(files, column)
        if vector_source is not None
        else (embedder.encode(t) for t in texts_of_batches())
    )
    tmp = directory / f".{name}.npy.partial"
    count, dim = 0, None
    # Written as a plain file stream, not through a writable memmap: dirty pages of a shared mapping count
    # in the process's RSS until the kernel writes them back, while written file data lives in the page
    # cache, which the kernel reclaims on its own.
    with tmp.open("wb") as out:
        for vectors in encoded:
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            if dim is None:
                # The dimension is known only after the first batch (it is the model's).
                dim = int(vectors.shape[1])
                header = {"descr": "<f4", "fortran_order": False, "shape": (capacity, dim)}
                np.lib.format.write_array_header_1_0(out, header)
            if count + len(vectors) > capacity:
                raise RuntimeError(f"more vectors than rows: {count + len(vectors)} > {capacity}")
            out.write(vectors.tobytes())
            count += len(vectors)
        if dim is None:  # no texts at all
            dim = int(embedder.dim)
            header = {"descr": "<f4", "fortran_order": False, "shape": (capacity, dim)}
            np.lib.format.write_array_header_1_0(out, header)
        # Null cells reserve trailing zero rows (the shape was fixed before they were seen).
        out.truncate(out.tell() + (capacity - count) * dim * 4)
    if vector_source is not None:
        n_texts = sum(len(t) for t in texts_of_batches())  # the content hash
        if n_texts != count:
            raise RuntimeError(f"vector source returned {count} rows for {n_texts} non-null texts")
    os.replace(tmp, store.npy)
    meta = {
        "model_id": embedder.model_id,
        "count": count,
        "capacity": capacity,
        "dim": dim,
        "dtype": "float32",
        "column": column,
        "files": [str(f) for f in files],
        "fingerprint": fingerprint,
        "content_sha256": digest.hexdigest(),
        "seconds": round(time.perf_counter() - start, 2),
    }
    store.meta_path.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return store


def store_dir_for(source: str | Path) -> Path:
    """Where a source's stores go: `<generated folder>/.hf-synth/embeddings` (next to the run store, never
    pushed), else `<embeddings cache>/stores/<sha16 of the source's absolute path>`."""
    from hf_synth.quality.embed.sentence import default_cache_dir

    kind, _, _ = detect(source)
    p = Path(source).expanduser().resolve()
    if kind == "generated":
        return p / ".hf-synth" / "embeddings"
    return default_cache_dir() / "stores" / hashlib.sha256(str(p).encode()).hexdigest()[:16]


def non_null_flags(source: str | Path, column: str, flag_column: str) -> np.ndarray | None:
    """The flag column's values (bool) for the rows whose `column` cell is not null, in source order.

    Aligned with `read_text_column(source, column)` and with the rows of an `EmbeddingStore` of that
    column. None when a file lacks the flag column (then no row is flagged).
    """
    from hf_synth.quality.textsource import column_names, is_true

    _, files, _ = _source_files(source)
    if any(flag_column not in column_names(f) for f in files):
        return None
    out: list[np.ndarray] = []
    for f in files:
        if f.suffix.lower() == ".parquet":
            table = pq.read_table(f, columns=[column, flag_column])
        else:
            table = _read_table(f).select([column, flag_column])
        keep = ~np.asarray(table.column(column).is_null().to_numpy(zero_copy_only=False), dtype=bool)
        flags = np.array([is_true(v) for v in table.column(flag_column).to_pylist()], dtype=bool)
        out.append(flags[keep])
    return np.concatenate(out) if out else np.zeros(0, dtype=bool)
