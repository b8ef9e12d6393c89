"""Secrets come from the environment only; this finds their values so no file or message carries them."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD", re.IGNORECASE)
_MIN_SECRET_LEN = 8  # shorter values ("1", "true") would scrub ordinary text


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose name contains KEY, TOKEN, SECRET or PASSWORD, longest first
    (so a secret that contains another is removed whole)."""
    env = os.environ if environ is None else environ
    vals = {v for k, v in env.items() if _SECRET_NAME.search(k) and v and len(v.strip()) >= _MIN_SECRET_LEN}
    return sorted(vals, key=len, reverse=True)


def scrub(obj: Any, secrets: list[str] | None = None) -> Any:
    """`obj` (str, or JSON-like dict/list nesting) with every secret value replaced by [REDACTED]."""
    secrets = secret_values() if secrets is None else secrets
    if not secrets:
        return obj
    if isinstance(obj, str):
        for s in secrets:
            obj = obj.replace(s, REDACTED)
        return obj
    if isinstance(obj, dict):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub(v, secrets) for v in obj]
    return obj
