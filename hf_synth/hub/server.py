"""Loopback rehearsal Hub: the part of the Hugging Face Hub HTTP API that ``huggingface_hub`` and
``datasets.load_dataset`` use to create a dataset repo, commit to it, tag it and read it back.

It exists so that a release can be rehearsed (and tested) end to end with the *real* clients, with no
network: point ``HF_ENDPOINT`` at the URL this server prints. It is not a security boundary and binds to
the loopback interface by default.

Storage (under ``root``, survives restarts)::

    blobs/<sha1[:2]>/<sha1>                         file contents, keyed by git blob sha1
    repos/<type>s/<namespace>/<name>/repo.json      repo metadata (private, createdAt)
    repos/<type>s/<namespace>/<name>/refs.json      {"branches": {...}, "tags": {...}, "pulls": {...}}
    repos/<type>s/<namespace>/<name>/commits/<oid>.json   parents, tree {path: [blob sha1, size]}, message

A commit id is the sha1 hex of the commit's canonical JSON (parents, tree, message, author, date). Every
write is a temp file + ``os.replace``; each repo has its own lock.

Files travel inline ("regular" upload mode): LFS/Xet uploads are not implemented, which is enough for
``HfApi.create_commit`` but not for ``Dataset.push_to_hub`` (see shared/notes/hub-facts.md).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import os
import re
import sys
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

TOKENS_ENV = "HF_SYNTH_HUB_TOKENS"
REPO_TYPES = ("model", "dataset", "space")
DEFAULT_BRANCH = "main"
USER_NAME = "rehearsal-user"
PAGE_SIZE = 1000
PAGE_SIZE_EXPANDED = 50
# The Hub's client uses this exact message to tell a bad token apart from a hidden repo.
BAD_TOKEN_MESSAGE = "Invalid credentials in Authorization header"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_OID_RE = re.compile(r"^[0-9a-f]{7,40}$")
_GITATTRIBUTES = (
    "*.7z filter=lfs diff=lfs merge=lfs -text\n*.arrow filter=lfs diff=lfs merge=lfs -text\n"
    "*.bin filter=lfs diff=lfs merge=lfs -text\n*.parquet filter=lfs diff=lfs merge=lfs -text\n"
    "*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.zip filter=lfs diff=lfs merge=lfs -text\n"
)


def hub_date(dt: datetime | None = None) -> str:
    """Format a date the way the Hub does (``%Y-%m-%dT%H:%M:%S.%fZ``, UTC)."""
    return (dt or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def git_blob_sha1(data: bytes) -> str:
    """Git blob id of ``data``: what the Hub sends as the ``ETag`` of a regular file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    # temp file in the same folder + os.replace: readers never see a half-written file
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_json(path: Path, obj: Any) -> None:
    _atomic_write(path, json.dumps(obj, indent=1, sort_keys=True).encode())


