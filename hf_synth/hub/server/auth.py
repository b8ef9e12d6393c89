"""Who may do what: Hub tokens (a token list, or open mode), short-lived Xet tokens, signed URLs.

Hub tokens come from ``--token`` / ``$HF_SYNTH_HUB_TOKENS``; with neither the server runs in *open*
mode, where any non-empty bearer token reads and writes everything (a throwaway rehearsal only; the
server says so when it starts). Xet tokens and download/upload URLs are HMAC-signed with a per-process
secret, so they die with the server and cannot be forged by a client.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass

from hf_synth.hub.server.errors import BAD_TOKEN_MESSAGE, HttpError

TOKENS_ENV = "HF_SYNTH_HUB_TOKENS"
XET_TOKEN_TTL = 3600  # seconds; clients refresh 30-60 s before expiry
URL_TTL = 3600


def tokens_from_env() -> set[str] | None:
    """The comma-separated token list of ``$HF_SYNTH_HUB_TOKENS``; None when unset or empty."""
    tokens = {t.strip() for t in os.environ.get(TOKENS_ENV, "").split(",") if t.strip()}
    return tokens or None


def auth_mode(tokens: set[str] | None) -> str:
    """One line saying which tokens the server accepts (never the tokens themselves)."""
    if tokens is None:
        return (
            "auth: OPEN - any non-empty token can read and write every repo, private ones included; "
            f"for anything but a throwaway rehearsal pass --token or set {TOKENS_ENV}"
        )
    return f"auth: token list - {len(tokens)} accepted token(s); any other token is refused"


@dataclass(frozen=True)
class XetClaims:
    """What a Xet token allows: ``write`` (uploads) or read only, for one repo and revision."""

    write: bool
    repo: str
    revision: str
    exp: int


class Signer:
    """HMAC signatures over a per-process secret: Xet tokens and presigned transfer URLs."""

    def __init__(self) -> None:
        self._secret = os.urandom(32)

    def sign(self, message: str) -> str:
        """Hex HMAC-SHA256 of ``message``."""
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()

    def check(self, message: str, signature: str) -> bool:
        """Constant-time check of a signature made by :meth:`sign`."""
        return hmac.compare_digest(self.sign(message), signature)

    def xet_token(self, write: bool, repo: str, revision: str) -> tuple[str, int]:
        """A Xet access token for ``repo`` (``type/ns/name``) and its expiry (unix seconds)."""
        exp = int(time.time()) + XET_TOKEN_TTL
        claims = {"w": write, "r": repo, "v": revision, "e": exp}
        payload = base64.urlsafe_b64encode(json.dumps(claims, sort_keys=True).encode()).decode().rstrip("=")
        return f"xet_{payload}.{self.sign(payload)}", exp

    def xet_claims(self, authorization: str | None, need_write: bool) -> XetClaims:
        """Check ``Authorization: Bearer <xet token>``; 401 when missing, forged or expired, 403 when a
        read token is used to write."""
        scheme, _, token = (authorization or "").partition(" ")
        payload, _, sig = token.strip().removeprefix("xet_").partition(".")
        if scheme.lower() != "bearer" or not payload or not self.check(payload, sig):
            raise HttpError(401, "missing or invalid Xet access token: get one from the xet-*-token route")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        if claims["e"] < time.time():
            raise HttpError(401, "expired Xet access token: refresh it")
        if need_write and not claims["w"]:
            raise HttpError(403, "this Xet token is read-only: request a xet-write-token")
        return XetClaims(bool(claims["w"]), str(claims["r"]), str(claims["v"]), int(claims["e"]))

    def url_query(self, kind: str, oid: str, extra: str = "") -> str:
        """Query string ``exp=..&sig=..`` that makes a ``kind`` URL for ``oid`` valid for :data:`URL_TTL`."""
        exp = int(time.time()) + URL_TTL
        return f"{extra}exp={exp}&sig={self.sign(f'{kind}:{oid}:{extra}{exp}')}"

    def check_url(self, kind: str, oid: str, query: dict[str, list[str]], extra: str = "") -> None:
        """403 unless ``query`` carries a live signature made by :meth:`url_query` for the same values."""
        exp = (query.get("exp") or [""])[0]
        sig = (query.get("sig") or [""])[0]
        ok = exp.isdigit() and int(exp) >= time.time() and self.check(f"{kind}:{oid}:{extra}{exp}", sig)
        if not ok:
            raise HttpError(403, "bad, missing or expired URL signature")


def check_hub_token(authorization: str | None, tokens: set[str] | None) -> str | None:
    """The caller's Hub token: None when no ``Authorization`` header; 401 when present but refused."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    accepted = bool(token) and (tokens is None or any(hmac.compare_digest(token, t) for t in tokens))
    if scheme.lower() != "bearer" or not accepted:
        raise HttpError(401, BAD_TOKEN_MESSAGE)
    return token
