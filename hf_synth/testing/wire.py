"""What the loopback Messages API says on the wire: errors, statuses, request validation, token counts."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "ApiError",
    "Drop",
    "RecordedRequest",
    "estimate_tokens",
    "fmt_seconds",
    "need_method",
    "rfc3339",
    "validate_params",
]

ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    529: "Overloaded",
}
NO_SAMPLING_VERSION = "2026-10-21"


def estimate_tokens(obj: Any) -> int:
    """Token count the server charges for `obj` (str or JSON value): ~4 characters per token, ≥ 1."""
    text = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return max(1, math.ceil(len(text) / 4))


@dataclass
class RecordedRequest:
    """One request the server received (credential headers are never recorded)."""

    method: str
    path: str
    time: float
    headers: dict[str, str]
    body: Any = None
    status: int | None = None  # None when the connection was dropped
    output_tokens: int | None = None  # of an answered Messages call
    retry_after: float | None = None  # seconds, of a 429


class ApiError(Exception):
    """An API error answer: `kind` is the error type, `status` its HTTP status; `retry_after` in seconds."""

    def __init__(
        self, kind: str, message: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.kind, self.message, self.status = kind, message, status or ERROR_STATUS[kind]
        self.retry_after = retry_after


class Drop(Exception):
    """Close the connection without answering."""


def need_method(method: str, expected: str) -> None:
    if method != expected:
        raise ApiError("not_found_error", f"method {method} not allowed here", status=405)


def validate_params(body: Any, need_max_tokens: bool = True, version: str = "") -> dict[str, Any]:
    """Check the fields the real API checks first; errors name the field as the API does."""
    if not isinstance(body, dict):
        raise ApiError("invalid_request_error", "body: an object is required")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError("invalid_request_error", "model: Field required")
    if not model.startswith("claude"):
        raise ApiError("not_found_error", f"model: {model}")
    if need_max_tokens:
        mt = body.get("max_tokens")
        if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
            raise ApiError("invalid_request_error", "max_tokens: must be a positive integer")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError("invalid_request_error", "messages: at least one message is required")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant") or "content" not in m:
            raise ApiError("invalid_request_error", f"messages.{i}: role and content are required")
    if messages[0]["role"] != "user":
        raise ApiError("invalid_request_error", "messages: first message must use the user role")
    for name in ("temperature", "top_p", "top_k"):
        # API version 2026-10-21 dropped sampling parameters; older versions accept temperature in 0..1.
        if name in body and version >= NO_SAMPLING_VERSION:
            raise ApiError("invalid_request_error", f"{name}: not supported in API version {version}")
    temperature = body.get("temperature")
    if temperature is not None and not (0 <= temperature <= 1):
        raise ApiError("invalid_request_error", "temperature: range: 0..1")
    tools = body.get("tools")
    names: set[str] = set()
    if tools is not None:
        if not isinstance(tools, list):
            raise ApiError("invalid_request_error", "tools: a list is required")
        for i, t in enumerate(tools):
            if not isinstance(t, dict) or not isinstance(t.get("name"), str):
                raise ApiError("invalid_request_error", f"tools.{i}.name: Field required")
            schema = t.get("input_schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                raise ApiError(
                    "invalid_request_error", f"tools.{i}.input_schema.type: Input should be 'object'"
                )
            names.add(t["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
            raise ApiError("invalid_request_error", "tool_choice.type: must be auto, any, tool or none")
        if choice["type"] == "tool" and choice.get("name") not in names:
            raise ApiError("invalid_request_error", f"tool_choice.name: no tool named {choice.get('name')!r}")
    return body


def fmt_seconds(seconds: float) -> str:
    # The real API sends whole seconds; fractions are kept so tests can use sub-second waits.
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:.3f}"


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
