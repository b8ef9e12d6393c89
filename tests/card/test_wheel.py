"""The card templates install with the package: a wheel built from the source, installed without the source
tree, renders the same card as the checkout (issue 10: `cards/` once shipped nowhere, so `generate` failed at
its very end)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from hf_synth.card import render_card

REPO = Path(__file__).resolve().parents[2]
SAMPLE = Path(__file__).parent / "sample_report.json"
# Never copied into the build tree: a stale build/lib would hide a file the wheel really lacks.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", ".venv", "out", "tests"
)


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def _pip_env() -> dict[str, str]:
    # Offline: the build uses the setuptools already installed (no isolation), nothing comes from an index.
    return {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def test_installed_wheel_renders_the_card(tmp_path: Path) -> None:
    # Build from a clean copy (symlinks kept as symlinks, as a git clone has them).
    src = tmp_path / "src"
    shutil.copytree(REPO, src, symlinks=True, ignore=_NOT_SOURCE)
    assert (src / "hf_synth" / "card" / "templates").is_symlink()
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", ".", "-w", str(wheels)], src, _pip_env())
    (wheel,) = wheels.glob("hf_synth-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        assert "hf_synth/card/templates/dataset_card.md.j2" in zf.namelist()

    site = tmp_path / "site"
    _run(
        [*pip, "install", "--no-deps", "--no-compile", "--target", str(site), str(wheel)],
        tmp_path,
        _pip_env(),
    )
    shutil.rmtree(src)  # the installed copy must not lean on the source tree in any way

    report = json.loads(SAMPLE.read_text(encoding="utf-8"))
    installed_dir = tmp_path / "installed" / "support-tickets"
    installed_dir.mkdir(parents=True)
    (installed_dir / "report.json").write_text(json.dumps(report), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    outside = tmp_path / "cwd"  # neither the checkout nor the installed folder is the working directory
    outside.mkdir()
    probe = "import hf_synth, hf_synth.card.render as r; print(hf_synth.__file__); print(r.templates_dir())"
    where = _run([sys.executable, "-c", probe], outside, env).stdout.splitlines()
    assert Path(where[0]).resolve().is_relative_to(site.resolve()), where
    assert Path(where[1]).resolve().is_relative_to(site.resolve()), where

    cli = _run([sys.executable, "-m", "hf_synth.cli", "card", str(installed_dir)], outside, env)
    assert cli.stdout.strip() == str(installed_dir / "README.md")
    installed_card = (installed_dir / "README.md").read_text(encoding="utf-8")
    assert "## Summary" in installed_card and "## License and citation" in installed_card

    # Same input through the checkout: the installed templates are the checkout's, byte for byte.
    checkout_dir = tmp_path / "checkout" / "support-tickets"
    checkout_dir.mkdir(parents=True)
    checkout_card = render_card(checkout_dir, report).read_text(encoding="utf-8")
    assert installed_card == checkout_card
