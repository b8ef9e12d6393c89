"""Static (token-embedding) fast path: a model2vec distillation of the configured sentence-transformer.

`distil_static(model)` runs `model2vec.distill` once on the local sentence-transformer folder (the bundled
all-MiniLM-L6-v2 by default), offline, and caches the result under
`<embeddings cache>/static/<slug>-<sha8 of the source model id>/` (about 15 MB: 29,525 tokens × 256 dims
float16). A static model embeds a text as the normalised mean of its tokens' vectors: no transformer pass,
so it is ~100-300× faster on CPU than MiniLM, at some cost in quality (word order is ignored).

`StaticEmbedder` has the `Embedder` interface (`encode(texts) -> float32 (n, d)` L2-normalised rows,
`model_id`, `dim`, `n_encoded`) plus `describe()` → the `embedder` block written to coverage reports.
`make_embedder(kind, n_rows)` picks one: "default" (MiniLM), "static", "auto" (static above
`AUTO_STATIC_THRESHOLD` texts), or a model name/path (sentence-transformer). The MiniLM cross-check of an
`auto` choice lives in `hf_synth.quality.measure` (this module imports no metric).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from hf_synth.errors import import_extra
from hf_synth.quality.embed.sentence import MAX_CHARS, Embedder, default_cache_dir, resolve_model

__all__ = [
    "AUTO_STATIC_THRESHOLD",
    "StaticEmbedder",
    "describe_embedder",
    "distil_static",
    "make_embedder",
    "static_model_dir",
]

# Above this many texts (synthetic + reference) `auto` uses the static model: at ~190 texts/s MiniLM needs
# ~2 minutes for 20,000 texts on 2 CPU cores, beyond which the wait outgrows what a metric should cost.
AUTO_STATIC_THRESHOLD = 20_000
PCA_DIMS = 256  # model2vec's default; 384 → 256 keeps ~all variance of the token table and is 1.5x cheaper
DISTIL_VERSION = 1  # bump when the distillation recipe changes, so stale cached models are not reused

_STATIC_MODELS: dict[str, Any] = {}
_LOCK = threading.Lock()


def static_model_dir(source_model_id: str, cache_dir: str | Path | None = None) -> Path:
    """Cache folder of the static model distilled from `source_model_id` (a `resolve_model` id)."""
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", source_model_id.split("/")[-1])[:60]
    digest = hashlib.sha256(f"{source_model_id}|pca{PCA_DIMS}|v{DISTIL_VERSION}".encode()).hexdigest()[:8]
    return root / "static" / f"{slug}-{digest}"


def distil_static(model_path_or_name: str | None = None, cache_dir: str | Path | None = None) -> Path:
    """Distil a sentence-transformer into a model2vec static model, once; return its folder.

    Args:
        model_path_or_name: as `Embedder(model=...)`; None → the bundled all-MiniLM-L6-v2 folder.
        cache_dir: embeddings cache root; None → `embed.default_cache_dir()`.
    Returns:
        Folder holding the StaticModel (`model.safetensors`, `tokenizer.json`, `config.json`) and
        `hf_synth_static.json` (source model id, seconds taken, model2vec version).
    Offline: HF_HUB_OFFLINE=1 is set before model2vec loads anything, so a model that is not on disk fails
    instead of downloading. Cost: one forward pass per vocabulary token (~30k short sequences): 20 s to
    2 minutes on 2 CPU cores, depending on load. Concurrent callers may both distil; the folder is
    published by an atomic rename, so readers never see a partial model.
    """
    source_id, load_from = resolve_model(model_path_or_name)
    target = static_model_dir(source_id, cache_dir)
    if (target / "hf_synth_static.json").is_file():
        return target
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model2vec = import_extra("model2vec", "static", "the static embedder")
    distill = import_extra("model2vec.distill", "static", "the static embedder").distill

    start = time.perf_counter()
    model = distill(load_from, pca_dims=PCA_DIMS, device="cpu")
    seconds = time.perf_counter() - start
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".distil-", dir=target.parent))
    try:
        model.save_pretrained(str(tmp))
        meta = {
            "source_model": source_id,
            "pca_dims": PCA_DIMS,
            "distil_version": DISTIL_VERSION,
            "model2vec": getattr(model2vec, "__version__", "unknown"),
            "seconds": round(seconds, 1),
        }
        (tmp / "hf_synth_static.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "hf_synth_static.json").is_file():  # not a lost race: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _load_static(path: Path) -> Any:
    key = str(path.resolve())
    with _LOCK:
        if key not in _STATIC_MODELS:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            model2vec = import_extra("model2vec", "static", "the static embedder")
            _STATIC_MODELS[key] = model2vec.StaticModel.from_pretrained(path, normalize=True)
        return _STATIC_MODELS[key]


class StaticEmbedder:
    """Normalised static embeddings from a model2vec model distilled from `model` (see `distil_static`).

    No disk cache of vectors: embedding (~50,000 short texts/s) is faster than a SQLite lookup per text.

    Args:
        model: source sentence-transformer (name or path); None → bundled all-MiniLM-L6-v2. A folder that
            already holds a model2vec model (`config.json` with model_type "model2vec") is used as is.
        cache_dir: embeddings cache root for the distilled model; None → `default_cache_dir()`.
        batch_size: texts per encode call inside model2vec.
        processes: False → encode in this process only. model2vec otherwise forks a pool above 10,000
            texts, which on 2 cores measured no faster and costs a copy of the inputs.
    """

    kind = "static"

    def __init__(
        self,
        model: str | None = None,
        *,
        cache_dir: str | Path | None = None,
        batch_size: int = 2048,
        processes: bool = False,
    ) -> None:
        path = Path(model).expanduser() if model else None
        self._prebuilt: Path | None = None
        if path is not None and (path / "config.json").is_file():
            cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
            if cfg.get("model_type") == "model2vec":
                self._prebuilt = path.resolve()
        if self._prebuilt is not None:
            self.source_model_id = f"path:{self._prebuilt}"
            self.model_id = f"static:path:{self._prebuilt}"
        else:
            self.source_model_id, _ = resolve_model(model)
            self.model_id = f"static:model2vec-pca{PCA_DIMS}:{self.source_model_id}"
        self._source = model
        self._cache_dir = cache_dir
        self.batch_size = batch_size
        self.processes = processes
        self.n_encoded = 0
        self._table32: np.ndarray | None = None
        self._word_local: bool | None = None  # BERT-style tokeniser: word-level id cache is exact
        self._word_ids: dict[str, list[int]] = {}

    @property
    def path(self) -> Path:
        """Folder of the static model; distils it first when it is not cached yet."""
        return self._prebuilt or distil_static(self._source, self._cache_dir)

    @property
    def model(self) -> Any:
        """The model2vec StaticModel, loaded once per process and folder."""
        return _load_static(self.path)

    @property
    def dim(self) -> int:
        return int(self.model.dim)

    def describe(self) -> dict[str, Any]:
        """The `embedder` block of a coverage report: kind, model id, dims, source model."""
        return {
            "kind": self.kind,
            "model_id": self.model_id,
            "source_model": self.source_model_id,
            "dim": self.dim,
        }

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts → float32 (n, d) with L2-normalised rows; (0, d) for no texts.

        Texts are cut at `embed.MAX_CHARS` characters (the tokeniser would spend time on text the
        512-token limit drops anyway). A text with no known token (e.g. "") gets a zero row: it has no
        direction, and any distance to it is then the same for every other row.
        """
        texts = ["" if t is None else str(t)[:MAX_CHARS] for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.model
        if model.token_mapping is None and model.weights is None:
            emb = self._pool(texts)
        else:  # vocabulary-quantised or weighted models: model2vec's own (slower) path
            emb = np.asarray(
                model.encode(texts, batch_size=self.batch_size, use_multiprocessing=self.processes),
                dtype=np.float32,
            )
        norms = np.linalg.norm(emb, axis=1, keepdims=True)
        self.n_encoded += len(texts)
        return emb / np.maximum(norms, 1e-12)

    def _pool(self, texts: list[str]) -> np.ndarray:
        """Sum of token vectors per text (n, d) float32, as one sparse (n × vocab) @ (vocab × d) product.

        Same direction as model2vec's mean pooling (the mean is the sum / length, and rows are normalised
        afterwards), but 2-3x faster: model2vec averages in float16, which numpy computes slowly, per
        length bucket. Unknown tokens are dropped, as model2vec does. Rows agree with `model.encode` to
        ~1e-3 (its float16 rounding).
        """
        model = self.model
        table = self._table()
        out = np.empty((len(texts), table.shape[1]), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size * 32):
            part = texts[start : start + self.batch_size * 32]
            ids = self._token_ids(part)
            lengths = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
            flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
            rows = np.repeat(np.arange(len(ids)), lengths)
            if model.unk_token_id is not None:
                keep = flat != model.unk_token_id
                flat, rows = flat[keep], rows[keep]
            counts = sparse.csr_matrix(
                (np.ones(len(flat), dtype=np.float32), (rows, flat)), shape=(len(ids), table.shape[0])
            )
            out[start : start + len(part)] = counts @ table
        return out

    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids per text, as `tokenizer.encode_batch_fast(texts, add_special_tokens=False)`.

        For a BERT tokenizer (BertNormalizer, BertPreTokenizer, WordPiece) and a text of printable ASCII
        only, tokenising is word-local: normalisation is per character, the pre-tokeniser splits at
        spaces first, and WordPiece works inside a word. So such a text's ids are the concatenation of
        its space-separated words' ids, and each distinct word is tokenised once (a dict lookup
        afterwards): 4-5x faster on short texts, where the Rust tokeniser's per-text overhead dominates.
        Other texts (and other tokenisers) go through the tokeniser. Truncation (max_length tokens) is
        applied the same way (the first max_length ids).
        """
        tok = self.model.tokenizer
        if self._word_local is None:
            self._word_local = (
                type(tok.normalizer).__name__ == "BertNormalizer"
                and type(tok.pre_tokenizer).__name__ == "BertPreTokenizer"
                and type(tok.model).__name__ == "WordPiece"
            )
        out: list[list[int] | None] = [None] * len(texts)
        rest = list(range(len(texts)))
        if self._word_local:
            limit = self.model.max_length
            rest = []
            fast: list[tuple[int, list[str]]] = []
            for i, t in enumerate(texts):
                if t.isascii() and t.isprintable():
                    fast.append((i, t.split(" ")))
                else:
                    rest.append(i)
            cache = self._word_ids
            new = list({w for _, words in fast for w in words if w not in cache})
            if len(cache) + len(new) > 2_000_000:  # bound the cache (~200 MB) on huge vocabularies
                cache.clear()
                new = list({w for _, words in fast for w in words})
            for w, enc in zip(new, tok.encode_batch_fast(new, add_special_tokens=False), strict=True):
                cache[w] = enc.ids
            for i, words in fast:
                ids = list(itertools.chain.from_iterable(cache[w] for w in words))
                out[i] = ids[:limit] if limit else ids
        if rest:
            encs = tok.encode_batch_fast([texts[i] for i in rest], add_special_tokens=False)
            for i, enc in zip(rest, encs, strict=True):
                out[i] = enc.ids
        return out  # type: ignore[return-value]

    def _table(self) -> np.ndarray:
        """The token table (vocab, d) as float32, converted once per embedder (30 MB for MiniLM's vocab)."""
        if self._table32 is None:
            self._table32 = np.asarray(self.model.embedding, dtype=np.float32)
        return self._table32


def describe_embedder(embedder: Any) -> dict[str, Any]:
    """The `embedder` block for any embedder: StaticEmbedder.describe(), else kind "sentence-transformer"."""
    if hasattr(embedder, "describe"):
        return embedder.describe()
    return {
        "kind": "default"
        if getattr(embedder, "model_id", "") == resolve_model(None)[0]
        else "sentence-transformer",
        "model_id": getattr(embedder, "model_id", str(embedder)),
        "dim": int(embedder.dim) if hasattr(embedder, "dim") else None,
    }


def make_embedder(
    kind: str | None = "default",
    n_rows: int = 0,
    *,
    cache_dir: str | Path | None = None,
    threshold: int = AUTO_STATIC_THRESHOLD,
    source_model: str | None = None,
) -> Embedder | StaticEmbedder:
    """Pick the embedder for a job of `n_rows` texts (synthetic + reference).

    Args:
        kind: "default" → MiniLM (`Embedder`); "static" → `StaticEmbedder`; "auto" → static when
            n_rows > threshold, else MiniLM; anything else → a sentence-transformer name or path (a
            model2vec folder → `StaticEmbedder` on it).
        source_model: the sentence-transformer the static model is distilled from (None → bundled MiniLM).
        cache_dir: embeddings cache root (vectors for MiniLM, distilled model for static).
    """
    kind = kind or "default"
    if kind == "static" or (kind == "auto" and n_rows > threshold):
        return StaticEmbedder(source_model, cache_dir=cache_dir)
    if kind in ("default", "auto"):
        return Embedder(source_model, cache_dir=cache_dir)
    path = Path(kind).expanduser()
    if (path / "config.json").is_file() and '"model2vec"' in (path / "config.json").read_text("utf-8"):
        return StaticEmbedder(kind, cache_dir=cache_dir)
    return Embedder(kind, cache_dir=cache_dir)
