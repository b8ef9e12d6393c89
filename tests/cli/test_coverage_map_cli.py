"""`hf-synth coverage SYN --reference REF --map DIR`: the coverage map of any two sets, looked at in Chromium.

Two CSV files cut from BANKING77 (the synthetic side misses two of the reference's intents and holds one
row of markup and CJK text); the command runs in a subprocess as a user runs it. Flag errors are checked
without loading a model; the full run loads MiniLM (slow).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.browser import DevTools, hover_point, map_state, needs_chromium, open_page, page_errors

ROOT = Path(__file__).resolve().parents[2]
BANKING = ROOT / "hf_synth" / "data" / "banking77" / "test.csv"
ODD = "カードが届きません <b>bold?</b> & </script> card"
ODD_CATEGORY = "carte_arrivée"


def write_sets(folder: Path) -> tuple[Path, Path, list[str]]:
    """(synthetic csv, reference csv, the intents missing from the synthetic side)."""
    with BANKING.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    intents = sorted({r["category"] for r in rows})[:10]
    missing = intents[:2]
    by_intent = {c: [r for r in rows if r["category"] == c] for c in intents}
    ref = [r for c in intents for r in by_intent[c][:30]]
    syn = [r for c in intents[2:] for r in by_intent[c][30:40]]
    syn.append({"text": ODD, "category": ODD_CATEGORY})
    paths = []
    for name, data in (("synthetic.csv", syn), ("reference.csv", ref)):
        path = folder / name
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["text", "category"])
            writer.writeheader()
            writer.writerows(data)
        paths.append(path)
    return paths[0], paths[1], missing


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "hf_synth.cli", "coverage", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


def test_map_color_errors_name_the_flag_before_any_model_loads(tmp_path: Path) -> None:
    syn, ref, _ = write_sets(tmp_path)
    res = cli(str(syn), "--reference", str(ref), "--map", str(tmp_path / "m"), "--map-color", "tone")
    assert res.returncode == 2, res.stderr[-2000:]
    assert "--map-color" in res.stderr and "'tone'" in res.stderr and "category" in res.stderr
    res = cli(str(syn), "--reference", str(ref), "--map-color", "category")
    assert res.returncode == 2 and "--map-color needs --map DIR" in res.stderr
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
@needs_chromium
def test_map_of_two_csv_files_is_drawn_and_hoverable(tmp_path: Path) -> None:
    syn, ref, missing = write_sets(tmp_path)
    out = tmp_path / "map"
    res = cli(str(syn), "--reference", str(ref), "--map", str(out), "--map-color", "category", "--json")
    assert res.returncode == 0, res.stderr[-4000:]
    result = json.loads(res.stdout)
    block = result["map"]
    assert block["png"] == "coverage_map.png" and block["html"] == "coverage_map.html"
    assert block["colour_by"] == "category"
    assert block["points"] == {"reference": 300, "synthetic": 81}
    assert block["uncovered_regions"] == len(result["uncovered"]) and block["regions_outlined"] >= 1
    assert sorted(p.name for p in out.iterdir()) == ["coverage_map.html", "coverage_map.png"]

    with Image.open(out / "coverage_map.png") as img:
        assert img.format == "PNG" and img.size == (1200, 1000)
        pixels = np.asarray(img.convert("RGB")).astype(int)
    assert (np.ptp(pixels, axis=2) > 60).mean() > 0.001, "no coloured points in the PNG"

    browser = DevTools(tmp_path / "profile")
    try:
        open_page(browser, out / "coverage_map.html")
        state = map_state(browser)
        names = [name for _, name, _ in state["traces"]]
        assert state["heatmap"] == 1, "reference density layer missing"
        assert state["markers"] >= 81, state["markers"]
        assert any(n.startswith(ODD_CATEGORY) for n in names), names
        assert not any(n.startswith(tuple(missing)) for n in names)  # no synthetic row of a missing intent
        assert any(t.startswith("uncovered regions") for t in state["legend"])
        trace = next(n for n in names if n.startswith(ODD_CATEGORY))
        hover = hover_point(browser, trace, "カードが届きません")
    finally:
        browser.close()
    assert hover is not None, "no hover label over the synthetic point"
    assert ODD in hover and f"category: {ODD_CATEGORY}" in hover
    assert page_errors(browser) == []
