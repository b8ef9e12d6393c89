"""Rehearsal Hub + push, end to end with the real huggingface_hub client and datasets.load_dataset.

The server runs in this process (a thread); every client runs in a fresh interpreter because HF_ENDPOINT,
HF_HOME and HF_HUB_DISABLE_XET are read when huggingface_hub/datasets are imported. No mocks.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from hf_synth.hub import server as hub_server
from hf_synth.hub.server import git_blob_sha1
from hf_synth.hub.server import repo_read as hub_listings
from tests.support.hubtools import GOOD, REPO_ROOT, Hub, build_release, run_cli, run_client

BAD = "hf_rehearsalBadToken9876543210"
DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Any:
    h = Hub(tmp_path_factory.mktemp("hub-store"))
    yield h
    h.stop()


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Path, dict]]:
    base = tmp_path_factory.mktemp("releases")
    return {v: (base / f"v{v}", build_release(base / f"v{v}", v)) for v in (1, 2)}


def _released_paths(info: dict) -> set[str]:
    data = {p for split in info["files"]["default"].values() for p in split}
    return data | {"README.md", "report.json", "recipe.yaml", ".gitattributes"}


def push(
    hub: Hub,
    folder: Path,
    repo: str,
    tmp_path: Path,
    *extra: str,
    token: str | None = GOOD,
    ok: bool = True,
    xet: bool = True,
) -> str:
    """``hf-synth push`` in a subprocess; checks the exit code and that no token leaked; returns output."""
    home = Path(tmp_path) / f"home-{len(list(Path(tmp_path).iterdir()))}"
    home.mkdir()
    proc = run_cli(["push", str(folder), "--repo-id", repo, *extra], hub.url, token, home, xet=xet)
    out = proc.stdout + proc.stderr
    assert (proc.returncode == 0) == ok, out
    for secret in (GOOD, BAD):
        assert secret not in out
    return out


LOAD_CODE = """
    import datasets
    from huggingface_hub import DatasetCard, HfApi
    repo, rev = {repo!r}, {rev!r}
    out = {{}}
    for cfg in ("default", "clean", "edge_cases"):
        dd = datasets.load_dataset(repo, cfg, revision=rev)
        out[cfg] = {{split: dd[split].to_list() for split in dd}}
    out["plain"] = {{s: d.to_list() for s, d in datasets.load_dataset(repo).items()}}
    out["topic_names"] = dd["train"].features["topic"].names
    card = DatasetCard.load(repo, repo_type="dataset")
    out["card_configs"] = [c["config_name"] for c in card.data.configs]
    out["card_tags"] = card.data.tags
    out["tags"] = {{t.name: t.target_commit for t in HfApi().list_repo_refs(repo, repo_type="dataset").tags}}
    out["commits"] = [c.commit_id for c in HfApi().list_repo_commits(repo, repo_type="dataset")]
    emit(out)
