"""Card section "Label fidelity": how well a classifier recovers each dimension's label from the text.

``hf_synth.quality.fidelity.label_fidelity`` gives {dimension: {accuracy, majority_share, uniform_chance,
disagreeing_rows: [row indices], n_rows, note, ...}}; a {"dimensions": {...}} wrapper and "chance"/integer
counts are accepted too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hf_synth.card.context.facts import CardFacts
from hf_synth.card.context.status import fidelity_block
from hf_synth.card.escape import SafeMd, escape_cell, escape_inline
from hf_synth.card.format import model_name, num, pct
from hf_synth.card.report_keys import first
from hf_synth.dataset.validate import fidelity_warnings


def _per_dimension(fid: Mapping[str, Any]) -> Mapping[str, Any]:
    per_dim = fid.get("dimensions") or fid.get("per_dimension")
    if not isinstance(per_dim, Mapping):
        per_dim = {k: v for k, v in fid.items() if isinstance(v, Mapping) and "accuracy" in v}
    return per_dim


def _above_chance(dim: str, v: Mapping[str, Any]) -> SafeMd:
    """The "above chance" cell: yes, **no** (the texts do not carry the label better than always guessing
    the most common value, by `fidelity_warnings`' binomial test) or a dash when the figures are missing."""
    measured = fidelity_block({"label_fidelity": {dim: v}})
    if not measured:
        return SafeMd("—")
    return SafeMd("**no** ⚠️" if fidelity_warnings(measured) else "yes")


def _row(dim: str, v: Mapping[str, Any], disagreements: Any) -> dict[str, Any]:
    acc = v.get("accuracy")
    chance = first(v, "chance", "majority_share")
    return {
        "above_chance": _above_chance(dim, v),
        "dimension": escape_cell(dim, None),
        "accuracy": SafeMd(pct(acc)),
        "chance": SafeMd(pct(chance)),
        "uniform": SafeMd(pct(v.get("uniform_chance"))),
        "lift": SafeMd(num(float(acc) / float(chance), 1) + "×" if acc is not None and chance else "—"),
        "disagreements": disagreements,
    }


def _overall(fid: Mapping[str, Any], union: set[int], counts: list[int]) -> int | None:
    """Rows disagreeing on at least one dimension: as reported, else the union of the per-dimension row
    indices, else the single dimension's count; unknown otherwise (a sum would double count)."""
    overall = first(fid, "disagreeing_rows", "disagreements", "n_disagreeing")
    if isinstance(overall, list):
        overall = len(overall)
    if not isinstance(overall, int):
        overall = len(union) if union else (counts[0] if len(counts) == 1 else None)
    return overall


def fidelity(f: CardFacts) -> dict[str, Any]:
    """Template key ``fidelity`` (None when not measured): rows, notes, has_uniform, disagreeing_rows,
    total, method, model."""
    fid = f.report.get("label_fidelity")
    if not fid:
        return {"fidelity": None}
    per_dim = _per_dimension(fid)
    rows, notes, union, counts = [], [], set(), []
    for d, v in per_dim.items():
        if not isinstance(v, Mapping):
            continue
        dis = first(v, "disagreements", "disagreeing_rows", "n_disagree")
        if isinstance(dis, list):
            union.update(int(i) for i in dis)
            dis = len(dis)
        if isinstance(dis, int):
            counts.append(dis)
        rows.append(_row(d, v, dis))
        if v.get("note"):
            notes.append(escape_inline(f"{d}: {v['note']}", 200))
    n_rows = [v.get("n_rows") for v in per_dim.values() if isinstance(v, Mapping) and v.get("n_rows")]
    return {
        "fidelity": {
            "rows": rows,
            "notes": notes,
            "has_uniform": any(isinstance(v, Mapping) and "uniform_chance" in v for v in per_dim.values()),
            "disagreeing_rows": _overall(fid, union, counts),
            "total": fid.get("n") or (max(n_rows) if n_rows else f.total),
            "method": fid.get("method") or "cross-validated logistic regression on the text embeddings",
            "model": model_name(fid.get("model") or (f.report.get("coverage") or {}).get("model")),
        }
    }
