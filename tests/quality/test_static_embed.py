"""Static (model2vec) embedder: distillation from the bundled MiniLM, interface, separation on BANKING77,
the embedder picker and the `auto` cross-check. Offline (HF_HUB_OFFLINE=1)."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from hf_synth.quality.embed.sentence import Embedder
from hf_synth.quality.embed.static import (
    StaticEmbedder,
    describe_embedder,
    distil_static,
    make_embedder,
    static_model_dir,
)
from hf_synth.quality.measure import cross_check

os.environ.setdefault("HF_HUB_OFFLINE", "1")
BANKING = Path(__file__).resolve().parents[2] / "hf_synth" / "data" / "banking77" / "test.csv"


@pytest.fixture(scope="session")
def static_path() -> Path:
    """The distilled static model, in the default embeddings cache (distilled on the first run only:
    20 s to 2 min on 2 CPU cores; every later run finds it cached)."""
    return distil_static(None)


@pytest.fixture(scope="module")
def banking():
    with BANKING.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    texts = [r["text"] for r in rows]
    cats = np.array([r["category"] for r in rows])
    rng = np.random.default_rng(0)
    a, b = [], []
    for c in sorted(set(cats)):
        idx = rng.permutation(np.flatnonzero(cats == c))
        a += idx[:20].tolist()
        b += idx[20:].tolist()
    return texts, cats, np.array(a), np.array(b)


def test_make_embedder_kinds(tmp_path):
    assert isinstance(make_embedder("default", 10**6, cache_dir=tmp_path), Embedder)
    assert isinstance(make_embedder("static", 10, cache_dir=tmp_path), StaticEmbedder)
    assert isinstance(make_embedder("auto", 20_001, cache_dir=tmp_path), StaticEmbedder)
    assert isinstance(make_embedder("auto", 20_000, cache_dir=tmp_path), Embedder)
    assert isinstance(make_embedder("auto", 50, cache_dir=tmp_path, threshold=10), StaticEmbedder)
    picked = make_embedder("default", 0, cache_dir=tmp_path)
    assert describe_embedder(picked)["kind"] == "default"


def test_static_model_dir_keyed_by_source(tmp_path):
    a = static_model_dir("sentence-transformers/all-MiniLM-L6-v2", tmp_path)
    b = static_model_dir("path:/somewhere/all-MiniLM-L6-v2", tmp_path)
    assert a != b and a.parent == b.parent == tmp_path / "static"


@pytest.mark.slow
def test_distilled_model_is_cached_and_offline(static_path):
    assert (static_path / "model.safetensors").is_file()
    assert (static_path / "hf_synth_static.json").is_file()
    t0 = time.perf_counter()
    assert distil_static(None) == static_path  # cached: no second distillation
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.slow
def test_fresh_distillation_matches_the_cached_model(static_path, tmp_path):
    """Distil the bundled MiniLM from scratch (offline) into an empty cache: 19 s on an idle 2-core
    machine, up to ~2 min when other processes hold the cores. Same model up to PCA signs."""
    fresh = distil_static(None, tmp_path)
    assert fresh.parent == tmp_path / "static" and (fresh / "model.safetensors").is_file()
    meta = json.loads((fresh / "hf_synth_static.json").read_text(encoding="utf-8"))
    assert meta["source_model"] == "sentence-transformers/all-MiniLM-L6-v2" and meta["pca_dims"] == 256
    texts = ["card arrival", "exchange rate", "my card was swallowed by the ATM", "top up failed"]
    a = StaticEmbedder(str(fresh)).encode(texts)
    b = StaticEmbedder(str(static_path)).encode(texts)
    np.testing.assert_allclose(a @ a.T, b @ b.T, atol=1e-2)  # PCA axes may flip sign; cosines do not


@pytest.mark.slow
def test_static_embedder_interface(static_path):
    emb = StaticEmbedder()
    texts = ["How do I reset my passcode?", "", "我的卡丢了", "card " * 20_000, "How do I reset my passcode?"]
    x = emb.encode(texts)
    assert x.dtype == np.float32 and x.shape == (5, 256) and emb.dim == 256
    norms = np.linalg.norm(x, axis=1)
    np.testing.assert_allclose(norms[[0, 3, 4]], 1.0, atol=1e-5)
    assert norms[1] == 0.0  # no token, no direction
    np.testing.assert_array_equal(x[0], x[4])
    assert emb.encode([]).shape == (0, 256)
    assert emb.model_id.startswith("static:") and "all-MiniLM-L6-v2" in emb.model_id
    d = emb.describe()
    assert d["kind"] == "static" and d["model_id"] == emb.model_id and d["dim"] == 256
    # Our sparse sum-pooling agrees with model2vec's own (float16) mean pooling.
    own = np.asarray(emb.model.encode(texts, use_multiprocessing=False), dtype=np.float32)
    np.testing.assert_allclose(x, own, atol=2e-3)
    # The word-level id cache (printable ASCII texts) gives exactly the tokeniser's ids.
    tricky = [
        *texts,
        "  double  spaces ",
        "tab\there",
        "Ünïcode",
        "a" * 150,
        "word " * 600,
        "don't!! (x) 3.5%",
    ]
    tok = emb.model.tokenizer
    assert emb._token_ids(tricky) == [e.ids for e in tok.encode_batch_fast(tricky, add_special_tokens=False)]
    # A model2vec folder can be named directly.
    assert StaticEmbedder(str(static_path)).encode(texts[:1]).shape == (1, 256)
    assert isinstance(make_embedder(str(static_path)), StaticEmbedder)


@pytest.mark.slow
def test_static_separates_complete_from_40_percent_of_intents(static_path, banking):
    """Reference = half A (20 per intent); synthetic = half B, or half B restricted to 31 of 77 intents."""
    from hf_synth.quality.coverage import coverage_from_embeddings

    texts, cats, a, b = banking
    emb = StaticEmbedder().encode(texts)
    kept = set(np.random.default_rng(1).permutation(sorted(set(cats)))[:31])
    part = np.array([i for i in b if cats[i] in kept])

    def report(syn):
        return coverage_from_embeddings(
            emb[syn], emb[a], [texts[i] for i in syn], [texts[i] for i in a], seed=0
        )

    full, partial = report(b), report(part)
    print(
        "static halves: headline",
        full["coverage"],
        "kNN",
        full["knn"]["coverage"],
        "| 40%: headline",
        partial["coverage"],
        "kNN",
        partial["knn"]["coverage"],
    )
    # Measured: halves 1.000 (kNN 0.976), 40% of intents 0.570 (kNN 0.846); MiniLM gives 1.00 / 0.48.
    assert full["coverage"] >= 0.9
    assert partial["coverage"] <= 0.65
    assert full["knn"]["coverage"] - partial["knn"]["coverage"] >= 0.1


@pytest.mark.slow
def test_cross_check_reports_both_embedders(static_path, banking, tmp_path):
    texts, _, a, b = banking
    out = cross_check(
        [texts[i] for i in b],
        [texts[i] for i in a],
        fast=StaticEmbedder(),
        slow=Embedder(cache_dir=tmp_path, progress=False),
        n_per_side=300,
        seed=0,
    )
    assert out["n_synthetic"] == out["n_reference"] == 300
    assert out["static"]["model_id"].startswith("static:")
    assert out["default"]["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    for side in ("static", "default"):
        assert 0.0 <= out[side]["coverage"] <= 1.0 and 0.0 <= out[side]["knn_coverage"] <= 1.0
    assert out["difference"] == pytest.approx(out["static"]["coverage"] - out["default"]["coverage"])
    print("cross-check", out)
