"""Issue 12: the headline is an estimate with a 90% interval and a resolution, honest at every size.

Adversarial cases on a 77-cluster mixture (77 topics × 20 reference rows, like BANKING77's halves), the
near-copy, max_rows, edge-case and input-error guarantees through `measure_coverage`, and the text output.
The mixture tests need no model; the CLI test at the end loads MiniLM (slow).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hf_synth.errors import UsageError
from hf_synth.quality.coverage import coverage_from_embeddings
from hf_synth.quality.language import english_warning, non_english_share
from hf_synth.quality.measure import measure_coverage
from hf_synth.quality.readout import coverage_text
from hf_synth.quality.support import estimate_coverage, witness_curve

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
BANKING = ROOT / "hf_synth" / "data" / "banking77" / "test.csv"
D = 32


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


CENTRES = unit(np.random.default_rng(0).normal(size=(77, D)))


def around(topics: np.ndarray, rng: np.random.Generator, spread: float = 0.5) -> np.ndarray:
    """One point near the centre of each listed topic (nearest-neighbour cosine ≈ 0.87 at 20 per topic)."""
    return unit(CENTRES[topics] + spread * rng.normal(size=(len(topics), D)) / np.sqrt(D))


def mixture(n_per: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    lab = np.repeat(np.arange(77), n_per)
    return around(lab, rng), lab


class TopicEmbedder:
    """A test embedder with a known geometry (not a model): a text of topic t → a point near centre t,
    jittered by the text's sha256. Topics come from a {text: topic} table, else from a text
    "topic <t> ..."."""

    model_id = "test:topics"
    dim = D

    def __init__(self, topic_of: dict[str, int]) -> None:
        self.topic_of = topic_of

    def encode(self, texts):
        out = []
        for t in texts:
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
            topic = self.topic_of.get(t, int(t.split()[1]) if t.startswith("topic ") else 0)
            out.append(around(np.array([topic]), np.random.default_rng(seed))[0])
        return np.array(out, dtype=np.float32).reshape(len(texts), D)


# ---------------------------------------------------------------- the estimator on a 77-topic mixture


def test_witness_curve_is_exact_at_one_and_increasing():
    from hf_synth.quality.knn import expected_knn_coverage

    assert witness_curve(1.0, 1540, 300, 4)[0] == pytest.approx(expected_knn_coverage(1540, 300, 4))
    grid = np.linspace(0.01, 3, 200)
    values = witness_curve(grid, 1540, 124, 4)
    assert np.all(np.diff(values) > 0) and values[-1] < 4 * 124 / 1540
    assert witness_curve(0.002, 1540, 50, 4)[0] == pytest.approx(0.002)  # cN ≤ k: every row witnessed


def test_ten_spread_points_on_13_percent_of_topics_cannot_claim_coverage():
    """The issue's case: 10 synthetic points, one near each of 10 of 77 topics, scored 1.000 before."""
    rng = np.random.default_rng(1)
    ref, _ = mixture(20, rng)
    topics = rng.permutation(77)
    ten = estimate_coverage(ref, around(topics[:10], rng), seed=0)
    low, high = ten["interval"]
    assert low <= 10 / 77 + 0.15 and high == 1.0  # thin evidence: wide, and not above what is witnessed
    assert ten["coverage"] < 0.5
    assert ten["resolution"] > 20  # no single topic (20 rows) could be seen missing
    thirty_one = estimate_coverage(ref, around(topics[:31], rng), seed=0)  # scored 1.000 before
    assert thirty_one["interval"][0] <= 31 / 77 + 0.15 and thirty_one["coverage"] < 0.6
    # 400 i.i.d. rows on the same 31 topics: enough evidence for a narrow interval around 31/77.
    fresh, lab = mixture(20, rng)
    iid = fresh[np.isin(lab, topics[:31])][rng.choice(620, 400, replace=False)]
    many = estimate_coverage(ref, iid, seed=0)
    assert many["interval"][0] <= 31 / 77 <= many["interval"][1]
    assert many["interval"][1] - many["interval"][0] < 0.2 and many["concentration"] > 1.2
    assert many["coverage"] == pytest.approx(31 / 77, abs=0.08)


@pytest.mark.parametrize("n", [30, 100, 300])
def test_interval_contains_one_for_same_distribution_samples(n):
    hits = []
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        a, _ = mixture(20, rng)
        b, _ = mixture(20, rng)
        got = estimate_coverage(a[rng.choice(1540, n, replace=False)], b[rng.choice(1540, n, replace=False)])
        hits.append(got["interval"][1] == 1.0)
        assert got["interval"][0] <= got["coverage"] <= got["interval"][1]
    assert np.mean(hits) >= 0.85  # nominal 90%; the jackknife errs wide
    if n >= 300:
        assert got["coverage"] >= 0.85


