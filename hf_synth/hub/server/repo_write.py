"""Write routes of the repo API: repo lifecycle and settings, preupload, commits, branches and tags."""

from __future__ import annotations

import base64
import codecs
import json
from typing import Any

import yaml

from hf_synth.hub.server.errors import HttpError, bad_request, hub_date
from hf_synth.hub.server.names import (
    RepoRef,
    check_hex,
    check_path,
    check_ref_name,
    check_repo_type,
    check_revision,
    repo_ref,
    repo_ref_from_id,
)
from hf_synth.hub.server.repo_read import RepoReadRoutes, folders_of, front_matter
from hf_synth.hub.server.storage import DEFAULT_BRANCH, lfs_entry

USER_NAME = "rehearsal-user"
COMMIT_LIMIT = 512 * 1024 * 1024  # inline files travel base64-encoded in the commit body
# What the Hub's default .gitattributes and preupload send through LFS/Xet, besides binary or >= 10 MB.
LFS_SUFFIXES = (
    ".7z", ".arrow", ".bin", ".bz2", ".ckpt", ".ftz", ".gz", ".h5", ".joblib", ".lz4", ".mds", ".model",
    ".msgpack", ".npy", ".npz", ".onnx", ".ot", ".parquet", ".pb", ".pickle", ".pkl", ".pt", ".pth",
    ".rar", ".safetensors", ".tar", ".tflite", ".tgz", ".wasm", ".xz", ".zip", ".zst", ".mp3", ".wav",
    ".flac", ".ogg", ".jpg", ".jpeg", ".png", ".webp", ".gif", ".avif", ".bmp", ".tiff",
)  # fmt: skip
LFS_MIN_SIZE = 10 * 1024 * 1024


def looks_binary(sample: bytes) -> bool:
    """What the Hub calls binary: a NUL byte or bytes that are not UTF-8 (a cut last character is fine)."""
    if b"\0" in sample:
        return True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return True
    return False


def wants_lfs(path: str, size: int, sample: bytes) -> bool:
    """How the Hub's preupload classifies a file: large, binary or an LFS-tracked suffix."""
    return size > 0 and (size >= LFS_MIN_SIZE or path.lower().endswith(LFS_SUFFIXES) or looks_binary(sample))


