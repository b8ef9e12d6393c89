"""A run's reference seeding, wired for the pipeline: examples in the plan's prompts, leakage control, the
gap-filling loop, and the report blocks they produce.

`SeededRun.open` reads the reference (once) when the recipe draws on it; without `examples`, `fill` or stored
gap rows it is inert and the run is exactly what it was without it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hf_synth.generation.slots import SlotSpec
from hf_synth.planning.fill import GapFill
from hf_synth.planning.gap_labels import JudgeLabeller, Labeller, ReferenceLabeller
from hf_synth.planning.gap_store import GapStore
from hf_synth.planning.gaps import GapSlot
from hf_synth.planning.leakage import COUNTER, LeakGuard
from hf_synth.planning.seeding import ReferenceSet, read_reference, seed_plan_slots
from hf_synth.recipe import Recipe

if TYPE_CHECKING:
    from hf_synth.generation.engine import Engine
    from hf_synth.planning.plan import Plan

__all__ = ["SeededRun", "has_gap_state"]

log = logging.getLogger(__name__)


def has_gap_state(store_path: Path) -> bool:
    """True when the folder's run store holds gap-filling tables (a folder `fill-gaps` has worked on)."""
    if not store_path.is_file():
        return False
    db = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='gap_slots'").fetchone()
        return row is not None
    finally:
        db.close()


