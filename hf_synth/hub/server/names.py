"""Decoding and validation of every name a client controls: the Hub's rules, checked once, at the edge.

Each function takes a *decoded* string (a URL path segment is percent-decoded exactly once, by
:func:`decode_segment`) and returns the validated value or raises :class:`HttpError` 400. Nothing
downstream re-decodes or re-checks: storage only ever sees a :class:`RepoRef`, a validated revision, a
validated file path or a hex object id.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from hf_synth.hub.server.errors import HttpError, bad_request

REPO_TYPES = ("model", "dataset", "space")
MAX_PATH_BYTES = 1000

# A namespace or repo name (huggingface_hub's validate_repo_id, which mirrors the Hub): 1-96 ASCII
# letters, digits, "-", "_", "."; starts and ends with a letter, digit or "_"; no "--" or "..".
_NAME_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?")
_HEX_RE = {n: re.compile(f"[0-9a-f]{{{n}}}") for n in (40, 64)}
_SHORT_OID_RE = re.compile(r"[0-9a-f]{7,40}")
# git check-ref-format, per "/"-separated component: no control characters, space, ~^:?*[\ or DEL,
# not empty, not starting with ".", not ending with ".lock"; and no "..", "@{" anywhere.
_REF_COMPONENT_RE = re.compile(r"[^\x00-\x20~^:?*\[\\\x7f]+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class RepoRef:
    """A validated repo: ``rtype`` in :data:`REPO_TYPES`, ``namespace`` and ``name`` Hub names."""

    rtype: str
    namespace: str
    name: str

    @property
    def repo_id(self) -> str:
        """``namespace/name`` as the client spelled it."""
        return f"{self.namespace}/{self.name}"

    @property
    def lock_key(self) -> tuple[str, str]:
        """Canonical identity: the Hub treats repo ids case-insensitively, so the lock does too."""
        return (self.rtype, self.repo_id.lower())

    @property
    def url_prefix(self) -> str:
        """Path prefix of the repo's web and download URLs (``datasets/ns/name``, ``ns/name``)."""
        return self.repo_id if self.rtype == "model" else f"{self.rtype}s/{self.repo_id}"


def decode_segment(raw: str) -> str:
    """Percent-decode one raw URL path segment (UTF-8, strict): the only place a segment is decoded."""
    try:
        return urllib.parse.unquote(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise bad_request(f"URL segment {raw!r} is not valid percent-encoded UTF-8") from None


def check_name(value: object, what: str) -> str:
    """A namespace or repo name by the Hub's rules; ``what`` names it in the error."""
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value) or "--" in value or ".." in value:
        raise bad_request(
            f"invalid {what} {value!r}: 1-96 characters among letters, digits, '-', '_', '.', "
            "starting and ending with a letter or digit, without '--' or '..'"
        )
    if value.lower().endswith(".git"):
        raise bad_request(f"invalid {what} {value!r}: must not end with .git")
    return value


def check_repo_type(value: object) -> str:
    """``model``, ``dataset`` or ``space`` (the JSON ``type`` of repo create/delete/move bodies)."""
    if value not in REPO_TYPES:
        raise bad_request(f"invalid repo type {value!r}: expected one of {', '.join(REPO_TYPES)}")
    return str(value)


def repo_ref(rtype: str, namespace: object, name: object) -> RepoRef:
    """A :class:`RepoRef` from decoded parts, each validated."""
    return RepoRef(check_repo_type(rtype), check_name(namespace, "namespace"), check_name(name, "repo name"))


def repo_ref_from_id(rtype: str, repo_id: object) -> RepoRef:
    """A :class:`RepoRef` from ``namespace/name`` (the form of ``move_repo`` bodies)."""
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise bad_request(f"invalid repo id {repo_id!r}: expected namespace/name")
    namespace, name = repo_id.split("/")
    return repo_ref(rtype, namespace, name)


def check_ref_name(value: object, what: str = "branch") -> str:
    """A branch or tag name by git's ref rules (what the Hub accepts)."""
    if not isinstance(value, str) or not value or len(value) > 255:
        raise bad_request(f"invalid {what} name {value!r}")
    parts = value.split("/")
    ok = all(
        _REF_COMPONENT_RE.fullmatch(p) and not p.startswith(".") and not p.endswith(".lock") for p in parts
    )
    if not ok or ".." in value or "@{" in value or value.endswith(".") or value == "@":
        raise bad_request(f"invalid {what} name {value!r}: not a valid git ref name")
    if value.startswith("refs/") or value.startswith("-"):
        raise bad_request(f"invalid {what} name {value!r}: must not start with 'refs/' or '-'")
    return value


def check_revision(value: object) -> str:
    """A revision as a client sends it: a branch or tag, ``refs/{heads,tags,pr,convert}/...`` or a
    (short) commit id. Existence is checked later, against the repo."""
    if isinstance(value, str) and _SHORT_OID_RE.fullmatch(value):
        return value
    if isinstance(value, str) and value.startswith("refs/"):
        kind, _, rest = value[len("refs/") :].partition("/")
        if kind == "pr" and rest.isdigit() and rest == str(int(rest)):
            return value
        if kind in ("heads", "tags", "convert"):
            check_ref_name(rest, "revision")
            return value
        raise bad_request(f"invalid revision {value!r}")
    return check_ref_name(value, "revision")


def check_path(value: object, what: str = "path") -> str:
    """A file or folder path inside a repo by the Hub's rules: relative, "/"-separated, no empty, "." or
    ".." component, no control characters (CR/LF would reach headers), at most 1000 UTF-8 bytes."""
    if not isinstance(value, str) or not value:
        raise bad_request(f"invalid {what} {value!r}: must be a non-empty string")
    if _CONTROL_RE.search(value):
        raise bad_request(f"invalid {what} {value!r}: control characters are not allowed")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise bad_request(f"invalid {what}: longer than {MAX_PATH_BYTES} bytes")
    parts = value.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise bad_request(f"invalid {what} {value!r}: empty, '.' or '..' components are not allowed")
    if parts[0] == ".git":
        raise bad_request(f"invalid {what} {value!r}: .git/ is reserved")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise bad_request(f"invalid {what} {value!r}: not valid UTF-8") from None
    return value


def check_hex(value: object, length: int, what: str) -> str:
    """A lowercase hex object id of exactly ``length`` digits (40: sha1, 64: sha256 / Xet hash)."""
    if not isinstance(value, str) or not _HEX_RE[length].fullmatch(value):
        raise HttpError(
            400, f"invalid {what} {value!r}: expected {length} lowercase hex digits", "BadRequest"
        )
    return value


def content_disposition(path: str) -> str:
    """``Content-Disposition`` for a validated path: RFC 6266 ``filename*`` (UTF-8, percent-encoded)
    with an ASCII fallback, so the header carries only ASCII and never a client's raw bytes."""
    base = path.rsplit("/", 1)[-1]
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\%' else "_" for c in base)
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(base, safe='')}"