def _field(body: dict, key: str, kind: type | tuple, default: Any = None, required: bool = False) -> Any:
    value = body.get(key, default)
    if value is None and not required:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise bad_request(f"field {key!r} must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


class RepoWriteRoutes(RepoReadRoutes):
    """Routes that change repos."""

    def repo_url(self, ref: RepoRef) -> str:
        return f"{self.endpoint}/{ref.url_prefix}"

    def whoami(self) -> None:
        if self.authorize() is None:
            raise HttpError(401, "Invalid credentials in Authorization header")
        self.send_json(
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

    def create_repo(self) -> None:
        self.authorize(write=True)
        body = self.json_body()
        rtype = check_repo_type(body.get("type") or "model")
        ref = repo_ref(
            rtype, _field(body, "organization", str, USER_NAME), _field(body, "name", str, required=True)
        )
        private = body.get("visibility") == "private" or bool(_field(body, "private", bool, False))
        url = self.repo_url(ref)
        if not self.server.store.create_repo(ref, private):
            # the client reads `url` from the 409 body when exist_ok=True
            raise HttpError(409, "You already created this repo", extra={"url": url})
        self.send_json({"url": url, "name": ref.repo_id, "id": ref.repo_id})

    def delete_repo(self) -> None:
        self.authorize(write=True)
        body = self.json_body()
        rtype = check_repo_type(body.get("type") or "model")
        ref = repo_ref(
            rtype, _field(body, "organization", str, USER_NAME), _field(body, "name", str, required=True)
        )
        if not self.server.store.delete_repo(ref):
            raise HttpError(404, f"Repository {ref.repo_id} not found", "RepoNotFound")
        self.send_json({})

    def move_repo(self) -> None:
        self.authorize(write=True)
        body = self.json_body()
        rtype = check_repo_type(body.get("type") or "model")
        src = repo_ref_from_id(rtype, body.get("fromRepo"))
        dst = repo_ref_from_id(rtype, body.get("toRepo"))
        self.server.store.move_repo(src, dst)
        self.send_json({"url": self.repo_url(dst)})

    def update_settings(self, ref: RepoRef) -> None:
        meta = self.repo_access(ref, write=True)
        body = self.json_body()
        unknown = set(body) - {"private", "visibility", "gated", "discussionsDisabled"}
        if unknown:
            raise bad_request(f"unsupported repo settings {sorted(unknown)}")
        if "visibility" in body:
            if body["visibility"] not in ("public", "private", "protected"):
                raise bad_request(
                    f"visibility must be public, private or protected, got {body['visibility']!r}"
                )
            meta["private"] = body["visibility"] != "public"
        if "private" in body:
            meta["private"] = _field(body, "private", bool)
        if "gated" in body:
            if body["gated"] not in ("auto", "manual", False):
                raise bad_request(f"gated must be 'auto', 'manual' or false, got {body['gated']!r}")
            meta["gated"] = body["gated"]
        if "discussionsDisabled" in body:
            meta["discussionsDisabled"] = _field(body, "discussionsDisabled", bool)
        with self.server.store.lock(ref):
            self.server.store.save_meta(ref, meta)
        self.send_json({"private": meta["private"], "gated": meta.get("gated", False)})

    def validate_yaml(self) -> None:
        self.authorize()
        body = self.json_body()
        try:
            front_matter(_field(body, "content", str, ""))
        except yaml.YAMLError as e:
            self.send_json({"errors": [{"message": f"YAML does not parse: {e}"}], "warnings": []}, 400)
            return
        self.send_json({"errors": [], "warnings": []})

    # ---- commits -------------------------------------------------------------------------------
    def preupload(self, ref: RepoRef, rev: str) -> None:
        self.repo_access(ref, write=True)
        body = self.json_body()
        store = self.server.store
        oid = store.resolve(ref, rev)
        tree = store.commit(ref, oid)["tree"] if oid else {}
        files = []
        for f in _field(body, "files", list, []):
            if not isinstance(f, dict):
                raise bad_request("each preupload file must be an object with path, size and sample")
            path = check_path(_field(f, "path", str, required=True))
            size = _field(f, "size", int, 0)
            try:
                sample = base64.b64decode(_field(f, "sample", str, ""), validate=True)[:512]
            except ValueError:
                raise bad_request(f"sample of {path} is not valid base64") from None
            lfs = self.server.lfs and wants_lfs(path, size, sample)
            # `oid` (sha256 for LFS, git sha1 inline: what the client computes) lets it skip unchanged files
            entry = tree.get(path)
            remote = None if entry is None else (entry[2] if lfs and len(entry) == 3 else entry[0])
            mode = "lfs" if lfs else "regular"
            files.append({"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": remote})
        self.send_json({"files": files, "commitOid": oid})

    def commit(self, ref: RepoRef, rev: str) -> None:
        self.repo_access(ref, write=True)
        create_pr = self.query_flag("create_pr")
        raw = self.read_body(COMMIT_LIMIT)
        try:
            lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise bad_request(f"commit payload is not NDJSON: {e}") from None
        if not lines or not all(isinstance(x, dict) for x in lines) or lines[0].get("key") != "header":
            raise bad_request("commit payload must be NDJSON objects starting with a header line")
        header = _field(lines[0], "value", dict, {})
        summary = _field(header, "summary", str, "").strip()
        if not summary:
            raise bad_request("commit summary must not be empty")
        description = _field(header, "description", str, "")
        parent = _field(header, "parentCommit", str)
        store = self.server.store
        with store.lock(ref):
            refs = store.refs(ref)
            if create_pr:
                if rev not in refs["branches"]:
                    raise bad_request(f"pull requests can only target a branch, not {rev!r}")
                head = refs["branches"][rev]
            else:
                if rev not in refs["branches"] and not rev.startswith("refs/pr/"):
                    raise HttpError(404, f"Invalid rev id: {rev} is not a branch", "RevisionNotFound")
                head = self.resolve_rev(ref, rev)
            if parent:
                parent_oid = store.resolve(ref, check_revision(parent))
                if parent_oid is None:
                    raise HttpError(404, f"parentCommit {parent} not found", "RevisionNotFound")
                if create_pr:
                    head = parent_oid
                elif parent_oid != head:
                    # someone else committed since the client looked: refuse, like the Hub does
                    raise HttpError(
                        412,
                        f"A commit has happened since {parent}: the head of {rev} is now {head}. "
                        "Pull the changes and retry.",
                    )
            tree = dict(store.commit(ref, head)["tree"])
            for op in lines[1:]:
                self._apply(op, tree)
            clash = folders_of(tree) & tree.keys()
            if clash:  # git cannot hold a file and a folder under one name
                raise bad_request(f"{sorted(clash)[0]} would be both a file and a folder")
            new = store.write_commit(
                ref, parents=[head], tree=tree, title=summary, message=description, date=hub_date()
            )
            result: dict[str, Any] = {
                "success": True,
                "commitOid": new,
                "commitUrl": f"{self.repo_url(ref)}/commit/{new}",
                "pullRequestUrl": None,
            }
            if create_pr:
                num = self.open_discussion(ref, refs, summary, description, pull_request=True, head=new)
                result["pullRequestUrl"] = f"{self.repo_url(ref)}/discussions/{num}"
            elif rev.startswith("refs/pr/"):
                refs["pulls"][rev[len("refs/pr/") :]] = new
            else:
                refs["branches"][rev] = new
            store.save_refs(ref, refs)
        self.send_json(result)

    def open_discussion(self, ref: RepoRef, refs: dict, title: str, description: str, *, pull_request: bool,
                        head: str | None = None) -> int:  # fmt: skip
        """Add a discussion (a pull request when ``pull_request``, its ref at ``head``); return its number.

        The caller holds the repo lock and saves ``refs`` afterwards."""
        store = self.server.store
        items = store.discussions(ref)
        num = max([d["num"] for d in items] + [int(n) for n in refs["pulls"]] + [0]) + 1
        now = hub_date()
        event = {
            "id": f"{num:024x}",
            "type": "comment",
            "createdAt": now,
            "author": {"name": USER_NAME},
            "data": {"edited": False, "hidden": False, "latest": {"raw": description}},
        }
        items.append(
            {
                "num": num,
                "title": title,
                "isPullRequest": pull_request,
                "status": "open",
                "createdAt": now,
                "author": {"name": USER_NAME},
                "events": [event],
                "base": DEFAULT_BRANCH,
            }
        )
        if pull_request:
            refs["pulls"][str(num)] = head or refs["branches"][DEFAULT_BRANCH]
        store.save_discussions(ref, items)
        return num

    def _apply(self, op: dict, tree: dict[str, list]) -> None:
        key = op.get("key")
        value = _field(op, "value", dict, {})
        path = check_path(_field(value, "path", str, "").strip("/"), "path in commit")
        if key == "file":
            if value.get("encoding", "base64") != "base64":
                raise bad_request(f"unsupported encoding {value.get('encoding')!r}")
            try:
                data = base64.b64decode(_field(value, "content", str, ""), validate=True)
            except ValueError:
                raise bad_request(f"content of {path} is not valid base64") from None
            tree[path] = self.server.store.put_blob(data)
        elif key == "deletedFile":
            if path not in tree:
                raise HttpError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            del tree[path]
        elif key == "deletedFolder":
            gone = [p for p in tree if p.startswith(path + "/")]
            if not gone:
                raise HttpError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
            for p in gone:
                del tree[p]
        elif key == "lfsFile":
            sha256 = check_hex(_field(value, "oid", str, ""), 64, "LFS oid")
            lfs = self.server.store.lfs_path(sha256)
            if not lfs.exists():
                raise HttpError(422, f"LFS object {sha256} for {path} was not uploaded")
            tree[path] = lfs_entry(sha256, lfs.stat().st_size)
        else:
            raise bad_request(f"unknown commit operation {key!r}")

    def super_squash(self, ref: RepoRef, branch: str) -> None:
        self.repo_access(ref, write=True)
        body = self.json_body()
        message = _field(body, "message", str, "") or f"Super-squash branch '{branch}'"
        store = self.server.store
        with store.lock(ref):
            refs = store.refs(ref)
            if branch not in refs["branches"]:
                raise HttpError(404, f"Invalid rev id: {branch} is not a branch", "RevisionNotFound")
            tree = store.commit(ref, refs["branches"][branch])["tree"]
            new = store.write_commit(ref, parents=[], tree=tree, title=message, message="", date=hub_date())
            refs["branches"][branch] = new
            store.save_refs(ref, refs)
        self.send_json({"commitId": new})

    # ---- refs ----------------------------------------------------------------------------------
    def create_tag(self, ref: RepoRef, rev: str) -> None:
        self.repo_access(ref, write=True)
        body = self.json_body()
        tag = check_ref_name(_field(body, "tag", str, "").strip(), "tag")
        self._add_ref(ref, "tags", tag, rev, f"refs/tags/{tag}")

    def create_branch(self, ref: RepoRef, branch: str) -> None:
        self.repo_access(ref, write=True)
        body = self.json_body()
        start = check_revision(_field(body, "startingPoint", str, DEFAULT_BRANCH))
        self._add_ref(ref, "branches", branch, start, f"refs/heads/{branch}")

    def _add_ref(self, ref: RepoRef, kind: str, name: str, rev: str, full_name: str) -> None:
        """Point a new tag or branch (`kind`: "tags" | "branches") at `rev`; 409 when the name is taken."""
        store = self.server.store
        with store.lock(ref):
            oid = self.resolve_rev(ref, rev)
            refs = store.refs(ref)
            if name in refs[kind]:
                label = "Tag" if kind == "tags" else "Branch"
                raise HttpError(409, f"{label} {name} already exists (at {refs[kind][name]})")
            refs[kind][name] = oid
            store.save_refs(ref, refs)
        self.send_json({"name": name, "ref": full_name, "targetCommit": oid})

    def delete_ref(self, ref: RepoRef, kind: str, name: str) -> None:
        self.repo_access(ref, write=True)
        store = self.server.store
        with store.lock(ref):
            refs = store.refs(ref)
            if name not in refs[kind]:
                raise HttpError(404, f"cannot delete {name}: not found", "RevisionNotFound")
            if kind == "branches" and name == DEFAULT_BRANCH:
                raise HttpError(403, f"cannot delete the default branch {name}")
            del refs[kind][name]
            store.save_refs(ref, refs)
        self.send_json({})
