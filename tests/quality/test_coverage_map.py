"""The coverage map: files written, deterministic, thinned for the browser, and really drawn by Chromium.

The browser test drives headless Chromium over the DevTools protocol on a pipe (`--remote-debugging-pipe`,
stdlib only): it loads coverage_map.html from disk, records every network request and console error,
moves the mouse onto a known synthetic point and reads the hover label plotly draws, and takes a
screenshot. Skipped with the reason when /usr/bin/chromium is missing (Debian: `apt-get install chromium
fonts-noto-cjk`).
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hf_synth.quality.map import HTML_NAME, PNG_NAME, render_coverage_map
from hf_synth.quality.map.layers import category_codes, region_outline, seeded_sample
from hf_synth.quality.map.projection import Projection, choose_fit_rows, place_among, project_2d
from tests.support.browser import DevTools, hover_point, map_state, needs_chromium, open_page

# --------------------------------------------------------------------------------------------- fixtures


def _clustered(n: int, centres: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = centres[labels] + rng.normal(scale=0.35 / np.sqrt(centres.shape[1]), size=(n, centres.shape[1]))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def small_sets():
    """12 topics × 40 reference rows (384-d); the synthetic side (360 rows) misses topics 0 and 1 and its
    texts include CJK, markup and a script-closing tag."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(12, 384))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    ref_lab = np.repeat(np.arange(12), 40)
    syn_lab = rng.choice(np.arange(2, 12), size=360)
    ref = _clustered(len(ref_lab), centres, ref_lab, rng)
    syn = _clustered(len(syn_lab), centres, syn_lab, rng)
    ref_texts = [f"reference {i} on topic {t}" for i, t in enumerate(ref_lab)]
    ref_texts[0] = "如何查询我的账户余额？"
    syn_texts = [f"synthetic {i} on topic {t}" for i, t in enumerate(syn_lab)]
    syn_texts[5] = "カードが届きません <b>bold?</b> & </script><script>alert(1)</script>"
    labels = {
        "topic": [f"topic-{t}" for t in syn_lab],
        "tone": ["polite" if i % 3 else "angry 😠" for i in range(len(syn_lab))],
    }
    regions = [
        {
            "members": np.flatnonzero(ref_lab == t).tolist(),
            "label": ["余额查询：我的账户还剩多少钱", "reference on topic one"][t] if t < 2 else f"topic {t}",
            "missing": t < 2,
            "share": 1 / 12,
            "examples": [ref_texts[int(np.flatnonzero(ref_lab == t)[0])]],
        }
        for t in range(12)
    ]
    return ref, syn, ref_texts, syn_texts, labels, regions, ref_lab, syn_lab


def _circle_layout(ref_lab: np.ndarray, syn_lab: np.ndarray) -> Projection:
    """Fixed 2-D positions (topic t around a circle, seeded jitter): the renderers' tests need positions,
    not a real layout (t-SNE takes seconds even on a few hundred rows; it is tested below, marked slow)."""
    rng = np.random.default_rng(0)
    centres = 5 * np.c_[np.cos(np.arange(12) * np.pi / 6), np.sin(np.arange(12) * np.pi / 6)]
    ref = (centres[ref_lab] + rng.normal(scale=0.4, size=(len(ref_lab), 2))).astype(np.float32)
    syn = (centres[syn_lab] + rng.normal(scale=0.4, size=(len(syn_lab), 2))).astype(np.float32)
    return Projection(ref, syn, "fixed test layout", 0)


def _render(small_sets, out: Path, **kwargs) -> dict:
    ref, syn, ref_texts, syn_texts, labels, regions, ref_lab, syn_lab = small_sets
    kwargs.setdefault("projection", _circle_layout(ref_lab, syn_lab))
    kwargs.setdefault("regions", regions)
    return render_coverage_map(
        ref,
        syn,
        reference_texts=ref_texts,
        synthetic_texts=syn_texts,
        synthetic_labels=labels,
        colour_by="topic",
        out_dir=out,
        seed=3,
        progress=False,
        **kwargs,
    )


@pytest.fixture(scope="module")
def rendered(small_sets, tmp_path_factory):
    out = tmp_path_factory.mktemp("map")
    return out, _render(small_sets, out)


# ------------------------------------------------------------------------------------------ pure parts


