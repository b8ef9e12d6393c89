"""The rehearsal Hub driven by real clients only: datasets.push_to_hub / load_dataset, HfApi, the ``hf``
CLI, HfFileSystem and snapshot_download, with hf_xet on (the default) and off (``HF_HUB_DISABLE_XET=1``,
classic git-LFS). Every client runs in its own interpreter (the HF variables are read at import)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.hubtools import GOOD, Hub, client_env, run_client

PUSH_TWO_CONFIGS = """
    import datasets
    from huggingface_hub import HfApi
    a = datasets.Dataset.from_dict({"text": [f"a{i} é" for i in range(40)], "n": list(range(40))})
    b = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"x": [1.5, 2.5]}),
                              "test": datasets.Dataset.from_dict({"x": [3.5]})})
    a.push_to_hub("me/two", config_name="alpha")
    b.push_to_hub("me/two", config_name="beta")
    out = {
        "alpha": datasets.load_dataset("me/two", "alpha")["train"].to_list(),
        "beta": {s: d.to_list() for s, d in datasets.load_dataset("me/two", "beta").items()},
    }
    out["tree"] = [{"path": f.path, "lfs": f.lfs.sha256 if f.lfs else None, "xet": f.xet_hash}
                   for f in HfApi().list_repo_tree("me/two", repo_type="dataset", recursive=True)
                   if hasattr(f, "lfs")]
    emit(out)
