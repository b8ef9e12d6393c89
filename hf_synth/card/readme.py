"""README.md as a file we share with the user: YAML front matter plus our marked block, merged on re-render.

Keys in ``OWNED_KEYS`` and the text between ``BEGIN`` and ``END`` are ours; everything else is the user's and
is kept verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from hf_synth.card.metadata import dump_yaml

BEGIN = "<!-- hf-synth:begin -->"
END = "<!-- hf-synth:end -->"

#: Metadata keys the card owns: on re-render ours replace the user's; every other key is kept as it is.
OWNED_KEYS = (
    "license",
    "language",
    "pretty_name",
    "task_categories",
    "size_categories",
    "tags",
    "configs",
    "dataset_info",
    "hf_synth",
)

_FRONT_MATTER = re.compile(r"\A\s*---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)


def split_readme(text: str) -> tuple[dict[str, Any], str]:
    """Split a README into (YAML metadata dict, body). Raises ValueError on unparsable metadata."""
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, text
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"existing README.md has invalid YAML metadata; fix or remove it: {exc}") from exc
    if not isinstance(meta, dict):
        raise ValueError("existing README.md metadata is not a mapping")
    return meta, text[m.end() :]


def _merge_metadata(old: Mapping[str, Any], ours: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    for key in OWNED_KEYS:
        if key in ours:
            merged[key] = ours[key]
        else:
            merged.pop(key, None)
    for key, value in ours.items():
        merged.setdefault(key, value)
    return merged


def _merge_body(existing: str | None, old_body: str, block: str) -> str:
    if not existing:
        return (
            "\n<!-- Text outside the hf-synth block below is yours: `hf-synth card` keeps it. -->\n\n"
            f"{block}\n"
        )
    b, e = old_body.find(BEGIN), old_body.find(END)
    if b == -1 and e == -1:
        lead = old_body.rstrip("\n")
        return (f"{lead}\n\n" if lead.strip() else "\n") + f"{block}\n"
    if b != -1 and e > b:
        return old_body[:b] + block + old_body[e + len(END) :]
    raise ValueError(f"README.md has unbalanced {BEGIN} / {END} markers; fix them, then re-render")


def merge_readme(existing: str | None, metadata: Mapping[str, Any], block: str) -> str:
    """Combine our metadata and generated block with an existing README, keeping the user's parts.

    Keys in ``OWNED_KEYS`` come from ``metadata`` (and are dropped when we no longer produce them); other
    existing keys stay in place. Text outside the ``BEGIN``/``END`` markers is kept verbatim.
    """
    old_meta, old_body = split_readme(existing) if existing else ({}, "")
    merged = _merge_metadata(old_meta, metadata)
    body = _merge_body(existing, old_body, block)
    return f"---\n{dump_yaml(merged)}---\n{body}"
