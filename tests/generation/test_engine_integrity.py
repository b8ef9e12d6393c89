"""The engine keeps its promises: partner rows stay true copies, every billed attempt is counted, budgets
bound the spend, rounds mean what they say. The real SDK against the loopback Messages server."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.feature_extraction.text import HashingVectorizer

from hf_synth.edge_cases import normalise_text
from hf_synth.errors import BudgetExceededError, IncompleteRunError, UsageError
from hf_synth.generation.backends.base import Usage
from hf_synth.generation.backends.factory import make_backend
from hf_synth.generation.engine import Engine
from hf_synth.generation.pricing import cost_usd
from hf_synth.generation.runstore import RunStore
from hf_synth.pipeline import RunOptions, generate
from hf_synth.planning.plan import make_plan
from hf_synth.planning.spec import plan_spec
from hf_synth.recipe import parse_recipe
from hf_synth.testing.messages_server import MessagesServer, default_responder

KEY = "sk-ant-integrity-test-5555"
pytestmark = [pytest.mark.timeout(120), pytest.mark.loopback(api_key=KEY)]

TOPICS = ["cards", "loans", "fees", "savings", "mortgages", "transfers", "pensions", "insurance"]
DECLINED = "The card was declined at the shop"


OPTS = RunOptions(backend="anthropic", progress=False, quality=False)


def words_embed(texts: list[str]) -> np.ndarray:
    """Normalised bag-of-words vectors: identical word sets → cosine 1, different topics well below."""
    vec = HashingVectorizer(n_features=2**12, alternate_sign=False, norm="l2")
    return vec.transform(texts).toarray()


def partner_recipe(kind: str, seed: int) -> dict[str, Any]:
    return {
        "name": "partners",
        "seed": seed,
        "fields": {"text": {"type": "string"}},
        "dimensions": {"topic": TOPICS, "tone": ["calm"]},
        "strata": {"by": ["tone"]},
        "size": 8,
        "prompt": "A customer writes about {{ topic }}.",
        "backend": {"name": "anthropic", "model": "claude-sonnet-4-6", "concurrency": 4, "max_attempts": 1},
        "edge_cases": {"kinds": {kind: {"count": 1}}},
        "dedup": {"near_threshold": 0.95},
    }


def run_engine(recipe: Any, store: RunStore, **kw: Any) -> Engine:
    backend = make_backend(recipe, OPTS)
    plan = make_plan(plan_spec(recipe))
    engine = Engine(recipe, plan.slot_specs(), backend, store, progress=False, **kw)

    async def go() -> None:
        try:
            await engine.run()
        finally:
            await backend.aclose()

    asyncio.run(go())
    return engine


@pytest.mark.parametrize("kind", ["exact_duplicate", "near_duplicate"])
def test_a_regenerated_partner_makes_its_dependent_follow(
    server: MessagesServer, tmp_path: Path, kind: str
) -> None:
    # Find a plan where an ordinary row Q sits before the partner P (so the near-duplicate pass, which
    # keeps the earlier row, regenerates P once Q's late answer echoes P).
    for seed in range(50):
        recipe = parse_recipe(partner_recipe(kind, seed))
        specs = make_plan(plan_spec(recipe)).slot_specs()
        dep = next(s for s in specs if s.edge_index)
        ordinary = [s for s in specs if not s.edge_index]
        earlier = [s for s in ordinary if s.slot_id < dep.partner]
        if earlier:
            break
    partner_topic = next(s.values["topic"] for s in specs if s.slot_id == dep.partner)
    echo_topic = earlier[0].values["topic"]
    calls: dict[str, itertools.count] = {t: itertools.count() for t in TOPICS}

    def responder(body: dict) -> dict:
        out = default_responder(body)
        prompt = body["messages"][0]["content"][0]["text"]
        topic = re.search(r"writes about (\w+)\.", prompt).group(1)
        quoted = re.search(r"<<<\n(.*)\n>>>", prompt, re.S)
        if quoted:  # the near-duplicate row: a paraphrase of what it was shown
            out["items"][0]["text"] = quoted.group(1) + " indeed"
            return out
        n = next(calls[topic])
        if topic == echo_topic:
            # Q fails first; its second answer nearly repeats P's first one.
            out["items"] = [{"wrong": 1}] if n == 0 else [{"text": DECLINED + "!"}]
        elif topic == partner_topic:
            out["items"][0]["text"] = DECLINED + "." if n == 0 else f"Fresh words about {topic}, take {n}"
        else:
            out["items"][0]["text"] = f"A question on {topic} from customer {n}"
        return out

    server.responder = responder
    with RunStore(tmp_path / "run.sqlite") as store:
        engine = run_engine(recipe, store, embed=words_embed)
        rows = store.rows()
    partner_text, dep_text = rows[dep.partner]["text"], rows[dep.slot_id]["text"]
    assert partner_text.startswith("Fresh words"), partner_text  # P was regenerated
    if kind == "exact_duplicate":
        assert dep_text == partner_text
    else:
        assert dep_text == partner_text + " indeed"
    assert engine.stats.regenerated_near_duplicates == 1
    # Nothing else was redone: the ordinary rows once, Q's retry, P's regeneration (+ the dependent twice).
    extra = 2 if kind == "near_duplicate" else 0
    assert server.count("POST", "/v1/messages") == len(ordinary) + 1 + 1 + extra


def test_partner_rows_never_share_a_request_with_another_partners_dependents(
    server: MessagesServer, tmp_path: Path
) -> None:
    data = {
        "name": "pairs",
        "seed": 3,
        "fields": {"text": {"type": "string"}},
        "dimensions": {"topic": ["cards"], "tone": ["calm"]},
        "size": 16,
        "prompt": "A customer writes about {{ topic }}.",
        "backend": {
            "name": "anthropic",
            "model": "claude-sonnet-4-6",
            "concurrency": 4,
            "items_per_request": 4,
            "max_attempts": 1,
        },
        "edge_cases": {"kinds": {"near_duplicate": {"count": 4}}},
        "dedup": {"near_threshold": None},
        "max_rounds": 2,
    }
    counter = itertools.count()

    def responder(body: dict) -> dict:
        out = default_responder(body)
        prompt = body["messages"][0]["content"][0]["text"]
        quoted = re.search(r"<<<\n(.*)\n>>>", prompt, re.S)
        for item in out["items"]:
            n = next(counter)
            item["text"] = f"{quoted.group(1)} indeed" if quoted else f"Customer {n} asks about fee {n * 7}"
        return out

    server.responder = responder
    recipe = parse_recipe(data)
    with RunStore(tmp_path / "run.sqlite") as store:
        run_engine(recipe, store)
        rows = store.rows()
    specs = {s.slot_id: s for s in make_plan(plan_spec(recipe)).slot_specs()}
    partners = {s.partner for s in specs.values() if s.edge_index}
    assert len(partners) > 1  # several partners share one prompt group: the case that used to merge
    for body in server.bodies():
        prompt = body["messages"][0]["content"][0]["text"]
        quoted = re.findall(r"<<<\n(.*?)\n>>>", prompt, re.S)
        assert len(quoted) <= 1
    # Every dependent quotes its own partner, first time (no retries were needed).
    for sid, spec in specs.items():
        if spec.edge_index:
            assert rows[sid]["text"] == rows[spec.partner]["text"] + " indeed"
    assert server.count("POST", "/v1/messages") == 3 + 4  # 12 ordinary rows by 4; 4 dependents alone


def test_every_billed_attempt_is_stored_and_counted(server: MessagesServer, tmp_path: Path) -> None:
    server.fault_rates = {"malformed": 1.0}  # every answer is billed and unusable
    data = {
        **partner_recipe("exact_duplicate", 0),
        "edge_cases": None,
        "dedup": {"near_threshold": None},
        "max_rounds": 2,
    }
    data["backend"] = {**data["backend"], "max_attempts": 2}
    with pytest.raises(IncompleteRunError):
        generate(parse_recipe(data), tmp_path / "m", OPTS)
    answered = sum(1 for r in server.requests if r.path == "/v1/messages" and r.status == 200)
    assert answered > 0
    with sqlite3.connect(tmp_path / "m" / ".hf-synth" / "run.sqlite") as con:
        stored, cost = con.execute("SELECT SUM(requests), SUM(cost_usd) FROM usage").fetchone()
    assert stored == answered and cost > 0


def test_budget_reserves_every_attempt_and_counts_failed_answers(
    server: MessagesServer, tmp_path: Path
) -> None:
    server.fault_rates = {"malformed": 1.0}
    data = {**partner_recipe("exact_duplicate", 0), "edge_cases": None, "dedup": {"near_threshold": None}}
    data["backend"] = {**data["backend"], "max_attempts": 3, "max_tokens": 300}
    one_answer = cost_usd("claude-sonnet-4-6", Usage(1, 150, 300)) or 0.0
    budget = 6 * one_answer  # room for two requests' three attempts at most
    opts = RunOptions(backend="anthropic", progress=False, quality=False, budget_usd=budget)
    with pytest.raises(BudgetExceededError):
        generate(parse_recipe(data), tmp_path / "b", opts)
    with sqlite3.connect(tmp_path / "b" / ".hf-synth" / "run.sqlite") as con:
        (spent,) = con.execute("SELECT SUM(cost_usd) FROM usage").fetchone()
    answered = sum(1 for r in server.requests if r.path == "/v1/messages" and r.status == 200)
    assert answered > 0 and spent > 0
    assert spent <= budget
    # A resume starts from what the first run spent on failed answers: the total stays within budget.
    before = server.count("POST", "/v1/messages")
    with pytest.raises(BudgetExceededError):
        generate(parse_recipe(data), tmp_path / "b", opts)
    with sqlite3.connect(tmp_path / "b" / ".hf-synth" / "run.sqlite") as con:
        (spent_after,) = con.execute("SELECT SUM(cost_usd) FROM usage").fetchone()
    assert spent_after <= budget
    assert server.count("POST", "/v1/messages") - before <= 3


def test_budget_refuses_an_unpriced_model_before_sending(server: MessagesServer, tmp_path: Path) -> None:
    data = {**partner_recipe("exact_duplicate", 0), "edge_cases": None, "dedup": {"near_threshold": None}}
    opts = RunOptions(
        backend="anthropic", model="claude-unpriced-9", progress=False, quality=False, budget_usd=5.0
    )
    with pytest.raises(UsageError) as info:
        generate(parse_recipe(data), tmp_path / "u", opts)
    assert "claude-unpriced-9" in str(info.value) and "--budget" in str(info.value)
    assert info.value.exit_code == 2
    assert server.count() == 0


def test_max_rounds_is_the_number_of_requests_per_row(server: MessagesServer, tmp_path: Path) -> None:
    server.fault_rates = {"api_error": 1.0}
    data = {
        **partner_recipe("exact_duplicate", 0),
        "edge_cases": None,
        "dedup": {"near_threshold": None},
        "max_rounds": 2,
    }
    with pytest.raises(IncompleteRunError):
        generate(parse_recipe(data), tmp_path / "r", OPTS)
    assert server.count("POST", "/v1/messages") == 8 * 2
    with sqlite3.connect(tmp_path / "r" / ".hf-synth" / "run.sqlite") as con:
        (failures,) = con.execute("SELECT COUNT(*) FROM failures").fetchone()
    assert failures == 16


def test_dedup_exact_false_keeps_repeated_texts(server: MessagesServer, tmp_path: Path) -> None:
    def responder(body: dict) -> dict:
        out = default_responder(body)
        for item in out["items"]:
            item["text"] = "Same words every time"
        return out

    server.responder = responder
    data = {
        **partner_recipe("exact_duplicate", 0),
        "edge_cases": None,
        "dedup": {"exact": False, "near_threshold": None},
    }
    dd = generate(parse_recipe(data), tmp_path / "x", OPTS)
    texts = [t for d in dd.values() for t in d["text"]]
    assert len(texts) == 8 and {normalise_text(t) for t in texts} == {"same words every time"}
    assert server.count("POST", "/v1/messages") == 8
    report = json.loads((tmp_path / "x" / "report.json").read_text())
    assert report["generation"]["regenerated_duplicates"] == 0


def test_plan_estimate_counts_no_requests_for_exact_duplicates(monkeypatch: pytest.MonkeyPatch) -> None:
    from hf_synth.planning.estimate import estimate_run

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    data = {**partner_recipe("exact_duplicate", 0), "size": 40, "strata": None}
    data["edge_cases"] = {"kinds": {"exact_duplicate": {"count": 6}, "very_short": {"count": 4}}}
    recipe = parse_recipe(data)
    est = estimate_run(recipe, make_plan(plan_spec(recipe)))
    assert est["rows"] == 40
    assert est["requests"] == 40 - 6  # the 6 copies send nothing; the 4 very short rows do


def near_dup_recipe(max_rounds: int) -> Any:
    return parse_recipe(
        {
            "name": "near",
            "seed": 4,
            "fields": {"text": {"type": "string"}},
            "dimensions": {"topic": TOPICS[:6], "tone": ["calm"]},
            "strata": {"by": ["tone"]},  # one stratum: every row is compared with every earlier one
            "size": 6,
            "prompt": "A customer writes about {{ topic }}.",
            "backend": {
                "name": "anthropic",
                "model": "claude-sonnet-4-6",
                "concurrency": 3,
                "max_attempts": 1,
            },
            "dedup": {"near_threshold": 0.95},
            "max_rounds": max_rounds,
        }
    )


def reworded(n: int) -> str:
    """DECLINED's words in the n-th of 14 orders: the same bag of words (cosine 1), not an exact repeat."""
    words = DECLINED.split()
    k = n % len(words)
    words = words[k:] + words[:k]
    return " ".join(reversed(words) if n // len(words) % 2 else words)


FRESH = [
    "Why is there a monthly fee on my savings account?",
    "How long does an international transfer usually take?",
    "Can I raise the limit on my contactless payments?",
    "My pension statement shows the wrong address.",
    "Is travel insurance included with the premium plan?",
    "Please close my joint account with my brother.",
    "I want to dispute a charge from a hotel in Lisbon.",
]


def test_a_near_duplicate_is_asked_again_with_its_rejected_text_quoted(
    server: MessagesServer, tmp_path: Path
) -> None:
    calls = itertools.count()

    def responder(body: dict) -> dict:
        out = default_responder(body)
        n = next(calls)
        told = "nearly identical" in json.dumps(body)
        # A model that rewords itself until it is shown what it wrote.
        out["items"][0]["text"] = FRESH[n % len(FRESH)] if told else reworded(n)
        return out

    server.responder = responder
    with RunStore(tmp_path / "run.sqlite") as store:
        engine = run_engine(near_dup_recipe(max_rounds=2), store, embed=words_embed)
        rows = store.rows()
    assert engine.stats.regenerated_near_duplicates == 5  # the first of the six identical rows is kept
    retried = [json.dumps(b) for b in server.bodies() if "nearly identical" in json.dumps(b)]
    assert len(retried) == 5
    texts_sent = {reworded(n) for n in range(6)}
    assert all(any(t in b for t in texts_sent) for b in retried)  # each quotes a rejected text
    assert len({normalise_text(r["text"]) for r in rows.values()}) == 6


def test_rows_left_as_near_duplicates_are_reported_as_near_duplicates(
    server: MessagesServer, tmp_path: Path
) -> None:
    calls = itertools.count()

    def responder(body: dict) -> dict:
        out = default_responder(body)
        out["items"][0]["text"] = reworded(next(calls))  # rewords, whatever it is told
        return out

    server.responder = responder
    with RunStore(tmp_path / "run.sqlite") as store, pytest.raises(IncompleteRunError) as err:
        run_engine(near_dup_recipe(max_rounds=2), store, embed=words_embed)
    assert len(err.value.slot_errors) == 5
    assert all(e.startswith("near duplicate (cosine ≥ 0.95)") for e in err.value.slot_errors.values())
    assert "partner" not in str(err.value)