def test_fit_rows_take_both_sides_and_every_anchor():
    ref_fit, syn_fit = choose_fit_rows(
        100_000, 50_000, 2_000, seed=0, anchors=[[5, 6, 7], list(range(90_000, 90_050))]
    )
    assert len(syn_fit) == 1_000 and 1_000 < len(ref_fit) <= 1_013
    assert {5, 6, 7} <= set(ref_fit.tolist())
    assert len(set(ref_fit.tolist()) & set(range(90_000, 90_050))) >= 10  # capped at anchor_rows, at least
    # A small side is taken whole and its unused half goes to the other side.
    ref_fit, syn_fit = choose_fit_rows(10_000, 300, 2_000, seed=0)
    assert len(syn_fit) == 300 and len(ref_fit) == 1_700
    assert np.array_equal(
        choose_fit_rows(10_000, 300, 2_000, seed=4)[0], choose_fit_rows(10_000, 300, 2_000, seed=4)[0]
    )


def test_hover_sample_keeps_rare_values():
    codes = np.r_[np.zeros(50_000, int), np.ones(30, int), np.full(5, 2)]
    picked = seeded_sample(len(codes), 1_000, seed=1, codes=codes)
    assert len(picked) <= 1_000 and np.all(np.diff(picked) > 0)
    per_code = np.bincount(codes[picked], minlength=3)
    assert per_code[1] >= 20 and per_code[2] == 5  # rare values are not sampled away
    assert np.array_equal(picked, seeded_sample(len(codes), 1_000, seed=1, codes=codes))


def test_categories_cap_and_other_bucket():
    values = [f"v{i % 20}" for i in range(2_000)] + ["v0"] * 100
    codes, names = category_codes(values, len(values))
    assert names[0] == "v0" and names[-1] == "other (12 values)" and len(names) == 9
    assert codes.max() == 8 and (codes == 8).sum() == 12 * 100
    with pytest.raises(ValueError, match="2100 synthetic rows"):
        category_codes(values[:-1], len(values))


def test_outline_hugs_members_and_drops_strays():
    rng = np.random.default_rng(0)
    bounds = (-5.0, 5.0, -5.0, 5.0)
    core = rng.normal(scale=0.1, size=(60, 2))
    lines, anchor = region_outline(np.vstack([core, [[3.0, 3.0]]]), bounds)
    assert len(lines) == 1 and all(np.allclose(line[0], line[-1]) for line in lines)  # closed
    assert np.abs(lines[0]).max() < 1.0  # one member projected far away neither stretches nor adds a shape
    assert np.abs(anchor).max() < 0.2
    # A region the projection split in two gets two shapes, not one hull over the space between them.
    split = np.vstack([core - 3, core + 3])
    lines, _ = region_outline(split, bounds)
    assert len(lines) == 2 and all(np.abs(np.abs(line).mean(axis=0) - 3).max() < 0.5 for line in lines)
    assert len(region_outline(np.zeros((1, 2)), bounds)[0]) == 1  # a single member still gets a shape


def test_projection_rejects_bad_input():
    with pytest.raises(ValueError, match="differ in dimension"):
        project_2d(np.zeros((5, 8), np.float32), np.zeros((5, 9), np.float32), progress=False)
    with pytest.raises(ValueError, match="synthetic embeddings are empty"):
        project_2d(np.zeros((5, 8), np.float32), np.zeros((0, 8), np.float32), progress=False)
    bad = np.ones((6, 8), np.float32)
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        project_2d(bad, np.ones((6, 8), np.float32), progress=False)


def test_render_rejects_mismatched_labels(small_sets, tmp_path):
    ref, syn, ref_texts, syn_texts, labels, _, _, _ = small_sets
    with pytest.raises(ValueError, match=r"colour_by='intent'.*columns: tone, topic"):
        render_coverage_map(
            ref, syn, reference_texts=ref_texts, synthetic_texts=syn_texts, synthetic_labels=labels,
            colour_by="intent", out_dir=tmp_path, progress=False,
        )  # fmt: skip
    with pytest.raises(ValueError, match=r"synthetic_labels\['tone'\] has 3 values"):
        render_coverage_map(
            ref, syn, reference_texts=ref_texts, synthetic_texts=syn_texts,
            synthetic_labels={"tone": ["a", "b", "c"]}, out_dir=tmp_path, progress=False,
        )  # fmt: skip
    bad_region = [{"members": [3, 480], "label": "x", "missing": True, "share": 0.1}]
    with pytest.raises(ValueError, match=r"region 'x' \(regions\[0\]\) has a member .* in 0\.\.479"):
        _render(small_sets, tmp_path, regions=bad_region, projection=None)  # refused before any layout
    assert not (tmp_path / HTML_NAME).exists()  # nothing half-written


