"""Out-of-core coverage: memory-mapped embedding stores, bounded memory, the CLI's --embedder / --engine
paths, and the Ray Data engine giving the same numbers as the local one. Offline (HF_HUB_OFFLINE=1)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hf_synth.quality.coverage import coverage_from_embeddings
from hf_synth.quality.embed.store import ArrowTexts, embed_to_store, read_text_column
from hf_synth.quality.measure import coverage_from_sources

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
BANKING = ROOT / "hf_synth" / "data" / "banking77" / "test.csv"


class HashEmbedder:
    """A deterministic test embedder (not a model): each text → a seeded unit vector of its sha256.

    Lets store and memory tests run at 10^5-10^6 rows in seconds; it is a different embedder, not a
    stand-in for ours (the model paths are tested with the real static model below)."""

    model_id = "test:hash"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim

    def encode(self, texts):
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
            out[i] = np.random.default_rng(seed).normal(size=self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _banking_rows():
    with BANKING.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _write_parquet_parts(folder: Path, texts: list, n_files: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(len(texts)), n_files)):
        pq.write_table(
            pa.table({"text": pa.array([texts[j] for j in part], pa.string())}),
            folder / f"train-{i:05d}.parquet",
        )


def test_store_round_trip_nulls_and_reuse(tmp_path):
    texts = [f"text number {i}" if i % 7 else None for i in range(1000)]
    _write_parquet_parts(tmp_path / "src", texts, 3)
    emb = HashEmbedder()
    store = embed_to_store(tmp_path / "src", None, emb, tmp_path / "store", "syn", batch_rows=128)
    arr = store.array()
    present = [t for t in texts if t is not None]
    assert isinstance(arr, np.memmap) and arr.dtype == np.float32
    assert arr.shape == (len(present), 64)
    np.testing.assert_array_equal(np.asarray(arr), emb.encode(present))
    meta = store.meta()
    assert meta["count"] == len(present) and meta["capacity"] == 1000 and meta["model_id"] == "test:hash"
    want = hashlib.sha256(b"".join(t.encode() + b"\x00" for t in present)).hexdigest()
    assert meta["content_sha256"] == want
    blocks = list(store.iter_blocks(rows=100))
    assert sum(len(b) for b in blocks) == len(present)
    # Same source, same model: the store is reused, not rewritten.
    mtime = store.npy.stat().st_mtime_ns
    again = embed_to_store(tmp_path / "src", None, emb, tmp_path / "store", "syn", batch_rows=128)
    assert again.npy.stat().st_mtime_ns == mtime
    # Texts come back as an Arrow-backed sequence, nulls dropped, in source order.
    got, n_null, column = read_text_column(tmp_path / "src")
    assert isinstance(got, ArrowTexts) and list(got) == present and n_null == len(texts) - len(present)
    assert got[5] == present[5] and column == "text"


def test_store_from_csv(tmp_path):
    path = tmp_path / "ref.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["query", "label"])
        w.writerows([[f"q {i}", "x"] for i in range(50)])
    store = embed_to_store(path, "query", HashEmbedder(), tmp_path / "s", "ref", batch_rows=16)
    np.testing.assert_array_equal(store.array(), HashEmbedder().encode([f"q {i}" for i in range(50)]))


def test_metrics_on_memmaps_equal_in_memory(tmp_path):
    rows = _banking_rows()[:600]
    syn = [r["text"] for r in rows[::2]]
    ref = [r["text"] for r in rows[1::2]]
    _write_parquet_parts(tmp_path / "syn", syn, 2)
    _write_parquet_parts(tmp_path / "ref", ref, 1)
    emb = HashEmbedder(32)
    report, info = coverage_from_sources(
        tmp_path / "syn", tmp_path / "ref", emb, store_dirs=(tmp_path / "a", tmp_path / "b"), seed=3
    )
    direct = coverage_from_embeddings(emb.encode(syn), emb.encode(ref), syn, ref, seed=3)
    report.pop("model")
    assert json.dumps(report, sort_keys=True) == json.dumps(direct, sort_keys=True)
    assert info["n_null"] == {"synthetic": 0, "reference": 0}


def test_writing_a_store_keeps_memory_bounded(tmp_path):
    """500,000 rows × 384 dims (768 MB of float32) written with 16,384-row batches: the process grows by
    a few batches, not by the array."""
    n = 500_000
    pq.write_table(pa.table({"text": [f"t{i}" for i in range(n)]}), tmp_path / "big.parquet")
    script = textwrap.dedent(
        f"""
        import resource, sys, numpy as np
        sys.path.insert(0, {str(ROOT)!r})
        from hf_synth.quality.embed.store import embed_to_store

        class Cheap:
            model_id, dim = "test:cheap", 384
            def encode(self, texts):
                # Row i of the batch is filled with len(text) (distinct, cheap, deterministic).
                return np.repeat(np.array([len(t) for t in texts], np.float32)[:, None], 384, axis=1)

        def rss():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        Cheap().encode(["warm"] * 16384)
        before = rss()
        store = embed_to_store({str(tmp_path / "big.parquet")!r}, None, Cheap(), {str(tmp_path / "st")!r},
                               "big", batch_rows=16384)
        arr = store.array()
        assert arr.shape == ({n}, 384) and float(arr[-1, 0]) == len("t{n - 1}")
        print(before, rss())
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    before, after = (float(v) for v in out.stdout.split())
    print(f"peak RSS {before:.0f} MB → {after:.0f} MB while writing 768 MB of embeddings")
    assert after - before < 250


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "hf_synth.cli", "coverage", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="module")
def banking_halves(tmp_path_factory):
    """Half A of BANKING77 (20 per intent) as reference.csv, half B as synthetic.csv (column `query`)."""
    rows = _banking_rows()
    rng = np.random.default_rng(0)
    by_cat: dict[str, list] = {}
    for r in rows:
        by_cat.setdefault(r["category"], []).append(r)
    a, b = [], []
    for c in sorted(by_cat):
        idx = rng.permutation(len(by_cat[c]))
        a += [by_cat[c][i] for i in idx[:20]]
        b += [by_cat[c][i] for i in idx[20:]]
    folder = tmp_path_factory.mktemp("halves")
    for name, part in (("reference.csv", a), ("synthetic.csv", b)):
        with (folder / name).open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["query", "category"])
            w.writerows([r["text"], r["category"]] for r in part)
    return folder


