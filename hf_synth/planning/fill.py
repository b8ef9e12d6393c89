"""The gap-filling loop (`fill:`, `hf-synth fill-gaps`): measure coverage, add slots where the reference has
mass the dataset lacks, generate them, measure again, until the target, the row cap, the rounds or the budget.

Every round is stored before its rows are requested (`gap_store`), so the loop resumes where it stopped:
a re-run first finishes the stored slots, then measures and decides again. Decisions depend only on stored
state and on the coverage of the stored rows (deterministic for a seed), so a finished run re-run sends no
request. The plan's own slots are never touched: gap rows are extra slots, flagged in the dataset.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from hf_synth.errors import BudgetExceededError
from hf_synth.generation.slots import SlotSpec
from hf_synth.planning.gap_labels import Labeller
from hf_synth.planning.gap_store import GapStore
from hf_synth.planning.gaps import GAP_SLOT_BASE, GapSlot, labels_added, plan_round, round_size
from hf_synth.planning.seeding import ReferenceSet
from hf_synth.recipe import Recipe, resolve_data_path

if TYPE_CHECKING:
    from hf_synth.generation.backends.base import Usage
    from hf_synth.generation.engine import Engine
    from hf_synth.planning.plan import Plan

__all__ = ["GapFill", "dataset_texts", "is_gap_slot", "measurement"]

log = logging.getLogger(__name__)

#: Under-filled regions a measurement keeps for the report (the card lists the top few with examples).
TOP_REGIONS = 5


def is_gap_slot(slot_id: int) -> bool:
    """True for the id of a gap slot (gap ids start at `GAP_SLOT_BASE`)."""
    return slot_id >= GAP_SLOT_BASE


def dataset_texts(
    rows: dict[int, dict[str, Any]], plan: Plan, gaps: list[GapSlot], text_field: str
) -> list[str]:
    """The texts coverage is measured on, in the dataset's order: per split, the plan's ordinary rows by slot
    id, then the gap rows by slot id (edge-case rows left out, a missing text as "")."""
    splits = [name for name, _ in plan.spec.splits]
    by_split: dict[str, list[str]] = {s: [] for s in splits}
    for i, sid in enumerate(plan.slot_id.tolist()):
        if int(plan.edge[i]) == 0 and sid in rows:
            by_split[splits[int(plan.split[i])]].append(rows[sid].get(text_field) or "")
    gap_texts: dict[str, list[str]] = {s: [] for s in splits}
    for slot in gaps:
        if slot.slot_id in rows:
            gap_texts[slot.split].append(rows[slot.slot_id].get(text_field) or "")
    return [t for s in splits for t in (*by_split[s], *gap_texts[s])]


def measurement(result: Any, n_synthetic: int) -> dict[str, Any]:
    """What the report keeps of a `CoverageResult`: the headline, its interval and resolution, and the top
    under-filled regions with three example texts each."""
    top = [
        {
            "region": int(r["cluster"]),
            "share": float(r["share"]),
            "synthetic_share": float(r["synthetic_share"]),
            "examples": list(r.get("examples") or [])[:3],
        }
        for r in (result.uncovered or [])[:TOP_REGIONS]
    ]
    return {
        "coverage": float(result.coverage),
        "interval": list(result.coverage_interval) if result.coverage_interval else None,
        "resolution": result.resolution,
        "n_synthetic": n_synthetic,
        "uncovered_regions": len(result.uncovered or []),
        "top_regions": top,
    }


def _usage(u: Usage) -> dict[str, Any]:
    return asdict(u)


def _minus(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = {k: a[k] - b.get(k, 0) for k in a}
    out["cost_usd"] = round(out["cost_usd"], 6)
    return out


def _same_budget_stop(finish: dict[str, Any], budget_usd: float | None) -> bool:
    """True when the loop last stopped at a budget no smaller than `budget_usd` (re-running the same command
    must stop again, not try another round)."""
    before = finish.get("budget_usd")
    return (
        str(finish.get("reason", "")).startswith("budget")
        and budget_usd is not None
        and before is not None
        and budget_usd <= before
    )


class GapFill:
    """The loop over one folder: `recipe.fill` settings, the reference, the stored state, an embedder for
    coverage and a labeller for the new rows.

    plan_rows: rows of the plan (the default row cap); budget_usd: the run's budget (a stop by budget is
    remembered with it, so the same command re-run stops again instead of trying another round).
    """

    def __init__(
        self,
        recipe: Recipe,
        plan: Plan,
        ref: ReferenceSet,
        store: GapStore,
        embedder: Any,
        labeller: Labeller | None,
        *,
        budget_usd: float | None = None,
    ) -> None:
        self.recipe = recipe
        self.plan = plan
        self.ref = ref
        self.store = store
        self.embedder = embedder
        self.labeller = labeller
        self.budget_usd = budget_usd
        self.final: Any = None  # the last CoverageResult measured
        self.final_texts: list[str] | None = None

    @property
    def max_rows(self) -> int:
        fill = self.recipe.fill
        return fill.max_rows if fill and fill.max_rows else len(self.plan.slot_id)

    def slots(self) -> list[GapSlot]:
        return self.store.slots()

    def slot_specs(self) -> list[SlotSpec]:
        """The stored gap slots as the engine fills them."""
        return [s.spec() for s in self.store.slots()]

    # --- measuring ----------------------------------------------------------------------------------

    def _measure(self, engine: Engine) -> tuple[Any, dict[str, Any]]:
        from hf_synth.quality.measure import measure_coverage

        ref = self.recipe.reference
        assert ref is not None
        texts = dataset_texts(engine.store.rows(), self.plan, self.store.slots(), engine.text_field)
        result = measure_coverage(
            texts,
            str(resolve_data_path(ref.path)),
            reference_text_column=ref.text_column,
            reference_max_rows=ref.max_rows,
            embedder=self.embedder,
            seed=self.recipe.seed,
        )
        self.final, self.final_texts = result, texts
        return result, measurement(result, len(texts))

    # --- the loop -----------------------------------------------------------------------------------

    async def run(self, engine: Engine, generate: Callable[[], Awaitable[Any]]) -> None:
        """Fill the stored slots, then measure-and-fill rounds until a stop (see the module docstring).

        `generate` runs one generation pass over the engine's pending slots. A `BudgetExceededError` while
        gap slots are pending ends the loop (their unfinished slots are withdrawn, the dataset stays
        complete); while the plan's own rows are pending it is raised, as without gap filling.
        """
        assert self.recipe.fill is not None
        rounds = self.store.rounds()
        while True:
            by_budget = await self._generate(engine, generate)
            result, measured = self._measure(engine)
            if rounds:
                last = rounds[-1]
                changes = {
                    "after": measured,
                    "cost": _minus(_usage(engine.store.usage()), last["usage_at_start"]),
                }
                self.store.update_round(last["round"], changes)
                last.update(changes)
            reason = self._stop_reason(measured, rounds, by_budget)
            if reason is None:
                reason = await self._next_round(engine, result, measured, len(rounds) + 1)
                if reason is None:
                    rounds = self.store.rounds()
                    continue
            self.store.set_state(
                "finish", {"reason": reason, "budget_usd": self.budget_usd, "after": measured}
            )
            log.info("gap filling stopped: %s", reason)
            return

    async def _generate(self, engine: Engine, generate: Callable[[], Awaitable[Any]]) -> bool:
        """One generation pass; True when the budget stopped it with gap rows left (they are withdrawn)."""
        try:
            await generate()
        except BudgetExceededError:
            pending = [s.slot_id for s in engine.pending()]
            if not pending or any(not is_gap_slot(sid) for sid in pending):
                raise
            self.store.withdraw(pending)
            engine.remove_slots(pending)
            rounds = self.store.rounds()
            if rounds:
                self.store.update_round(rounds[-1]["round"], {"withdrawn": len(pending)})
            log.warning("gap filling: the budget stopped a round; %d gap rows were not made", len(pending))
            return True
        return False

    def _stop_reason(
        self, measured: dict[str, Any], rounds: list[dict[str, Any]], by_budget: bool
    ) -> str | None:
        fill = self.recipe.fill
        assert fill is not None
        finish = self.store.state("finish") or {}
        if by_budget:
            return f"budget: the budget (${self.budget_usd:g}) was reached during round {len(rounds)}"
        if _same_budget_stop(finish, self.budget_usd):
            return str(finish["reason"])
        if measured["coverage"] >= fill.target:
            return f"target: coverage {measured['coverage']:.2f} reached the target {fill.target:g}"
        made = len(self.store.slots())
        if made >= self.max_rows:
            return f"max_rows: {made} gap rows, the cap of {self.max_rows}"
        if len(rounds) >= fill.rounds:
            return f"rounds: {len(rounds)} rounds, the most fill.rounds allows"
        if (
            rounds
            and rounds[-1].get("after")
            and rounds[-1]["after"]["coverage"] <= rounds[-1]["before"]["coverage"]
        ):
            return f"no progress: round {len(rounds)} did not raise coverage"
        return None

    async def _next_round(
        self, engine: Engine, result: Any, measured: dict[str, Any], round_no: int
    ) -> str | None:
        """Plan and store the next round and add its slots to the engine; a stop reason when none can be
        added."""
        fill = self.recipe.fill
        assert fill is not None
        uncovered = list(result.uncovered or [])
        if not uncovered:
            return "no region: the measurement names no under-filled region"
        if self.labeller is None:
            return "no labels: the reference has no labels and no judge is configured"
        texts = [t for r in uncovered for t in r["examples"]]
        labels = await self.labeller.label(texts)
        per_region, at = [], 0
        for r in uncovered:
            per_region.append(labels[at : at + len(r["examples"])])
            at += len(r["examples"])
        left = self.max_rows - len(self.store.slots())
        rows = min(round_size(uncovered, measured["n_synthetic"]), left, fill.per_round or left)
        known = {d: self.ref.known[d] for d in self.labeller.dimensions if d in self.ref.known}
        for d in self.labeller.dimensions:
            known.setdefault(d, set(self.recipe.dimension_values()[d]))
        slots, regions = plan_round(
            self.recipe, uncovered, per_region, rows, self.store.next_slot_id(), round_no, known
        )
        if not slots:
            return "no region can be filled: none of the under-filled regions has a usable label"
        record = {
            "before": measured,
            "rows": len(slots),
            "regions": [r.to_json() for r in regions if r.rows or r.skipped],
            "labels_from": self.labeller.source,
            "usage_at_start": _usage(engine.store.usage()),
        }
        self.store.add_round(round_no, record, slots)
        engine.add_slots([s.spec() for s in slots])
        log.info(
            "gap filling round %d: coverage %.2f, adding %d rows over %d regions",
            round_no,
            measured["coverage"],
            len(slots),
            sum(1 for r in regions if r.rows),
        )
        return None

    # --- the report ---------------------------------------------------------------------------------

    def report_block(self) -> dict[str, Any]:
        """The report's `gap_fill` block: settings, every round (coverage before and after with intervals,
        rows per region, cost), why the loop stopped, rows added per label and the new label values."""
        fill = self.recipe.fill
        slots = self.store.slots()
        rounds = self.store.rounds()
        for r in rounds:
            r.pop("usage_at_start", None)
        finish = self.store.state("finish") or {}
        dims = list(self.recipe.dimensions)
        values = self.recipe.dimension_values()
        new_values = {d: sorted({s.values[d] for s in slots} - set(values[d])) for d in dims}
        cost: dict[str, Any] = {}
        for r in rounds:
            for k, v in (r.get("cost") or {}).items():
                cost[k] = cost.get(k, 0) + v
        if "cost_usd" in cost:
            cost["cost_usd"] = round(cost["cost_usd"], 6)
        return {
            "settings": {
                "target": fill.target if fill else None,
                "max_rows": self.max_rows if fill else None,
                "rounds": fill.rounds if fill else None,
                "per_round": fill.per_round if fill else None,
                "new_values": fill.new_values if fill else None,
            },
            "labels_from": self.labeller.source if self.labeller else None,
            "rows": len(slots),
            "rounds": rounds,
            "before": rounds[0]["before"] if rounds else finish.get("after"),
            "after": finish.get("after"),
            "stopped": finish.get("reason"),
            "added_per_label": labels_added(slots, dims),
            "new_values": {d: v for d, v in new_values.items() if v},
            "cost": cost,
        }