class SeededRun:
    """Examples, leakage control and gap filling of one run (all optional; see `open`)."""

    def __init__(
        self,
        recipe: Recipe,
        plan: Plan,
        ref: ReferenceSet | None,
        store: GapStore | None,
        embedder: Any,
        labeller: Labeller | None,
        budget_usd: float | None,
        *,
        progress: bool = True,
    ) -> None:
        self.recipe = recipe
        self.progress = progress
        self._closers: list[Callable[[], Any]] = []
        self.plan = plan
        self.ref = ref
        self.store = store
        self.embedder = embedder
        self.examples_info: dict[str, Any] = {}
        embed = embedder.encode if embedder is not None else None
        self.guard = (
            LeakGuard(ref.texts, embed, recipe.reference.leakage_threshold, recipe.max_rounds)  # type: ignore[union-attr]
            if ref is not None and embed is not None
            else None
        )
        self.fill = None
        if store is not None and ref is not None and recipe.fill is not None:
            if embedder is None:
                log.warning("fill: skipped, coverage cannot be measured without the embedder (--no-quality)")
            else:
                self.fill = GapFill(recipe, plan, ref, store, embedder, labeller, budget_usd=budget_usd)
        self.regenerated = 0

    @classmethod
    def open(
        cls,
        recipe: Recipe,
        plan: Plan,
        store_path: Path,
        embedder: Any,
        *,
        budget_usd: float | None = None,
        progress: bool = True,
    ) -> SeededRun:
        """Read the reference when the recipe seeds prompts or fills gaps (or the folder holds gap rows).

        Gap rows are labelled from `reference.labels`; without them, by the blind label judge (`run`).
        Raises `RecipeError` for a missing reference file or label column.
        """
        stored = has_gap_state(store_path)
        wanted = recipe.reference is not None and (recipe.examples or recipe.fill or stored)
        ref = read_reference(recipe) if wanted else None
        store = GapStore(store_path) if (recipe.fill is not None or stored) else None
        labeller = ReferenceLabeller(ref) if ref is not None and ref.labels else None
        return cls(recipe, plan, ref, store, embedder, labeller, budget_usd, progress=progress)

    def close(self) -> None:
        for close in self._closers:
            close()
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> SeededRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def measured(self) -> tuple[list[str], Any] | None:
        """(texts, CoverageResult) of the loop's last measurement, None without one."""
        if self.fill is None or self.fill.final is None or self.fill.final_texts is None:
            return None
        return self.fill.final_texts, self.fill.final

    # --- slots --------------------------------------------------------------------------------------

    def gap_slots(self) -> list[GapSlot]:
        return self.store.slots() if self.store is not None else []

    def slot_specs(self, plan_specs: Sequence[SlotSpec]) -> list[SlotSpec]:
        """The plan's slots (with their examples when the recipe seeds prompts), then the stored gap slots."""
        specs = list(plan_specs)
        if self.ref is not None and self.recipe.examples is not None:
            embed = self.embedder.encode if self.embedder is not None else None
            specs, self.examples_info = seed_plan_slots(specs, self.recipe, self.ref, embed)
        return specs + [s.spec() for s in self.gap_slots()]

    # --- running ------------------------------------------------------------------------------------

    async def run(
        self, engine: Engine, generate: Callable[[], Awaitable[Any]], judge: Any = None
    ) -> None:
        """Generation passes with leakage control, inside the gap-filling loop when there is one.

        `judge` (the label audit's, when the recipe has one) labels gap rows of a reference without label
        columns; without it such a run builds a judge of its own over the generation backend. `engine.stats`
        keeps the first pass's `resumed` and the seconds of every pass.
        """
        if self.fill is not None and self.fill.labeller is None:
            self.fill.labeller = self._judge_labeller(engine, judge)
        first: dict[str, Any] = {}
        seconds = 0.0

        async def one_pass() -> None:
            nonlocal seconds
            try:
                await generate()
            finally:
                seconds += engine.stats.seconds
                first.setdefault("resumed", engine.stats.resumed)

        async def guarded() -> None:
            await one_pass()
            if self.guard is not None:
                self.regenerated += await self.guard.run(engine, one_pass)

        try:
            if self.fill is not None:
                await self.fill.run(engine, guarded)
            else:
                await guarded()
        finally:
            engine.stats.seconds = seconds
            engine.stats.resumed = first.get("resumed", engine.stats.resumed)

    def _judge_labeller(self, engine: Engine, judge: Any) -> Labeller:
        """Gap rows labelled by the blind judge: the audit's, else one over the generation backend reading
        the stratum dimensions (its verdicts and spending live with the audit's, in the run store)."""
        from hf_synth.recipe.audit import UNCLEAR

        if judge is None:
            from hf_synth.generation.audit.judge import Judge
            from hf_synth.generation.audit.store import VerdictStore

            assert self.store is not None
            store = VerdictStore(self.store.path)
            self._closers.append(store.close)
            engine.budget.spent_before += store.usage().cost_usd
            values = self.recipe.dimension_values()
            dims = list(self.recipe.strata.by) if self.recipe.strata else list(self.recipe.dimensions)
            judge = Judge(
                engine.backend,
                store,
                {d: values[d] for d in dims},
                seed=self.recipe.seed,
                budget=engine.budget,
                progress=self.progress,
                max_passes=self.recipe.max_rounds,
            )
        return JudgeLabeller(judge, list(judge.dimensions), self.recipe.main_text_field, UNCLEAR)

    # --- the report ---------------------------------------------------------------------------------

    def seeding_block(self, engine: Engine) -> dict[str, Any] | None:
        """The report's `seeding` block: the reference read, the examples drawn, near-copies regenerated."""
        if self.ref is None:
            return None
        return {
            "reference": self.ref.summary(),
            "examples": self.examples_info or None,
            "leakage_threshold": self.recipe.reference.leakage_threshold,  # type: ignore[union-attr]
            "regenerated_near_copies": engine.store.counters().get(COUNTER, 0),
            "still_near_copies": self.guard.still if self.guard is not None else None,
        }

    def gap_block(self) -> dict[str, Any] | None:
        """The report's `gap_fill` block (None when the folder has no gap filling)."""
        if self.fill is not None:
            return self.fill.report_block()
        if self.store is not None and self.gap_slots():
            return GapFill(self.recipe, self.plan, self.ref, self.store, None, None).report_block()  # type: ignore[arg-type]
        return None
