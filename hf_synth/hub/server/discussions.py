"""Discussion and pull-request routes: list, open, details, comment, rename, close/reopen, merge.

A pull request is a discussion with a ``refs/pr/<num>`` ref. Merging fast-forwards the target branch
to the pull request's head when the branch has not moved since the pull request was based on it, and
answers 409 otherwise (the rehearsal Hub does no three-way merges).
"""

from __future__ import annotations

from typing import Any

from hf_synth.hub.server.errors import HttpError, bad_request, hub_date
from hf_synth.hub.server.names import RepoRef
from hf_synth.hub.server.repo_write import USER_NAME, RepoWriteRoutes, _field

PAGE = 50


class DiscussionRoutes(RepoWriteRoutes):
    """``/api/{type}s/{ns}/{name}/discussions[...]``."""

    def _summary(self, ref: RepoRef, d: dict) -> dict:
        keys = ("num", "title", "isPullRequest", "status", "createdAt", "author")
        return {**{k: d[k] for k in keys}, "repo": {"name": ref.repo_id, "type": ref.rtype}}

    def list_discussions(self, ref: RepoRef) -> None:
        self.repo_access(ref)
        kind = (self.query.get("type") or ["all"])[0]
        status = (self.query.get("status") or ["all"])[0]
        page = (self.query.get("p") or ["0"])[0]
        if kind not in ("all", "discussion", "pull_request") or status not in ("all", "open", "closed"):
            raise bad_request("type must be all|discussion|pull_request and status all|open|closed")
        if not page.isdigit():
            raise bad_request(f"p must be a non-negative integer, got {page!r}")
        items = [
            d
            for d in reversed(self.server.store.discussions(ref))
            if (kind == "all" or d["isPullRequest"] == (kind == "pull_request"))
            and (status == "all" or (d["status"] == "open") == (status == "open"))
        ]
        start = int(page) * PAGE
        page_items = [self._summary(ref, d) for d in items[start : start + PAGE]]
        self.send_json({"discussions": page_items, "count": len(items), "start": start})

    def create_discussion(self, ref: RepoRef) -> None:
        self.repo_access(ref, write=True)
        body = self.json_body()
        title = _field(body, "title", str, "").strip()
        if not title:
            raise bad_request("a discussion needs a non-empty title")
        description = _field(body, "description", str, "")
        pull_request = _field(body, "pullRequest", bool, False)
        store = self.server.store
        with store.lock(ref):
            refs = store.refs(ref)
            num = self.open_discussion(ref, refs, title, description, pull_request=pull_request)
            store.save_refs(ref, refs)
        self.send_json({"num": num, "url": f"{self.repo_url(ref)}/discussions/{num}"})

    def _find(self, items: list[dict], num: str) -> dict:
        for d in items:
            if str(d["num"]) == num:
                return d
        raise HttpError(404, f"Discussion {num} not found")

    def discussion_details(self, ref: RepoRef, num: str) -> None:
        self.repo_access(ref)
        store = self.server.store
        d = self._find(store.discussions(ref), num)
        out: dict[str, Any] = {**self._summary(ref, d), "events": d["events"], "diff": ""}
        if d["isPullRequest"]:
            out["changes"] = {"base": f"refs/heads/{d['base']}"}
            if d.get("mergeCommitId"):
                out["changes"]["mergeCommitId"] = d["mergeCommitId"]
            out["filesWithConflicts"] = []
        self.send_json(out)

    def change_discussion(self, ref: RepoRef, num: str, resource: str) -> None:
        """``POST .../discussions/{num}/{comment|title|status|merge}``."""
        self.repo_access(ref, write=True)
        body = self.json_body()
        store = self.server.store
        with store.lock(ref):
            items = store.discussions(ref)
            d = self._find(items, num)
            event: dict[str, Any] = {
                "id": f"{d['num']:08x}{len(d['events']):016x}",
                "createdAt": hub_date(),
                "author": {"name": USER_NAME},
            }
            if resource == "comment":
                text = _field(body, "comment", str, "").strip()
                if not text:
                    raise bad_request("a comment must not be empty")
                event.update(type="comment", data={"edited": False, "hidden": False, "latest": {"raw": text}})
                answer = "newMessage"
            elif resource == "title":
                title = _field(body, "title", str, "").strip()
                if not title:
                    raise bad_request("a title must not be empty")
                event.update(type="title-change", data={"from": d["title"], "to": title})
                d["title"], answer = title, "newTitle"
            elif resource == "status":
                status = _field(body, "status", str, "")
                if status not in ("open", "closed") or d["status"] == "merged":
                    raise bad_request(f"status must be 'open' or 'closed' (and not merged), got {status!r}")
                event.update(type="status-change", data={"status": status})
                d["status"], answer = status, "newStatus"
            else:
                event.update(type="status-change", data={"status": "merged"})
                self._merge(ref, d)
                answer = "newStatus"
            d["events"].append(event)
            store.save_discussions(ref, items)
        self.send_json({answer: event})

    def _merge(self, ref: RepoRef, d: dict) -> None:
        store = self.server.store
        if not d["isPullRequest"] or d["status"] != "open":
            raise bad_request(f"discussion {d['num']} is not an open pull request")
        refs = store.refs(ref)
        head = refs["pulls"][str(d["num"])]
        base = refs["branches"].get(d["base"])
        if base is None:
            raise HttpError(404, f"target branch {d['base']} no longer exists", "RevisionNotFound")
        if base not in {c["id"] for c in store.history(ref, head)}:
            raise HttpError(409, f"{d['base']} moved since the pull request was opened: rebase it first")
        refs["branches"][d["base"]] = head
        store.save_refs(ref, refs)
        d["status"], d["mergeCommitId"] = "merged", head
