"""Atomic release of a generated dataset folder to the Hugging Face Hub.

One ``create_commit`` carries the whole release (data, card, report, recipe, charts, and the deletion of the
previous release's data/images files) with ``parent_commit`` set, so a concurrent change is refused instead
of merged; the tag is created afterwards on that exact commit. Every check that can fail (local files, an
incomplete run, the card, token, existing tag) runs before anything is written to the remote.

What is uploaded is what a reader of the target repo should see: the card is rendered for the target repo id
by the caller's ``render_card`` callback (the card stage sits above this one), and the text files carry no
secret of the environment and no absolute local path (the folder reads as ``.``, the home folder as ``~``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hf_synth.errors import HubError, IncompleteFolderError
from hf_synth.secrets import REDACTED, secret_values

# What a release is made of: everything else in the folder (the run store .hf-synth/, stray files)
# stays local.
ROOT_FILES = ("README.md", "report.json", "recipe.yaml")
MANAGED_DIRS = ("data/", "images/")  # remote files under these that are not in the release get deleted
DEFAULT_BRANCH = "main"
_REPO_ID_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*$")
TEXT_FILES = ROOT_FILES  # checked for secrets and absolute local paths before upload

#: (folder, resolved repo id) → {repo path: content} to upload instead of the local files (the card for that
#: repo id and the charts it links); see `hf_synth.card.publish.release_card`.
CardRenderer = Callable[[Path, str], Mapping[str, bytes]]


class PushError(HubError):
    """A release could not be pushed; the message says why and what to do (never the token)."""


@dataclass
class PushResult:
    """What a push did."""

    repo_id: str
    commit_oid: str
    commit_url: str
    tag: str | None
    added: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    pr_url: str | None = None
    changed: bool = True  # False when the remote already held exactly these files (no new commit)


def release_files(folder: Path, repo_id: str) -> list[str]:
    """Repo paths (posix, sorted) of the files of ``folder`` that make up a release.

    Parquet files under ``data/``, ``README.md``, ``report.json``, ``recipe.yaml`` and files under
    ``images/``; hidden files and folders (``.hf-synth/``) never. Raises :class:`PushError` when the folder
    is not a release.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise PushError(f"{folder} is not a folder")
    out: list[str] = [name for name in ROOT_FILES if (folder / name).is_file()]
    if "README.md" not in out:
        raise PushError(f"{folder} has no README.md: it is not a release folder (run `hf-synth generate`)")
    for sub, pattern in (("data", "*.parquet"), ("images", "*")):
        base = folder / sub
        if not base.is_dir():
            continue
        for p in sorted(base.rglob(pattern)):
            rel = p.relative_to(folder)
            if p.is_file() and not any(part.startswith(".") for part in rel.parts):
                out.append(rel.as_posix())
    if not any(p.startswith("data/") for p in out):
        raise PushError(f"{folder}/data has no parquet files: nothing to release")
    # A root-level <repo_name>.py makes load_dataset refuse the repo ("Dataset scripts are no longer
    # supported"); the globs above cannot produce one, this guards against future edits.
    script = f"{repo_id.split('/')[-1]}.py"
    if script in out:
        raise PushError(f"refusing to upload {script}: dataset scripts break load_dataset")
    return sorted(out)


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def check_complete(folder: Path) -> None:
    """Raise `IncompleteFolderError` when ``folder/report.json`` says the run stopped short (``complete:
    false``); a folder without report.json, or a report without the key, counts as complete."""
    path = Path(folder) / "report.json"
    if not path.is_file():
        return
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise PushError(
            f"{path} is not valid JSON ({exc}): re-run `hf-synth generate` to rewrite the folder"
        ) from None
    if not isinstance(report, dict) or report.get("complete", True) is not False:
        return
    info = report.get("incomplete") or {}
    planned = (report.get("plan") or {}).get("total")
    missing = info.get("missing_rows")
    size = "rows are missing"
    if missing is not None and planned:
        size = f"{missing} of {planned} planned rows are missing"
    raise IncompleteFolderError(
        f"{folder} holds an incomplete run ({size}): it is not for release and nothing was pushed. Re-run "
        "`hf-synth generate` with the same recipe and --out to finish it, then push."
    )