def test_tiny_sets_claim_nothing():
    rng = np.random.default_rng(3)
    ref, _ = mixture(20, rng)
    for m in (2, 3, 5):
        got = estimate_coverage(ref, around(rng.permutation(77)[:m], rng), seed=0)
        assert got["interval"][0] <= 0.05 and got["interval"][1] == 1.0
        assert got["resolution"] == len(ref)  # cannot see any missing topic
        json.dumps(got, allow_nan=False)
    two = coverage_from_embeddings(ref[:2], ref, ["a", "b"], [f"r{i}" for i in range(len(ref))], seed=0)
    assert two["coverage_interval"][1] == 1.0 and any("low statistical power" in w for w in two["warnings"])
    json.dumps(two, allow_nan=False)
    with pytest.raises(ValueError, match="2 distinct rows"):
        estimate_coverage(ref, np.repeat(ref[:1], 5, axis=0))  # five copies of one row


def test_synthetic_near_copies_never_remove_reference_rows():
    """Jittered copies of the reference rows of 31 of 77 topics read ~31/77 (pooled thinning read 0.25)."""
    rng = np.random.default_rng(4)
    ref, lab = mixture(20, rng)
    kept = rng.permutation(77)[:31]
    copies = unit(ref[np.isin(lab, kept)] + 1e-3 * rng.normal(size=(620, D)))
    got = estimate_coverage(ref, copies, seed=0)
    assert got["n_reference"] == len(ref) and got["thinned_share"]["reference"] == 0.0
    assert got["coverage"] == pytest.approx(31 / 77, abs=0.08)
    assert got["interval"][0] <= 31 / 77 <= got["interval"][1] + 0.02


# ---------------------------------------------------------------- measure_coverage on files


@pytest.fixture()
def sorted_reference(tmp_path):
    """A csv of 77 topics × 40 texts sorted by topic (like BANKING77's test.csv), and the topic table."""
    topic_of = {f"topic {t} text {i}": t for t in range(77) for i in range(40)}
    path = tmp_path / "reference.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows([text, t] for text, t in topic_of.items())
    return path, topic_of


def test_max_rows_is_a_seeded_random_sample_of_a_sorted_file(sorted_reference):
    path, topic_of = sorted_reference
    synthetic = [f"topic {t} synthetic {i}" for t in range(5) for i in range(20)]  # the first 5 topics only
    emb = TopicEmbedder(topic_of)
    got = measure_coverage(synthetic, path, embedder=emb, reference_max_rows=300, seed=1)
    # The first 300 rows of the file are topics 0-7: a first-rows sample would read ~5/8 or more.
    assert got.sizes["reference"] == 300 and got.coverage_interval[0] <= 5 / 77 + 0.15
    assert got.coverage < 0.3
    assert any("random sample of 300 of 3,080" in w for w in got.warnings)
    again = measure_coverage(synthetic, path, embedder=emb, reference_max_rows=300, seed=1)
    assert again.to_json() == got.to_json()


def test_edge_case_rows_are_left_out_unless_asked(tmp_path, sorted_reference):
    ref_path, topic_of = sorted_reference
    folder = tmp_path / "generated" / "data"
    folder.mkdir(parents=True)
    clean = [f"topic {t} synthetic {i}" for t in range(77) for i in range(3)]
    edge = ["EDGE " * 50, "", "?!"]
    pq.write_table(pa.table({"text": clean, "is_edge_case": [False] * len(clean)}), folder / "a.parquet")
    pq.write_table(pa.table({"text": edge, "is_edge_case": [True] * 3}), folder / "b.parquet")
    emb = TopicEmbedder(topic_of)
    plain = measure_coverage(folder.parent, ref_path, embedder=emb)
    assert plain.sizes["synthetic"] == len(clean)
    assert plain.sources["synthetic"]["excluded_edge_cases"] == 3
    assert any("--include-edge-cases" in w for w in plain.warnings)
    both = measure_coverage(folder.parent, ref_path, embedder=emb, include_edge_cases=True)
    assert both.sizes["synthetic"] == len(clean) + 3


