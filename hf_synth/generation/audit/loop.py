"""The label audit's loop over a generation engine: judge the finished rows, regenerate the rows whose text
betrays their label with the judge's reading fed back, judge the new rows, within `max_rounds` rounds.

What still disagrees after the last round is handled per `audit.on_disagree`: `regenerate` keeps it (marked
`label_verified = false`) and records it as settled, so a re-run does not regenerate it again; `flag` never
regenerates; `drop-and-refill` drops it and stops the run short (`IncompleteRunError`, exit 3), so a re-run
refills its cell. Quotas stay exact: a row is only ever replaced in its own slot.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hf_synth.errors import BudgetExceededError, IncompleteRunError
from hf_synth.generation.audit.judge import Judge
from hf_synth.generation.request_builder import quote_in_feedback
from hf_synth.recipe.audit import UNCLEAR

if TYPE_CHECKING:
    from hf_synth.generation.engine import Engine, GenerationStats
    from hf_synth.recipe.audit import AuditConfig

__all__ = [
    "FEEDBACK_PREFIX",
    "AuditOutcome",
    "LabelAudit",
    "feedback_text",
    "run_with_audit",
]

#: Start of every reason the audit records for a row it discards (and of the feedback it sends).
FEEDBACK_PREFIX = "label audit: "
REGENERATED_COUNTER = "audit_regenerated"
DROPPED_COUNTER = "audit_dropped"
_QUOTE_CHARS = 200


def feedback_text(
    planned: Mapping[str, str], verdict: Mapping[str, str], dimensions: list[str], text: str | None = None
) -> str:
    """ "A reader took this as X; write it so that it is clearly Y" for the dimensions where `verdict`
    differs from `planned`; `text` (the rejected row's text) is quoted, shortened, when given."""
    wrong = [d for d in dimensions if verdict.get(d) != planned[d]]
    took = ", ".join(
        f"{d} '{verdict.get(d)}'" if verdict.get(d) != UNCLEAR else f"{d} unclear (could not tell)"
        for d in wrong
    )
    want = ", ".join(f"{d} '{planned[d]}'" for d in wrong)
    quote = f" ({quote_in_feedback(text, _QUOTE_CHARS)})" if text else ""
    return (
        f"{FEEDBACK_PREFIX}a reader took your previous text{quote} as {took}; "
        f"write it so that it is clearly {want}."
    )


@dataclass
class AuditOutcome:
    """What the audit did in this process: rounds run, rows sent back for regeneration, rows dropped, rows
    settled (kept although they disagree), and the last round's readings {slot id: verdict or None}."""

    rounds: int = 0
    regenerated: int = 0
    dropped: int = 0
    settled: int = 0
    seconds: float = 0.0
    verdicts: dict[int, dict[str, str] | None] = field(default_factory=dict)


class LabelAudit:
    """Audits the rows of `engine` with `judge` and regenerates the disagreeing ones through `engine`.

    `dimensions` are the audited dimensions, `text_fields` the row fields the judge reads, `max_rounds`
    the judge-and-regenerate rounds of one run.
    """

    def __init__(
        self,
        engine: Engine,
        judge: Judge,
        config: AuditConfig,
        dimensions: list[str],
        text_fields: list[str],
        max_rounds: int,
    ) -> None:
        self.engine = engine
        self.judge = judge
        self.config = config
        self.dimensions = dimensions
        self.text_fields = text_fields
        self.max_rounds = max(1, max_rounds)
        self.outcome = AuditOutcome()
        self.skipped_kinds = [k.name for k in engine.kinds if not k.auditable]

    # --- reading the rows -----------------------------------------------------------------------------

    def audited_texts(self, rows: Mapping[int, Mapping[str, Any]]) -> dict[int, dict[str, str]]:
        """slot id → the text fields the judge reads, for the stored rows whose kind a reader can label."""
        out: dict[int, dict[str, str]] = {}
        for sid, row in rows.items():
            slot = self.engine.slots.get(sid)
            if slot is None:
                continue
            kind = self.engine.builder.kind(slot)
            if kind is not None and not kind.auditable:
                continue
            if any(slot.values[d] not in self.judge.dimensions[d] for d in self.dimensions):
                continue  # a gap row labelled with a reference value the recipe lacks: no answer names it
            out[sid] = {f: row[f] if isinstance(row.get(f), str) else "" for f in self.text_fields}
        return out

    def verdicts_for(self, rows: Mapping[int, Mapping[str, Any]]) -> dict[int, dict[str, str] | None]:
        """slot id → the stored verdict on its current row (None: not judged) for every audited row of
        `rows`; rows of skipped kinds are absent."""
        texts = self.audited_texts(rows)
        keys = {sid: self.judge.key(t) for sid, t in texts.items()}
        stored = self.judge.store.verdicts(keys.values())
        return {sid: stored.get(k) for sid, k in keys.items()}

    def _planned(self, sid: int) -> dict[str, str]:
        return {d: self.engine.slots[sid].values[d] for d in self.dimensions}

    def _disagrees(self, sid: int, verdict: Mapping[str, str]) -> bool:
        planned = self._planned(sid)
        return any(verdict.get(d) != planned[d] for d in self.dimensions)

    async def judge_rows(self) -> tuple[dict[int, dict[str, str] | None], dict[int, dict[str, str]]]:
        """Judge every audited stored row (stored verdicts are reused): ({slot: verdict}, {slot: texts})."""
        texts = self.audited_texts(self.engine.store.rows())
        sids = sorted(texts)
        verdicts = await self.judge.judge([texts[s] for s in sids])
        self.outcome.verdicts = dict(zip(sids, verdicts, strict=True))
        return self.outcome.verdicts, texts

    # --- the loop ---------------------------------------------------------------------------------------

    async def run(self) -> AuditOutcome:
        """Judge, regenerate the disagreeing rows, repeat; then settle, keep or drop what still disagrees.

        Raises `IncompleteRunError` when `drop-and-refill` dropped rows (or regeneration could not fill a
        slot), `BudgetExceededError` at the budget; the store keeps every verdict either way.
        """
        start = time.perf_counter()
        try:
            bad: dict[int, dict[str, str]] = {}
            texts: dict[int, dict[str, str]] = {}
            for round_ in range(1, self.max_rounds + 1):
                self.outcome.rounds = round_
                verdicts, texts = await self.judge_rows()
                settled = self.judge.store.settled()
                bad = {
                    sid: v
                    for sid, v in verdicts.items()
                    if v is not None
                    and self._disagrees(sid, v)
                    and settled.get(sid) != self.judge.key(texts[sid])
                }
                if not bad or self.config.on_disagree == "flag":
                    return self.outcome
                regenerable = [sid for sid in sorted(bad) if self._regenerable(sid)]
                if round_ == self.max_rounds or not regenerable:
                    break
                self._send_back(regenerable, bad, texts)
                await self.engine.run()
            self._last_round(bad, texts)
            return self.outcome
        finally:
            self.outcome.seconds += time.perf_counter() - start

    def _regenerable(self, sid: int) -> bool:
        # Rows copied from their partner (exact_duplicate) change when the partner is regenerated.
        kind = self.engine.builder.kind(self.engine.slots[sid])
        return kind is None or kind.needs_generation

    def _send_back(
        self, sids: list[int], bad: Mapping[int, dict[str, str]], texts: Mapping[int, dict[str, str]]
    ) -> None:
        """Discard the rows `sids` and queue each one's regeneration with the judge's reading fed back."""
        main = self.engine.text_field
        feedback, reasons = {}, defaultdict(list)
        for sid in sids:
            planned = self._planned(sid)
            text = texts[sid].get(main) or next(iter(texts[sid].values()), "")
            feedback[sid] = feedback_text(planned, bad[sid], self.dimensions, text)
            # The stored reason leaves the text out, so rows with the same reading share one transaction.
            reasons[feedback_text(planned, bad[sid], self.dimensions)].append(sid)
        self.engine.set_slot_feedback(feedback)
        for reason, group in reasons.items():
            self.engine.store.discard(group, reason, REGENERATED_COUNTER)
        self.outcome.regenerated += len(sids)

    def _last_round(self, bad: Mapping[int, dict[str, str]], texts: Mapping[int, dict[str, str]]) -> None:
        if not bad:
            return
        if self.config.on_disagree == "regenerate":
            self.judge.store.settle({sid: self.judge.key(texts[sid]) for sid in bad})
            self.outcome.settled += len(bad)
            return
        # drop-and-refill: a row that still betrays its label never reaches the dataset.
        reasons = defaultdict(list)
        for sid in sorted(bad):
            reasons[feedback_text(self._planned(sid), bad[sid], self.dimensions)].append(sid)
        for reason, group in reasons.items():
            self.engine.store.discard(group, reason, DROPPED_COUNTER)
        self.outcome.dropped += len(bad)
        short = Counter(self.engine.slots[sid].stratum_id for sid in bad)
        errors = {sid: next(r for r, g in reasons.items() if sid in g) for sid in sorted(bad)}
        raise IncompleteRunError(dict(short), errors)

    def restore_feedback(self) -> None:
        """Queue the judge's readings of rows discarded by an earlier run that stopped (drop-and-refill, a
        budget, `kill -9`) before regenerating them: they are the discard reasons in the run store."""
        pending = [s.slot_id for s in self.engine.pending()]
        if not pending:
            return
        last = {sid: errs[-1] for sid, errs in self.engine.store.failures(pending).items() if errs}
        self.engine.set_slot_feedback({sid: r for sid, r in last.items() if r.startswith(FEEDBACK_PREFIX)})


async def run_with_audit(engine: Engine, audit: LabelAudit | None) -> GenerationStats:
    """Fill the engine's slots, then (with an audit) judge and regenerate within the audit's rounds.

    When generation stops short, the rows that exist are still judged (no regeneration), so the incomplete
    dataset carries their readings; the error is raised after. `stats.seconds` covers every engine pass and
    `stats.resumed` is what the first pass found finished.
    """
    seconds, resumed = 0.0, None
    if audit is not None:
        audit.restore_feedback()
    try:
        try:
            await engine.run()
        finally:
            seconds, resumed = engine.stats.seconds, engine.stats.resumed
        if audit is not None:
            await audit.run()
    except IncompleteRunError:
        if audit is not None and audit.outcome.rounds == 0:
            with contextlib.suppress(BudgetExceededError, IncompleteRunError):
                await audit.judge_rows()
        raise
    finally:
        if audit is not None:
            engine.stats.seconds = seconds + audit.outcome.seconds
        if resumed is not None:
            engine.stats.resumed = resumed
    return engine.stats
