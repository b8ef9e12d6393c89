"""A reference set read with its label columns: the texts examples are drawn from and gap rows are labelled
by, in the same rows and order coverage uses (nulls dropped, the same seeded `max_rows` sample)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hf_synth.quality.measure import _sample_rows
from hf_synth.quality.textsource import _read_table, column_names, resolve_column
from hf_synth.recipe.fields import value_str

__all__ = ["LabelledTexts", "load_labelled"]


@dataclass
class LabelledTexts:
    """Reference texts and, per label column, each row's label as text (`value_str`; None where the cell is
    empty)."""

    texts: list[str]
    labels: dict[str, list[str | None]] = field(default_factory=dict)
    column: str = "text"
    n_null: int = 0


def load_labelled(
    path: str | Path,
    text_column: str,
    label_columns: Sequence[str] = (),
    *,
    max_rows: int | None = None,
    seed: int = 0,
) -> LabelledTexts:
    """Read the text column and the label columns of a reference source (file, Hub-style or generated folder).

    Rows with a null text are dropped (counted in `n_null`); with `max_rows`, the seeded random sample
    coverage uses (`measure_coverage(reference_max_rows=..., seed=...)`) is kept. Raises FileNotFoundError /
    ValueError naming the file (and its columns) when the source or a column is missing.
    """
    _, files, column = resolve_column(path, text_column)
    for f in files:
        names = column_names(f)
        for col in label_columns:
            if col not in names:
                raise ValueError(f"{f}: no label column {col!r}; columns are {names}")
    texts: list[str] = []
    labels: dict[str, list[str | None]] = {c: [] for c in label_columns}
    n_null = 0
    for f in files:
        table = _read_table(f)
        values = table.column(column).to_pylist()
        cells = {c: table.column(c).to_pylist() for c in label_columns}
        for i, value in enumerate(values):
            if value is None:
                n_null += 1
                continue
            texts.append(value if isinstance(value, str) else str(value))
            for c in label_columns:
                cell = cells[c][i]
                labels[c].append(None if cell is None or cell == "" else value_str(cell))
    keep = _sample_rows(len(texts), max_rows, seed)
    if keep is not None:
        texts = [texts[i] for i in keep]
        labels = {c: [vals[i] for i in keep] for c, vals in labels.items()}
    return LabelledTexts(texts, labels, column, n_null)
