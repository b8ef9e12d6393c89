"""Leakage control for seeded prompts: a generated row that is a near-copy of a reference text is regenerated.

A prompt that quotes real texts invites the model to copy one. After each generation pass, the ordinary rows
whose prompt quoted reference examples are compared with every reference text (cosine of the run's
embedder); rows at or above `reference.leakage_threshold` are dropped from the run store (counted as
`regenerated_near_copies`) and the pass is repeated, at most `max_rounds` times. A row still copying after
that is kept and counted in `still_near_copies`, so the report says how many there are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hf_synth.generation.engine import Engine

__all__ = ["COUNTER", "LeakGuard"]

COUNTER = "regenerated_near_copies"


class LeakGuard:
    """Finds and regenerates near-copies of `reference_texts` among an engine's seeded rows.

    embed: texts → (n, d) embeddings (normalised here); threshold: cosine at which a row is a copy;
    max_passes: regeneration passes per `run`.
    """

    def __init__(
        self,
        reference_texts: list[str],
        embed: Callable[[list[str]], np.ndarray],
        threshold: float,
        max_passes: int,
    ) -> None:
        self.reference_texts = reference_texts
        self.embed = embed
        self.threshold = threshold
        self.max_passes = max(1, max_passes)
        self.still = 0
        self._reference: np.ndarray | None = None
        self._clean: dict[int, str] = {}  # slot id → text already found to be no copy

    def find(self, engine: Engine) -> dict[int, float]:
        """slot id → its cosine to the nearest reference text, for the seeded ordinary rows that copy one."""
        from hf_synth.quality.diversity import max_cosine

        rows = engine.store.rows()
        field = engine.text_field
        todo: dict[int, str] = {}
        for sid, row in rows.items():
            slot = engine.slots.get(sid)
            text = row.get(field)
            if slot is None or slot.edge_index or not slot.examples or not isinstance(text, str):
                continue
            if self._clean.get(sid) != text:
                todo[sid] = text
        if not todo:
            return {}
        if self._reference is None:
            self._reference = np.asarray(self.embed(self.reference_texts), dtype=np.float32)
        sids = sorted(todo)
        sims = max_cosine(np.asarray(self.embed([todo[s] for s in sids])), self._reference)
        copies = {}
        for sid, sim in zip(sids, sims.tolist(), strict=True):
            if sim >= self.threshold:
                copies[sid] = float(sim)
            else:
                self._clean[sid] = todo[sid]
        return copies

    async def run(self, engine: Engine, generate: Callable[[], Awaitable[Any]]) -> int:
        """Regenerate the copies among `engine`'s rows, calling `generate` (one generation pass) after each
        discard; returns the rows regenerated. `still` holds the copies left after the last pass."""
        regenerated = 0
        for _ in range(self.max_passes):
            copies = self.find(engine)
            if not copies:
                self.still = 0
                return regenerated
            engine.store.discard(
                sorted(copies),
                f"near-copy of a reference text (cosine ≥ {self.threshold}): write a text of your own",
                COUNTER,
            )
            regenerated += len(copies)
            await generate()
        self.still = len(self.find(engine))
        return regenerated
