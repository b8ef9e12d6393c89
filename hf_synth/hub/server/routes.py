"""The routing table of the rehearsal Hub: raw path segments → one validated call.

Each segment is decoded once here (:func:`.names.decode_segment`) and every client-controlled value is
validated before a handler sees it. Hub routes this server knows but does not implement answer 501
naming the route; anything else is a 404.
"""

from __future__ import annotations

from hf_synth.hub.server.discussions import DiscussionRoutes
from hf_synth.hub.server.errors import HttpError
from hf_synth.hub.server.names import (
    REPO_TYPES,
    RepoRef,
    check_hex,
    check_path,
    check_ref_name,
    check_revision,
    decode_segment,
    repo_ref,
)
from hf_synth.hub.server.transfer import TransferRoutes

# Hub API routes that real clients call but that make no sense offline (or are not rehearsed).
NOT_IMPLEMENTED = {
    "likes", "like", "scan", "access-requests", "user-access-request", "resource-group", "duplicate",
    "lfs-files", "settings-webhooks", "compute", "jwt", "secrets", "variables", "hardware", "restart",
    "pause", "sleeptime", "events", "logs", "metrics", "treesize", "parquet", "croissant",
}  # fmt: skip


class HubHandler(DiscussionRoutes, TransferRoutes):
    """The request handler of :class:`.app.RehearsalHub`."""

    def not_found(self, method: str) -> HttpError:
        return HttpError(404, f"no route for {method} {self.path[:200]}")

    def route(self, method: str, raw: list[str]) -> None:
        s = [decode_segment(seg) for seg in raw]
        if s[:1] == ["api"]:
            return self.route_api(method, s[1:])
        if s[:1] == ["cas"]:
            return self.cas_route(method, s[1:])
        if s == ["v1", "telemetry"]:  # hf_xet posts its transfer metrics at the endpoint's root
            return self.cas_route(method, s)
        if method == "PUT" and len(s) == 2 and s[0] == "lfs-upload":
            return self.lfs_upload(check_hex(s[1], 64, "LFS oid"))
        if method == "POST" and len(s) == 2 and s[0] == "lfs-verify":
            return self.lfs_verify(check_hex(s[1], 64, "LFS oid"))
        # git-LFS batch: /{datasets,spaces}/ns/name.git/info/lfs/objects/batch, /ns/name.git/... for models
        if method == "POST" and s[-4:] == ["info", "lfs", "objects", "batch"]:
            head = s[:-4]
            if len(head) == 3 and head[0] in ("datasets", "spaces") and head[2].endswith(".git"):
                return self.lfs_batch(repo_ref(head[0][:-1], head[1], head[2][:-4]))
            if len(head) == 2 and head[1].endswith(".git"):
                return self.lfs_batch(repo_ref("model", head[0], head[1][:-4]))
        # downloads: /{datasets,spaces}/ns/name/resolve/rev/path..., /ns/name/resolve/... for models
        if method in ("GET", "HEAD"):
            if len(s) >= 6 and s[0] in ("datasets", "spaces") and s[3] == "resolve":
                return self._resolve(repo_ref(s[0][:-1], s[1], s[2]), s[4:])
            if len(s) >= 5 and s[2] == "resolve" and s[0] not in ("datasets", "spaces"):
                return self._resolve(repo_ref("model", s[0], s[1]), s[3:])
        raise self.not_found(method)

    def _resolve(self, ref: RepoRef, rest: list[str]) -> None:
        # an unquoted "refs/pr/1" or "refs/convert/parquet" spans three segments
        n = 3 if rest[0] == "refs" and len(rest) > 3 else 1
        rev = check_revision("/".join(rest[:n]))
        return self.resolve_file(ref, rev, check_path("/".join(rest[n:])))

    def route_api(self, method: str, s: list[str]) -> None:
        if s == ["whoami-v2"] and method == "GET":
            return self.whoami()
        if s == ["agent-harnesses"] and method == "GET":
            # huggingface_hub fetches this registry once a day; an empty one disables its agent detection
            return self.send_json({"standardEnvVars": [], "harnesses": {}})
        if s == ["repos", "create"] and method == "POST":
            return self.create_repo()
        if s == ["repos", "delete"] and method in ("DELETE", "POST"):
            return self.delete_repo()
        if s == ["repos", "move"] and method == "POST":
            return self.move_repo()
        if s == ["validate-yaml"] and method == "POST":
            return self.validate_yaml()
        if len(s) == 1 and s[0][:-1] in REPO_TYPES and s[0].endswith("s") and method == "GET":
            return self.list_repos(s[0][:-1])
        if len(s) >= 3 and s[0].endswith("s") and s[0][:-1] in REPO_TYPES:
            return self.route_repo(method, repo_ref(s[0][:-1], s[1], s[2]), s[3:])
        raise self.not_found(method)

    def route_repo(self, method: str, ref: RepoRef, rest: list[str]) -> None:
        head, args = (rest[0], rest[1:]) if rest else ("", [])
        if method == "GET" and not rest:
            return self.info(ref, "main")
        if method == "GET" and head == "revision" and len(args) == 1:
            return self.info(ref, check_revision(args[0]))
        if method == "GET" and head == "tree" and args:
            path = "/".join(args[1:]).strip("/")
            return self.tree(ref, check_revision(args[0]), check_path(path) if path else "")
        if method == "POST" and head == "paths-info" and len(args) == 1:
            return self.paths_info(ref, check_revision(args[0]))
        if method == "GET" and head == "refs" and not args:
            return self.refs(ref)
        if method == "GET" and head == "commits" and len(args) == 1:
            return self.commits(ref, check_revision(args[0]))
        if method == "POST" and head == "preupload" and len(args) == 1:
            return self.preupload(ref, check_revision(args[0]))
        if method == "POST" and head == "commit" and len(args) == 1:
            return self.commit(ref, check_revision(args[0]))
        if head == "tag" and len(args) == 1 and method == "POST":
            return self.create_tag(ref, check_revision(args[0]))
        if head == "tag" and len(args) == 1 and method == "DELETE":
            return self.delete_ref(ref, "tags", check_ref_name(args[0], "tag"))
        if head == "branch" and len(args) == 1 and method in ("POST", "DELETE"):
            branch = check_ref_name(args[0], "branch")
            if method == "POST":
                return self.create_branch(ref, branch)
            return self.delete_ref(ref, "branches", branch)
        if head == "settings" and not args and method == "PUT":
            return self.update_settings(ref)
        if head == "super-squash" and len(args) == 1 and method == "POST":
            return self.super_squash(ref, check_ref_name(args[0], "branch"))
        if head in ("xet-read-token", "xet-write-token") and len(args) == 1 and method == "GET":
            return self.xet_token(ref, head.split("-")[1], args[0])
        if head == "discussions":
            return self.route_discussions(method, ref, args)
        if head in NOT_IMPLEMENTED:
            raise HttpError(501, f"{method} /api/{ref.rtype}s/{ref.repo_id}/{head} is not implemented "
                                 "by the rehearsal Hub")  # fmt: skip
        raise self.not_found(method)

    def route_discussions(self, method: str, ref: RepoRef, args: list[str]) -> None:
        if not args and method == "GET":
            return self.list_discussions(ref)
        if not args and method == "POST":
            return self.create_discussion(ref)
        if args and not args[0].isdigit():
            raise HttpError(400, f"discussion number must be a positive integer, got {args[0]!r}")
        if len(args) == 1 and method == "GET":
            return self.discussion_details(ref, args[0])
        if len(args) == 2 and method == "POST" and args[1] in ("comment", "title", "status", "merge"):
            return self.change_discussion(ref, args[0], args[1])
        if len(args) >= 2:
            raise HttpError(501, f"{method} discussions/{args[0]}/{'/'.join(args[1:])} is not implemented "
                                 "by the rehearsal Hub (edit or hide a comment)")  # fmt: skip
        raise self.not_found(method)
