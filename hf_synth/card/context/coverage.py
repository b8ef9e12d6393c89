"""Card section "Coverage and diversity": each coverage figure with a plain-English reading, uncovered
regions with reference examples, and the diversity table (``diversity.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hf_synth.card.context.diversity import diversity_rows
from hf_synth.card.context.facts import CardFacts
from hf_synth.card.escape import SafeMd, escape_block, escape_inline
from hf_synth.card.format import model_name, num, pct
from hf_synth.card.report_keys import first

Row = dict[str, Any]


def _row(name: str, value: str, reading: str) -> Row:
    return {"name": name, "value": SafeMd(value), "reading": reading}


def _knn_rows(knn: Mapping[str, Any]) -> list[Row]:
    rows = []
    p = knn.get("precision")
    if p is not None:
        reading = (
            f"{pct(p, 0)} of synthetic texts look like they could come from the reference data (realism)."
        )
        rows.append(_row("k-NN precision", pct(p), reading))
    r = knn.get("recall")
    if r is not None:
        reading = f"{pct(r, 0)} of reference texts have something similar in the synthetic data (breadth)."
        rows.append(_row("k-NN recall", pct(r), reading))
    d = knn.get("density")
    if d is not None:
        dv = float(d)
        where = "more crowded than" if dv > 1.1 else "thinner than" if dv < 0.9 else "about as dense as"
        rows.append(
            _row("k-NN density", num(d, 2), f"Synthetic texts sit {where} the reference data around them.")
        )
    kc = knn.get("coverage")
    exp = first(knn, "expected_coverage_same_distribution", "expected_coverage")
    if kc is not None:
        tail = f"; two samples of one distribution would reach about {pct(exp, 0)}" if exp else ""
        reading = (
            f"{pct(kc, 0)} of reference texts have a synthetic text among their nearest neighbours{tail}."
        )
        rows.append(_row("k-NN coverage", pct(kc), reading))
    return rows


def _region_rows(clusters: Mapping[str, Any]) -> list[Row]:
    rows = []
    cc = clusters.get("coverage")
    if cc is not None:
        regions = ""
        if clusters.get("filled_regions") is not None and clusters.get("n_clusters"):
            regions = f" ({clusters['filled_regions']} of {clusters['n_clusters']} regions filled)"
        reading = (
            f"Regions with {pct(cc, 0)} of the reference data get their share of synthetic texts{regions}."
        )
        rows.append(_row("region coverage", pct(cc), reading))
    tv = clusters.get("total_variation")
    if tv is not None:
        reading = (
            f"{pct(tv, 0)} of the synthetic data would have to move between regions to match the reference."
        )
        rows.append(_row("total variation", num(tv, 3), reading))
    return rows


def coverage_rows(cov: Mapping[str, Any]) -> list[Row]:
    """[{name, value, reading}] for the coverage table in reading order; missing figures are skipped."""
    rows = []
    c = cov.get("coverage")
    if c is not None:
        reading = f"About {pct(c, 0)} of the reference data lies in regions the synthetic data also reaches."
        rows.append(_row("coverage", pct(c), reading))
    rows += _knn_rows(cov.get("knn") or {})
    rows += _region_rows(cov.get("clusters") or {})
    ks = cov.get("legacy_ks_score")
    ks_value = ks.get("value") if isinstance(ks, Mapping) else ks
    if ks_value is not None:
        reading = "Older score comparing only cluster sizes (1 = same sizes); not a coverage measure."
        rows.append(_row("legacy KS score", num(ks_value, 3), reading))
    return rows


def _uncovered(cov: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "n": i,
            "share": pct(region.get("share")),
            "synthetic_share": pct(region.get("synthetic_share")),
            "examples": [escape_block(x, 300, quote=True) for x in list(region.get("examples") or [])[:3]],
        }
        for i, region in enumerate(cov.get("uncovered") or [], 1)
    ]


def _rare(cov: Mapping[str, Any]) -> dict[str, Any] | None:
    """The long-tail line and the largest rare regions (small reference regions with no synthetic row)."""
    from hf_synth.quality.readout import rare_summary

    line = rare_summary(cov.get("rare"))
    if line is None:
        return None
    regions = [
        {
            "n": i,
            "rows": region.get("n_reference"),
            "examples": [escape_block(x, 300, quote=True) for x in list(region.get("examples") or [])[:2]],
        }
        for i, region in enumerate((cov.get("rare") or {}).get("regions", [])[:5], 1)
    ]
    return {"summary": escape_inline(line, 300), "regions": regions}


def _map(block: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The coverage map's image, page and legend (None when no map was drawn)."""
    if not block or not block.get("png") or not block.get("html"):
        return None
    colour = block.get("colour_by")
    dots = f"synthetic texts coloured by {escape_inline(colour, 80)}" if colour else "synthetic texts"
    outlined, listed = block.get("regions_outlined") or 0, block.get("uncovered_regions") or 0
    if outlined:
        some = f"the {outlined} largest of the {listed}" if listed > outlined else "the"
        regions = (
            f" Red outlines: {some} uncovered regions listed below, labelled with a typical reference text "
            "where there is room."
        )
    else:
        regions = " No uncovered region to outline."
    legend = (
        f"Grey: where the reference texts are dense. Dots: the {dots}.{regions} Positions come from a "
        "2-D layout of the text embeddings: nearby points are similar texts; axes and long distances mean "
        "nothing."
    )
    # Both names are ours (`quality.map.render`); a path with characters Markdown would misread is not linked.
    paths = [str(block["png"]), str(block["html"])]
    if any(not all(c.isalnum() or c in "/._-" for c in p) for p in paths):
        return None
    # Our text around one escaped value (the colour column's name).
    return {"png": SafeMd(paths[0]), "html": SafeMd(paths[1]), "legend": SafeMd(legend)}


def coverage(f: CardFacts) -> dict[str, Any]:
    """Template key ``coverage`` (None when coverage was not measured): rows, diversity, definition,
    knn_missing, uncovered, synthetic/reference sizes, model, seed, k, warnings, map (image, page and
    legend of the coverage map, or None)."""
    cov = f.report.get("coverage")
    if not cov:
        return {"coverage": None}
    sizes = cov.get("sizes") or {}
    definition = cov.get("coverage_definition")
    return {
        "coverage": {
            "rows": coverage_rows(cov),
            "diversity": diversity_rows(cov.get("diversity") or {}, sizes.get("synthetic")),
            "definition": escape_inline(definition, 400) if definition else None,
            "knn_missing": not cov.get("knn"),
            "uncovered": _uncovered(cov),
            "rare": _rare(cov),
            "synthetic": sizes.get("synthetic"),
            "reference": sizes.get("reference"),
            "model": model_name(cov.get("model")),
            "seed": cov.get("seed"),
            "k": (cov.get("knn") or {}).get("k"),
            "warnings": [escape_inline(w, 300) for w in cov.get("warnings") or []],
            "map": _map(cov.get("map")),
        }
    }
