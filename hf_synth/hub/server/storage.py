"""On-disk storage of the rehearsal Hub: repos, commits, refs, discussions, blobs and large files.

Layout under ``root`` (survives restarts)::

    blobs/<sha1[:2]>/<sha1>                              inline file contents, keyed by git blob sha1
    lfs/<sha256[:2]>/<sha256>                            large file contents (git-LFS or rebuilt from Xet)
    xet/...                                              the Xet CAS (see :mod:`.cas`)
    repos/<type>s/<namespace>/<name>/repo.json           repo metadata (private, gated, createdAt)
    repos/<type>s/<namespace>/<name>/refs.json           {"branches": {...}, "tags": {...}, "pulls": {...}}
    repos/<type>s/<namespace>/<name>/commits/<oid>.json  parents, tree {path: entry}, title, message, date
    repos/<type>s/<namespace>/<name>/discussions.json    discussions and pull requests

A tree entry is ``[blob sha1, size]`` for an inline file and ``[pointer sha1, size, sha256]`` for a large
one. A commit id is the sha1 of the commit's canonical JSON. Every write is a temp file + ``os.replace``;
every repo has one lock, keyed by its canonical (case-folded) id. Only validated names reach this module
(:mod:`.names`), and every path it builds is checked to lie under ``root``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from hf_synth.hub.server.errors import HttpError, hub_date
from hf_synth.hub.server.names import RepoRef

DEFAULT_BRANCH = "main"
_GITATTRIBUTES = (
    "*.7z filter=lfs diff=lfs merge=lfs -text\n*.arrow filter=lfs diff=lfs merge=lfs -text\n"
    "*.bin filter=lfs diff=lfs merge=lfs -text\n*.parquet filter=lfs diff=lfs merge=lfs -text\n"
    "*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.zip filter=lfs diff=lfs merge=lfs -text\n"
    "*.png filter=lfs diff=lfs merge=lfs -text\n*.jpg filter=lfs diff=lfs merge=lfs -text\n"
)


def git_blob_sha1(data: bytes) -> str:
    """Git blob id of ``data``: what the Hub sends as the ``ETag`` of a regular file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file git stores for a large file."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def lfs_entry(sha256: str, size: int) -> list:
    """Tree entry of a large file: the pointer's git blob id (what git and the Hub call its oid)."""
    return [git_blob_sha1(lfs_pointer(sha256, size)), size, sha256]


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder: readers never see half a file."""
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


def write_json(path: Path, obj: Any) -> None:
    """:func:`atomic_write` of ``obj`` as JSON."""
    atomic_write(path, json.dumps(obj, indent=1, sort_keys=True).encode())


class TooLarge(Exception):
    """A streamed body exceeded its size limit."""


def stream_to_file(chunks: Iterable[bytes], folder: Path, max_bytes: int) -> tuple[Path, str, int]:
    """Write ``chunks`` to a temp file in ``folder`` (hashing on the fly); return (temp path, sha256, size).

    Raises :class:`TooLarge` (temp file removed) past ``max_bytes``. The caller moves or removes the file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"more than {max_bytes} bytes")
                digest.update(chunk)
                f.write(chunk)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return Path(tmp), digest.hexdigest(), size


