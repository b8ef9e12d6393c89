"""Helpers for tests/hub: a small Hub-ready release folder, client subprocesses, an in-process Hub.

The folder has the shape DESIGN.md gives for ``hf-synth generate --out DIR`` (hash-named parquet files per
split and kind, README.md with ``configs`` + ``dataset_info``, report.json, recipe.yaml, images/, and a
``.hf-synth/`` run store that must never be pushed).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TOPICS = ["sports", "tech", "true"]  # "true": a YAML-looking dimension value, kept as a string
EDGE_KINDS = ["none", "typo"]


def make_rows(version: int, n: int = 12) -> list[dict[str, Any]]:
    """Rows of one release; ``version`` changes the texts so file hashes differ between releases."""
    rows = []
    for i in range(n):
        edge = 1 if i % 4 == 3 else 0
        rows.append(
            {
                "topic": i % len(TOPICS),
                "text": f"v{version} row {i}: about {TOPICS[i % len(TOPICS)]}"
                + (" wiht a typo" if edge else ""),
                "edge_case": edge,
                "is_edge_case": bool(edge),
                "edge_case_of": (i - 1) if edge else None,
                "stratum": TOPICS[i % len(TOPICS)],
                "slot_id": i,
                "split": "train" if i % 3 else "test",
            }
        )
    return rows


def build_release(folder: Path, version: int, repo_name: str = "synthetic") -> dict[str, Any]:
    """Write a release folder; return ``{"files": {cfg: {split: [paths]}}, "rows": {cfg: {split: rows}}}``.

    Rows are given without the ``split`` key, as ``load_dataset`` returns them (ClassLabels as ints).
    """
    from datasets import ClassLabel, Dataset, DatasetInfo, Features, Value
    from datasets.splits import SplitDict, SplitInfo

    features = Features(
        {
            "topic": ClassLabel(names=TOPICS),
            "text": Value("string"),
            "edge_case": ClassLabel(names=EDGE_KINDS),
            "is_edge_case": Value("bool"),
            "edge_case_of": Value("int64"),
            "stratum": Value("string"),
            "slot_id": Value("int64"),
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    all_rows = make_rows(version)
    files: dict[str, dict[str, list[str]]] = {"default": {}, "clean": {}, "edge_cases": {}}
    rows: dict[str, dict[str, list[dict]]] = {"default": {}, "clean": {}, "edge_cases": {}}
    sizes: dict[str, dict[str, tuple[int, int]]] = {"default": {}, "clean": {}, "edge_cases": {}}
    for split in ("train", "test"):
        for kind, config in (("clean", "clean"), ("edge", "edge_cases")):
            part = [
                {k: v for k, v in r.items() if k != "split"}
                for r in all_rows
                if r["split"] == split and r["is_edge_case"] == (kind == "edge")
            ]
            if not part:
                continue
            ds = Dataset.from_list(part, features=features)
            tmp = folder / "data" / f".tmp-{split}-{kind}.parquet"
            ds.to_parquet(str(tmp))
            sha8 = hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]
            rel = f"data/{split}-{kind}-{sha8}.parquet"
            tmp.rename(folder / rel)
            for cfg in (config, "default"):
                files[cfg].setdefault(split, []).append(rel)
                rows[cfg].setdefault(split, []).extend(part)
                n, b = sizes[cfg].get(split, (0, 0))
                sizes[cfg][split] = (n + len(part), b + ds.data.nbytes)

    configs = []
    infos = []
    for cfg in ("default", "clean", "edge_cases"):
        entry: dict[str, Any] = {
            "config_name": cfg,
            "data_files": [{"split": s, "path": p} for s, p in files[cfg].items()],
        }
        if cfg == "default":
            entry["default"] = True
        configs.append(entry)
        splits = SplitDict()
        for s, (n, b) in sizes[cfg].items():
            splits.add(SplitInfo(name=s, num_bytes=b, num_examples=n))
        info = DatasetInfo(features=features, splits=splits)._to_yaml_dict()
        infos.append({"config_name": cfg, **info})
    meta = {
        "license": "apache-2.0",
        "language": ["en"],
        "tags": ["synthetic", "hf-synth"],
        "pretty_name": f"{repo_name} v{version}",
        "configs": configs,
        "dataset_info": infos,
    }
    body = f"# {repo_name}\n\nRelease v{version}.\n"
    card = "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n\n" + body
    (folder / "README.md").write_text(card)
    (folder / "report.json").write_text(
        json.dumps({"hf_synth_version": "test", "version": version, "files": files})
    )
    (folder / "recipe.yaml").write_text(f"name: {repo_name}\nversion: {version}\n")
    (folder / "images").mkdir(exist_ok=True)
    (folder / "images" / f"strata-v{version}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes([version]) * 64)
    # must never leave the machine
    (folder / ".hf-synth").mkdir(exist_ok=True)
    (folder / ".hf-synth" / "run.sqlite").write_bytes(b"SQLite format 3\0 secret run store")
    (folder / f"{repo_name}.py").write_text("raise SystemExit('a dataset script must never be uploaded')\n")
    (folder / "notes.txt").write_text("scratch notes, not part of a release\n")
    return {"files": files, "rows": rows}


def client_env(url: str, token: str | None, home: Path, xet: bool = True) -> dict[str, str]:
    """Environment for a client subprocess talking to the rehearsal Hub at ``url``.

    Default client settings (Xet on, as huggingface_hub does with hf_xet installed); ``xet=False`` sets
    ``HF_HUB_DISABLE_XET=1`` (classic git-LFS transfers). The HF variables are read when the libraries
    are imported, hence a fresh interpreter per client.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    if not xet:
        env["HF_HUB_DISABLE_XET"] = "1"
    env.update(
        HF_ENDPOINT=url,
        HF_HOME=str(home),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_OFFLINE="0",
        HF_DATASETS_OFFLINE="0",
        PYTHONPATH=str(REPO_ROOT),
    )
    if token is not None:
        env["HF_TOKEN"] = token
    return env


