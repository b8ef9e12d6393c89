"""The blind label audit: a judge model re-labels every row from its text alone; rows whose text betrays
their planned label are regenerated (or flagged, or dropped and refilled), and the agreement is reported.

`request` builds the blind judge requests and reads verdicts, `store` keeps verdicts by row content in the
run store's file, `judge` sends them (budget, concurrency, batches, progress bar), `loop` regenerates the
disagreeing rows through the generation engine, `stats` computes agreement, intervals and confusion matrices
from the written rows, `setup` wires it to a run and builds the report block, `estimate` prices it ahead.
"""

from hf_synth.generation.audit.judge import Judge, JudgeStats
from hf_synth.generation.audit.loop import LabelAudit, run_with_audit
from hf_synth.generation.audit.store import VerdictStore

__all__ = ["Judge", "JudgeStats", "LabelAudit", "VerdictStore", "run_with_audit"]
