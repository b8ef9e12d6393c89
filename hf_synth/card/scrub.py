"""Secret scrubbing: values of KEY/TOKEN/SECRET environment variables never reach a card."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET", re.IGNORECASE)
# Short values (e.g. TOKENIZERS_PARALLELISM=false) are not secrets and would mangle ordinary words.
_MIN_SECRET_LEN = 8


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose name contains KEY, TOKEN or SECRET (long enough to matter)."""
    env = os.environ if environ is None else environ
    vals = {v for k, v in env.items() if _SECRET_NAME.search(k) and v and len(v.strip()) >= _MIN_SECRET_LEN}
    # Longest first, so a secret that contains another is removed whole.
    return sorted(vals, key=len, reverse=True)


def scrub(obj: Any, secrets: list[str]) -> Any:
    """``obj`` (JSON-like: dicts, lists, strings) with every occurrence of a secret replaced by REDACTED."""
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
