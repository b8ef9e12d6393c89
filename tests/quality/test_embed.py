"""Embedder: bundled offline model, normalised float32 output, disk cache, one model load per process."""

from __future__ import annotations

import os

import numpy as np
import pytest

from hf_synth.quality.embed import sentence as embed
from hf_synth.quality.embed.sentence import (
    Embedder,
    EmbeddingCache,
    default_model_path,
    resolve_model,
    text_key,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def test_default_model_is_the_bundled_folder():
    path = default_model_path()
    assert (path / "model.safetensors").is_file()
    model_id, load_from = resolve_model(None)
    assert model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert load_from == str(path)


def test_cache_round_trip(tmp_path):
    cache = EmbeddingCache(tmp_path)
    vecs = np.arange(6, dtype=np.float32).reshape(2, 3)
    cache.put("m", ["a", "b"], vecs)
    got = cache.get("m", ["a", "b", "c"])
    assert set(got) == {"a", "b"}
    np.testing.assert_array_equal(got["b"], vecs[1])
    assert cache.get("other-model", ["a"]) == {}


def test_text_key_handles_any_str():
    assert text_key("é") != text_key("e")
    assert len(text_key("\udcff lone surrogate")) == 64


@pytest.mark.slow
def test_encode_normalised_cached_and_loaded_once(tmp_path):
    texts = ["How do I reset my passcode?", "", "我的卡丢了", "x" * 100_000, "How do I reset my passcode?"]
    first = Embedder(cache_dir=tmp_path)
    emb = first.encode(texts)
    assert emb.dtype == np.float32 and emb.shape == (5, 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert first.n_encoded == 4  # the repeated text is embedded once
    np.testing.assert_array_equal(emb[0], emb[4])

    second = Embedder(cache_dir=tmp_path)
    again = second.encode(texts)
    assert second.n_encoded == 0  # everything came from the disk cache
    np.testing.assert_allclose(again, emb, atol=1e-6)
    assert first.model is second.model  # the model is loaded once per process
    assert len([k for k in embed._MODELS if k.startswith(str(default_model_path()))]) == 1

    assert Embedder(cache_dir=tmp_path).encode([]).shape == (0, 384)


@pytest.mark.slow
def test_encode_without_cache_matches_cache(tmp_path):
    texts = ["card arrival", "exchange rate"]
    cached = Embedder(cache_dir=tmp_path).encode(texts)
    fresh = Embedder(use_cache=False).encode(texts)
    np.testing.assert_allclose(cached, fresh, atol=1e-5)
    sims = cached @ cached.T
    assert sims[0, 1] < 0.9
