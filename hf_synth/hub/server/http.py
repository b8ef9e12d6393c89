"""HTTP plumbing of the rehearsal Hub: request parsing, auth before body, bounded bodies, answers.

Rules this module enforces for every route:

- the raw path is ASCII and split into segments *before* any decoding; a route decodes each segment once
  (:func:`.names.decode_segment`) and validates it;
- the caller is authorized (:meth:`BaseHandler.authorize` or a signature check) before a single body byte
  is read: :meth:`BaseHandler.body_chunks` refuses to run otherwise;
- a body is bounded (``Content-Length`` checked up front, chunked bodies counted) and malformed framing
  (``Content-Length: abc``, bad chunk sizes) is a 400; a response sent before its request body was read
  closes the connection;
- every error is an :class:`.errors.HttpError` answered in the Hub's shape; anything else is logged and
  answered 500 (a bug); header values are ASCII without CR/LF.
"""

from __future__ import annotations

import json
import re
import sys
import traceback
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from hf_synth.hub.server.auth import check_hub_token
from hf_synth.hub.server.errors import HttpError, bad_request
from hf_synth.hub.server.names import RepoRef

if TYPE_CHECKING:
    from hf_synth.hub.server.app import RehearsalHub

JSON_LIMIT = 16 * 1024 * 1024
_HOST_RE = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")
_UNSAFE_HEADER_RE = re.compile(r"[^\x20-\x7e]")
MAX_TARGET = 16 * 1024