class HubStore:
    """Repos, commits, refs, discussions, blobs and large files under ``root``. Thread-safe."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        for sub in ("blobs", "repos", "lfs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._locks: dict[tuple[str, str], threading.RLock] = {}
        self._locks_guard = threading.Lock()
        self._repos_guard = threading.Lock()  # create / delete / move: the set of repos changes

    def under_root(self, *parts: str) -> Path:
        """``root/parts...``, refusing anything that would resolve outside ``root`` (a bug upstream)."""
        path = self.root.joinpath(*parts)
        if not path.resolve().is_relative_to(self.root):
            raise HttpError(400, "path escapes the storage root", "BadRequest")
        return path

    # ---- repos ---------------------------------------------------------------------------------
    def repo_dir(self, ref: RepoRef) -> Path:
        return self.under_root("repos", f"{ref.rtype}s", ref.namespace, ref.name)

    def lock(self, ref: RepoRef) -> threading.RLock:
        """The repo's lock; one per canonical id, so aliases of one repo share it."""
        with self._locks_guard:
            return self._locks.setdefault(ref.lock_key, threading.RLock())

    def meta(self, ref: RepoRef) -> dict | None:
        path = self.repo_dir(ref) / "repo.json"
        return json.loads(path.read_text()) if path.exists() else None

    def save_meta(self, ref: RepoRef, meta: dict) -> None:
        write_json(self.repo_dir(ref) / "repo.json", meta)

    def _same_name_exists(self, ref: RepoRef) -> RepoRef | None:
        base = self.root / "repos" / f"{ref.rtype}s"
        for ns_dir in base.glob("*") if base.exists() else []:
            if ns_dir.name.lower() != ref.namespace.lower():
                continue
            for repo_dir in ns_dir.iterdir():
                if repo_dir.name.lower() == ref.name.lower() and (repo_dir / "repo.json").exists():
                    return RepoRef(ref.rtype, ns_dir.name, repo_dir.name)
        return None

    def create_repo(self, ref: RepoRef, private: bool) -> bool:
        """Create the repo with an initial commit (as the Hub does); False when it already exists
        (under any letter case)."""
        with self._repos_guard, self.lock(ref):
            if self._same_name_exists(ref) is not None:
                return False
            now = hub_date()
            tree = {".gitattributes": self.put_blob(_GITATTRIBUTES.encode())}
            oid = self.write_commit(ref, parents=[], tree=tree, title="initial commit", message="", date=now)
            write_json(
                self.repo_dir(ref) / "refs.json", {"branches": {DEFAULT_BRANCH: oid}, "tags": {}, "pulls": {}}
            )
            # repo.json last: a repo "exists" only once its refs are in place
            self.save_meta(ref, {"private": private, "gated": False, "createdAt": now})
            return True

    def delete_repo(self, ref: RepoRef) -> bool:
        with self._repos_guard, self.lock(ref):
            d = self.repo_dir(ref)
            if not (d / "repo.json").exists():
                return False
            shutil.rmtree(d)  # blobs stay: they are shared and content-addressed
            return True

    def move_repo(self, src: RepoRef, dst: RepoRef) -> None:
        """Rename ``src`` to ``dst`` (404 if ``src`` is missing, 409 if ``dst`` exists)."""
        first, second = sorted((src, dst), key=lambda r: r.lock_key)
        with self._repos_guard, self.lock(first), self.lock(second):
            if self.meta(src) is None:
                raise HttpError(404, f"Repository {src.repo_id} not found", "RepoNotFound")
            if src.lock_key != dst.lock_key and self._same_name_exists(dst) is not None:
                raise HttpError(409, f"Repository {dst.repo_id} already exists")
            target = self.repo_dir(dst)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.repo_dir(src), target)

    def list_repos(self, rtype: str) -> Iterator[RepoRef]:
        """Every repo of one type, sorted by id."""
        base = self.root / "repos" / f"{rtype}s"
        for meta in sorted(base.glob("*/*/repo.json")) if base.exists() else []:
            yield RepoRef(rtype, meta.parent.parent.name, meta.parent.name)

    # ---- refs, commits, discussions ------------------------------------------------------------
    def refs(self, ref: RepoRef) -> dict:
        return json.loads((self.repo_dir(ref) / "refs.json").read_text())

    def save_refs(self, ref: RepoRef, refs: dict) -> None:
        write_json(self.repo_dir(ref) / "refs.json", refs)

    def discussions(self, ref: RepoRef) -> list[dict]:
        path = self.repo_dir(ref) / "discussions.json"
        return json.loads(path.read_text()) if path.exists() else []

    def save_discussions(self, ref: RepoRef, items: list[dict]) -> None:
        write_json(self.repo_dir(ref) / "discussions.json", items)

    def commit(self, ref: RepoRef, oid: str) -> dict:
        return json.loads((self.repo_dir(ref) / "commits" / f"{oid}.json").read_text())

    def resolve(self, ref: RepoRef, rev: str) -> str | None:
        """Commit oid for a validated revision: branch, tag, ``refs/...`` name, full or short commit id."""
        refs = self.refs(ref)
        for prefix, kind in (("refs/heads/", "branches"), ("refs/tags/", "tags"), ("refs/pr/", "pulls")):
            if rev.startswith(prefix):
                return refs[kind].get(rev[len(prefix) :])
        if rev in refs["branches"]:
            return refs["branches"][rev]
        if rev in refs["tags"]:
            return refs["tags"][rev]
        cdir = self.repo_dir(ref) / "commits"
        if len(rev) == 40:
            return rev if (cdir / f"{rev}.json").exists() else None
        if all(c in "0123456789abcdef" for c in rev) and len(rev) >= 7:
            hits = [p.stem for p in cdir.glob(f"{rev}*.json")]
            return hits[0] if len(hits) == 1 else None
        return None

    def write_commit(
        self, ref: RepoRef, *, parents: list[str], tree: dict[str, list], title: str, message: str, date: str
    ) -> str:
        body = {"parents": parents, "tree": tree, "title": title, "message": message, "date": date}
        body["authors"] = ["system" if not parents else "rehearsal-user"]
        oid = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()
        write_json(self.repo_dir(ref) / "commits" / f"{oid}.json", {"id": oid, **body})
        return oid

    def history(self, ref: RepoRef, oid: str) -> Iterator[dict]:
        """Commits from ``oid`` back to the first one, following first parents."""
        cur: str | None = oid
        while cur:
            c = self.commit(ref, cur)
            yield c
            cur = c["parents"][0] if c["parents"] else None

    # ---- contents ------------------------------------------------------------------------------
    def blob_path(self, sha1: str) -> Path:
        return self.root / "blobs" / sha1[:2] / sha1

    def put_blob(self, data: bytes) -> list:
        """Store ``data`` inline; return the tree entry ``[sha1, size]``."""
        sha1 = git_blob_sha1(data)
        path = self.blob_path(sha1)
        if not path.exists():
            atomic_write(path, data)
        return [sha1, len(data)]

    def lfs_path(self, sha256: str) -> Path:
        """Where a large file lives; ``sha256`` must already be validated hex."""
        return self.root / "lfs" / sha256[:2] / sha256

    def put_lfs_file(self, tmp: Path, sha256: str) -> None:
        """Move a fully written and hashed temp file into the large-file store."""
        path = self.lfs_path(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)

    def content_path(self, entry: list) -> Path:
        """Where the bytes of a tree entry live."""
        return self.lfs_path(entry[2]) if len(entry) == 3 else self.blob_path(entry[0])
