"""The quality stage: how much of a real reference set the synthetic rows cover, how diverse they are, and
whether their texts carry their labels.

`measure` (`measure_coverage`, the one entry point) → `result.CoverageResult`; `support` (the calibrated
headline with its interval and resolution), `neighbours`, `knn`, `regions`, `legacy`, `coverage` (report
assembly), `readout` (text for people), `diversity`, `fidelity`, `language`, `textsource`, and `embed/`.
"""
