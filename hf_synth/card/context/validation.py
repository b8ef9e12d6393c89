"""Card section "Validation": the verdict, the chi-square table and the problems found.

``hf_synth.dataset.validate`` gives {ok, chi_square: {dim: {...}}, failures: [...]}; "tests" and "messages"
(named tests, free-text lines) are accepted too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hf_synth.card.context.facts import CardFacts
from hf_synth.card.escape import SafeMd, escape_cell, escape_inline
from hf_synth.card.format import num
from hf_synth.card.report_keys import first

_MAX_FAILURES = 20


def _tests(val: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    tests = [{**t, "name": t.get("name")} for t in val.get("tests") or [] if isinstance(t, Mapping)]
    chi = val.get("chi_square")
    if isinstance(chi, Mapping):
        tests += [{"name": d, **v} for d, v in chi.items() if isinstance(v, Mapping)]
    return tests


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


def validation(f: CardFacts) -> dict[str, Any]:
    """Template key ``validation`` (None when none was recorded): passed, exit_code, alpha, tests,
    has_deviation, has_passed, failures (first 20), n_failures, messages."""
    val = f.report.get("validation")
    if not val:
        return {"validation": None}
    tests = _tests(val)
    failures = [_failure(x) for x in val.get("failures") or []]
    return {
        "validation": {
            "passed": first(val, "passed", "ok"),
            "exit_code": val.get("exit_code"),
            "alpha": val.get("alpha"),
            "tests": [_test_row(t) for t in tests],
            "has_deviation": any(t.get("max_abs_deviation") is not None for t in tests),
            "has_passed": any(t.get("passed") is not None for t in tests),
            "failures": failures[:_MAX_FAILURES],
            "n_failures": len(failures),
            "messages": [escape_inline(m, 300) for m in val.get("messages") or []],
        }
    }
