"""Card section "Validation": counts, content and labels stated apart, the chi-square table, the problems.

``hf_synth.dataset.validate`` gives {ok, chi_square: {dim: {...}}, failures: [...], complete, content:
{fields: {rows, failed}, edge_cases: {kind: {rows, failed}}, duplicates, edge_kinds_checked}, warnings:
[...]}; "tests" and "messages" (named tests, free-text lines) are accepted too. Counts are exact by
construction when the run completes (labels, splits and edge flags are written from the plan), so the card
never lets them stand for the whole verdict: the content of the rows and the label fidelity are reported
beside them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hf_synth.card.context.edges import recipe_kinds
from hf_synth.card.context.facts import CardFacts
from hf_synth.card.context.status import fidelity_block, is_complete
from hf_synth.card.escape import SafeMd, escape_cell, escape_inline
from hf_synth.card.format import num
from hf_synth.dataset.validate import fidelity_warnings

_MAX_FAILURES = 20
# Failure levels that are about the written rows' content; every other level is about counts.
_CONTENT_LEVELS = ("fields", "duplicates", "edge_cases.")


def _tests(val: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    tests = [{**t, "name": t.get("name")} for t in val.get("tests") or [] if isinstance(t, Mapping)]
    chi = val.get("chi_square")
    if isinstance(chi, Mapping):
        tests += [{"name": d, **v} for d, v in chi.items() if isinstance(v, Mapping)]
    return tests


def _is_content(fail: Any) -> bool:
    level = str(fail.get("level", "")) if isinstance(fail, Mapping) else ""
    return level in _CONTENT_LEVELS or level.startswith(_CONTENT_LEVELS[2])


def _failure(fail: Any) -> str:
    """One problem on one line: a quota miss with target and realised counts, or a cell and its slots."""
    if not isinstance(fail, Mapping):
        return escape_inline(fail, 200)
    if "target" in fail:
        where = f"{fail.get('level')}: {fail.get('cell')}"
        return escape_inline(f"{where}: target {fail.get('target')}, realised {fail.get('realised')}", 200)
    slots = fail.get("slots")
    n = f" ({len(slots)} slot{'s' if len(slots) != 1 else ''})" if isinstance(slots, list) else ""
    return escape_inline(f"{fail.get('level')}: {fail.get('cell')}{n}", 200)


def _test_row(t: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": escape_cell(t.get("name"), 80),
        "statistic": SafeMd(num(t.get("statistic"))),
        "p_value": SafeMd(num(t.get("p_value"), 4)),
        "deviation": SafeMd(num(t.get("max_abs_deviation"), 0)),
        "passed": t.get("passed"),
    }


def _plural(n: int, word: str) -> str:
    return f"{num(n)} {word}{'' if n == 1 else 's'}"


def _counts_line(f: CardFacts, count_failures: int) -> SafeMd:
    """What the count checks found, in one sentence: exact, short (incomplete run) or K cells missed."""
    if not is_complete(f.report):
        planned = f.plan.get("total")
        of = f" of the {num(planned)} planned" if planned is not None else ""
        return SafeMd(
            f"not exact: the run stopped short and the data holds {num(f.total)}{of} rows, so the quotas are "
            "not met (see the banner at the top)."
        )
    if count_failures:
        return SafeMd(
            f"{_plural(count_failures, 'quota check')} failed (listed below): the data files do not hold "
            "what the plan wrote."
        )
    t = f.targets
    parts = [
        _plural(len(t.get("strata") or {}), "stratum").replace("stratums", "strata"),
        f"the values of {_plural(len(t.get('marginals') or {}), 'dimension')}",
        _plural(len(t.get("splits") or {}), "split"),
    ]
    if t.get("edge_cases"):
        parts.append(_plural(len(t["edge_cases"]), "edge kind"))
    if t.get("strata_splits"):
        parts.append("every stratum × split cell")
    return SafeMd(f"every exact quota holds ({', '.join(parts)}), counted in the data files.")


def _unchecked_kinds(recipe: Mapping[str, Any]) -> set[str]:
    """Edge kinds the recipe gives an instruction but no check: nothing automatic can verify their rows."""
    return {k["name"] for k in recipe_kinds(recipe) if k.get("instruction") and not k.get("check")}


def _content_line(f: CardFacts, content: Mapping[str, Any]) -> SafeMd:
    """Field types, each edge kind's check, duplicates: what re-checking the written rows found."""
    parts = []
    fields = content.get("fields") or {}
    if fields.get("rows") is not None:
        rows, failed = int(fields["rows"]), int(fields.get("failed") or 0)
        parts.append(f"{num(rows - failed)} of {num(rows)} rows match their declared field types")
    unchecked = _unchecked_kinds(f.recipe)
    kinds = []
    for kind, st in (content.get("edge_cases") or {}).items():
        if not isinstance(st, Mapping):
            continue
        rows, failed = int(st.get("rows") or 0), int(st.get("failed") or 0)
        name = escape_inline(kind, 60)
        if kind in unchecked:
            kinds.append(f"{name} {_plural(rows, 'row')}, no automatic check")
        else:
            kinds.append(f"{name} {num(rows - failed)}/{num(rows)}")
    if kinds:
        parts.append("edge-case rows passing their kind's check: " + "; ".join(kinds))
    dups = content.get("duplicates")
    if dups is not None:
        parts.append(
            "no ordinary row repeats another of its stratum"
            if not dups
            else f"{_plural(int(dups), 'ordinary row')} repeat another of their stratum"
        )
    return SafeMd("; ".join(parts) + "." if parts else "nothing was re-checked.")


def _labels_line(report: Mapping[str, Any]) -> SafeMd | None:
    """How many dimensions the texts carry better than chance; "not measured" without a fidelity block
    (None when the block lacks the figures for the test)."""
    if not report.get("label_fidelity"):
        return SafeMd("not measured: nothing on this card checks that the texts carry their labels.")
    measured = fidelity_block(report)
    if not measured:
        return None
    weak = fidelity_warnings(measured)
    n = len(measured)
    if not weak:
        return SafeMd(
            "the texts carry every measured dimension's label better than chance "
            f"({_plural(n, 'dimension')}; see Label fidelity)."
        )
    return SafeMd(
        f"**{num(len(weak))} of {_plural(n, 'dimension')} cannot be read from the texts better than "
        "chance** (see the warnings and Label fidelity)."
    )


def validation(f: CardFacts) -> dict[str, Any]:
    """Template key ``validation`` (None when none was recorded): ok, counts, content, labels, alpha, tests,
    has_deviation, has_passed, failures (first 20), n_failures, messages."""
    val = f.report.get("validation")
    if not val:
        return {"validation": None}
    tests = _tests(val)
    raw = list(val.get("failures") or [])
    content = val.get("content")
    return {
        "validation": {
            "ok": val.get("ok", val.get("passed")),
            "counts": _counts_line(f, sum(1 for x in raw if not _is_content(x))),
            "content": _content_line(f, content) if isinstance(content, Mapping) else None,
            "labels": _labels_line(f.report),
            "alpha": val.get("alpha"),
            "tests": [_test_row(t) for t in tests],
            "has_deviation": any(t.get("max_abs_deviation") is not None for t in tests),
            "has_passed": any(t.get("passed") is not None for t in tests),
            "failures": [_failure(x) for x in raw[:_MAX_FAILURES]],
            "n_failures": len(raw),
            "messages": [escape_inline(m, 300) for m in val.get("messages") or []],
        }
    }
