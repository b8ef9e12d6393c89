"""Read routes of the repo API: info, listings (tree, paths-info, refs, commits) and repo search."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import urllib.parse
from typing import Any

import yaml

from hf_synth.hub.server.errors import HttpError, bad_request
from hf_synth.hub.server.http import BaseHandler
from hf_synth.hub.server.names import RepoRef, check_path
from hf_synth.hub.server.storage import DEFAULT_BRANCH, HubStore, lfs_pointer

PAGE_SIZE = 1000
PAGE_SIZE_EXPANDED = 50


def folders_of(tree: dict[str, list]) -> set[str]:
    """Every folder that holds a file of ``tree``."""
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


def front_matter(text: str) -> dict | None:
    """The YAML header of a card (None when absent or not a mapping); raises yaml.YAMLError."""
    m = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.S)
    if not m:
        return None
    data = yaml.safe_load(m.group(1))
    return data if isinstance(data, dict) else None


class RepoReadRoutes(BaseHandler):
    """Info and listing routes."""

    def resolve_rev(self, ref: RepoRef, rev: str) -> str:
        oid = self.server.store.resolve(ref, rev)
        if oid is None:
            raise HttpError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return oid

    def file_entry(self, path: str, entry: list) -> dict:
        out: dict[str, Any] = {"type": "file", "oid": entry[0], "size": entry[1], "path": path}
        if len(entry) == 3:
            out["lfs"] = {
                "oid": entry[2],
                "size": entry[1],
                "pointerSize": len(lfs_pointer(entry[2], entry[1])),
            }
            xet_hash = self.server.cas.xet_hash_of(entry[2])
            if xet_hash:
                out["xetHash"] = xet_hash
        return out

    @staticmethod
    def folder_entry(tree: dict[str, list], folder: str) -> dict:
        return {"type": "directory", "oid": _folder_oid(tree, folder), "size": 0, "path": folder}

    def repo_info_dict(self, ref: RepoRef, meta: dict, oid: str, blobs: bool = False) -> dict:
        store: HubStore = self.server.store
        commit = store.commit(ref, oid)
        tree = commit["tree"]
        siblings = []
        for path in sorted(tree):
            sib: dict[str, Any] = {"rfilename": path}
            if blobs:
                sib.update(size=tree[path][1], blobId=tree[path][0])
                if len(tree[path]) == 3:
                    sha, n = tree[path][2], tree[path][1]
                    sib["lfs"] = {"sha256": sha, "size": n, "pointerSize": len(lfs_pointer(sha, n))}
            siblings.append(sib)
        card = None
        if "README.md" in tree:
            text = store.content_path(tree["README.md"]).read_text(encoding="utf-8", errors="replace")
            try:
                card = front_matter(text)
            except yaml.YAMLError:
                card = None
        info: dict[str, Any] = {
            "_id": hashlib.sha1(ref.repo_id.encode()).hexdigest()[:24],
            "id": ref.repo_id,
            "author": ref.namespace,
            "sha": oid,
            "private": bool(meta.get("private")),
            "gated": meta.get("gated", False),
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
        return info

    def info(self, ref: RepoRef, rev: str) -> None:
        meta = self.repo_access(ref)
        oid = self.resolve_rev(ref, rev)
        self.send_json(self.repo_info_dict(ref, meta, oid, blobs=self.query_flag("blobs")))

    def list_repos(self, rtype: str) -> None:
        """``GET /api/{type}s``: search by ``search``/``author``; private repos only with a token."""
        token = self.authorize()
        search = [s.lower() for s in self.query.get("search", [])]
        author = (self.query.get("author") or [None])[0]
        limit_text = (self.query.get("limit") or [""])[0]
        if limit_text and not limit_text.isdigit():
            raise bad_request(f"limit must be a non-negative integer, got {limit_text!r}")
        items = []
        store = self.server.store
        for ref in store.list_repos(rtype):
            meta = store.meta(ref)
            if meta is None or (meta.get("private") and token is None):
                continue
            if author is not None and ref.namespace.lower() != author.lower():
                continue
            if any(s not in ref.repo_id.lower() for s in search):
                continue
            oid = store.refs(ref)["branches"].get(DEFAULT_BRANCH)
            if oid is None:
                continue
            info = self.repo_info_dict(ref, meta, oid)
            info.pop("siblings")
            items.append(info)
        if limit_text:
            items = items[: int(limit_text)]
        self.paged(items, expanded=False)

    # ---- listings ------------------------------------------------------------------------------
    def last_commit(self, ref: RepoRef, oid: str, path: str, is_dir: bool) -> dict:
        """The newest commit on the first-parent chain that changed ``path``."""

        def key(tree: dict) -> Any:
            return _folder_oid(tree, path) if is_dir else tree.get(path)

        chain = list(self.server.store.history(ref, oid))
        found = chain[-1]
        for newer, older in itertools.pairwise(chain):
            if key(newer["tree"]) != key(older["tree"]):
                found = newer
                break
        return {"id": found["id"], "title": found["title"], "date": found["date"]}

    def paged(self, items: list[dict], expanded: bool) -> None:
        size = PAGE_SIZE_EXPANDED if expanded else PAGE_SIZE
        cursor = (self.query.get("cursor") or ["0"])[0] or "0"
        if not cursor.isdigit():
            raise bad_request(f"cursor must be a non-negative integer, got {cursor!r}")
        start = int(cursor)
        headers = {}
        if start + size < len(items):
            q = {k: v[0] for k, v in self.query.items()}
            q["cursor"] = str(start + size)
            path = urllib.parse.urlsplit(self.path).path
            headers["Link"] = f'<{self.endpoint}{path}?{urllib.parse.urlencode(q)}>; rel="next"'
        self.send_json(items[start : start + size], headers=headers)

    def tree(self, ref: RepoRef, rev: str, path: str) -> None:
        self.repo_access(ref)
        oid = self.resolve_rev(ref, rev)
        tree = self.server.store.commit(ref, oid)["tree"]
        recursive, expand = self.query_flag("recursive"), self.query_flag("expand")
        folders = folders_of(tree)
        if path and path not in folders:
            if path not in tree:
                raise HttpError(404, f"{path} does not exist at {rev}", "EntryNotFound")
            items = [self.file_entry(path, tree[path])]  # the Hub answers a file path with that file
        else:
            prefix = path + "/" if path else ""
            items = []
            for f in sorted(folders):
                rel = f[len(prefix) :] if f.startswith(prefix) else None
                if rel and (recursive or "/" not in rel):
                    items.append(self.folder_entry(tree, f))
            for p in sorted(tree):
                rel = p[len(prefix) :] if p.startswith(prefix) else None
                if rel and (recursive or "/" not in rel):
                    items.append(self.file_entry(p, tree[p]))
        if expand:
            for it in items:
                it["lastCommit"] = self.last_commit(ref, oid, it["path"], it["type"] == "directory")
        self.paged(items, expand)

    def paths_info(self, ref: RepoRef, rev: str) -> None:
        self.repo_access(ref)
        oid = self.resolve_rev(ref, rev)
        raw = self.read_body()
        if raw.lstrip().startswith(b"{"):  # JSON from other clients
            try:
                body = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise bad_request(f"invalid JSON body: {e}") from None
            paths, expand = body.get("paths", []), body.get("expand", False)
            if not isinstance(paths, list) or not isinstance(expand, bool):
                raise bad_request("paths-info expects {'paths': [str, ...], 'expand': bool}")
        else:  # the client posts a form: paths=a&paths=b&expand=False
            try:
                form = urllib.parse.parse_qs(raw.decode(), keep_blank_values=True, max_num_fields=10000)
            except (UnicodeDecodeError, ValueError):
                raise bad_request("paths-info form body is not valid") from None
            paths = form.get("paths", [])
            expand = form.get("expand", ["false"])[0].lower() in ("1", "true")
        tree = self.server.store.commit(ref, oid)["tree"]
        folders = folders_of(tree)
        out = []
        for p in paths:
            if not isinstance(p, str):
                raise bad_request(f"paths-info paths must be strings, got {p!r}")
            if not p.strip("/"):
                continue
            p = check_path(p.strip("/"), "paths entry")
            if p in tree:
                out.append(self.file_entry(p, tree[p]))
            elif p in folders:
                out.append(self.folder_entry(tree, p))
            else:
                continue  # the Hub silently skips missing paths
            if expand:
                out[-1]["lastCommit"] = self.last_commit(ref, oid, p, p in folders)
        self.send_json(out)

    def refs(self, ref: RepoRef) -> None:
        self.repo_access(ref)
        refs = self.server.store.refs(ref)

        def fmt(kind: str, prefix: str) -> list[dict]:
            return [
                {"name": n, "ref": f"{prefix}{n}", "targetCommit": o} for n, o in sorted(refs[kind].items())
            ]

        out = {"branches": fmt("branches", "refs/heads/"), "tags": fmt("tags", "refs/tags/"), "converts": []}
        if self.query_flag("include_prs"):
            out["pullRequests"] = fmt("pulls", "refs/pr/")
        self.send_json(out)

    def commits(self, ref: RepoRef, rev: str) -> None:
        self.repo_access(ref)
        oid = self.resolve_rev(ref, rev)
        items = [
            {
                "id": c["id"],
                "title": c["title"],
                "message": c["message"],
                "date": c["date"],
                "authors": [{"user": a} for a in c["authors"]],
            }
            for c in self.server.store.history(ref, oid)
        ]
        self.paged(items, expanded=False)