def _local_prefixes(folder: Path) -> list[tuple[str, str]]:
    """(absolute local path, what a reader sees instead), longest first: the folder is ``.``, home ``~``."""
    pairs = {str(folder.resolve()): ".", str(folder.absolute()): "."}
    home = Path.home()
    if len(home.parts) > 1:  # a home of "/" would rewrite every absolute path
        pairs.setdefault(str(home), "~")
        pairs.setdefault(str(home.resolve()), "~")
    return sorted(pairs.items(), key=lambda kv: len(kv[0]), reverse=True)


def public_text(text: str, folder: Path, token: str | None = None) -> str:
    """``text`` as it may leave the machine: environment secrets (and ``token``) as [REDACTED], the folder's
    absolute path as ``.`` and the home folder as ``~`` (whole path components only)."""
    for secret in [*secret_values(), *([token] if token else [])]:
        text = text.replace(secret, REDACTED)
    for prefix, shown in _local_prefixes(Path(folder)):
        text = re.sub(re.escape(prefix) + r"(?![A-Za-z0-9_.-])", shown, text)
    return text


def upload_contents(
    folder: Path, paths: list[str], overrides: Mapping[str, bytes], token: str | None = None
) -> dict[str, bytes | str]:
    """{repo path: bytes to upload, or the local file path} for ``paths`` plus ``overrides``: an override
    replaces the local file; the text files (README.md, report.json, recipe.yaml) go through
    :func:`public_text`; every other file is uploaded from disk as it is."""
    stray = [p for p in overrides if p not in ROOT_FILES and not p.startswith(MANAGED_DIRS)]
    if stray:
        raise PushError(f"the card renderer returned files outside a release: {', '.join(sorted(stray))}")
    out: dict[str, bytes | str] = {}
    for p in sorted(set(paths) | set(overrides)):
        if p in TEXT_FILES:
            raw = overrides[p] if p in overrides else (folder / p).read_bytes()
            # surrogateescape: bytes that are not UTF-8 pass through unchanged instead of failing the push
            text = public_text(raw.decode("utf-8", "surrogateescape"), folder, token)
            out[p] = text.encode("utf-8", "surrogateescape")
        elif p in overrides:
            out[p] = bytes(overrides[p])
        else:
            out[p] = str(folder / p)
    return out


def _http_status(err: BaseException) -> int | None:
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None)


