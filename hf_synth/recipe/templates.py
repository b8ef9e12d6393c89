"""The Jinja2 environment recipe prompts render in."""

from __future__ import annotations

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment


def template_env() -> SandboxedEnvironment:
    """The Jinja2 environment prompts render in: sandboxed, and undefined names are errors."""
    return SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False, autoescape=False)