class BaseHandler(BaseHTTPRequestHandler):
    """Parsing, auth and answer helpers shared by every route; ``self.server`` is a RehearsalHub."""

    server: RehearsalHub
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections

    # ---- connection ----------------------------------------------------------------------------
    def setup(self) -> None:
        self.timeout = self.server.socket_timeout  # idle or slow clients are dropped, threads freed
        super().setup()

    def handle_expect_100(self) -> bool:
        # "100 Continue" is sent only once the caller is authorized and the body is wanted
        self._expect_100 = True
        return True

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write("hub-serve: " + (format % args) + "\n")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def route(self, method: str, segments: list[str]) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _dispatch(self, method: str) -> None:
        self._auth_checked = False
        self._body_state = "unread"
        self._expect_100 = getattr(self, "_expect_100", False)
        try:
            target = self.path
            if len(target) > MAX_TARGET or not target.startswith("/") or not target.isascii():
                raise bad_request("the request target must be an ASCII path of at most 16 KiB")
            split = urllib.parse.urlsplit(target)
            try:
                self.query = urllib.parse.parse_qs(split.query, keep_blank_values=True, max_num_fields=200)
            except ValueError:
                raise bad_request("too many query parameters") from None
            length = self.headers.get("Content-Length")
            if length is not None and not length.strip().isdigit():
                raise bad_request(f"Content-Length must be a non-negative integer, got {length!r}")
            # split the raw path first: "%2F" inside a segment never creates a new segment
            segments = split.path.split("/")[1:]
            if segments and segments[-1] == "":
                segments.pop()
            self.route(method, segments)
        except HttpError as err:
            self.send_error_answer(err)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # a bug: log it, answer 500 rather than leave the client hanging
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            self.send_error_answer(HttpError(500, f"internal error: {type(exc).__name__}"))
        finally:
            self._expect_100 = False
            if self._body_state != "done" and self._has_body():
                self.close_connection = True  # an unread body would corrupt the next request

    def _has_body(self) -> bool:
        length = (self.headers.get("Content-Length") or "0").strip()
        return "Transfer-Encoding" in self.headers or not length.isdigit() or int(length) > 0

    @property
    def endpoint(self) -> str:
        """Base URL as the client reached us (a malformed ``Host`` falls back to the bound address)."""
        host = self.headers.get("Host") or ""
        return f"http://{host}" if _HOST_RE.fullmatch(host) else self.server.url

    # ---- auth ----------------------------------------------------------------------------------
    def authorize(self, write: bool = False) -> str | None:
        """Check the Hub token (401 if refused; 401 if ``write`` and absent); return it or None."""
        token = check_hub_token(self.headers.get("Authorization"), self.server.tokens)
        if write and token is None:
            raise HttpError(401, "You must be authenticated to do this: send Authorization: Bearer <token>")
        self._auth_checked = True
        return token

    def authorized_by_signature(self) -> None:
        """Mark the request authorized by a URL or Xet-token signature checked by the caller."""
        self._auth_checked = True

    def repo_access(self, ref: RepoRef, write: bool = False) -> dict:
        """Authorize, then return the repo's metadata; 404 (401 anonymously) when it is missing or a
        private repo is read without a token, so a hidden repo looks like a missing one."""
        token = self.authorize(write)
        meta = self.server.store.meta(ref)
        if meta is None or (meta.get("private") and token is None):
            raise HttpError(
                401 if token is None else 404, f"Repository {ref.repo_id} not found", "RepoNotFound"
            )
        return meta

    # ---- request bodies ------------------------------------------------------------------------
    def body_chunks(self, limit: int) -> Iterator[bytes]:
        """The request body piece by piece, at most ``limit`` bytes (413 beyond), after authorization."""
        if not self._auth_checked:
            raise RuntimeError("request body read before the caller was authorized")
        if self._body_state != "unread":
            raise RuntimeError("request body read twice")
        self._body_state = "reading"
        if self._expect_100:
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        encoding = (self.headers.get("Transfer-Encoding") or "").strip().lower()
        if encoding and encoding != "chunked":
            raise HttpError(501, f"Transfer-Encoding {encoding!r} is not supported")
        if encoding:
            yield from self._chunked(limit)
        else:
            remaining = int((self.headers.get("Content-Length") or "0").strip())
            if remaining > limit:
                raise HttpError(413, f"request body of {remaining} bytes exceeds this route's {limit} bytes")
            while remaining:
                piece = self.rfile.read(min(remaining, 1 << 20))
                if not piece:
                    raise bad_request("the request body ended before Content-Length bytes")
                remaining -= len(piece)
                yield piece
        self._body_state = "done"

    def _chunked(self, limit: int) -> Iterator[bytes]:
        total = 0
        while True:
            line = self.rfile.readline(1026)
            size_text = line.split(b";")[0].strip()
            if not line.endswith(b"\n") or not re.fullmatch(rb"[0-9A-Fa-f]{1,16}", size_text):
                raise bad_request(f"bad chunk size line {line[:40]!r} in a chunked body")
            size = int(size_text, 16)
            if size == 0:
                while self.rfile.readline(1026).strip():
                    pass
                return
            total += size
            if total > limit:
                raise HttpError(413, f"chunked request body exceeds this route's {limit} bytes")
            piece = self.rfile.read(size)
            if len(piece) != size or self.rfile.readline(3).strip():
                raise bad_request("a chunk of a chunked body is shorter than its size line")
            yield piece

    def read_body(self, limit: int = JSON_LIMIT) -> bytes:
        """The whole request body (at most ``limit`` bytes)."""
        return b"".join(self.body_chunks(limit))

    def json_body(self, limit: int = JSON_LIMIT) -> dict:
        """The body as a JSON object (400 when it is not valid JSON or not an object)."""
        raw = self.read_body(limit)
        try:
            value = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise bad_request(f"invalid JSON body: {e}") from None
        if not isinstance(value, dict):
            raise bad_request(f"the JSON body must be an object, got {type(value).__name__}")
        return value

    def query_flag(self, name: str) -> bool:
        """A boolean query parameter (``1``/``true``)."""
        return (self.query.get(name) or ["false"])[0].lower() in ("1", "true")

    # ---- answers -------------------------------------------------------------------------------
    def send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        content_type: str = "application/json; charset=utf-8",
    ) -> None:
        """Send a complete answer (no body for HEAD). Header values must be printable ASCII."""
        all_headers = {"Content-Type": content_type, "Content-Length": str(len(body)), **(headers or {})}
        self.send_response(status)
        for key, value in all_headers.items():
            if _UNSAFE_HEADER_RE.search(value):
                raise RuntimeError(f"unsafe value for header {key}")  # a bug: values come validated
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def send_json(self, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.send(status, json.dumps(obj).encode(), headers)

    def send_error_answer(self, err: HttpError) -> None:
        """The Hub's error shape: JSON ``{"error": ...}``, ``X-Error-Message`` and ``X-Error-Code``."""
        if self._body_state != "done" and self._has_body():
            self.close_connection = True
        if self.server.verbose:
            sys.stderr.write(f"hub-serve: {err.status} {err.message}\n")
        message = err.message.replace("\r", " ").replace("\n", " ")[:500]
        message = message.encode("ascii", "backslashreplace").decode()
        headers = {"X-Error-Message": _UNSAFE_HEADER_RE.sub("?", message)}
        if err.code:
            headers["X-Error-Code"] = err.code
        self.send_json({"error": err.message, **err.extra}, err.status, headers)
