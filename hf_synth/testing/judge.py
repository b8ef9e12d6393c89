"""A loopback "model" for the blind label audit: it writes rows whose text states their labels (a chosen
share of them deliberately wrong) and, asked as a judge, reads those labels back.

Install it as the `MessagesServer.responder`. A generation request (a forced tool whose items hold string
fields) gets items whose strings carry one marker per dimension, `⟦tone=angry⟧`, with the values the prompt
names (the earliest-named value of each dimension wins, so an edge-case instruction appended after the
template cannot change it); every item whose running number falls on `wrong_share` (exactly that share of
all items written, spread evenly) names another value for one dimension. A judge request (a forced tool
whose item properties are enums offering "unclear") gets, for each quoted text in order, the values its
markers state, "unclear" where a text has none. So a judge's reading is exactly what the text says, and the
rows written wrong are known from their text alone (`stated_labels`).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hf_synth.generation.audit.request import quoted_texts
from hf_synth.recipe.audit import UNCLEAR
from hf_synth.testing.responder import default_responder, first_text

__all__ = ["LabelWorld", "stated_labels"]

_MARKER = re.compile(r"⟦([^=⟧]+)=([^⟧]*)⟧")


def stated_labels(text: str) -> dict[str, str]:
    """The labels a text written by `LabelWorld` states: {dimension: value}."""
    return {d: v for d, v in _MARKER.findall(text or "")}


def _forced_tool(request_json: dict[str, Any]) -> dict[str, Any] | None:
    tools = request_json.get("tools") or []
    choice = request_json.get("tool_choice") or {}
    return next((t for t in tools if t.get("name") == choice.get("name")), tools[0] if tools else None)


def _item_schema(tool: dict[str, Any]) -> tuple[dict[str, Any], int]:
    items = tool.get("input_schema", {}).get("properties", {}).get("items", {})
    return items.get("items", {}), int(items.get("minItems", 1))


class LabelWorld:
    """Responder for label-audit tests (see the module docstring).

    dimensions: {name: values} the written texts state; wrong_share: share of written items with one wrong
    label (0..1); fallback: responder for requests that are neither (default: `default_responder`).
    Counters (read them from the test): `written`, `written_wrong`, `judge_requests`, `judged` (every text
    quoted to the judge, in arrival order), `feedback_requests` (generation requests carrying a follow-up).
    """

    def __init__(
        self,
        dimensions: Mapping[str, Sequence[str]],
        wrong_share: float = 0.0,
        *,
        fallback: Callable[[dict[str, Any]], dict[str, Any]] = default_responder,
    ) -> None:
        if not 0.0 <= wrong_share <= 1.0:
            raise ValueError("wrong_share must be within 0..1")
        self.dimensions = {d: [str(v) for v in vs] for d, vs in dimensions.items()}
        self.wrong_share = wrong_share
        self.fallback = fallback
        self.written = 0
        self.written_wrong = 0
        self.judge_requests = 0
        self.judged: list[str] = []
        self.feedback_requests = 0
        self._lock = threading.Lock()

    def __call__(self, request_json: dict[str, Any]) -> dict[str, Any]:
        tool = _forced_tool(request_json)
        if tool is None:
            return self.fallback(request_json)
        item, n = _item_schema(tool)
        props = item.get("properties") or {}
        if props and all(UNCLEAR in (p.get("enum") or []) for p in props.values()):
            return self._judge(request_json, props)
        if any(_is_string(p) for p in props.values()):
            return self._write(request_json, props, n)
        return self.fallback(request_json)

    # --- writing ---------------------------------------------------------------------------------------

    def planned(self, prompt: str) -> dict[str, str]:
        """The value of each dimension the prompt names first (markers of quoted rows ignored)."""
        text = _MARKER.sub(" ", prompt)
        out = {}
        for dim, values in self.dimensions.items():
            found = []
            for v in values:
                m = re.search(rf"(?<![\w-]){re.escape(v)}(?![\w-])", text)
                if m:
                    found.append((m.start(), v))
            if found:
                out[dim] = min(found)[1]
        return out

    def _wrong_next(self) -> tuple[int, int | None]:
        """(running number of the item, running number among the wrong items or None when it is right)."""
        with self._lock:
            n = self.written
            self.written += 1
            if math.floor((n + 1) * self.wrong_share) > math.floor(n * self.wrong_share):
                self.written_wrong += 1
                return n, self.written_wrong - 1
            return n, None

    def _write(self, request_json: dict[str, Any], props: dict[str, Any], n_items: int) -> dict[str, Any]:
        prompt = first_text(request_json)
        planned = self.planned(prompt)
        messages = request_json.get("messages") or [{}]
        content = messages[-1].get("content")
        if isinstance(content, list) and len(content) > 1:
            with self._lock:
                self.feedback_requests += 1
        filled = default_responder(request_json)
        items = []
        for base in filled.get("items", [])[:n_items]:
            number, wrong = self._wrong_next()
            labels = dict(planned)
            if wrong is not None and labels:
                dims = sorted(labels)
                dim = dims[wrong % len(dims)]  # the wrong labels take turns over the dimensions
                values = self.dimensions[dim]
                labels[dim] = values[(values.index(labels[dim]) + 1) % len(values)]
            markers = " ".join(f"⟦{d}={v}⟧" for d, v in labels.items())
            item = dict(base)
            for name, schema in props.items():
                if _is_string(schema):
                    item[name] = f"text {number}: {markers} a note on what was asked"
            items.append(item)
        return {"items": items}

    # --- judging -----------------------------------------------------------------------------------------

    def _judge(self, request_json: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
        texts = quoted_texts(first_text(request_json))
        joined = [" ".join(t.values()) for t in texts]
        with self._lock:
            self.judge_requests += 1
            self.judged.extend(joined)
        items = []
        for text in joined:
            stated = stated_labels(text)
            allowed = {d: p.get("enum") or [] for d, p in props.items()}
            items.append({d: stated[d] if stated.get(d) in allowed[d] else UNCLEAR for d in props})
        return {"items": items}


def _is_string(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "string" or (isinstance(kind, list) and "string" in kind)