# ------------------------------------------------------------------------------------------ the files


@pytest.mark.slow
def test_projection_keeps_topics_apart_and_the_gap_empty(small_sets):
    """What the map is for: a missing topic's reference rows sit in a place with no synthetic point."""
    ref, syn, _, _, _, regions, ref_lab, syn_lab = small_sets
    proj = project_2d(
        ref,
        syn,
        seed=0,
        fit_rows=400,
        anchors=[r["members"] for r in regions if r["missing"]],
        progress=False,
    )
    assert proj.reference.shape == (len(ref), 2) and proj.synthetic.shape == (len(syn), 2)
    assert proj.fit_rows < len(ref) + len(syn)  # some rows were placed, not laid out
    pooled = np.vstack([proj.reference, proj.synthetic])
    side = np.r_[np.zeros(len(ref)), np.ones(len(syn))]
    lab = np.r_[ref_lab, syn_lab]
    d = ((pooled[:, None, :] - pooled[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, axis=1)[:, :5]
    assert (lab[nn] == lab[:, None]).mean() > 0.9  # topics stay together in 2-D
    gap = (side == 0) & (lab < 2)
    assert (side[nn[gap]] == 0).all(axis=1).mean() > 0.9  # missing topics' neighbours are reference rows


def test_files_written_and_described(rendered):
    out, result = rendered
    assert result["png"] == out / PNG_NAME and result["html"] == out / HTML_NAME
    assert result["regions_outlined"] == 2
    assert result["hover_points"] == {"reference": 480, "synthetic": 360}
    assert set(result["seconds"]) >= {"pca", "layout", "place", "png", "html", "total"}
    page = (out / HTML_NAME).read_text(encoding="utf-8")
    assert result["html_bytes"] == len(page.encode())
    # Self-contained: plotly.js inline, no external script, stylesheet or font.
    assert not re.search(r"<(script|link)[^>]+(src|href)=", page)
    # The raw closing tag of a row text never reaches the page (it would end the data script).
    assert "</script><script>alert(1)" not in page


def test_png_is_a_map_not_a_blank(rendered):
    out, _ = rendered
    img = np.asarray(Image.open(out / PNG_NAME).convert("RGB")).astype(int)
    assert img.shape[:2] == (1000, 1200)
    plot = img[100:900, 30:850]
    grey = (np.ptp(plot, axis=2) < 12) & (plot.mean(axis=2) < 235)
    coloured = np.ptp(plot, axis=2) > 60
    red = (plot[..., 0] > 150) & (plot[..., 1] < 90) & (plot[..., 2] < 90)
    assert grey.mean() > 0.01, "no reference density drawn"
    assert coloured.mean() > 0.002, "no synthetic points drawn"
    assert red.sum() > 200, "no uncovered region outlined"


def test_same_seed_same_bytes(small_sets, rendered, tmp_path):
    out, _ = rendered
    _render(small_sets, tmp_path)
    assert (tmp_path / PNG_NAME).read_bytes() == (out / PNG_NAME).read_bytes()
    assert (tmp_path / HTML_NAME).read_bytes() == (out / HTML_NAME).read_bytes()
    _render(small_sets, tmp_path, hover_synthetic=100)  # another sample of hoverable points
    assert (tmp_path / HTML_NAME).read_bytes() != (out / HTML_NAME).read_bytes()


def test_projection_of_other_rows_is_refused(small_sets, tmp_path):
    _, _, _, _, _, _, ref_lab, syn_lab = small_sets
    wrong = _circle_layout(ref_lab[:-1], syn_lab)
    with pytest.raises(ValueError, match="479 reference and 360 synthetic positions for 480 and 360 rows"):
        _render(small_sets, tmp_path, projection=wrong)


@pytest.mark.slow
def test_end_to_end_with_tsne_is_deterministic(small_sets, tmp_path):
    """The real projection: same seed → same bytes, a different seed → a different layout."""
    first = _render(small_sets, tmp_path / "a", projection=None, fit_rows=400)
    _render(small_sets, tmp_path / "b", projection=None, fit_rows=400)
    assert "t-SNE" in first["method"] and first["fit_rows"] < 840
    for name in (PNG_NAME, HTML_NAME):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    ref, syn, *_ = small_sets
    other = project_2d(ref, syn, seed=11, fit_rows=400, progress=False)
    assert not np.allclose(other.reference, first["projection"].reference)
    assert first["seconds"]["layout"] > 0 and first["seconds"]["place"] > 0


# ---------------------------------------------------------------------------------------- the browser


@needs_chromium
def test_page_draws_points_and_hover_in_chromium(rendered, small_sets, tmp_path):
    out, _ = rendered
    syn_lab = small_sets[7]
    browser = DevTools(tmp_path / "profile")
    try:
        open_page(browser, out / HTML_NAME)
        state = map_state(browser)
        names = [name for _, name, _ in state["traces"]]
        assert state["heatmap"] == 1, "reference density layer missing"
        assert state["markers"] >= 480 + 360, f"expected every sampled point drawn, got {state['markers']}"
        assert any(n.startswith("reference rows") for n in names)
        assert any(n.startswith("topic-5 ") for n in names)
        assert any(t.startswith("uncovered regions") for t in state["legend"])
        assert "余额查询：我的账户还剩多少钱" in state["annotations"]  # CJK label kept as text

        # Hover the row whose text is markup + a closing script tag: plotly must show it literally.
        row = 5
        trace_name = next(n for n in names if n.startswith(f"topic-{syn_lab[row]} "))
        hover = hover_point(browser, trace_name, "カードが届きません")
        assert hover is not None, "no hover label appeared over a synthetic point"
        assert (
            "カードが届きません <b>bold?</b> &" in hover
            and "topic: topic-" in hover
            and "tone: polite" in hover
        )

        shot = browser.send("Page.captureScreenshot", {"format": "png"})
        (tmp_path / "screenshot.png").write_bytes(base64.b64decode(shot["data"]))
    finally:
        browser.close()
    errors = [
        e["params"]
        for e in browser.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "assert"))
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")
    ]
    assert errors == []
    requested = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert requested and all(u.startswith(("file:", "data:", "blob:")) for u in requested), requested
    img = np.asarray(
        Image.open(io.BytesIO((tmp_path / "screenshot.png").read_bytes())).convert("RGB")
    ).astype(int)
    assert (np.ptp(img, axis=2) > 60).mean() > 0.001, "screenshot shows no coloured points"