"""


def _by_slot(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: r["slot_id"])


def _assert_rows(loaded: dict, expected: dict) -> None:
    for cfg in ("default", "clean", "edge_cases"):
        assert set(loaded[cfg]) == set(expected[cfg]), cfg
        for split, rows in expected[cfg].items():
            assert _by_slot(loaded[cfg][split]) == _by_slot(rows), (cfg, split)


def test_release_files_selects_only_the_release(releases: dict) -> None:
    from hf_synth.hub.push import PushError, release_files

    folder, info = releases[1]
    files = release_files(folder, "org/synthetic")
    assert set(files) == (_released_paths(info) - {".gitattributes"}) | {"images/strata-v1.png"}
    assert not any(f.startswith(".hf-synth") or f.endswith(".py") or f == "notes.txt" for f in files)
    with pytest.raises(PushError, match=r"no README\.md"):
        release_files(folder / "data", "org/synthetic")


def test_push_then_load_every_config(hub: Hub, releases: dict, tmp_path: Path) -> None:
    folder, info = releases[1]
    out = push(hub, folder, "org/synthetic", tmp_path, "--tag", "v1.0.0")
    commit = hub.tags("org/synthetic")["v1.0.0"]
    assert "org/synthetic" in out and commit in out and "v1.0.0" in out
    # exactly the release: no run store, no dataset script, no stray files
    assert hub.files("org/synthetic") == _released_paths(info) | {"images/strata-v1.png"}

    loaded = run_client(LOAD_CODE.format(repo="org/synthetic", rev="v1.0.0"), hub.url, GOOD, tmp_path)
    _assert_rows(loaded, info["rows"])
    assert _by_slot(loaded["plain"]["train"]) == _by_slot(info["rows"]["default"]["train"])
    assert loaded["topic_names"] == ["sports", "tech", "true"]
    assert loaded["card_configs"] == ["default", "clean", "edge_cases"]
    assert "synthetic" in loaded["card_tags"]
    assert loaded["tags"] == {"v1.0.0": commit}
    assert len(loaded["commits"]) == 2  # the repo's initial commit + the release


def test_second_release_replaces_data_in_one_commit(hub: Hub, releases: dict, tmp_path: Path) -> None:
    (f1, info1), (f2, info2) = releases[1], releases[2]
    repo = "org/two"
    push(hub, f1, repo, tmp_path, "--tag", "v1.0.0")
    before = hub.commits(repo)
    out = push(hub, f2, repo, tmp_path, "--tag", "v2.0.0", "--message", "Release v2.0.0")
    after = hub.commits(repo)
    assert len(after) == len(before) + 1 and after[1:] == before  # one new commit on top
    tags = hub.tags(repo)
    assert tags == {"v1.0.0": before[0], "v2.0.0": after[0]}
    assert hub.files(repo) == _released_paths(info2) | {"images/strata-v2.png"}
    old_data = {p for p in _released_paths(info1) if p.startswith("data/")} | {"images/strata-v1.png"}
    assert all(p in out for p in old_data)  # the summary lists the deletions
    assert hub.files(repo, "v1.0.0") == _released_paths(info1) | {"images/strata-v1.png"}

    code = (
        LOAD_CODE.format(repo=repo, rev="v1.0.0")
        + """
    main = datasets.load_dataset(repo, revision="main")
    emit({"v1": out, "main": {s: d.to_list() for s, d in main.items()}})
    """
    )
    loaded = run_client(code, hub.url, GOOD, tmp_path)
    _assert_rows(loaded["v1"], info1["rows"])  # the first tag still serves the first release
    assert _by_slot(loaded["main"]["test"]) == _by_slot(info2["rows"]["default"]["test"])

    # a pull request leaves main alone
    out = push(hub, f1, repo, tmp_path, "--create-pr")
    assert "/discussions/1" in out
    assert hub.commits(repo) == after


def test_existing_tag_fails_before_any_commit(hub: Hub, releases: dict, tmp_path: Path) -> None:
    repo = "org/three"
    push(hub, releases[1][0], repo, tmp_path, "--tag", "v1.0.0")
    commits, tags = hub.commits(repo), hub.tags(repo)
    out = push(hub, releases[2][0], repo, tmp_path, "--tag", "v1.0.0", ok=False)
    assert f"tag v1.0.0 exists at {tags['v1.0.0']}: bump the version" in out
    assert hub.commits(repo) == commits and hub.tags(repo) == tags
    # the same files again under a new tag: no empty commit, the tag lands on the current head
    out = push(hub, releases[1][0], repo, tmp_path, "--tag", "v1.0.1")
    assert "unchanged" in out
    assert hub.commits(repo) == commits and hub.tags(repo)["v1.0.1"] == commits[0]
    # another branch: created from main, main untouched
    push(hub, releases[2][0], repo, tmp_path, "--revision", "staging")
    refs = hub.json("GET", f"/api/datasets/{repo}/refs")
    branches = {b["name"]: b["targetCommit"] for b in refs["branches"]}
    assert branches["main"] == commits[0] and branches["staging"] != commits[0]
    assert hub.json("GET", f"/api/datasets/{repo}/commits/staging")[1]["id"] == commits[0]


def test_bad_or_missing_token_changes_nothing(hub: Hub, releases: dict, tmp_path: Path) -> None:
    repo = "org/four"
    push(hub, releases[1][0], repo, tmp_path, "--tag", "v1.0.0")
    commits, tags = hub.commits(repo), hub.tags(repo)
    out = push(hub, releases[2][0], repo, tmp_path, "--tag", "v2.0.0", token=BAD, ok=False)
    assert f"authentication failed for {hub.url}: check HF_TOKEN" in out
    assert "Traceback" not in out
    assert hub.commits(repo) == commits and hub.tags(repo) == tags
    push(hub, releases[1][0], "org/four-new", tmp_path, token=BAD, ok=False)
    assert hub.call("GET", "/api/datasets/org/four-new")[0] == 404  # not even created
    out = push(hub, releases[1][0], "org/four-new", tmp_path, token=None, ok=False)
    assert "no Hugging Face token" in out


def test_storage_survives_restart(hub: Hub, releases: dict, tmp_path: Path) -> None:
    folder, info = releases[1]
    repo = "org/five"
    push(hub, folder, repo, tmp_path, "--tag", "v1.0.0")
    commits, tags = hub.commits(repo), hub.tags(repo)
    hub.restart()  # a new server (and port) on the same storage folder
    assert hub.commits(repo) == commits and hub.tags(repo) == tags
    code = """
    import datasets
    dd = datasets.load_dataset("org/five", "clean", revision="v1.0.0")
    emit({s: d.to_list() for s, d in dd.items()})
    """
    loaded = run_client(code, hub.url, GOOD, tmp_path)
    for split, rows in info["rows"]["clean"].items():
        assert _by_slot(loaded[split]) == _by_slot(rows)


def _commit_body(parent: str | None, ops: list[dict]) -> bytes:
    header: dict[str, Any] = {"summary": "raw commit", "description": ""}
    if parent:
        header["parentCommit"] = parent
    lines = [{"key": "header", "value": header}, *ops]
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


def _add(path: str, data: bytes) -> dict:
    return {
        "key": "file",
        "value": {"path": path, "content": base64.b64encode(data).decode(), "encoding": "base64"},
    }


def test_http_contract(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = "org/raw"
    create = {"name": "raw", "organization": "org", "type": "dataset"}
    assert hub.call("POST", "/api/repos/create", body=create, token=None)[0] == 401
    status, headers, _ = hub.call("POST", "/api/repos/create", body=create, token=BAD)
    assert status == 401 and headers["X-Error-Message"] == hub_server.BAD_TOKEN_MESSAGE
    assert hub.json("POST", "/api/repos/create", body=create)["url"].endswith("/datasets/org/raw")
    status, _, body = hub.call("POST", "/api/repos/create", body=create)
    assert status == 409 and json.loads(body)["url"].endswith("/datasets/org/raw")

    info = hub.json("GET", f"/api/datasets/{repo}")
    assert DATE_RE.match(info["lastModified"]) and DATE_RE.match(info["createdAt"])
    head = info["sha"]
    content = bytes(range(256)) * 40
    ops = [_add("data/a.bin", content)] + [_add(f"many/f{i}.txt", b"%d" % i) for i in range(7)]
    commit = hub.json(
        "POST",
        f"/api/datasets/{repo}/commit/main",
        body=_commit_body(head, ops),
        headers={"Content-Type": "application/x-ndjson"},
    )["commitOid"]
    # a stale parent is refused, and nothing changes
    status, _, body = hub.call(
        "POST",
        f"/api/datasets/{repo}/commit/main",
        body=_commit_body(head, [_add("x.txt", b"x")]),
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert status == 412 and "error" in json.loads(body)
    assert hub.commits(repo)[0] == commit
    # deleting a missing file is an EntryNotFound
    delete = {"key": "deletedFile", "value": {"path": "nope"}}
    commit_url = f"/api/datasets/{repo}/commit/main"
    status, headers, _ = hub.call("POST", commit_url, body=_commit_body(None, [delete]))
    assert status == 404 and headers["X-Error-Code"] == "EntryNotFound"

    # downloads: HEAD, full GET, ranges
    url = f"/datasets/{repo}/resolve/main/data/a.bin"
    status, headers, _ = hub.call("HEAD", url, token=None)
    assert status == 200 and headers["X-Repo-Commit"] == commit
    assert headers["ETag"] == f'"{git_blob_sha1(content)}"' and headers["Content-Length"] == str(len(content))
    assert hub.call("GET", url)[2] == content
    status, headers, body = hub.call("GET", url, headers={"Range": "bytes=10-19"})
    assert status == 206 and body == content[10:20]
    assert headers["Content-Range"] == f"bytes 10-19/{len(content)}"
    assert hub.call("GET", url, headers={"Range": "bytes=-5"})[2] == content[-5:]
    assert hub.call("GET", url, headers={"Range": f"bytes={len(content)}-"})[0] == 416
    for path, code in (
        (f"/datasets/{repo}/resolve/main/missing.txt", "EntryNotFound"),
        (f"/datasets/{repo}/resolve/main/donn%C3%A9es.txt", "EntryNotFound"),  # non-ASCII in the error
        (f"/datasets/{repo}/resolve/v9/data/a.bin", "RevisionNotFound"),
        ("/datasets/org/none/resolve/main/a", "RepoNotFound"),
        (f"/api/datasets/{repo}/revision/v9", "RevisionNotFound"),
    ):
        status, headers, body = hub.call("GET", path)
        assert status == 404 and headers["X-Error-Code"] == code, path
        assert "error" in json.loads(body)

    # tree pagination follows the Link header
    monkeypatch.setattr(hub_listings, "PAGE_SIZE", 3)
    status, headers, body = hub.call("GET", f"/api/datasets/{repo}/tree/main/many")
    assert status == 200 and len(json.loads(body)) == 3 and 'rel="next"' in headers["Link"]
    seen, next_url = [], f"{hub.url}/api/datasets/{repo}/tree/main/many"
    while next_url:
        with urllib.request.urlopen(next_url) as r:
            seen += json.loads(r.read())
            link = r.headers.get("Link")
        next_url = link[1 : link.index(">")] if link else None
    assert [e["path"] for e in seen] == sorted(f"many/f{i}.txt" for i in range(7))

    # tags: 409 on an existing tag, delete works
    assert hub.json("POST", f"/api/datasets/{repo}/tag/main", body={"tag": "v1"})["targetCommit"] == commit
    assert hub.call("POST", f"/api/datasets/{repo}/tag/main", body={"tag": "v1"})[0] == 409
    assert hub.call("DELETE", f"/api/datasets/{repo}/tag/v1")[0] == 200
    assert hub.tags(repo) == {}
    # a private repo is hidden from anonymous readers
    private = {"name": "secret", "organization": "org", "type": "dataset", "visibility": "private"}
    hub.json("POST", "/api/repos/create", body=private)
    status, headers, _ = hub.call("GET", "/api/datasets/org/secret", token=None)
    assert status == 401 and headers["X-Error-Code"] == "RepoNotFound"
    assert hub.json("GET", "/api/datasets/org/secret")["private"] is True
    # paths-info as the client posts it (a form)
    form = b"paths=data%2Fa.bin&paths=many&paths=nope&expand=False"
    got = hub.json(
        "POST",
        f"/api/datasets/{repo}/paths-info/main",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert [(e["path"], e["type"]) for e in got] == [("data/a.bin", "file"), ("many", "directory")]


def test_hub_serve_prints_url_first_and_reads_token_env(tmp_path: Path) -> None:
    env = {**os.environ, "HF_SYNTH_HUB_TOKENS": f"other,{GOOD}", "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hf_synth.cli", "hub-serve", "--root", str(tmp_path / "s")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        req = urllib.request.Request(url + "/api/whoami-v2", headers={"Authorization": f"Bearer {GOOD}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert json.loads(r.read())["name"] == hub_server.USER_NAME
        bad = urllib.request.Request(url + "/api/whoami-v2", headers={"Authorization": "Bearer nope"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(bad, timeout=10)
        assert err.value.code == 401
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
    assert (tmp_path / "s" / "blobs").is_dir()


@pytest.mark.parametrize("xet", [True, False], ids=["xet", "git-lfs"])
def test_lfs_mode_push_load_and_push_to_hub(
    releases: dict, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, xet: bool
) -> None:
    """Files travel as on the Hub (parquet/binary through Xet, or git-LFS with HF_HUB_DISABLE_XET=1),
    which push_to_hub needs."""
    import hashlib

    folder, info = releases[1]
    hub = Hub(tmp_path_factory.mktemp("hub-lfs"), lfs=True)
    try:
        push(hub, folder, "org/lfs", tmp_path, "--tag", "v1.0.0", xet=xet)
        tree = hub.json("GET", "/api/datasets/org/lfs/tree/v1.0.0/data")
        for entry in tree:
            sha256 = hashlib.sha256((folder / entry["path"]).read_bytes()).hexdigest()
            assert entry["lfs"]["oid"] == sha256 and entry["lfs"]["size"] == entry["size"]
        path = tree[0]["path"]
        status, headers, _ = hub.call("HEAD", f"/datasets/org/lfs/resolve/main/{path}")
        assert status == 200 and headers["X-Linked-Etag"] == f'"{tree[0]["lfs"]["oid"]}"'
        assert headers["X-Linked-Size"] == str(tree[0]["size"])
        readme = hub.json("POST", "/api/datasets/org/lfs/paths-info/main", body={"paths": ["README.md"]})
        assert "lfs" not in readme[0]  # text stays inline
        # the upload URL is signed: a bare PUT is refused
        assert hub.call("PUT", f"/lfs-upload/{'0' * 64}", body=b"x")[0] == 403

        code = """
        import datasets
        dd = datasets.load_dataset("org/lfs", revision="v1.0.0")
        out = {"default": {s: d.to_list() for s, d in dd.items()}}
        datasets.Dataset.from_dict({"a": list(range(20))}).push_to_hub("org/pushed")
        Dataset = datasets.Dataset
        datasets.DatasetDict(
            {"train": Dataset.from_dict({"a": [1, 2]}), "test": Dataset.from_dict({"a": [3]})}
        ).push_to_hub("org/pushed")
        out["pushed"] = {s: list(d["a"]) for s, d in datasets.load_dataset("org/pushed").items()}
        emit(out)
        """
        loaded = run_client(code, hub.url, GOOD, tmp_path, xet=xet)
        for split, rows in info["rows"]["default"].items():
            assert _by_slot(loaded["default"][split]) == _by_slot(rows)
        assert loaded["pushed"] == {"train": [1, 2], "test": [3]}
    finally:
        hub.stop()


def test_unreachable_endpoint_is_a_clear_error(releases: dict, tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    proc = run_cli(["push", str(releases[1][0]), "--repo-id", "org/x"], url, GOOD, tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 5 and f"token check failed on {url}" in out, out
    assert "Traceback" not in out and GOOD not in out


def test_concurrent_commits_on_one_parent_exactly_one_wins(hub: Hub) -> None:
    repo = "org/race"
    hub.json("POST", "/api/repos/create", body={"name": "race", "organization": "org", "type": "dataset"})
    head = hub.json("GET", f"/api/datasets/{repo}")["sha"]
    statuses: list[int] = []

    def commit(i: int) -> None:
        body = _commit_body(head, [_add(f"data/é-{i}.txt", b"%d" % i)])
        statuses.append(hub.call("POST", f"/api/datasets/{repo}/commit/main", body=body)[0])

    threads = [threading.Thread(target=commit, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == [200] + [412] * 5
    assert len(hub.commits(repo)) == 2 and len(hub.files(repo)) == 2


def test_release_removes_a_legacy_loading_script(hub: Hub, releases: dict, tmp_path: Path) -> None:
    (f1, info1) = releases[1]
    repo = "org/legacy"
    run_client(
        f"""
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo("{repo}", repo_type="dataset")
        api.upload_file(path_or_fileobj=b"raise SystemExit", path_in_repo="legacy.py", repo_id="{repo}",
                        repo_type="dataset")
        emit(True)
        """,
        hub.url,
        GOOD,
        tmp_path,
    )
    assert "legacy.py" in hub.files(repo)
    push(hub, f1, repo, tmp_path, "--tag", "v1.0.0")
    assert "legacy.py" not in hub.files(repo)
    loaded = run_client(LOAD_CODE.format(repo=repo, rev="v1.0.0"), hub.url, GOOD, tmp_path)
    _assert_rows(loaded, info1["rows"])