@pytest.mark.slow
def test_cli_static_json(banking_halves, tmp_path):
    res = _cli(
        str(banking_halves / "synthetic.csv"),
        "--reference",
        str(banking_halves / "reference.csv"),
        "--text-column",
        "query",
        "--embedder",
        "static",
        "--store-dir",
        str(tmp_path),
        "--json",
    )
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["embedder"]["kind"] == "static" and report["embedder"]["model_id"].startswith("static:")
    assert report["model"] == report["embedder"]["model_id"] and report["engine"] == "local"
    assert report["sizes"] == {"synthetic": 1540, "reference": 1540, "dim": 256}
    assert report["coverage"] >= 0.9
    assert Path(report["sources"]["synthetic"]["embeddings"]).is_file()
    assert "cross_check" not in report


def _recombined(n: int, seed: int) -> list[str]:
    """n short texts: BANKING77 queries with two random words of its vocabulary inserted."""
    rows = _banking_rows()
    vocab = sorted({w.lower().strip("?.,!") for r in rows for w in r["text"].split()} - {""})
    rng = np.random.default_rng(seed)
    out = []
    for i in rng.integers(0, len(rows), n):
        toks = rows[i]["text"].split()
        for _ in range(2):
            toks.insert(int(rng.integers(0, len(toks) + 1)), vocab[int(rng.integers(0, len(vocab)))])
        out.append(" ".join(toks))
    return out


@pytest.mark.slow
def test_cli_auto_picks_static_above_threshold_and_cross_checks(tmp_path):
    _write_parquet_parts(tmp_path / "syn", _recombined(18_000, 1), 2)
    _write_parquet_parts(tmp_path / "ref", _recombined(3_000, 2), 1)
    res = _cli(
        str(tmp_path / "syn"),
        "--reference",
        str(tmp_path / "ref"),
        "--embedder",
        "auto",
        "--cross-check-rows",
        "300",
        "--store-dir",
        str(tmp_path / "st"),
        "--json",
    )
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["embedder"]["kind"] == "static" and report["embedder"]["requested"] == "auto"
    assert "21,000 texts > 20,000" in report["embedder"]["reason"]
    check = report["cross_check"]
    assert check["n_synthetic"] == check["n_reference"] == 300
    assert check["default"]["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert check["static"]["model_id"] == report["embedder"]["model_id"]
    print("auto:", report["coverage"], "cross-check", check)


@pytest.mark.slow
def test_ray_engine_gives_the_same_numbers(tmp_path):
    pytest.importorskip("ray.data")
    import ray

    from hf_synth.quality.embed.ray_engine import ray_vector_source
    from hf_synth.quality.embed.static import StaticEmbedder

    syn = _recombined(6_000, 3)
    syn[10] = None  # a null cell is skipped by both engines
    _write_parquet_parts(tmp_path / "syn", syn, 3)
    _write_parquet_parts(tmp_path / "ref", _recombined(2_000, 4), 1)
    emb = StaticEmbedder()
    local, _ = coverage_from_sources(
        tmp_path / "syn", tmp_path / "ref", emb, store_dirs=(tmp_path / "l1", tmp_path / "l2"), seed=5
    )
    try:
        distributed, _ = coverage_from_sources(
            tmp_path / "syn",
            tmp_path / "ref",
            emb,
            store_dirs=(tmp_path / "r1", tmp_path / "r2"),
            vector_source=ray_vector_source("static", batch_size=1_000),
            seed=5,
        )
    finally:
        ray.shutdown()
    np.testing.assert_array_equal(
        np.load(tmp_path / "l1" / next(p.name for p in (tmp_path / "l1").glob("*.npy"))),
        np.load(tmp_path / "r1" / next(p.name for p in (tmp_path / "r1").glob("*.npy"))),
    )
    assert json.dumps(local, sort_keys=True) == json.dumps(distributed, sort_keys=True)
    assert local["sizes"]["synthetic"] == 5_999