def test_png_fonts_cover_cjk():
    """The map's PNG uses the chart fonts, whose packaged Noto Sans CJK (a dependency) draws CJK labels
    without matplotlib's missing-glyph warning (which the map itself silences)."""
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from hf_synth.fonts import chart_families

    families = chart_families()
    assert len(families) > 1, "the packaged CJK font is not in the PNG's font list"
    fig = Figure(figsize=(3, 1))
    FigureCanvasAgg(fig)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.text(0.1, 0.5, "余额查询 カード 잔액", family=list(families))
        fig.canvas.draw()
    assert not [w for w in caught if "missing from font" in str(w.message)]


def test_placement_does_not_land_between_two_places():
    """A row whose nearest laid-out rows sit in two places on the map goes to the heavier place, not into
    the empty space between them (which would paint points into the gaps the map must show)."""
    xy = np.array([[0.0, 0.0]] * 6 + [[10.0, 0.0]] * 4)[None] + np.linspace(0, 0.01, 10)[None, :, None]
    dist = np.linspace(1.0, 1.5, 10)[None]
    pos = place_among(dist, xy, radius=1.0)
    assert np.abs(pos[0] - [0.0, 0.0]).max() < 0.1
    # Nearer neighbours weigh more: the 4 nearest at x = 10 beat the 6 farther ones at x = 0.
    pos = place_among(dist, xy[:, ::-1], radius=1.0)
    assert np.abs(pos[0] - [10.0, 0.0]).max() < 0.1
