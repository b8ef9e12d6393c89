"""The dataset stage: rows → a typed `DatasetDict`, the Hub-ready folder, its report and its validation.

`build` (features, DatasetDict, content-named parquet files), `folder` (who owns an output folder; the run
lock), `provenance` (every run of a folder), `report` (the typed `Report` written as report.json), `validate`
(counts against targets) and `content` (the written rows re-checked: field types, edge kinds, duplicates).
"""
