"""Shared pieces of the gap-filling tests: a small real reference (BANKING77 rows), a word-hashing embedder
with a known, cheap geometry, recipes, and runs against the loopback Messages server."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from hf_synth.pipeline import RunOptions, generate
from hf_synth.recipe import parse_recipe

BANKING = Path(__file__).resolve().parents[2] / "hf_synth" / "data" / "banking77" / "test.csv"
#: 12 intents of BANKING77; the recipes' topics are the first 4 of them.
INTENTS = [
    "card_arrival",
    "lost_or_stolen_card",
    "exchange_rate",
    "top_up_failed",
    "pin_blocked",
    "age_limit",
    "cancel_transfer",
    "atm_support",
    "contactless_not_working",
    "apple_pay_or_google_pay",
    "verify_my_identity",
    "visa_or_mastercard",
]
TOPICS = INTENTS[:4]


class WordEmbedder:
    """A test embedder, not a model: lower-cased word unigrams hashed into 1,024 dimensions, L2-normalised.
    Texts sharing words are close; a text derived from another by a short tail stays near it."""

    model_id = "test:hashed-words"
    dim = 1024

    def encode(self, texts: list[str]) -> np.ndarray:
        from sklearn.feature_extraction.text import HashingVectorizer

        vec = HashingVectorizer(n_features=self.dim, alternate_sign=False, norm="l2", lowercase=True)
        return vec.transform(["" if t is None else str(t) for t in texts]).toarray().astype(np.float32)


def write_reference(path: Path, per_intent: int = 20, intents: list[str] = INTENTS) -> Path:
    """A csv of `per_intent` real BANKING77 queries for each intent (text, intent)."""
    taken: Counter[str] = Counter()
    rows = []
    with BANKING.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["category"] in intents and taken[row["category"]] < per_intent:
                taken[row["category"]] += 1
                rows.append({"text": row["text"], "intent": row["category"]})
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "intent"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def recipe_data(reference: Path, **extra: Any) -> dict[str, Any]:
    """A seeded recipe over the first four intents (tone drawn by weights), 24 rows, two splits."""
    data: dict[str, Any] = {
        "name": "gaps-test",
        "seed": 5,
        "fields": {"message": {"type": "string"}, "urgent": {"type": "boolean"}},
        "text_field": "message",
        "dimensions": {"topic": list(TOPICS), "tone": {"polite": 2, "angry": 1}},
        "strata": {"by": ["topic"]},
        "size": 24,
        "splits": {"train": 0.75, "test": 0.25},
        "prompt": "Write a {{ tone }} customer message about {{ topic }}.",
        "backend": {"name": "anthropic", "model": "claude-sonnet-4-6", "concurrency": 4, "max_attempts": 2},
        "reference": {"path": str(reference), "text_column": "text", "labels": {"intent": "topic"}},
        "examples": {"per_request": 3, "from": "same_stratum"},
        "dedup": {"near_threshold": None},
        "max_rounds": 4,
    }
    data.update(extra)
    return data


def run(data: dict[str, Any], out: Path, **options: Any):
    """Generate `data` into `out` against the loopback server with the word embedder."""
    opts = {"backend": "anthropic", "progress": False, "embedder": WordEmbedder(), **options}
    return generate(parse_recipe(data), out, RunOptions(**opts))
