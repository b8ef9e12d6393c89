"""The HTTP error answer of the rehearsal Hub, in the Hub's shape.

The Hub answers an error with a JSON body ``{"error": message}`` plus the headers ``X-Error-Message`` and,
where a client must tell cases apart, ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``,
``EntryNotFound``, ``GatedRepo``...): ``huggingface_hub`` maps those to its exception classes.
"""

from __future__ import annotations

from datetime import datetime, timezone

# huggingface_hub tells a bad token apart from a hidden repo by this exact message.
BAD_TOKEN_MESSAGE = "Invalid credentials in Authorization header"


class HttpError(Exception):
    """An error answer: HTTP ``status``, a message, an optional ``X-Error-Code`` and extra JSON keys."""

    def __init__(self, status: int, message: str, code: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extra = extra or {}


def bad_request(message: str) -> HttpError:
    """A 400 with ``message`` (what was wrong and what was expected)."""
    return HttpError(400, message, "BadRequest")


def hub_date(dt: datetime | None = None) -> str:
    """Format a date the way the Hub does (``%Y-%m-%dT%H:%M:%S.%fZ``, UTC)."""
    return (dt or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