def push_folder(
    folder: Path,
    repo_id: str,
    *,
    tag: str | None = None,
    private: bool = False,
    revision: str | None = None,
    create_pr: bool = False,
    token: str | None = None,
    message: str | None = None,
    endpoint: str | None = None,
    render_card: CardRenderer | None = None,
) -> PushResult:
    """Push the release in ``folder`` to the dataset repo ``repo_id`` as one commit, then tag it.

    ``token`` defaults to ``HF_TOKEN`` / the ``hf auth login`` token; ``endpoint`` to ``HF_ENDPOINT``.
    ``repo_id`` without a namespace goes to the token owner's. ``revision`` is the target branch (default
    ``main``; created from ``main`` when missing). ``render_card(folder, repo_id)`` (the resolved id) gives
    the card files to upload instead of the local ones (``hf_synth.card.publish.release_card``: its snippets
    and citation name ``repo_id``); without it the local card is uploaded as it is.
    Raises `IncompleteFolderError` (exit 3) for a folder whose report says the run is incomplete, and
    :class:`PushError` with an actionable message otherwise; the remote is unchanged when either is raised
    before the commit (bad or incomplete folder, bad token, existing tag, concurrent change).
    """
    # Imported here: huggingface_hub reads HF_ENDPOINT/HF_HOME at import time, so importing it lazily
    # lets callers (the CLI, tests) set them first.
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token
    from huggingface_hub.errors import HfHubHTTPError

    if not _REPO_ID_RE.match(repo_id):
        raise PushError(f"--repo-id must look like ORG/NAME (or NAME: your namespace), got {repo_id!r}")
    if tag is not None and create_pr:
        raise PushError("--tag and --create-pr do not go together: tag the release once the PR is merged")
    folder = Path(folder)
    paths = release_files(folder, repo_id)
    check_complete(folder)

    token = token or get_token()
    if not token:
        raise PushError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    api = HfApi(endpoint=endpoint, token=token)
    where = api.endpoint
    branch = revision or DEFAULT_BRANCH

    def fail(step: str, err: BaseException) -> PushError:
        status = _http_status(err)
        if status == 401:
            return PushError(f"authentication failed for {where}: check HF_TOKEN")
        if status == 403:
            return PushError(
                f"permission denied on {where} for {repo_id} ({step}): the token needs write access"
            )
        if status == 412:
            return PushError(
                f"{repo_id}@{branch} changed while pushing (another push?): nothing was "
                "committed; run the push again"
            )
        # the client's messages carry URLs and server text, never headers; scrub anyway
        detail = str(err) if isinstance(err, HfHubHTTPError) else f"{type(err).__name__}: {err}"
        return PushError(_scrub(f"{step} failed on {where}: {detail}", token))

    state: dict[str, Any] = {}
    try:
        state["step"] = "token check"
        me = api.whoami()
    except Exception as err:  # HTTP errors, and network ones (unreachable endpoint, timeouts)
        raise fail(state["step"], err) from None
    if "/" not in repo_id:  # a bare name lives in the token owner's namespace, as on the Hub
        repo_id = f"{me['name']}/{repo_id}"
    # Rendered for the resolved id before the first write: a card that cannot be rendered changes nothing.
    contents = upload_contents(folder, paths, render_card(folder, repo_id) if render_card else {}, token)
    try:
        state["step"] = "create repo"
        api.create_repo(repo_id, repo_type="dataset", exist_ok=True, private=private)
        state["step"] = "read refs"
        refs = api.list_repo_refs(repo_id, repo_type="dataset")
    except PushError:
        raise
    except Exception as err:  # HTTP errors, and network ones (unreachable endpoint, timeouts)
        raise fail(state["step"], err) from None

    if tag is not None:
        for t in refs.tags:
            if t.name == tag:
                raise PushError(f"tag {tag} exists at {t.target_commit}: bump the version")
    heads = {b.name: b.target_commit for b in refs.branches}

    try:
        if branch not in heads:
            if create_pr:
                raise PushError(f"branch {branch} does not exist on {repo_id}: a PR needs an existing target")
            base = heads.get(DEFAULT_BRANCH)
            state["step"] = "create branch"
            api.create_branch(repo_id, branch=branch, revision=base, repo_type="dataset")
            heads[branch] = base  # a new branch starts at main's head
        head = heads[branch]
        state["step"] = "list remote files"
        # listed at the head commit (not the branch name) so the deletions match the parent we commit on
        remote = api.list_repo_files(repo_id, repo_type="dataset", revision=head)
        local = set(contents)
        # A root `<repo name>.py` makes datasets>=4 refuse the repo ("Dataset scripts are no longer
        # supported"), so a release removes one left by an older tool.
        script = f"{repo_id.split('/')[-1]}.py"
        deleted = sorted(p for p in remote if (p.startswith(MANAGED_DIRS) and p not in local) or p == script)
        operations: list[Any] = [
            CommitOperationAdd(path_in_repo=p, path_or_fileobj=content) for p, content in contents.items()
        ]
        operations += [CommitOperationDelete(path_in_repo=p) for p in deleted]
        summary = message or (f"Release {tag}" if tag else "Update dataset (hf-synth)")
        state["step"] = "commit"
        info = api.create_commit(
            repo_id,
            operations=operations,
            commit_message=summary,
            repo_type="dataset",
            revision=branch,
            parent_commit=head,
            create_pr=create_pr,
            commit_description=f"hf-synth release: {len(contents)} file(s), {len(deleted)} deletion(s)",
        )
        if tag is not None:
            state["step"] = f"create tag {tag} (the commit {info.oid} is in place)"
            api.create_tag(repo_id, tag=tag, revision=info.oid, repo_type="dataset", tag_message=summary)
    except PushError:
        raise
    except Exception as err:  # HTTP errors, and network ones (unreachable endpoint, timeouts)
        raise fail(state["step"], err) from None

    return PushResult(
        repo_id=repo_id,
        commit_oid=info.oid,
        commit_url=info.commit_url,
        tag=tag,
        added=sorted(contents),
        deleted=deleted,
        pr_url=info.pr_url,
        changed=info.oid != head,
    )


def format_result(result: PushResult) -> str:
    """Short human summary of a push (what ``hf-synth push`` prints)."""
    lines = [
        f"repo:    {result.repo_id}",
        f"commit:  {result.commit_oid}" + ("" if result.changed else " (unchanged: nothing new to commit)"),
        f"tag:     {result.tag or '-'}",
        f"files:   {len(result.added)} uploaded, {len(result.deleted)} deleted",
    ]
    lines += [f"  - {p}" for p in result.deleted]
    lines.append(f"url:     {result.pr_url or result.commit_url}")
    return "\n".join(lines)