def test_input_errors_name_the_file_and_flag_before_any_model_loads(tmp_path, sorted_reference):
    from hf_synth.quality.embed import sentence

    ref_path, _ = sorted_reference
    syn = tmp_path / "syn.csv"
    syn.write_text("text,query\nhello there,a\nhow are you,b\n", encoding="utf-8")
    before = dict(sentence._MODELS)
    with pytest.raises(UsageError) as exc:
        measure_coverage(syn, ref_path, reference_text_column="body")
    assert str(ref_path) in str(exc.value) and "--reference-text-column" in str(exc.value)
    with pytest.raises(UsageError) as exc:
        measure_coverage(syn, ref_path, text_column="body", reference_text_column="text")
    assert str(syn) in str(exc.value) and "--text-column" in str(exc.value)
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(UsageError, match=r"empty\.csv"):
        measure_coverage(syn, empty)
    with pytest.raises(UsageError, match="no such file"):
        measure_coverage(syn, tmp_path / "missing.csv")
    one = tmp_path / "one.csv"
    one.write_text("text\nonly one\n", encoding="utf-8")
    with pytest.raises(UsageError, match="at least 2"):
        measure_coverage(one, ref_path)
    assert before == sentence._MODELS  # no model was loaded for any of these


def test_non_english_texts_are_flagged():
    with BANKING.open(encoding="utf-8") as f:
        english = [r["text"] for r in csv.DictReader(f)]
    assert non_english_share(english)[0] < 0.01
    assert english_warning(english, "reference", "m") is None
    other = ["¿Dónde está mi tarjeta nueva?", "我的银行卡还没有到，怎么办？", "Почему отклонили платёж?"] * 5
    warning = english_warning(other + english[:10], "synthetic", "all-MiniLM-L6-v2")
    assert warning and "synthetic" in warning and "English only" in warning


def test_text_output_has_one_headline_then_diagnostics(sorted_reference):
    path, topic_of = sorted_reference
    emb = TopicEmbedder(topic_of)
    synthetic = [f"topic {t} synthetic {i}" for t in range(40) for i in range(20)]
    result = measure_coverage(synthetic, path, embedder=emb)
    lines = coverage_text(result).splitlines()
    assert lines[0].startswith("The synthetic set covers about ") and "90% interval" in lines[0]
    assert "missing topics of >=" in lines[0] and len(lines[0]) < 160
    assert "Diagnostics:" in lines and lines.index("Diagnostics:") < 5
    assert max(len(line) for line in lines) < 200
    # Five rows cannot pin coverage down: the headline states a range, not "about X%".
    few = coverage_text(measure_coverage(synthetic[::160], path, embedder=emb)).splitlines()[0]
    assert few.startswith("The synthetic set covers between ") and "too few rows" in few


def test_pipeline_quality_leaves_edge_rows_out(tmp_path):
    from hf_synth.dataset.report import Report
    from hf_synth.pipeline import _quality

    texts = [f"topic {t} text {i}" for t in range(10) for i in range(4)]
    topic_of = {t: i // 4 for i, t in enumerate(texts)} | {"EDGE": 60}
    ds = datasets.Dataset.from_dict(
        {
            "text": texts + ["EDGE"] * 5,
            "intent": [i // 4 % 2 for i in range(40)] + [0] * 5,
            "is_edge_case": [False] * 40 + [True] * 5,
        },
        features=datasets.Features(
            {
                "text": datasets.Value("string"),
                "intent": datasets.ClassLabel(names=["a", "b"]),
                "is_edge_case": datasets.Value("bool"),
            }
        ),
    )

    class Recipe:  # the three attributes _quality reads
        main_text_field, dimensions, seed, reference = "text", ["intent"], 0, None

    report = Report.__new__(Report)
    _quality(Recipe(), datasets.DatasetDict({"train": ds}), report, TopicEmbedder(topic_of))
    assert report.label_fidelity["intent"]["n_rows"] == 40
    _quality(Recipe(), datasets.DatasetDict({"train": ds}), report, TopicEmbedder(topic_of), True)
    assert report.label_fidelity["intent"]["n_rows"] == 45


# ---------------------------------------------------------------- the CLI (loads MiniLM)


@pytest.mark.slow
def test_cli_json_keys_and_readable_text(tmp_path):
    with BANKING.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for name, part in (("syn.csv", rows[1::12]), ("ref.csv", rows)):
        with (tmp_path / name).open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "category"])
            w.writerows([r["text"], r["category"]] for r in part)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_SYNTH_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "hf_synth.cli", "coverage", str(tmp_path / "syn.csv")]
    cmd += ["--reference", str(tmp_path / "ref.csv"), "--reference-max-rows", "1500"]
    out = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, timeout=600, check=True)
    report = json.loads(out.stdout)
    for key in ("coverage", "legacy_ks_score", "knn", "clusters", "uncovered", "diversity"):
        assert key in report
    low, high = report["coverage_interval"]
    assert 0 <= low <= report["coverage"] <= high <= 1 and high == 1.0  # a fair sample of the file
    assert isinstance(report["resolution"], int) and report["sizes"]["reference"] == 1500
    text = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=True).stdout
    assert text.startswith("The synthetic set covers ") and "\nDiagnostics:\n" in text
