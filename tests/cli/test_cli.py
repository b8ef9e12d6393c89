"""The command line as a user meets it: help text, version, exit codes, Ctrl-C and closed pipes."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import hf_synth
from hf_synth.cli.main import COMMANDS, build_parser
from hf_synth.testing.messages_server import MessagesServer
from tests.support.runprobe import generate_cmd, store_count

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-ant-cli-test-key"

RECIPE = {
    "name": "cli",
    "seed": 3,
    "fields": {"text": {"type": "string"}},
    "dimensions": {"topic": ["a", "b", "c"]},
    "size": 24,
    "prompt": "Write about {{ topic }}.",
    "backend": {"name": "anthropic", "model": "claude-sonnet-4-6", "concurrency": 2, "max_attempts": 2},
    "dedup": {"near_threshold": None},
}


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hf_synth.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or dict(os.environ),
    )


def write_recipe(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({**RECIPE, **changes}), encoding="utf-8")
    return path


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_command_and_argument_has_help_text() -> None:
    parser = build_parser()
    commands = _subparsers(parser)
    assert set(commands) == {c.replace("_", "-") for c in COMMANDS}
    missing = []
    for name, sub in commands.items():
        if not sub.description and not any(
            a.dest == "command" and name in getattr(a, "choices", {}) for a in parser._actions
        ):
            missing.append(f"{name}: no description")
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if not (action.help or "").strip():
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}: no help text")
    choices = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for action in choices._choices_actions:
        if not (action.help or "").strip():
            missing.append(f"{action.dest}: no one-line help in `hf-synth --help`")
    assert not missing, "\n".join(missing)


def test_every_command_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    undocumented = [c for c in _subparsers(build_parser()) if not re.search(rf"hf-synth {c}\b", readme)]
    assert not undocumented, f"commands missing from README.md: {undocumented}"


def test_version() -> None:
    res = cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"hf-synth {hf_synth.__version__}"


def test_plan_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    too_many = write_recipe(tmp_path, edge_cases={"kinds": {"very_short": {"count": 30}}})
    res = cli("plan", str(too_many))
    assert res.returncode == 2, res.stderr
    assert "more than the plan size" in res.stderr and "Traceback" not in res.stderr
    negative = write_recipe(tmp_path, seed=-1)
    res = cli("plan", str(negative))
    assert res.returncode == 2 and "seed" in res.stderr and "Traceback" not in res.stderr


def test_backend_refusal_exits_4(tmp_path: Path) -> None:
    path = write_recipe(tmp_path)
    with MessagesServer(api_key=KEY) as srv:
        env = dict(os.environ, ANTHROPIC_API_KEY="sk-ant-wrong", ANTHROPIC_BASE_URL=srv.url)
        res = cli(*generate_cmd(path, tmp_path / "out")[3:], env=env)
    assert res.returncode == 4, res.stderr
    assert "401" in res.stderr and "Traceback" not in res.stderr and "sk-ant-wrong" not in res.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    res = cli(*generate_cmd(path, tmp_path / "out2")[3:], env=env)
    assert res.returncode == 4 and "ANTHROPIC_API_KEY is not set" in res.stderr


def test_ctrl_c_mid_run_exits_130_keeps_rows_and_resumes(tmp_path: Path) -> None:
    path = write_recipe(tmp_path)
    out = tmp_path / "out"
    # 1 s per answer: the run (24 rows, 2 at a time) outlasts the signal even on a loaded machine.
    with MessagesServer(api_key=KEY, latency=1.0) as srv:
        env = dict(os.environ, ANTHROPIC_API_KEY=KEY, ANTHROPIC_BASE_URL=srv.url)
        proc = subprocess.Popen(
            generate_cmd(path, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.time() + 60
        while store_count(out, "SELECT COUNT(*) FROM slots") < 4 and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "Traceback" not in err and "re-run the same command to resume" in err
        kept = store_count(out, "SELECT COUNT(*) FROM slots")
        assert 4 <= kept < 24
        before = srv.count("POST", "/v1/messages")
        done = subprocess.run(generate_cmd(path, out), env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert srv.count("POST", "/v1/messages") - before == 24 - kept


@pytest.mark.parametrize("delay", [0.2, 0.6, 1.5, 3.0])
def test_ctrl_c_during_start_up_exits_130_without_traceback(tmp_path: Path, delay: float) -> None:
    # `coverage` imports torch and loads a sentence-transformer first: interrupt it at several moments.
    for name in ("syn.csv", "ref.csv"):
        (tmp_path / name).write_text("text\n" + "\n".join(f"query number {i}" for i in range(20)) + "\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hf_synth.cli", "coverage", str(tmp_path / "syn.csv"), "--reference",
         str(tmp_path / "ref.csv")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")},
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip(f"the command finished within {delay} s, before the signal")
    # A shell reports both as status 130: CPython ends itself by SIGINT when an import it ran from C code
    # was interrupted, even though hf-synth caught the KeyboardInterrupt.
    assert proc.returncode in (130, -signal.SIGINT), err
    assert "Traceback" not in err


def test_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, size=3000)
    shell = f"{sys.executable} -m hf_synth.cli plan {path} --json | head -c 100 > /dev/null"
    res = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr, res.stderr
    assert res.returncode in (0, 141)


@pytest.mark.parametrize(
    ("blocked", "args", "extra"),
    [
        ("model2vec", ["--embedder", "static"], "static"),
        ("ray", ["--engine", "ray"], "distributed"),
    ],
)
def test_a_missing_extra_names_the_pip_command(
    tmp_path: Path, blocked: str, args: list[str], extra: str
) -> None:
    # A package that fails to import stands in for an environment installed without the extra.
    shadow = tmp_path / "shadow" / blocked
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(f"raise ImportError('{blocked} is not installed')\n")
    texts = "text\n" + "".join(f"message number {i} about cards\n" for i in range(12))
    (tmp_path / "a.csv").write_text(texts)
    (tmp_path / "b.csv").write_text(texts)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow.parent), str(ROOT)])}
    res = cli("coverage", str(tmp_path / "a.csv"), "--reference", str(tmp_path / "b.csv"), *args, env=env)
    assert res.returncode == 2, res.stderr
    assert f'pip install "hf-synth[{extra}]"' in res.stderr
    assert "Traceback" not in res.stderr
