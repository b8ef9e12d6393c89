"""Slots, their request keys and their requests: what the engine would send for each planned row.

A slot's request key is a hash of everything that decides its answer: the rendered system prompt and prompt
(with the reference examples the slot quotes, see `examples_section`), the dimension values, model, backend,
sampling settings and item schema (its *group*), plus the edge kind and its settings for edge rows, plus —
for rows that quote or copy a partner (exact_duplicate, near_duplicate, contrast_pair) — a hash of the
partner's stored row. A row is finished when it is stored under its current key, so a changed prompt
re-requests exactly the rows it changes, and a partner that is regenerated (near-duplicate pass, prompt
change, anything) makes its dependents stale and nothing else.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from hf_synth.edge_cases import EdgeContext, EdgeKind
from hf_synth.generation.backends.base import GenerationRequest
from hf_synth.generation.slots import SlotSpec
from hf_synth.recipe import Recipe
from hf_synth.recipe.reference import EXAMPLES_NAME, template_uses_examples
from hf_synth.recipe.schema import item_json_schema
from hf_synth.recipe.templates import template_env

__all__ = [
    "EXAMPLES_HEADING",
    "KEY_VERSION",
    "RequestBuilder",
    "Slot",
    "content_hash",
    "examples_section",
    "quote_in_feedback",
]

KEY_VERSION = 1
#: Opens the examples section the default prompt gains when a slot quotes reference texts.
EXAMPLES_HEADING = "Real examples of such texts, written by people (write like these, not copies of them):"


def examples_section(examples: tuple[str, ...] | list[str]) -> str:
    """The section appended to a prompt whose template does not place `examples` itself: the heading, then
    each text in an <example> element. It follows the prompt, so the part every request of a stratum shares
    (system prompt, instructions) comes first and stays one cacheable prefix."""
    quoted = "\n".join(f"<example>{text}</example>" for text in examples)
    return f"{EXAMPLES_HEADING}\n{quoted}"


@dataclass
class Slot:
    """What the engine needs to fill one planned row."""

    slot_id: int
    values: dict[str, str]
    stratum_id: str
    edge_index: int  # 0 = none, k = recipe edge kind k-1
    partner: int  # slot id of the partner row, -1 when none
    group: str  # hash of the rendered request shared by the slots it can be batched with
    key: str = ""  # final request key (partner-dependent slots get it from their partner's stored row)
    examples: tuple[str, ...] = ()  # reference texts the prompt quotes


def quote_in_feedback(text: str, limit: int = 200) -> str:
    """`text` as feedback quotes it: whitespace collapsed, double-quoted, cut to `limit` characters with …"""
    short = " ".join(text.split())
    return f'"{short[:limit]}{"…" if len(short) > limit else ""}"'


def content_hash(obj: Any) -> str:
    """Hex SHA-256 of a JSON value (keys sorted, so equal values hash equally)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class RequestBuilder:
    """Renders a recipe's prompts once per distinct dimension values and builds slots and requests."""

    def __init__(self, recipe: Recipe, backend_name: str, model: str) -> None:
        self.recipe = recipe
        self.kinds: list[EdgeKind] = recipe.edge_kinds()
        self.fields = dict(recipe.fields)
        self.text_field = recipe.main_text_field
        self.backend_name, self.model = backend_name, model
        env = template_env()
        self._prompt_t = env.from_string(recipe.prompt)
        self._system_t = env.from_string(recipe.system) if recipe.system else None
        self._schema = item_json_schema(self.fields)
        self._group_prompts: dict[str, tuple[str | None, str]] = {}
        self._string_fields = sum(1 for f in self.fields.values() if f.type == "string")
        self._places_examples = template_uses_examples(recipe.prompt)

    def render(
        self, values: dict[str, str], examples: tuple[str, ...], n_items: int
    ) -> tuple[str | None, str]:
        """(system prompt, prompt) of one request: the templates rendered with the dimension values, n_items
        and `examples`; the examples section is appended when the prompt template does not place them."""
        context = {**values, "n_items": n_items, EXAMPLES_NAME: list(examples)}
        system = self._system_t.render(**context) if self._system_t else None
        prompt = self._prompt_t.render(**context)
        if examples and not self._places_examples:
            prompt = f"{prompt}\n\n{examples_section(examples)}"
        return system, prompt

    def kind(self, slot: Slot) -> EdgeKind | None:
        """The slot's edge kind, None for an ordinary row."""
        return self.kinds[slot.edge_index - 1] if slot.edge_index else None

    def build_slots(self, specs: list[SlotSpec]) -> dict[int, Slot]:
        """slot id → `Slot`, with the group of every slot and the key of every slot without a partner."""
        groups: dict[tuple[Any, ...], str] = {}
        slots: dict[int, Slot] = {}
        for spec in specs:
            values = spec.values
            group_values = (*values.values(), spec.examples)
            group = groups.get(group_values)
            if group is None:
                system, prompt = self.render(values, spec.examples, 1)
                group = content_hash(
                    {
                        "v": KEY_VERSION,
                        "system": system,
                        "prompt": prompt,
                        "values": values,
                        "model": self.model,
                        "backend": self.backend_name,
                        "temperature": self.recipe.backend.temperature,
                        "max_tokens": self.recipe.backend.max_tokens,
                        "schema": self._schema,
                    }
                )
                groups[group_values] = group
                self._group_prompts[group] = (system, prompt)
            slot = Slot(
                spec.slot_id,
                dict(values),
                spec.stratum_id,
                spec.edge_index,
                spec.partner,
                group,
                examples=spec.examples,
            )
            kind = self.kind(slot)
            if kind is None:
                slot.key = group
            elif slot.partner < 0:
                slot.key = content_hash({"group": group, "edge": kind.name, "settings": kind.settings})
            slots[spec.slot_id] = slot
        return slots

    def partner_key(self, slot: Slot, partner_row: dict[str, Any] | None) -> str:
        """The key of a partner-dependent slot given its partner's stored row (None: not generated)."""
        kind = self.kinds[slot.edge_index - 1]
        partner = None if partner_row is None else content_hash(partner_row)
        return content_hash(
            {"group": slot.group, "edge": kind.name, "settings": kind.settings, "partner_row": partner}
        )

    def edge_context(
        self, slot: Slot, slots: dict[int, Slot], rows: dict[int, dict[str, Any]]
    ) -> EdgeContext:
        """What an edge kind sees of a slot: its values and its partner's row and values."""
        partner = slots.get(slot.partner) if slot.partner >= 0 else None
        return EdgeContext(
            fields=self.fields,
            text_field=self.text_field,
            values=slot.values,
            partner_item=rows.get(slot.partner) if partner else None,
            partner_values=partner.values if partner else None,
        )

    def request(
        self,
        chunk: list[Slot],
        slots: dict[int, Slot],
        rows: dict[int, dict[str, Any]],
        feedback: str | None,
    ) -> GenerationRequest:
        """The request that fills `chunk` (slots of one key and one partner); `rows` holds the partners."""
        first = chunk[0]
        system, prompt = self._group_prompts[first.group]
        if len(chunk) > 1 and "n_items" in self.recipe.prompt:
            _, prompt = self.render(first.values, first.examples, len(chunk))
        max_tokens = self.recipe.backend.max_tokens
        kind = self.kind(first)
        if kind is not None:
            instruction = kind.instruction(self.edge_context(first, slots, rows))
            if instruction:
                prompt = f"{prompt}\n\n{instruction}"
            max_tokens = kind.request_max_tokens(
                max_tokens, len(chunk), self._string_fields, self.backend_name
            )
        return GenerationRequest(
            key=first.key,
            slot_ids=tuple(s.slot_id for s in chunk),
            system=system,
            prompt=prompt,
            n_items=len(chunk),
            fields=self.fields,
            max_tokens=max_tokens,
            temperature=self.recipe.backend.temperature,
            feedback=feedback,
        )