def run_cli(
    args: list[str], url: str, token: str | None, home: Path, timeout: float = 120, xet: bool = True
) -> subprocess.CompletedProcess:
    """``python -m hf_synth.cli ARGS`` (``hf-synth ARGS``) against the rehearsal Hub."""
    Path(home).mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "hf_synth.cli", *args],
        env=client_env(url, token, home, xet),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=home,
    )


def run_client(
    code: str, url: str, token: str | None, home: Path, timeout: float = 180, xet: bool = True
) -> Any:
    """Run ``code`` in a fresh interpreter; it must ``emit(obj)`` its result (JSON), which is returned."""
    prelude = textwrap.dedent("""
        import json, sys
        import datasets
        datasets.config.USE_PARQUET_EXPORT = False  # no dataset-viewer host behind HF_ENDPOINT
        def emit(obj):
            sys.stdout.write("\\n@@RESULT@@" + json.dumps(obj, default=str) + "\\n")
    """)
    Path(home).mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        env=client_env(url, token, home, xet),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=home,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"client failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        )
    marker = proc.stdout.rsplit("@@RESULT@@", 1)
    assert len(marker) == 2, proc.stdout[-2000:]
    return json.loads(marker[1])


GOOD = "hf_rehearsalGoodToken0123456789"


class Hub:
    """The rehearsal Hub in a background thread, restartable on the same storage folder."""

    def __init__(self, root: Path, lfs: bool = True, **serve_kw: Any):
        self.root = root
        self.lfs = lfs
        self.serve_kw = serve_kw
        self.start()

    def start(self) -> None:
        from hf_synth.hub.server import serve

        self.server = serve(self.root, tokens={GOOD}, lfs=self.lfs, **self.serve_kw)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = self.server.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = GOOD,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One raw HTTP request; returns (status, headers, body) for error statuses too."""
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=dict(headers or {}))
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None and "Content-Type" not in (headers or {}):
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def json(self, method: str, path: str, **kw: Any) -> Any:
        status, _, body = self.call(method, path, **kw)
        assert status == 200, (status, body)
        return json.loads(body)

    def commits(self, repo: str) -> list[str]:
        return [c["id"] for c in self.json("GET", f"/api/datasets/{repo}/commits/main")]

    def tags(self, repo: str) -> dict[str, str]:
        return {t["name"]: t["targetCommit"] for t in self.json("GET", f"/api/datasets/{repo}/refs")["tags"]}

    def files(self, repo: str, rev: str = "main") -> set[str]:
        tree = self.json("GET", f"/api/datasets/{repo}/tree/{rev}?recursive=true")
        return {e["path"] for e in tree if e["type"] == "file"}
