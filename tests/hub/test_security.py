"""One test per safety finding of the rehearsal Hub (path traversal, oracles, header injection, locks,
malformed input, body handling, timeouts), each asserting that nothing outside ``--root`` was read,
written or deleted. Raw HTTP on purpose: these are requests no well-behaved client sends.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tests.support.hubtools import GOOD, Hub

SECRET = b"top secret contents outside the root\n"


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a hash of its bytes (what "nothing changed" means)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture()
def setup(tmp_path: Path) -> Any:
    """A Hub rooted at tmp/root and, beside it, another Hub's storage holding a private repo and a
    secret file: the targets of the traversals."""
    victim = Hub(tmp_path / "victim")
    private = {"name": "secret", "organization": "victim", "type": "dataset", "private": True}
    victim.json("POST", "/api/repos/create", body=private)
    victim.stop()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_bytes(SECRET)
    hub = Hub(tmp_path / "root")
    hub.json("POST", "/api/repos/create", body={"name": "base", "organization": "me", "type": "dataset"})
    (tmp_path / "root" / "lfs").mkdir(exist_ok=True)  # as on a Hub that has stored a large file
    before = {d: snapshot(tmp_path / d) for d in ("victim", "outside")}
    yield hub, tmp_path, before
    hub.stop()


def assert_outside_untouched(tmp_path: Path, before: dict) -> None:
    assert {d: snapshot(tmp_path / d) for d in ("victim", "outside")} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside", "root", "victim"]


def q(text: str) -> str:
    return urllib.parse.quote(text, safe="")


# root/repos/datasets/<ns> with ns = "../../../victim/repos/datasets/victim" is tmp/victim/.../victim
TRAVERSAL_NS = q("../../../victim/repos/datasets/victim")


def commit_body(parent: str | None, ops: list[dict], summary: str = "c") -> bytes:
    header: dict[str, Any] = {"summary": summary, "description": ""}
    if parent:
        header["parentCommit"] = parent
    return b"".join(json.dumps(x).encode() + b"\n" for x in [{"key": "header", "value": header}, *ops])


def add(path: str, data: bytes) -> dict:
    content = base64.b64encode(data).decode()
    return {"key": "file", "value": {"path": path, "content": content, "encoding": "base64"}}


def assert_hub_error(status: int, headers: dict, body: bytes, expected: int) -> None:
    assert status == expected, (status, body[:300])
    assert "error" in json.loads(body) and headers.get("X-Error-Message")


def test_encoded_dotdot_in_a_repo_id_reads_and_writes_nothing_outside_root(setup: Any) -> None:
    hub, tmp_path, before = setup
    repo = f"/api/datasets/{TRAVERSAL_NS}/secret"
    for path in (repo, f"{repo}/tree/main", f"{repo}/refs", f"{repo}/revision/main"):
        status, headers, body = hub.call("GET", path)
        assert_hub_error(status, headers, body, 400)
        assert b"initial commit" not in body and b"createdAt" not in body
    status, headers, body = hub.call(
        "POST", f"{repo}/commit/main", body=commit_body(None, [add("x.txt", b"x")])
    )
    assert_hub_error(status, headers, body, 400)
    status, headers, body = hub.call("POST", f"{repo}/tag/main", body={"tag": "pwned"})
    assert_hub_error(status, headers, body, 400)
    assert_outside_untouched(tmp_path, before)


def test_delete_repo_cannot_rmtree_outside_root(setup: Any) -> None:
    hub, tmp_path, before = setup
    for body in (
        {"type": "dataset", "organization": "../../../victim/repos/datasets/victim", "name": "secret"},
        {
            "type": "dataset",
            "organization": "victim",
            "name": "../../../../victim/repos/datasets/victim/secret",
        },
        {"type": "dataset", "name": "../../../outside"},
        {"type": "dataset/../..", "organization": "victim", "name": "secret"},
    ):
        status, headers, answer = hub.call("POST", "/api/repos/delete", body=body)
        assert_hub_error(status, headers, answer, 400)
    assert_outside_untouched(tmp_path, before)


def test_lfs_routes_are_no_file_existence_or_size_oracle(setup: Any) -> None:
    hub, tmp_path, before = setup
    # old layout: lfs/<oid[:2]>/<oid>, so oid "../outside/secret.txt" was tmp/outside/secret.txt
    oid = q("../outside/secret.txt")
    answers = {hub.call("POST", f"/lfs-verify/{oid}", body={"size": n})[0] for n in (len(SECRET), 1)}
    assert answers == {400}  # the same answer whatever the size: nothing learned
    assert hub.call("PUT", f"/lfs-upload/{oid}?sig=x", body=b"overwritten")[0] == 400
    assert_outside_untouched(tmp_path, before)


def test_alias_repo_ids_cannot_bypass_the_per_repo_lock(setup: Any) -> None:
    hub, tmp_path, before = setup
    hub.json("POST", "/api/repos/create", body={"name": "race2", "organization": "me", "type": "dataset"})
    aliases = ["me/race2", f"{q('me/.')}/race2", f"me/{q('./race2')}", "me/race2"]
    winners = []
    for rnd in range(15):
        head = hub.json("GET", "/api/datasets/me/race2")["sha"]
        results: list[tuple[int, str]] = []

        def commit(i: int, alias: str, head: str = head, rnd: int = rnd, results: list = results) -> None:
            body = commit_body(head, [add(f"r{rnd}/t{i}.txt", b"%d" % i)], summary=f"{rnd}-{i}")
            status, _, answer = hub.call("POST", f"/api/datasets/{alias}/commit/main", body=body)
            results.append((status, json.loads(answer).get("commitOid", "")))

        threads = [threading.Thread(target=commit, args=(i, aliases[i % 4])) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        ok = [oid for status, oid in results if status == 200]
        assert len(ok) == 1 and all(s in (200, 400, 412) for s, _ in results), results
        winners += ok
    history = hub.commits("me/race2")
    assert all(w in history for w in winners)  # no accepted commit was lost from main
    assert_outside_untouched(tmp_path, before)


def test_crlf_in_a_file_name_is_refused_not_reflected_into_headers(setup: Any) -> None:
    hub, tmp_path, before = setup
    hub.json("POST", "/api/repos/create", body={"name": "hdr", "organization": "me", "type": "dataset"})
    evil = "a\r\nX-Injected: yes\r\n.txt"
    status, headers, body = hub.call(
        "POST", "/api/datasets/me/hdr/commit/main", body=commit_body(None, [add(evil, b"x")])
    )
    assert_hub_error(status, headers, body, 400)
    status, headers, _ = hub.call("GET", f"/datasets/me/hdr/resolve/main/{q(evil)}")
    assert status == 400 and "X-Injected" not in headers
    assert evil not in hub.files("me/hdr")
    assert_outside_untouched(tmp_path, before)


def test_non_ascii_file_names_download_with_an_rfc6266_header(setup: Any) -> None:
    hub, tmp_path, before = setup
    hub.json("POST", "/api/repos/create", body={"name": "utf", "organization": "me", "type": "dataset"})
    name = 'odd/日本語 "q".txt'
    hub.json(
        "POST", "/api/datasets/me/utf/commit/main", body=commit_body(None, [add(name, "データ".encode())])
    )
    status, headers, body = hub.call("GET", f"/datasets/me/utf/resolve/main/{urllib.parse.quote(name)}")
    assert status == 200 and body == "データ".encode()
    expected = "filename*=UTF-8''" + q(name.rsplit("/", 1)[-1])
    assert expected in headers["Content-Disposition"]
    assert headers["Content-Disposition"].isascii()
    assert_outside_untouched(tmp_path, before)


def test_paths_with_empty_or_dot_components_are_refused(setup: Any) -> None:
    hub, tmp_path, before = setup
    hub.json("POST", "/api/repos/create", body={"name": "dots", "organization": "me", "type": "dataset"})
    for bad in ("a//b.txt", "./c.txt", "d/./e.txt", "f/../g.txt", ".git/config"):
        status, headers, body = hub.call(
            "POST", "/api/datasets/me/dots/commit/main", body=commit_body(None, [add(bad, b"x")])
        )
        assert_hub_error(status, headers, body, 400)
    assert hub.files("me/dots") == {".gitattributes"}
    assert_outside_untouched(tmp_path, before)


def raw_request(url: str, request: bytes, timeout: float = 5) -> bytes:
    """Send raw bytes, return everything the server answers before closing (or the timeout)."""
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
                if b"\r\n\r\n" in out and b'"error"' in out:
                    break
        except TimeoutError:
            pass
    return out


def test_malformed_requests_get_400_in_the_hub_shape(setup: Any) -> None:
    hub, tmp_path, before = setup
    for body in ([1, 2], {"name": 5, "type": "dataset"}, {"name": "ok", "type": ["dataset"]}, b"{not json"):
        status, headers, answer = hub.call("POST", "/api/repos/create", body=body)
        assert_hub_error(status, headers, answer, 400)
    hub.json("POST", "/api/repos/create", body={"name": "mal", "organization": "me", "type": "dataset"})
    status, headers, answer = hub.call("GET", "/api/datasets/me/mal/tree/main?cursor=abc")
    assert_hub_error(status, headers, answer, 400)
    auth = f"Authorization: Bearer {GOOD}\r\n".encode()
    for framing in (
        b"Content-Length: abc\r\n\r\n{}",
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    ):
        answer = raw_request(hub.url, b"POST /api/repos/create HTTP/1.1\r\nHost: x\r\n" + auth + framing)
        assert answer.startswith(b"HTTP/1.1 400 ") and b'"error"' in answer, answer[:200]
    assert_outside_untouched(tmp_path, before)


def test_auth_is_checked_before_the_body_is_read_and_bodies_are_bounded(setup: Any) -> None:
    hub, tmp_path, before = setup
    hub.json("POST", "/api/repos/create", body={"name": "big", "organization": "me", "type": "dataset"})
    huge = b"Content-Length: 300000000\r\n\r\n" + b"x" * 1000  # 300 MB announced, 1 KB sent
    start = time.monotonic()
    answer = raw_request(hub.url, b"POST /api/datasets/me/big/commit/main HTTP/1.1\r\nHost: x\r\n" + huge)
    assert answer.startswith(b"HTTP/1.1 401 ") and time.monotonic() - start < 3, answer[:200]
    auth = f"Authorization: Bearer {GOOD}\r\n".encode()
    answer = raw_request(hub.url, b"POST /api/repos/create HTTP/1.1\r\nHost: x\r\n" + auth + huge)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert_outside_untouched(tmp_path, before)


def test_idle_connections_are_dropped_and_their_threads_freed(tmp_path: Path) -> None:
    hub = Hub(tmp_path / "root", socket_timeout=1.0)
    try:
        baseline = threading.active_count()
        host, port = urllib.parse.urlsplit(hub.url).netloc.split(":")
        socks = [socket.create_connection((host, int(port))) for _ in range(30)]
        time.sleep(0.5)
        assert threading.active_count() >= baseline + 20  # one handler thread per idle connection
        time.sleep(1.5)
        for s in socks:
            s.settimeout(2)
            assert s.recv(10) == b""  # closed by the server
            s.close()
        deadline = time.monotonic() + 5
        while threading.active_count() > baseline and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threading.active_count() <= baseline
    finally:
        hub.stop()
