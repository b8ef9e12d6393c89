"""The planning stage: a recipe's exact quotas, before anything is sent.

`spec` (recipe → `PlanSpec`), `types` (`PlanSpec` and its checks), `rounding` (largest remainder, controlled
rounding), `plan` (`make_plan` → `Plan`, one slot per row), `partners` (who a paired edge row quotes), `view`
(the `hf-synth plan` tables) and `estimate` (requests, tokens and dollars of a run).
"""
