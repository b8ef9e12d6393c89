"""The diversity table of the coverage section: each figure for the synthetic and the reference texts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hf_synth.card.escape import SafeMd
from hf_synth.card.format import num, pct
from hf_synth.card.report_keys import first


def _figures(n_synth: Any) -> tuple[tuple[str, tuple[str, ...], str, Callable[[Any], str]], ...]:
    """(figure name, report keys, "pct" or "num", reading of the synthetic value) in table order."""
    of_n = f" out of {num(n_synth)}." if n_synth else "."
    return (
        (
            "vendi score",
            ("vendi", "vendi_score"),
            "num",
            lambda v: f"The texts behave like about {num(v, 0)} completely different texts" + of_n,
        ),
        ("distinct-1", ("distinct_1",), "pct", lambda v: f"{pct(v, 0)} of all words (unigrams) are unique."),
        (
            "distinct-2",
            ("distinct_2",),
            "pct",
            lambda v: f"{pct(v, 0)} of all word pairs (bigrams) are unique.",
        ),
        (
            "compression ratio",
            ("compression_ratio",),
            "num",
            lambda v: "gzip ratio (raw ÷ compressed): the higher, the more repetitive.",
        ),
        (
            "exact duplicates",
            ("exact_duplicate_rate",),
            "pct",
            lambda v: f"{pct(v, 1)} of texts repeat another text exactly.",
        ),
        (
            "near-duplicates",
            ("near_duplicate_rate",),
            "pct",
            lambda v: f"{pct(v, 1)} of texts have a near-duplicate in the set.",
        ),
    )


def _sides(div: Mapping[str, Any], n_synth: Any) -> tuple[Mapping[str, Any], Mapping[str, Any], Any, Any]:
    """(synthetic figures, reference figures, leakage, rows compared) from the per-side or the flat shape."""
    if "synthetic" in div:
        leak = div.get("leakage") or {}
        return (
            div.get("synthetic") or {},
            div.get("reference") or {},
            leak,
            div.get("n_rows_compared") or n_synth,
        )
    return div, {}, {"rate": div.get("leakage_rate")}, n_synth


def diversity_rows(div: Mapping[str, Any], n_synth: Any) -> list[dict[str, Any]]:
    """[{name, synthetic, reference, reading}] for the diversity table; ``n_synth`` is the synthetic sample
    size used when the report does not say how many rows were compared."""
    syn, ref, leak, n_synth = _sides(div, n_synth)
    rows: list[dict[str, Any]] = []
    for name, keys, kind, reading in _figures(n_synth):
        v = first(syn, *keys)
        if v is None:
            continue
        rv = first(ref, *keys)
        fmt = pct if kind == "pct" else (lambda x: num(x, 2))
        rows.append(
            {
                "name": name,
                "synthetic": SafeMd(fmt(v)),
                "reference": SafeMd(fmt(rv)) if rv is not None else None,
                "reading": reading(v),
            }
        )
    rate = leak.get("rate") if isinstance(leak, Mapping) else None
    if rate is not None:
        rows.append(
            {
                "name": "leakage",
                "synthetic": SafeMd(pct(rate)),
                "reference": None,
                "reading": f"{pct(rate, 1)} of synthetic texts nearly copy a reference text.",
            }
        )
    return rows
