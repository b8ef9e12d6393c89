"""A Claude run's first request does not wait for what only its aftermath needs (issue 17).

The whole `hf-synth generate` process is what a user times: modules needed only after the last answer
(datasets, pyarrow, matplotlib) load on a background thread while the run waits on the network,
never beside a thread that imports on its own (`hf_synth.preload`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from hf_synth.preload import preloading

# What the first request must not wait for: ~1.5 s of import on this machine. (jinja2 renders the prompts.)
AFTERMATH = ("datasets", "pyarrow", "matplotlib", "scipy.stats", "scipy.optimize")
LOCAL_MODEL = ("torch", "transformers", "sentence_transformers")


def _python(code: str, **kw: object) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, **kw)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_a_claude_run_is_ready_to_send_before_the_aftermath_modules_load() -> None:
    code = f"""
import json, sys
import hf_synth.pipeline
from hf_synth.generation.backends.anthropic import AnthropicBackend
AnthropicBackend().prepare()
assert "anthropic" in sys.modules
print(json.dumps(sorted(m for m in {AFTERMATH + LOCAL_MODEL!r} if m in sys.modules)))
"""
    assert json.loads(_python(code).stdout) == []


WATCH_SCRIPT = """
import json, sys, threading
watched = {watched!r}
first = {{}}
def hook(event, args):
    if event == "import" and args[0] in watched and args[0] not in first:
        first[args[0]] = threading.current_thread().name
sys.addaudithook(hook)
sys.argv = ["hf-synth", "generate", {recipe!r}, "--out", {out!r}, "--backend", "anthropic", "--no-progress",
            "--no-quality"]
from hf_synth.cli.main import main
code = main()
print(json.dumps({{"code": code, "first": first}}))
"""


@pytest.mark.loopback()
def test_generate_loads_the_aftermath_on_the_preload_thread_and_writes_the_same_folder(
    server: object, tmp_path: Path
) -> None:
    recipe = {
        "name": "startup",
        "seed": 3,
        "fields": {"text": {"type": "string"}},
        "dimensions": {"topic": ["a", "b", "c"]},
        "size": 12,
        "prompt": "About {{ topic }}.",
        "backend": {"name": "anthropic", "model": "claude-haiku-4-5", "concurrency": 4},
        "dedup": {"near_threshold": None},
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out"
    watched = ["datasets", "pyarrow", "matplotlib"]
    script = WATCH_SCRIPT.format(watched=watched, recipe=str(path), out=str(out))
    last = _python(script).stdout.strip().splitlines()[-1]
    result = json.loads(last)
    assert result["code"] == 0
    assert result["first"] == dict.fromkeys(watched, "hf-synth-preload")
    import datasets

    dd = datasets.load_dataset(str(out))
    assert sum(dd.num_rows.values()) == 12
    assert sorted(set(dd["train"]["topic"])) == [0, 1, 2]


def _write_module(folder: Path, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text(body)


def test_preloading_imports_on_a_joined_background_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    _write_module(tmp_path, "hfs_preload_ok", "import threading\nTHREAD = threading.current_thread().name\n")
    _write_module(tmp_path, "hfs_preload_bad", "raise ValueError('broken module')\n")
    for name in ("hfs_preload_ok", "hfs_preload_bad"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with preloading(["hfs_preload_bad", "hfs_preload_ok"]):
        pass
    assert sys.modules["hfs_preload_ok"].THREAD == "hf-synth-preload"
    assert not any(t.name == "hf-synth-preload" for t in threading.enumerate())  # joined, not left running
    # A module that failed in the background raises its own error where the caller imports it.
    with pytest.raises(ValueError, match="broken module"):
        import hfs_preload_bad  # noqa: F401


def test_preloading_disabled_imports_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    _write_module(tmp_path, "hfs_preload_off", "X = 1\n")
    monkeypatch.delitem(sys.modules, "hfs_preload_off", raising=False)
    with preloading(["hfs_preload_off"], enabled=False):
        assert "hfs_preload_off" not in sys.modules
    assert "hfs_preload_off" not in sys.modules


def test_preloading_joins_when_the_block_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    _write_module(tmp_path, "hfs_preload_slow", "import time\ntime.sleep(0.3)\nDONE = True\n")
    monkeypatch.delitem(sys.modules, "hfs_preload_slow", raising=False)
    with pytest.raises(KeyError), preloading(["hfs_preload_slow"]):
        raise KeyError("the run failed")
    assert sys.modules["hfs_preload_slow"].DONE  # finished before the error went on