"""


@pytest.mark.parametrize("xet", [True, False], ids=["xet", "git-lfs"])
def test_push_to_hub_two_configs_and_every_transfer_reads_the_same_bytes(tmp_path: Path, xet: bool) -> None:
    hub = Hub(tmp_path / "store")
    try:
        out = run_client(PUSH_TWO_CONFIGS, hub.url, GOOD, tmp_path / "pusher", xet=xet)
        assert out["alpha"] == [{"text": f"a{i} é", "n": i} for i in range(40)]
        assert out["beta"] == {"train": [{"x": 1.5}, {"x": 2.5}], "test": [{"x": 3.5}]}
        parquet = [f for f in out["tree"] if f["path"].endswith(".parquet")]
        assert len(parquet) == 3 and all(f["lfs"] for f in parquet)  # binary files never travel inline
        assert all(bool(f["xet"]) == xet for f in parquet)  # stored in the Xet CAS only when sent by Xet
        readme = next(f for f in out["tree"] if f["path"] == "README.md")
        assert readme["lfs"] is None and readme["xet"] is None
        # the same bytes through the other transfer, and through a plain HTTP GET
        code = """
        from huggingface_hub import hf_hub_download
        emit({p: open(hf_hub_download("me/two", p, repo_type="dataset"), "rb").read().hex() for p in %r})
        """ % [f["path"] for f in parquet]
        other = run_client(code, hub.url, GOOD, tmp_path / "reader", xet=not xet)
        for f in parquet:
            data = bytes.fromhex(other[f["path"]])
            assert hashlib.sha256(data).hexdigest() == f["lfs"]
            with urllib.request.urlopen(f"{hub.url}/datasets/me/two/resolve/main/{f['path']}") as r:
                assert r.read() == data
    finally:
        hub.stop()


def run_hf(args: list[str], url: str, home: Path, xet: bool = True) -> str:
    """The ``hf`` CLI of the venv; returns stdout (fails the test on a non-zero exit)."""
    home.mkdir(parents=True, exist_ok=True)
    hf = Path(sys.executable).with_name("hf")
    proc = subprocess.run(
        [str(hf), *args], env=client_env(url, GOOD, home, xet), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def test_hf_cli_hffilesystem_and_snapshot_download_with_and_without_xet(tmp_path: Path) -> None:
    hub = Hub(tmp_path / "store")
    src = tmp_path / "src"
    (src / "weights").mkdir(parents=True)
    blob = os.urandom(700_000) + bytes(300_000)
    (src / "weights" / "model.bin").write_bytes(blob)
    (src / "notes.md").write_text("# notes ✓\n")
    try:
        run_hf(["repos", "create", "me/cli", "--repo-type", "dataset"], hub.url, tmp_path / "h1")
        run_hf(["upload", "me/cli", str(src), ".", "--repo-type", "dataset"], hub.url, tmp_path / "h1")
        tree = {e["path"]: e for e in hub.json("GET", "/api/datasets/me/cli/tree/main?recursive=true")}
        assert tree["weights/model.bin"]["xetHash"] and "lfs" not in tree["notes.md"]
        got = tmp_path / "got"
        run_hf(
            ["download", "me/cli", "--repo-type", "dataset", "--local-dir", str(got)],
            hub.url,
            tmp_path / "h2",
        )
        assert (got / "weights" / "model.bin").read_bytes() == blob
        assert (got / "notes.md").read_text() == "# notes ✓\n"
        code = """
        from huggingface_hub import HfFileSystem, snapshot_download
        fs = HfFileSystem()
        path = "datasets/me/cli/weights/model.bin"
        with fs.open(path, "rb") as f:
            f.seek(699_990)
            middle = f.read(20)
        folder = snapshot_download("me/cli", repo_type="dataset")
        emit({"ls": sorted(fs.ls("datasets/me/cli", detail=False)), "middle": middle.hex(),
              "size": fs.info(path)["size"], "snap": open(folder + "/weights/model.bin", "rb").read().hex()})
        """
        for xet in (True, False):
            out = run_client(code, hub.url, GOOD, tmp_path / f"fs-{xet}", xet=xet)
            assert out["ls"] == [
                "datasets/me/cli/.gitattributes",
                "datasets/me/cli/notes.md",
                "datasets/me/cli/weights",
            ]
            assert bytes.fromhex(out["middle"]) == blob[699_990:700_010] and out["size"] == len(blob)
            assert bytes.fromhex(out["snap"]) == blob
    finally:
        hub.stop()


def _stored_xorb_bytes(root: Path) -> int:
    return sum(
        p.stat().st_size for p in (root / "xet" / "xorbs").rglob("*") if p.suffix != ".json" and p.is_file()
    )


def test_global_dedup_and_the_cas_refuses_what_does_not_verify(tmp_path: Path) -> None:
    hub = Hub(tmp_path / "store")
    first = os.urandom(1_500_000)
    (tmp_path / "a.bin").write_bytes(first)
    (tmp_path / "b.bin").write_bytes(first + os.urandom(200_000))
    code = """
    from huggingface_hub import HfApi
    HfApi().create_repo("me/dd", repo_type="dataset", exist_ok=True)
    HfApi().upload_file(path_or_fileobj={path!r}, path_in_repo={name!r}, repo_id="me/dd", repo_type="dataset")
    emit(True)
    """
    try:
        run_client(code.format(path=str(tmp_path / "a.bin"), name="a.bin"), hub.url, GOOD, tmp_path / "h1")
        before = _stored_xorb_bytes(hub.root)
        # a fresh HF_HOME has no local shard cache: only the server's global dedup can spare the upload
        run_client(code.format(path=str(tmp_path / "b.bin"), name="b.bin"), hub.url, GOOD, tmp_path / "h2")
        added = _stored_xorb_bytes(hub.root) - before
        assert 0 < added < 600_000, added  # ~200 KB new (+ the chunk around the seam), not 1.7 MB
        with urllib.request.urlopen(f"{hub.url}/datasets/me/dd/resolve/main/b.bin") as r:
            assert r.read() == first + (tmp_path / "b.bin").read_bytes()[len(first) :]

        token = hub.json("GET", "/api/datasets/me/dd/xet-write-token/main")["accessToken"]
        read = hub.json("GET", "/api/datasets/me/dd/xet-read-token/main")["accessToken"]
        xorb = "/cas/v1/xorbs/default/" + "ab" * 32
        status, _, body = hub.call("POST", xorb, token=token, body=b"\0\x05\0\0\0\x05\0\0hello")
        assert status == 400 and "hashes to" in json.loads(body)["error"]  # content must match its name
        assert hub.call("POST", xorb, token=read, body=b"x")[0] == 403  # a read token cannot write
        assert hub.call("POST", xorb, token=GOOD, body=b"x")[0] == 401  # a Hub token is not a CAS token
        assert hub.call("POST", "/cas/v1/shards", token=token, body=b"not a shard")[0] == 400
        files = next(
            p for p in (hub.root / "xet" / "xorbs").rglob("*") if p.is_file() and p.suffix != ".json"
        )
        assert (
            hub.call("GET", f"/cas/xorb/{files.name}", token=None, headers={"Range": "bytes=0-10"})[0] == 403
        )
    finally:
        hub.stop()


def test_discussions_settings_move_squash_and_search_with_real_clients(tmp_path: Path) -> None:
    hub = Hub(tmp_path / "store")
    code = """
    from huggingface_hub import HfApi
    api = HfApi()
    api.create_repo("me/routes", repo_type="dataset")
    api.upload_file(path_or_fileobj=b"v1", path_in_repo="f.txt", repo_id="me/routes", repo_type="dataset")
    pr = api.create_pull_request("me/routes", title="Add g", repo_type="dataset")
    api.upload_file(path_or_fileobj=b"g", path_in_repo="g.txt", repo_id="me/routes", repo_type="dataset",
                    revision=pr.git_reference)
    api.comment_discussion("me/routes", pr.num, "looks good", repo_type="dataset")
    api.merge_pull_request("me/routes", pr.num, repo_type="dataset")
    details = api.get_discussion_details("me/routes", pr.num, repo_type="dataset")
    found = [d.num for d in api.get_repo_discussions("me/routes", repo_type="dataset")]
    files = api.list_repo_files("me/routes", repo_type="dataset")
    api.super_squash_history("me/routes", repo_type="dataset")
    commits = api.list_repo_commits("me/routes", repo_type="dataset")
    api.move_repo("me/routes", "me/renamed", repo_type="dataset")
    search = [d.id for d in api.list_datasets(search="renam")]
    emit({"status": details.status, "events": [e.type for e in details.events], "found": found,
          "files": sorted(files), "commits": len(commits), "search": search,
          "private": api.dataset_info("me/renamed").private, "gated": api.dataset_info("me/renamed").gated})
    """
    try:
        out = run_client(code, hub.url, GOOD, tmp_path / "h")
        assert (
            out["status"] == "merged" and out["events"][:2] == ["comment", "comment"] and out["found"] == [1]
        )
        assert out["files"] == [".gitattributes", "f.txt", "g.txt"]  # the PR's commit reached main
        assert out["commits"] == 1 and out["search"] == ["me/renamed"] and out["private"] is False
        assert hub.call("GET", "/api/datasets/me/routes")[0] == 404  # moved
        settings = ["repos", "settings", "me/renamed", "--repo-type", "dataset"]
        run_hf([*settings, "--private", "--gated", "manual"], hub.url, tmp_path / "c")
        assert hub.call("GET", "/api/datasets/me/renamed", token=None)[0] == 401  # private now
        assert hub.json("GET", "/api/datasets/me/renamed")["gated"] == "manual"
        run_hf([*settings, "--public"], hub.url, tmp_path / "c")
        assert hub.call("GET", "/api/datasets/me/renamed", token=None)[0] == 200
        status, _, body = hub.call("POST", "/api/datasets/me/renamed/lfs-files/duplicate", body={})
        assert status == 501 and "lfs-files" in json.loads(body)["error"]
    finally:
        hub.stop()


def hub_serve(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**{k: v for k, v in os.environ.items() if k != "HF_SYNTH_HUB_TOKENS"}, **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "hf_synth.cli", "hub-serve", "--root", str(root), "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_hub_serve_with_default_clients_says_its_auth_mode_and_stops_on_sigterm(tmp_path: Path) -> None:
    from tests.support.hubtools import build_release, run_cli

    folder = tmp_path / "release"
    build_release(folder, 1)
    proc = hub_serve(tmp_path / "store", "--token", GOOD)
    try:
        url = proc.stdout.readline().strip()
        assert "auth: token list - 1 accepted token(s)" in proc.stderr.readline()
        res = run_cli(
            ["push", str(folder), "--repo-id", "me/rel", "--tag", "v1.0.0"], url, GOOD, tmp_path / "h1"
        )
        assert res.returncode == 0, res.stdout + res.stderr
        loaded = run_client(PUSH_TWO_CONFIGS, url, GOOD, tmp_path / "h2")
        assert loaded["beta"]["test"] == [{"x": 3.5}]
        assert (
            run_cli(["push", str(folder), "--repo-id", "me/x"], url, "other", tmp_path / "h3").returncode == 5
        )
    finally:
        proc.terminate()
        rc = proc.wait(timeout=1.0)  # prompt, even with clients' keep-alive connections just closed
        err = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    assert rc == 0 and "stopped (SIGTERM)" in err
    assert "Traceback" not in err

    open_mode = hub_serve(tmp_path / "store2", env={"HF_SYNTH_HUB_TOKENS": ""})
    try:
        assert open_mode.stdout.readline().startswith("http://127.0.0.1:")
        assert "auth: OPEN" in open_mode.stderr.readline()
    finally:
        open_mode.terminate()
        open_mode.wait(timeout=2)
        open_mode.stdout.close()
        open_mode.stderr.close()
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "hf_synth.cli",
            "hub-serve",
            "--root",
            str(tmp_path / "s3"),
            "--host",
            "0.0.0.0",
        ],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "HF_SYNTH_HUB_TOKENS"},
        timeout=60,
    )
    assert refused.returncode == 2 and "open auth mode" in refused.stderr