class HubError(Exception):
    """An HTTP error answer: status, message and optional ``X-Error-Code``."""

    def __init__(self, status: int, message: str, code: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extra = extra or {}


class HubStore:
    """On-disk repos, commits, refs and blobs. Thread-safe: one lock per repo."""

    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        (self.root / "repos").mkdir(parents=True, exist_ok=True)
        self._locks: dict[tuple[str, str], threading.RLock] = {}
        self._locks_guard = threading.Lock()

    # ---- repos ---------------------------------------------------------------------------------
    def repo_dir(self, rtype: str, repo_id: str) -> Path:
        return self.root / "repos" / f"{rtype}s" / repo_id

    def lock(self, rtype: str, repo_id: str) -> threading.RLock:
        with self._locks_guard:
            return self._locks.setdefault((rtype, repo_id), threading.RLock())

    def meta(self, rtype: str, repo_id: str) -> dict | None:
        path = self.repo_dir(rtype, repo_id) / "repo.json"
        return json.loads(path.read_text()) if path.exists() else None

    def create_repo(self, rtype: str, repo_id: str, private: bool) -> bool:
        """Create the repo with an initial commit (as the Hub does); False when it already exists."""
        with self.lock(rtype, repo_id):
            if self.meta(rtype, repo_id) is not None:
                return False
            now = hub_date()
            oid = self.write_commit(
                rtype,
                repo_id,
                parents=[],
                tree={".gitattributes": self.put_blob(_GITATTRIBUTES.encode())},
                title="initial commit",
                message="",
                author="system",
                date=now,
            )
            _write_json(
                self.repo_dir(rtype, repo_id) / "refs.json",
                {"branches": {DEFAULT_BRANCH: oid}, "tags": {}, "pulls": {}},
            )
            # repo.json last: a repo "exists" only once its refs are in place
            _write_json(self.repo_dir(rtype, repo_id) / "repo.json", {"private": private, "createdAt": now})
            return True

    def delete_repo(self, rtype: str, repo_id: str) -> bool:
        import shutil

        with self.lock(rtype, repo_id):
            d = self.repo_dir(rtype, repo_id)
            if not (d / "repo.json").exists():
                return False
            # blobs stay: they are shared and content-addressed
            shutil.rmtree(d)
            return True

    # ---- refs and commits ----------------------------------------------------------------------
    def refs(self, rtype: str, repo_id: str) -> dict:
        return json.loads((self.repo_dir(rtype, repo_id) / "refs.json").read_text())

    def save_refs(self, rtype: str, repo_id: str, refs: dict) -> None:
        _write_json(self.repo_dir(rtype, repo_id) / "refs.json", refs)

    def commit(self, rtype: str, repo_id: str, oid: str) -> dict:
        return json.loads((self.repo_dir(rtype, repo_id) / "commits" / f"{oid}.json").read_text())

    def resolve(self, rtype: str, repo_id: str, rev: str) -> str | None:
        """Commit oid for a branch, tag, ``refs/...`` name, full or short (>= 7 hex) commit id."""
        refs = self.refs(rtype, repo_id)
        for prefix, kind in (("refs/heads/", "branches"), ("refs/tags/", "tags"), ("refs/pr/", "pulls")):
            if rev.startswith(prefix):
                return refs[kind].get(rev[len(prefix) :])
        if rev in refs["branches"]:
            return refs["branches"][rev]
        if rev in refs["tags"]:
            return refs["tags"][rev]
        if _OID_RE.match(rev):
            cdir = self.repo_dir(rtype, repo_id) / "commits"
            if len(rev) == 40:
                return rev if (cdir / f"{rev}.json").exists() else None
            hits = [p.stem for p in cdir.glob(f"{rev}*.json")]
            return hits[0] if len(hits) == 1 else None
        return None

    def write_commit(
        self,
        rtype: str,
        repo_id: str,
        *,
        parents: list[str],
        tree: dict[str, list],
        title: str,
        message: str,
        author: str,
        date: str,
    ) -> str:
        body = {
            "parents": parents,
            "tree": tree,
            "title": title,
            "message": message,
            "authors": [author],
            "date": date,
        }
        oid = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()
        _write_json(self.repo_dir(rtype, repo_id) / "commits" / f"{oid}.json", {"id": oid, **body})
        return oid

    def history(self, rtype: str, repo_id: str, oid: str) -> Iterator[dict]:
        """Commits from ``oid`` back to the first one, following first parents."""
        cur: str | None = oid
        while cur:
            c = self.commit(rtype, repo_id, cur)
            yield c
            cur = c["parents"][0] if c["parents"] else None

    # ---- blobs ---------------------------------------------------------------------------------
    def blob_path(self, sha1: str) -> Path:
        return self.root / "blobs" / sha1[:2] / sha1

    def put_blob(self, data: bytes) -> list:
        """Store ``data``; return the tree entry ``[sha1, size]``."""
        sha1 = git_blob_sha1(data)
        path = self.blob_path(sha1)
        if not path.exists():
            _atomic_write(path, data)
        return [sha1, len(data)]

    def lfs_path(self, sha256: str) -> Path:
        return self.root / "lfs" / sha256[:2] / sha256

    def put_lfs_stream(self, chunks: Iterator[bytes]) -> tuple[str, int]:
        """Store a large file from ``chunks`` (hashing on the fly); return (sha256, size)."""
        tmp_dir = self.root / "lfs"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=".upload-")
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    f.write(chunk)
            path = self.lfs_path(digest.hexdigest())
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return digest.hexdigest(), size

    def content_path(self, entry: list) -> Path:
        """Where the bytes of a tree entry live: ``[sha1, size]`` inline, ``[sha1, size, sha256]`` LFS."""
        return self.lfs_path(entry[2]) if len(entry) == 3 else self.blob_path(entry[0])


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file git stores for a large file."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def lfs_entry(sha256: str, size: int) -> list:
    """Tree entry of a large file: the pointer's git blob id (what git and the Hub call its oid)."""
    return [git_blob_sha1(lfs_pointer(sha256, size)), size, sha256]


# Files the Hub stores as LFS by default (its .gitattributes), besides anything binary or >= 10 MB.
_LFS_SUFFIXES = (".7z", ".arrow", ".bin", ".parquet", ".safetensors", ".zip", ".gz", ".npy", ".pt", ".pkl")
_LFS_MIN_SIZE = 10 * 1024 * 1024


def wants_lfs(path: str, size: int, sample: bytes) -> bool:
    """How the Hub's preupload classifies a file: large, binary or an LFS-tracked suffix."""
    return size > 0 and (size >= _LFS_MIN_SIZE or b"\0" in sample or path.lower().endswith(_LFS_SUFFIXES))


# ---- tree helpers ------------------------------------------------------------------------------
def _folders(tree: dict[str, list]) -> set[str]:
    out: set[str] = set()
    for path in tree:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return out


def _folder_oid(tree: dict[str, list], folder: str) -> str:
    # Not git's tree hash, but stable and content-derived, which is all a client compares.
    prefix = folder + "/"
    listing = sorted((p, e[0]) for p, e in tree.items() if p.startswith(prefix))
    return hashlib.sha1(json.dumps(listing).encode()).hexdigest()


def _file_entry(path: str, entry: list) -> dict:
    out: dict[str, Any] = {"type": "file", "oid": entry[0], "size": entry[1], "path": path}
    if len(entry) == 3:
        out["lfs"] = {"oid": entry[2], "size": entry[1], "pointerSize": len(lfs_pointer(entry[2], entry[1]))}
    return out


