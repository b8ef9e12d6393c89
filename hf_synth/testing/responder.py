"""What the loopback Messages API answers: the forced tool's schema filled deterministically, or broken on
purpose (the `malformed` and `bad_items` faults)."""

from __future__ import annotations

import itertools
import math
import threading
from typing import Any

__all__ = ["FAULTS", "break_items", "default_responder", "first_text"]

FAULTS = ("ok", "rate_limit", "overloaded", "api_error", "auth", "drop", "slow", "malformed", "bad_items")


def first_text(request_json: dict[str, Any]) -> str:
    """The first text block (or string content) of the request's messages, "" when there is none."""
    for message in request_json.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            return content
        for block in content or []:
            if isinstance(block, dict) and block.get("type") == "text":
                return str(block.get("text", ""))
    return ""


def _fill(schema: dict[str, Any], name: str, seed: str, counter: int) -> Any:
    """A value valid for `schema` (object/array/string/integer/number/boolean/enum/nullable)."""
    if "enum" in schema:
        choices = [v for v in schema["enum"] if v is not None] or [None]
        return choices[counter % len(choices)]
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"] or schema["anyOf"]
        return _fill(options[0], name, seed, counter)
    jtype = schema.get("type", "string")
    if isinstance(jtype, list):
        jtype = next((t for t in jtype if t != "null"), "null")
    if jtype == "object":
        props = schema.get("properties", {})
        return {key: _fill(sub, key, seed, counter) for key, sub in props.items()}
    if jtype == "array":
        n = int(schema.get("minItems", schema.get("maxItems", 1)))
        return [_fill(schema.get("items", {}), name, seed, counter * 1000 + i) for i in range(n)]
    if jtype == "integer":
        lo = math.ceil(schema.get("minimum", 0))
        hi = math.floor(schema.get("maximum", lo + 100))
        return lo + counter % (hi - lo + 1)
    if jtype == "number":
        lo = float(schema.get("minimum", 0.0))
        hi = float(schema.get("maximum", lo + 1.0))
        return lo + (hi - lo) * ((counter * 0.618034) % 1.0)
    if jtype == "boolean":
        return counter % 2 == 0
    if jtype == "null":
        return None
    return f"{name} #{counter}: {seed}"


class _Counter:
    def __init__(self) -> None:
        self._it = itertools.count()
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return next(self._it)


_items_counter = _Counter()


def default_responder(request_json: dict[str, Any]) -> dict[str, Any]:
    """Tool input for a Messages request: the forced tool's `input_schema` filled with distinct values.

    Strings read "<field> #<counter>: <first 40 characters of the prompt>", so every item is distinct and
    traceable to its prompt; arrays get `minItems` elements (the n items requested).
    """
    tools = request_json.get("tools") or []
    choice = request_json.get("tool_choice") or {}
    tool = next((t for t in tools if t.get("name") == choice.get("name")), tools[0] if tools else None)
    if tool is None:
        return {}
    seed = " ".join(first_text(request_json).split())[:40]
    return _fill(tool.get("input_schema", {}), "value", seed, _items_counter())


def break_items(tool_input: dict[str, Any], fault: str) -> dict[str, Any]:
    """Corrupt a tool input: `malformed` loses the items list, `bad_items` breaks fields inside items."""
    if fault == "malformed":
        return {"itemz": "not a list"}
    items = tool_input.get("items")
    if isinstance(items, list) and items and isinstance(items[0], dict):
        first = dict(items[0])
        keys = list(first)
        if keys:
            first.pop(keys[0])  # a missing field
        if len(keys) > 1:
            first[keys[1]] = {"wrong": "type"}  # a wrong type
        return {**tool_input, "items": [first, *items[1:]]}
    return {"items": [{"unexpected": 1}]}
