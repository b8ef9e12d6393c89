"""`make push` end to end: generate through the real SDK, validate, one commit + tag on the rehearsal Hub."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from hf_synth.hub.server import running_hub
from hf_synth.testing.messages_server import MessagesServer
from tests.support.hubtools import client_env, run_client

API_KEY = "sk-ant-release-test-abcdef123456"
HF_TOKEN = "hf_release_test_token_0123456789"

RECIPE = {
    "name": "mini-tickets",
    "version": "1.0.0",
    "repo_id": "acme/mini-tickets",
    "seed": 3,
    "fields": {"text": {"type": "string"}},
    "dimensions": {"topic": ["login", "billing"], "tone": ["calm", "angry"]},
    "size": 16,
    "splits": {"train": 0.75, "test": 0.25},
    "prompt": "A {{ tone }} ticket about {{ topic }}.",
    "backend": {"name": "anthropic", "model": "claude-sonnet-4-6", "concurrency": 4},
    "edge_cases": {"share": 0.125, "kinds": {"special_chars": {}, "empty_field": {"field": "text"}}},
    "dedup": {"near_threshold": None},
}


def release(recipes: Path, out: Path, hub: str, srv: MessagesServer, home: Path, *extra: str):
    env = client_env(hub, HF_TOKEN, home)
    env.update(ANTHROPIC_API_KEY=API_KEY, ANTHROPIC_BASE_URL=srv.url)
    return subprocess.run(
        [sys.executable, "-m", "hf_synth.cli", "release", str(recipes), "--out", str(out), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_release_pushes_tags_and_skips_released_versions(tmp_path: Path) -> None:
    recipes = tmp_path / "dataset_scripts"
    recipes.mkdir()
    (recipes / "mini.yaml").write_text(yaml.safe_dump(RECIPE))
    home, out = tmp_path / "home", tmp_path / "release"
    home.mkdir()
    with running_hub(tmp_path / "hub") as hub, MessagesServer(api_key=API_KEY) as srv:
        dry = release(recipes, out, hub, srv, home, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "acme/mini-tickets v1.0.0: release" in dry.stdout
        assert not out.exists() and srv.count("POST", "/v1/messages") == 0

        done = release(recipes, out, hub, srv, home)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "released acme/mini-tickets@v1.0.0" in done.stdout
        for secret in (API_KEY, HF_TOKEN):
            assert secret not in done.stdout + done.stderr

        got = run_client(
            """
            from huggingface_hub import HfApi
            api = HfApi()
            refs = api.list_repo_refs("acme/mini-tickets", repo_type="dataset")
            files = api.list_repo_files("acme/mini-tickets", repo_type="dataset")
            ds = datasets.load_dataset("acme/mini-tickets", revision="v1.0.0")
            edges = datasets.load_dataset("acme/mini-tickets", "edge_cases", revision="v1.0.0")
            emit({"tags": [t.name for t in refs.tags], "files": files,
                  "rows": {s: len(d) for s, d in ds.items()},
                  "edge_rows": sum(len(d) for d in edges.values()),
                  "names": ds["train"].features["topic"].names})
            """,
            hub,
            HF_TOKEN,
            home,
        )
        assert got["tags"] == ["v1.0.0"]
        assert got["rows"] == {"train": 12, "test": 4}
        assert got["edge_rows"] == 2 and got["names"] == ["login", "billing"]
        assert not any(f.startswith(".hf-synth") for f in got["files"])
        assert "README.md" in got["files"] and "report.json" in got["files"]

        again = release(recipes, out, hub, srv, home)
        assert again.returncode == 0
        assert "skip: v1.0.0 is already released" in again.stdout