def _folder_entry(tree: dict[str, list], folder: str) -> dict:
    return {"type": "directory", "oid": _folder_oid(tree, folder), "size": 0, "path": folder}


def _readme_card_data(store: HubStore, tree: dict[str, list]) -> dict | None:
    entry = tree.get("README.md")
    if entry is None:
        return None
    return _front_matter(store.blob_path(entry[0]).read_text(encoding="utf-8", errors="replace"))


def _front_matter(text: str) -> dict | None:
    m = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.S)
    if not m:
        return None
    data = yaml.safe_load(m.group(1))
    return data if isinstance(data, dict) else None


class HubHandler(BaseHTTPRequestHandler):
    """Request handler; ``self.server`` is a :class:`RehearsalHub`."""

    server: RehearsalHub
    protocol_version = "HTTP/1.1"  # keep-alive: the clients reuse connections

    # ---- plumbing ------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write("hub-serve: " + (format % args) + "\n")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{self.headers.get('Host') or f'{host}:{port}'}"

    def _body(self) -> bytes:
        return b"".join(self._chunks())

    def _json_body(self) -> Any:
        raw = self._body()
        try:
            return json.loads(raw or b"{}")
        except json.JSONDecodeError as e:
            raise HubError(400, f"invalid JSON body: {e}") from None

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        content_type: str = "application/json; charset=utf-8",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _send_json(self, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def _send_error(self, err: HubError) -> None:
        # headers are latin-1 on the wire: escape anything else (e.g. a non-ASCII path in the message)
        message = err.message.replace("\n", " ")[:500].encode("ascii", "backslashreplace").decode()
        headers = {"X-Error-Message": message}
        if err.code:
            headers["X-Error-Code"] = err.code
        self._send_json({"error": err.message, **err.extra}, err.status, headers)

    def _dispatch(self, method: str) -> None:
        self._body_read = False  # one handler instance serves every request of a keep-alive connection
        try:
            split = urllib.parse.urlsplit(self.path)
            # split the raw path first: a quoted revision ("refs%2Fpr%2F1") stays one segment
            segs = [urllib.parse.unquote(s) for s in split.path.split("/")[1:]]
            if segs and segs[-1] == "":
                segs = segs[:-1]
            self.query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
            self._route(method, segs)
        except HubError as err:
            # an unread request body would corrupt the next request on this keep-alive connection
            if method in ("POST", "PUT") and not self._body_read:
                self.close_connection = True
            self._send_error(err)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # pragma: no cover - a bug: answer 500 instead of hanging the client
            self.close_connection = True
            self._send_error(HubError(500, f"internal error: {type(e).__name__}: {e}"))

    # ---- auth ----------------------------------------------------------------------------------
    def _token(self) -> str | None:
        """The caller's token: None when absent; HubError 401 when present but not accepted."""
        auth = self.headers.get("Authorization")
        if not auth:
            return None
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or not self.server.token_ok(token):
            raise HubError(401, BAD_TOKEN_MESSAGE)
        return token

    def _require_write(self) -> None:
        if self._token() is None:
            raise HubError(401, "You must be authenticated to do this: send Authorization: Bearer <token>")

    def _repo(self, rtype: str, repo_id: str, write: bool = False) -> dict:
        token = self._token()
        if write and token is None:
            self._require_write()
        meta = self.server.store.meta(rtype, repo_id)
        hidden = meta is not None and meta.get("private") and not write and token is None
        if meta is None or hidden:
            raise HubError(404 if token or write else 401, f"Repository {repo_id} not found", "RepoNotFound")
        return meta

    def _rev(self, rtype: str, repo_id: str, rev: str) -> str:
        oid = self.server.store.resolve(rtype, repo_id, rev)
        if oid is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return oid

    # ---- routing -------------------------------------------------------------------------------
    def _route(self, method: str, s: list[str]) -> None:
        if s[:2] == ["api", "whoami-v2"] and method == "GET":
            return self._whoami()
        if s[:2] == ["api", "agent-harnesses"] and method == "GET":
            # huggingface_hub fetches this registry once a day; an empty one disables its agent detection
            return self._send_json({"standardEnvVars": [], "harnesses": {}})
        if s[:3] == ["api", "repos", "create"] and method == "POST":
            return self._create_repo()
        if s[:3] == ["api", "repos", "delete"] and method in ("DELETE", "POST"):
            return self._delete_repo()
        if s[:2] == ["api", "validate-yaml"] and method == "POST":
            return self._validate_yaml()
        if len(s) >= 4 and s[0] == "api" and s[1].endswith("s") and s[1][:-1] in REPO_TYPES:
            rtype, repo_id, rest = s[1][:-1], f"{s[2]}/{s[3]}", s[4:]
            return self._route_repo_api(method, rtype, repo_id, rest)
        if s[:1] == ["lfs-upload"] and len(s) == 2 and method == "PUT":
            return self._lfs_upload(s[1])
        if s[:1] == ["lfs-verify"] and len(s) == 2 and method == "POST":
            return self._lfs_verify(s[1])
        # git-lfs batch: /{datasets,spaces}/ns/name.git/info/lfs/objects/batch, /ns/name.git/... for models
        if method == "POST" and len(s) >= 6 and s[-4:] == ["info", "lfs", "objects", "batch"]:
            head = s[:-4]
            if len(head) == 3 and head[0] in ("datasets", "spaces") and head[2].endswith(".git"):
                return self._lfs_batch(head[0][:-1], f"{head[1]}/{head[2][:-4]}")
            if len(head) == 2 and head[1].endswith(".git"):
                return self._lfs_batch("model", f"{head[0]}/{head[1][:-4]}")
        # downloads: /{datasets,spaces}/ns/name/resolve/rev/path and /ns/name/resolve/... for models
        if len(s) >= 6 and s[0] in ("datasets", "spaces") and s[3] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve(s[0][:-1], f"{s[1]}/{s[2]}", s[4:])
        if len(s) >= 5 and s[2] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve("model", f"{s[0]}/{s[1]}", s[3:])
        raise HubError(404, f"no route for {method} {self.path}")

    def _route_repo_api(self, method: str, rtype: str, repo_id: str, rest: list[str]) -> None:
        if method == "GET" and not rest:
            return self._info(rtype, repo_id, DEFAULT_BRANCH)
        head, args = (rest[0], rest[1:]) if rest else ("", [])
        if method == "GET" and head == "revision" and len(args) == 1:
            return self._info(rtype, repo_id, args[0])
        if method == "GET" and head == "tree" and args:
            return self._tree(rtype, repo_id, args[0], "/".join(args[1:]))
        if method == "POST" and head == "paths-info" and len(args) == 1:
            return self._paths_info(rtype, repo_id, args[0])
        if method == "GET" and head == "refs" and not args:
            return self._refs(rtype, repo_id)
        if method == "GET" and head == "commits" and len(args) == 1:
            return self._commits(rtype, repo_id, args[0])
        if method == "POST" and head == "preupload" and len(args) == 1:
            return self._preupload(rtype, repo_id, args[0])
        if method == "POST" and head == "commit" and len(args) == 1:
            return self._commit(rtype, repo_id, args[0])
        if head == "tag" and len(args) == 1 and method in ("POST", "DELETE"):
            return (
                self._create_tag(rtype, repo_id, args[0])
                if method == "POST"
                else self._delete_ref(rtype, repo_id, "tags", args[0])
            )
        if head == "branch" and len(args) == 1 and method in ("POST", "DELETE"):
            return (
                self._create_branch(rtype, repo_id, args[0])
                if method == "POST"
                else self._delete_ref(rtype, repo_id, "branches", args[0])
            )
        raise HubError(404, f"no route for {method} {self.path}")

    # ---- account and repos ---------------------------------------------------------------------
    def _whoami(self) -> None:
        if self._token() is None:
            raise HubError(401, BAD_TOKEN_MESSAGE)
        self._send_json(
            {
                "type": "user",
                "id": "0" * 24,
                "name": USER_NAME,
                "fullname": "hf-synth rehearsal hub",
                "email": None,
                "emailVerified": False,
                "isPro": False,
                "orgs": [],
                "auth": {
                    "type": "access_token",
                    "accessToken": {"displayName": "rehearsal", "role": "write", "createdAt": hub_date()},
                },
            }
        )

    def _repo_url(self, rtype: str, repo_id: str) -> str:
        prefix = "" if rtype == "model" else f"{rtype}s/"
        return f"{self.endpoint}/{prefix}{repo_id}"

    def _create_repo(self) -> None:
        body = self._json_body()
        self._body_read = True
        self._require_write()
        rtype = body.get("type") or "model"
        if rtype not in REPO_TYPES:
            raise HubError(400, f"invalid repo type {rtype!r}")
        name, org = body.get("name") or "", body.get("organization") or USER_NAME
        if not (_NAME_RE.match(name) and _NAME_RE.match(org)) or ".." in name or ".." in org:
            raise HubError(400, f"invalid repo name {org}/{name}")
        repo_id = f"{org}/{name}"
        private = body.get("visibility") == "private" or bool(body.get("private"))
        url = self._repo_url(rtype, repo_id)
        if not self.server.store.create_repo(rtype, repo_id, private):
            # the client reads `url` from the 409 body when exist_ok=True
            raise HubError(409, "You already created this repo", extra={"url": url})
        self._send_json({"url": url, "name": repo_id, "id": repo_id})

    def _delete_repo(self) -> None:
        body = self._json_body()
        self._body_read = True
        self._require_write()
        rtype = body.get("type") or "model"
        repo_id = f"{body.get('organization') or USER_NAME}/{body.get('name')}"
        if not self.server.store.delete_repo(rtype, repo_id):
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        self._send_json({})

    def _validate_yaml(self) -> None:
        body = self._json_body()
        self._body_read = True
        self._token()
        content = body.get("content") or ""
        try:
            _front_matter(content)
        except yaml.YAMLError as e:
            self._send_json({"errors": [{"message": f"YAML does not parse: {e}"}], "warnings": []}, 400)
            return
        self._send_json({"errors": [], "warnings": []})

    def _info(self, rtype: str, repo_id: str, rev: str) -> None:
        meta = self._repo(rtype, repo_id)
        store = self.server.store
        oid = self._rev(rtype, repo_id, rev)
        commit = store.commit(rtype, repo_id, oid)
        tree = commit["tree"]
        blobs = self.query.get("blobs", ["false"])[0].lower() in ("1", "true")
        siblings = []
        for path in sorted(tree):
            sib: dict[str, Any] = {"rfilename": path}
            if blobs:
                sib.update(size=tree[path][1], blobId=tree[path][0])
                if len(tree[path]) == 3:
                    sha, n = tree[path][2], tree[path][1]
                    sib["lfs"] = {"sha256": sha, "size": n, "pointerSize": len(lfs_pointer(sha, n))}
            siblings.append(sib)
        try:
            card = _readme_card_data(store, tree)
        except yaml.YAMLError:
            card = None
        ns = repo_id.split("/")[0]
        info = {
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
            "id": repo_id,
            "author": ns,
            "sha": oid,
            "private": bool(meta.get("private")),
            "gated": False,
            "disabled": False,
            "createdAt": meta["createdAt"],
            "lastModified": commit["date"],
            "downloads": 0,
            "likes": 0,
            "tags": list((card or {}).get("tags") or []),
            "siblings": siblings,
            "usedStorage": sum(e[1] for e in tree.values()),
        }
        if card is not None:
            info["cardData"] = card
        self._send_json(info)

    # ---- listings ------------------------------------------------------------------------------
    def _last_commit(self, rtype: str, repo_id: str, oid: str, path: str, is_dir: bool) -> dict:
        """The newest commit on the first-parent chain that changed ``path``."""

        def key(tree: dict) -> Any:
            return _folder_oid(tree, path) if is_dir else tree.get(path)

        chain = list(self.server.store.history(rtype, repo_id, oid))
        found = chain[-1]
        for newer, older in itertools.pairwise(chain):
            if key(newer["tree"]) != key(older["tree"]):
                found = newer
                break
        return {"id": found["id"], "title": found["title"], "date": found["date"]}

    def _paged(self, items: list[dict], expanded: bool) -> None:
        size = PAGE_SIZE_EXPANDED if expanded else PAGE_SIZE
        start = int(self.query.get("cursor", ["0"])[0] or 0)
        page = items[start : start + size]
        headers = {}
        if start + size < len(items):
            q = {k: v[0] for k, v in self.query.items()}
            q["cursor"] = str(start + size)
            url = f"{self.endpoint}{urllib.parse.urlsplit(self.path).path}?{urllib.parse.urlencode(q)}"
            headers["Link"] = f'<{url}>; rel="next"'
        self._send_json(page, headers=headers)

    def _tree(self, rtype: str, repo_id: str, rev: str, path: str) -> None:
        self._repo(rtype, repo_id)
        oid = self._rev(rtype, repo_id, rev)
        tree = self.server.store.commit(rtype, repo_id, oid)["tree"]
        recursive = self.query.get("recursive", ["false"])[0].lower() in ("1", "true")
        expand = self.query.get("expand", ["false"])[0].lower() in ("1", "true")
        path = path.strip("/")
        folders = _folders(tree)
        if path and path not in folders:
            if path in tree:  # the Hub answers a file path with that file alone
                items = [_file_entry(path, tree[path])]
            else:
                raise HubError(404, f"{path} does not exist at {rev}", "EntryNotFound")
        else:
            prefix = path + "/" if path else ""
            items = []
            for f in sorted(folders):
                rel = f[len(prefix) :] if f.startswith(prefix) else None
                if rel and (recursive or "/" not in rel):
                    items.append(_folder_entry(tree, f))
            for p in sorted(tree):
                rel = p[len(prefix) :] if p.startswith(prefix) else None
                if rel and (recursive or "/" not in rel):
                    items.append(_file_entry(p, tree[p]))
        if expand:
            for it in items:
                is_dir = it["type"] == "directory"
                it["lastCommit"] = self._last_commit(rtype, repo_id, oid, it["path"], is_dir)
        self._paged(items, expand)

    def _paths_info(self, rtype: str, repo_id: str, rev: str) -> None:
        raw = self._body()
        self._body_read = True
        self._repo(rtype, repo_id)
        oid = self._rev(rtype, repo_id, rev)
        if raw.lstrip().startswith(b"{"):  # JSON from other clients
            try:
                body = json.loads(raw)
            except json.JSONDecodeError as e:
                raise HubError(400, f"invalid JSON body: {e}") from None
            paths, expand = body.get("paths") or [], bool(body.get("expand"))
        else:  # the client posts a form: paths=a&paths=b&expand=False
            form = urllib.parse.parse_qs(raw.decode(), keep_blank_values=True)
            paths = form.get("paths", [])
            expand = form.get("expand", ["false"])[0].lower() in ("1", "true")
        tree = self.server.store.commit(rtype, repo_id, oid)["tree"]
        folders = _folders(tree)
        out = []
        for p in paths:
            p = p.strip("/")
            if p in tree:
                out.append(_file_entry(p, tree[p]))
            elif p in folders:
                out.append(_folder_entry(tree, p))
            else:
                continue  # the Hub silently skips missing paths
            if expand:
                out[-1]["lastCommit"] = self._last_commit(rtype, repo_id, oid, p, p in folders)
        self._send_json(out)

    def _refs(self, rtype: str, repo_id: str) -> None:
        self._repo(rtype, repo_id)
        refs = self.server.store.refs(rtype, repo_id)

        def fmt(kind: str, prefix: str) -> list[dict]:
            items = sorted(refs[kind].items())
            return [{"name": n, "ref": f"{prefix}{n}", "targetCommit": o} for n, o in items]

        out = {"branches": fmt("branches", "refs/heads/"), "tags": fmt("tags", "refs/tags/"), "converts": []}
        if self.query.get("include_prs", ["0"])[0] in ("1", "true"):
            out["pullRequests"] = fmt("pulls", "refs/pr/")
        self._send_json(out)

    def _commits(self, rtype: str, repo_id: str, rev: str) -> None:
        self._repo(rtype, repo_id)
        oid = self._rev(rtype, repo_id, rev)
        items = [
            {
                "id": c["id"],
                "title": c["title"],
                "message": c["message"],
                "date": c["date"],
                "authors": [{"user": a} for a in c["authors"]],
            }
            for c in self.server.store.history(rtype, repo_id, oid)
        ]
        self._paged(items, expanded=False)

    # ---- downloads -----------------------------------------------------------------------------
    def _resolve(self, rtype: str, repo_id: str, rest: list[str]) -> None:
        # an unquoted "refs/pr/1" or "refs/convert/parquet" spans three segments
        n = 3 if rest[0] == "refs" and len(rest) > 3 else 1
        rev, path = "/".join(rest[:n]), "/".join(rest[n:])
        self._repo(rtype, repo_id)
        oid = self._rev(rtype, repo_id, rev)
        tree = self.server.store.commit(rtype, repo_id, oid)["tree"]
        entry = tree.get(path)
        if entry is None:
            raise HubError(404, f"Entry not found: {path} at {rev}", "EntryNotFound", extra={"commit": oid})
        size = entry[1]
        headers = {
            "X-Repo-Commit": oid,
            "ETag": f'"{entry[0]}"',
            "Accept-Ranges": "bytes",
            "Content-Disposition": f'inline; filename="{path.rsplit("/", 1)[-1]}"',
        }
        if len(entry) == 3:  # large file: the client keys its cache on the sha256
            headers.update(
                {"ETag": f'"{entry[2]}"', "X-Linked-Etag": f'"{entry[2]}"', "X-Linked-Size": str(size)}
            )
        blob = self.server.store.content_path(entry)
        rng = self.headers.get("Range")
        start, end, status = 0, size - 1, 200
        if rng:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if not m or (not m.group(1) and not m.group(2)):
                raise HubError(416, f"unsupported Range {rng!r}")
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            else:  # suffix range: the last N bytes
                start = max(0, size - int(m.group(2)))
            if start >= size or start > end:
                self._send(416, b"", {**headers, "Content-Range": f"bytes */{size}"})
                return
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = end - start + 1 if size else 0
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD" or length == 0:
            return
        with open(blob, "rb") as f:
            f.seek(start)
            remaining = length
            while remaining:
                chunk = f.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)

    # ---- writes --------------------------------------------------------------------------------
    def _preupload(self, rtype: str, repo_id: str, rev: str) -> None:
        body = self._json_body()
        self._body_read = True
        self._repo(rtype, repo_id, write=True)
        store = self.server.store
        oid = store.resolve(rtype, repo_id, rev)
        tree = store.commit(rtype, repo_id, oid)["tree"] if oid else {}
        files = []
        for f in body.get("files") or []:
            path = f.get("path", "")
            try:
                sample = base64.b64decode(f.get("sample") or "")
            except ValueError:
                sample = b""
            # Inline ("regular") unless the server runs with lfs=True and the Hub would use LFS.
            lfs = self.server.lfs and wants_lfs(path, int(f.get("size") or 0), sample)
            # `oid` (sha256 for LFS, git sha1 inline: what the client computes) lets it skip unchanged files
            entry = tree.get(path)
            remote = None if entry is None else (entry[2] if lfs and len(entry) == 3 else entry[0])
            mode = "lfs" if lfs else "regular"
            files.append({"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": remote})
        self._send_json({"files": files, "commitOid": oid})

    # ---- git-lfs (only used when the server runs with lfs=True) -----------------------------------
    def _lfs_sig(self, sha256: str) -> str:
        # The upload URL is used without auth headers (on the Hub it is a presigned S3 URL): sign it.
        return hashlib.sha256(self.server.secret + sha256.encode()).hexdigest()[:32]

    def _lfs_batch(self, rtype: str, repo_id: str) -> None:
        body = self._json_body()
        self._body_read = True
        self._repo(rtype, repo_id, write=True)
        if body.get("operation") != "upload":
            raise HubError(400, "this rehearsal Hub only takes LFS uploads through the batch API")
        objects = []
        for obj in body.get("objects") or []:
            oid, size = str(obj.get("oid") or ""), int(obj.get("size") or 0)
            if not re.fullmatch(r"[0-9a-f]{64}", oid):
                objects.append({"oid": oid, "size": size, "error": {"code": 422, "message": "invalid oid"}})
                continue
            entry: dict[str, Any] = {"oid": oid, "size": size}
            if not self.server.store.lfs_path(oid).exists():  # no "actions": already stored
                entry["actions"] = {
                    "upload": {"href": f"{self.endpoint}/lfs-upload/{oid}?sig={self._lfs_sig(oid)}"},
                    "verify": {"href": f"{self.endpoint}/lfs-verify/{oid}"},
                }
            objects.append(entry)
        self._send_json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

    def _chunks(self) -> Iterator[bytes]:
        """The request body, piece by piece (Content-Length or chunked transfer encoding)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return
                yield self.rfile.read(size)
                self.rfile.readline()
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk

    def _lfs_upload(self, oid: str) -> None:
        if self.query.get("sig", [""])[0] != self._lfs_sig(oid):
            raise HubError(403, "bad or missing upload signature")
        sha256, _ = self.server.store.put_lfs_stream(self._chunks())
        self._body_read = True
        if sha256 != oid:
            with contextlib.suppress(OSError):
                self.server.store.lfs_path(sha256).unlink()
            raise HubError(400, f"uploaded content has sha256 {sha256}, expected {oid}")
        self._send(200)

    def _lfs_verify(self, oid: str) -> None:
        body = self._json_body()
        self._body_read = True
        self._require_write()
        path = self.server.store.lfs_path(oid)
        if not path.exists() or path.stat().st_size != int(body.get("size") or -1):
            raise HubError(404, f"LFS object {oid} is missing or has the wrong size")
        self._send_json({})

    def _commit(self, rtype: str, repo_id: str, rev: str) -> None:
        raw = self._body()
        self._body_read = True
        self._repo(rtype, repo_id, write=True)
        create_pr = self.query.get("create_pr", ["0"])[0] in ("1", "true")
        try:
            lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise HubError(400, f"commit payload is not NDJSON: {e}") from None
        if not lines or not all(isinstance(x, dict) for x in lines) or lines[0].get("key") != "header":
            raise HubError(400, "commit payload must be NDJSON objects starting with a header line")
        header = lines[0].get("value") or {}
        summary = (header.get("summary") or "").strip()
        if not summary:
            raise HubError(400, "commit summary must not be empty")
        store = self.server.store
        with store.lock(rtype, repo_id):
            refs = store.refs(rtype, repo_id)
            if create_pr:
                if rev not in refs["branches"]:
                    raise HubError(400, f"pull requests can only target a branch, not {rev!r}")
                head = refs["branches"][rev]
            else:
                if rev not in refs["branches"] and not rev.startswith("refs/pr/"):
                    raise HubError(404, f"Invalid rev id: {rev} is not a branch", "RevisionNotFound")
                head = store.resolve(rtype, repo_id, rev)
                if head is None:
                    raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            parent = header.get("parentCommit")
            if parent:
                if store.resolve(rtype, repo_id, parent) is None:
                    raise HubError(404, f"parentCommit {parent} not found", "RevisionNotFound")
                if create_pr:
                    head = store.resolve(rtype, repo_id, parent) or head
                elif parent != head:
                    # someone else committed since the client looked: refuse, like the Hub does
                    raise HubError(
                        412,
                        f"A commit has happened since {parent}: the head of {rev} is now "
                        f"{head}. Pull the changes and retry.",
                    )
            tree = dict(store.commit(rtype, repo_id, head)["tree"])
            for op in lines[1:]:
                self._apply(op, tree)
            clash = _folders(tree) & tree.keys()
            if clash:  # git cannot hold a file and a folder under one name
                raise HubError(400, f"{sorted(clash)[0]} would be both a file and a folder")
            new = store.write_commit(
                rtype,
                repo_id,
                parents=[head],
                tree=tree,
                title=summary,
                message=header.get("description") or "",
                author=USER_NAME,
                date=hub_date(),
            )
            prefix = "" if rtype == "model" else f"{rtype}s/"
            result = {
                "success": True,
                "commitOid": new,
                "commitUrl": f"{self.endpoint}/{prefix}{repo_id}/commit/{new}",
                "pullRequestUrl": None,
            }
            if create_pr:
                num = str(max([int(n) for n in refs["pulls"]] or [0]) + 1)
                refs["pulls"][num] = new
                result["pullRequestUrl"] = f"{self.endpoint}/{prefix}{repo_id}/discussions/{num}"
            elif rev.startswith("refs/pr/"):
                refs["pulls"][rev[len("refs/pr/") :]] = new
            else:
                refs["branches"][rev] = new
            store.save_refs(rtype, repo_id, refs)
        self._send_json(result)

    def _apply(self, op: dict, tree: dict[str, list]) -> None:
        key, value = op.get("key"), op.get("value") or {}
        path = (value.get("path") or "").strip("/")
        if not path or ".." in path.split("/"):
            raise HubError(400, f"invalid path {path!r} in commit")
        if key == "file":
            if value.get("encoding", "base64") != "base64":
                raise HubError(400, f"unsupported encoding {value.get('encoding')!r}")
            try:
                data = base64.b64decode(value.get("content") or "", validate=True)
            except ValueError:
                raise HubError(400, f"content of {path} is not valid base64") from None
            tree[path] = self.server.store.put_blob(data)
        elif key == "deletedFile":
            if path not in tree:
                raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            del tree[path]
        elif key == "deletedFolder":
            gone = [p for p in tree if p.startswith(path + "/")]
            if not gone:
                raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
            for p in gone:
                del tree[p]
        elif key == "lfsFile":
            sha256 = str(value.get("oid") or "")
            lfs = self.server.store.lfs_path(sha256) if re.fullmatch(r"[0-9a-f]{64}", sha256) else None
            if lfs is None or not lfs.exists():
                raise HubError(422, f"LFS object {sha256} for {path} was not uploaded")
            tree[path] = lfs_entry(sha256, lfs.stat().st_size)
        else:
            raise HubError(400, f"unknown commit operation {key!r}")

    def _create_tag(self, rtype: str, repo_id: str, rev: str) -> None:
        body = self._json_body()
        self._body_read = True
        self._repo(rtype, repo_id, write=True)
        tag = (body.get("tag") or "").strip()
        if not tag or not re.fullmatch(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*", tag):
            raise HubError(400, f"invalid tag name {tag!r}")
        store = self.server.store
        with store.lock(rtype, repo_id):
            oid = self._rev(rtype, repo_id, rev)
            refs = store.refs(rtype, repo_id)
            if tag in refs["tags"]:
                raise HubError(409, f"Tag {tag} already exists (at {refs['tags'][tag]})")
            refs["tags"][tag] = oid
            store.save_refs(rtype, repo_id, refs)
        self._send_json({"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": oid})

    def _create_branch(self, rtype: str, repo_id: str, branch: str) -> None:
        body = self._json_body()
        self._body_read = True
        self._repo(rtype, repo_id, write=True)
        if not re.fullmatch(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*", branch) or branch.startswith("refs"):
            raise HubError(400, f"invalid branch name {branch!r}")
        store = self.server.store
        with store.lock(rtype, repo_id):
            oid = self._rev(rtype, repo_id, body.get("startingPoint") or DEFAULT_BRANCH)
            refs = store.refs(rtype, repo_id)
            if branch in refs["branches"]:
                raise HubError(409, f"Branch {branch} already exists")
            refs["branches"][branch] = oid
            store.save_refs(rtype, repo_id, refs)
        self._send_json({"name": branch, "ref": f"refs/heads/{branch}", "targetCommit": oid})

    def _delete_ref(self, rtype: str, repo_id: str, kind: str, name: str) -> None:
        self._repo(rtype, repo_id, write=True)
        store = self.server.store
        with store.lock(rtype, repo_id):
            refs = store.refs(rtype, repo_id)
            if name not in refs[kind] or (kind == "branches" and name == DEFAULT_BRANCH):
                raise HubError(
                    404 if name not in refs[kind] else 403,
                    f"cannot delete {name}",
                    "RevisionNotFound" if name not in refs[kind] else None,
                )
            del refs[kind][name]
            store.save_refs(rtype, repo_id, refs)
        self._send_json({})


class RehearsalHub(ThreadingHTTPServer):
    """ThreadingHTTPServer holding the store and the accepted tokens."""

    daemon_threads = True

    def __init__(
        self,
        addr: tuple[str, int],
        root: Path,
        tokens: set[str] | None = None,
        verbose: bool = False,
        lfs: bool = False,
    ):
        self.store = HubStore(root)
        self.tokens = tokens
        self.verbose = verbose
        self.lfs = lfs
        self.secret = os.urandom(16)  # signs LFS upload URLs
        super().__init__(addr, HubHandler)

    def token_ok(self, token: str) -> bool:
        """Accept ``token`` if it is in the allowed set (or, with no set, if it is non-empty)."""
        return bool(token) and (self.tokens is None or token in self.tokens)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def _tokens_from_env() -> set[str] | None:
    raw = os.environ.get(TOKENS_ENV, "")
    tokens = {t.strip() for t in raw.split(",") if t.strip()}
    return tokens or None


def serve(
    root: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    tokens: set[str] | None = None,
    verbose: bool = False,
    lfs: bool = False,
) -> RehearsalHub:
    """Create (but do not start) a rehearsal Hub storing under ``root``.

    ``tokens`` defaults to ``$HF_SYNTH_HUB_TOKENS`` (comma-separated); with neither, any non-empty token is
    accepted. ``lfs=True`` classifies files as the Hub does (binary, large, ``*.parquet``... travel through
    the git-LFS batch API, which ``Dataset.push_to_hub`` needs); clients must then set
    ``HF_HUB_DISABLE_XET=1``, since Xet storage is not implemented. Run it with ``server.serve_forever()``
    (in a thread or the caller's), stop it with ``server.shutdown()`` then ``server.server_close()``;
    ``server.url`` is its base URL.
    """
    tokens = tokens if tokens is not None else _tokens_from_env()
    return RehearsalHub((host, port), Path(root), tokens, verbose=verbose, lfs=lfs)


@contextlib.contextmanager
def running_hub(
    root: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    tokens: set[str] | None = None,
    lfs: bool = False,
) -> Iterator[str]:
    """Run a rehearsal Hub in a background thread for the duration of the block; yield its URL."""
    server = serve(root, host, port, tokens=tokens, lfs=lfs)
    thread = threading.Thread(target=server.serve_forever, name="hf-synth-hub", daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
