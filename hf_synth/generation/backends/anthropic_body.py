"""Messages API request bodies for the Anthropic backend, serialised once per template.

Every request of one recipe group shares its model, `max_tokens`, tool, `tool_choice` and system prompt; only
the user turn differs. `RequestBodies` keeps that shared part — as a dict and as the JSON bytes that open
the body — per template (bounded LRU), so a request costs one small `json.dumps` of its user turn.

Prompt caching: a `cache_control` breakpoint is marked only where its prefix (tools → system) reaches the
model's minimum cacheable length (`pricing.cache_min_tokens`); below it the API would cache nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from hf_synth.generation.backends.base import GenerationRequest
from hf_synth.generation.pricing import cache_min_tokens, estimate_tokens

__all__ = ["TOOL_NAME", "RequestBodies", "build_tool", "custom_id_for", "user_content"]

log = logging.getLogger(__name__)

TOOL_NAME = "submit_items"
_EPHEMERAL = {"type": "ephemeral"}
_MAX_TEMPLATES = 4096


def build_tool(fields: dict[str, Any], n_items: int, cache: bool = False) -> dict[str, Any]:
    """The forced tool: `{"items": [item × n]}` where an item follows `item_json_schema(fields)`."""
    from hf_synth.recipe.schema import item_json_schema

    tool: dict[str, Any] = {
        "name": TOOL_NAME,
        "description": f"Submit the {n_items} generated item(s). Call this tool exactly once.",
        "input_schema": {
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "items": item_json_schema(fields),
                    "minItems": n_items,
                    "maxItems": n_items,
                }
            },
            "required": ["items"],
        },
    }
    if cache:
        tool["cache_control"] = dict(_EPHEMERAL)
    return tool


def custom_id_for(request: GenerationRequest) -> str:
    """A Message Batches `custom_id` (≤ 64 of [A-Za-z0-9_-]) that is stable across resumes."""
    raw = f"{request.key}|{','.join(map(str, request.slot_ids))}"
    return "r" + hashlib.blake2b(raw.encode(), digest_size=20).hexdigest()


def compact_tokens(obj: Any) -> int:
    """Tokens of a JSON value at ~4 characters per token of its compact serialisation."""
    return estimate_tokens(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))


def user_content(request: GenerationRequest) -> list[dict[str, Any]]:
    """The user turn: the prompt with the return instruction, and the validation feedback if any."""
    n = request.n_items
    plural = "item" if n == 1 else f"{n} distinct items"
    text = (
        f"{request.prompt}\n\nReturn exactly {plural} by calling the `{TOOL_NAME}` tool once, "
        f"with the item{'s' if n != 1 else ''} in its `items` list."
    )
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    if request.feedback:
        # A follow-up block: the prompt stays byte-identical, so a cached prefix still matches.
        content.append(
            {
                "type": "text",
                "text": (
                    "A previous answer to this request was rejected by validation:\n"
                    f"{request.feedback}\nReturn corrected items that fix these problems."
                ),
            }
        )
    return content


@dataclass(frozen=True)
class _Template:
    params: dict[str, Any]  # the body without `messages`
    head: bytes  # JSON of `params` up to and including `"messages":[{"role":"user","content":`
    cached: bool  # a cache breakpoint was marked
    prefix_tokens: int  # tokens of tools + system (the cacheable prefix)
    fields: Any  # the fields object the template was made for (its id is part of the key)
    skip_reason: str | None  # why no cache breakpoint was marked (None when one was)


class RequestBodies:
    """Bodies of Messages API requests for one model; counts how often caching was asked for and why not.

    `tool_choice` is read at each call ("tool" or "auto": the backend may switch to "auto" mid-run).
    """

    def __init__(self, model: str, prompt_caching: bool) -> None:
        self.model = model
        self.prompt_caching = prompt_caching
        self.tool_choice = "tool"
        self.send_temperature = False  # API version 2026-10-21 rejects sampling parameters
        self._warned_temperature = False
        self.cache_requested = 0
        self.cache_skipped = 0
        self.cache_skip_reason: str | None = None
        self._tools: dict[tuple[int, int], tuple[Any, dict[str, Any], dict[str, Any], int]] = {}
        self._templates: OrderedDict[tuple[Any, ...], _Template] = OrderedDict()

    def tool(self, request: GenerationRequest, cache: bool = False) -> tuple[dict[str, Any], int]:
        """The tool definition (with or without `cache_control`) and its size in tokens (memoised)."""
        key = (id(request.fields), request.n_items)
        hit = self._tools.get(key)
        if hit is None or hit[0] is not request.fields:
            plain = build_tool(request.fields, request.n_items)
            hit = (request.fields, plain, {**plain, "cache_control": dict(_EPHEMERAL)}, compact_tokens(plain))
            self._tools[key] = hit
        return (hit[2] if cache else hit[1]), hit[3]

    def _template(self, request: GenerationRequest) -> _Template:
        temperature = self._temperature(request) if self.send_temperature else None
        key = (
            request.system,
            request.n_items,
            request.max_tokens,
            id(request.fields),
            self.tool_choice,
            temperature,
        )
        hit = self._templates.get(key)
        if hit is not None and hit.fields is request.fields:
            self._templates.move_to_end(key)
            return hit
        _, tool_tokens = self.tool(request)
        system_tokens = compact_tokens({"type": "text", "text": request.system}) if request.system else 0
        minimum, _ = cache_min_tokens(self.model)
        mark_tool = self.prompt_caching and tool_tokens >= minimum
        mark_system = self.prompt_caching and bool(request.system) and tool_tokens + system_tokens >= minimum
        tool, _ = self.tool(request, cache=mark_tool)
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "tools": [tool],
            "tool_choice": (
                {"type": "tool", "name": TOOL_NAME} if self.tool_choice == "tool" else {"type": "auto"}
            ),
        }
        if request.system:
            block: dict[str, Any] = {"type": "text", "text": request.system}
            if mark_system:
                block["cache_control"] = dict(_EPHEMERAL)
            params["system"] = [block]
        if temperature is not None:
            params["temperature"] = temperature
        opening = json.dumps(params, separators=(",", ":"), ensure_ascii=False)
        head = (opening[:-1] + ',"messages":[{"role":"user","content":').encode()
        cached = mark_tool or mark_system
        reason = None if cached else self._skip_reason(tool_tokens + system_tokens)
        template = _Template(params, head, cached, tool_tokens + system_tokens, request.fields, reason)
        self._templates[key] = template
        if len(self._templates) > _MAX_TEMPLATES:
            self._templates.popitem(last=False)
        return template

    def _temperature(self, request: GenerationRequest) -> float:
        temperature = request.temperature
        if not 0.0 <= temperature <= 1.0:
            # The Messages API accepts 0..1 only; a 400 would stop the run for a cosmetic setting.
            if not self._warned_temperature:
                log.warning("temperature %.2f is outside the API's 0..1 range: clamped", temperature)
                self._warned_temperature = True
            temperature = min(1.0, max(0.0, temperature))
        return temperature

    def _skip_reason(self, prefix_tokens: int) -> str:
        if not self.prompt_caching:
            return "prompt caching is off (backend.prompt_caching: false)"
        minimum, known = cache_min_tokens(self.model)
        assumed = "" if known else " (assumed: prices.json has no minimum for this model)"
        return (
            f"the cacheable prefix (tool schema + system prompt, ~{prefix_tokens:,} tokens) is "
            f"below {self.model}'s minimum of {minimum:,} tokens{assumed}, where the API caches nothing"
        )

    def _count(self, template: _Template) -> None:
        if template.cached:
            self.cache_requested += 1
        else:
            self.cache_skipped += 1
            self.cache_skip_reason = template.skip_reason

    def params(self, request: GenerationRequest, count: bool = True) -> dict[str, Any]:
        """The body as a dict (batches, token counting); `count` adds it to the caching tally."""
        template = self._template(request)
        if count:
            self._count(template)
        return {**template.params, "messages": [{"role": "user", "content": user_content(request)}]}

    def body(self, request: GenerationRequest) -> bytes:
        """The body as JSON bytes (online requests): the template's bytes + the user turn."""
        template = self._template(request)
        self._count(template)
        turn = json.dumps(user_content(request), separators=(",", ":"), ensure_ascii=False)
        return template.head + turn.encode() + b"}]}"

    def summary(self) -> tuple[int, int, str | None]:
        """(bodies asked to cache, bodies not asked, why the last of the latter was not)."""
        return self.cache_requested, self.cache_skipped, self.cache_skip_reason
