"""Edge-case kinds: transforms and checks on realistic support-ticket rows, config errors, duplicates."""

from __future__ import annotations

import json
import random
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hf_synth.edge_cases import (
    BUILTIN_KINDS,
    USER_CHECKS,
    EdgeCaseConfigError,
    EdgeContext,
    EdgeKind,
    PartnerMissingError,
    build_kinds,
    find_exact_duplicates,
    jaccard_similarity,
    normalise_text,
    word_count,
)
from hf_synth.recipe.fields import FieldSpec

FIELDS = {
    "title": FieldSpec(type="string", description="one-line summary"),
    "body": FieldSpec(type="string", description="the ticket text"),
    "customer_name": FieldSpec(type="string", optional=True),
    "quantity": FieldSpec(type="integer", minimum=1, maximum=100),
    "price": FieldSpec(type="number", minimum=0.5),
    "account_tier": FieldSpec(type="enum", values=["free", "pro", "enterprise"], optional=True),
    "urgent": FieldSpec(type="boolean"),
}
DIMS = {"tone": ["angry", "polite"], "rating": ["1", "2", "3", "4", "5"]}

TICKET = {
    "title": "Order arrived damaged",
    "body": "I ordered three office chairs last week and one of them arrived with a cracked base. "
    "Could you send a replacement or refund that chair?",
    "customer_name": "Maria Jones",
    "quantity": 3,
    "price": 149.0,
    "account_tier": "pro",
    "urgent": False,
}
PARTNER = {
    "title": "Cannot log in",
    "body": "Since this morning I cannot log in to my account. The page says my password is wrong "
    "even after I reset it twice.",
    "customer_name": "Tom Baker",
    "quantity": 1,
    "price": 9.99,
    "account_tier": "free",
    "urgent": True,
}


def kind(name: str, **settings) -> EdgeKind:
    return build_kinds({name: settings}, FIELDS, "body", DIMS)[0]


def ctx(partner: dict | None = None, values=None, partner_values=None) -> EdgeContext:
    return EdgeContext(
        fields=FIELDS,
        text_field="body",
        values=values or {"tone": "angry", "rating": "1"},
        partner_item=partner,
        partner_values=partner_values,
    )


def rng(seed: int = 0) -> random.Random:
    return random.Random(seed)


def words(n: int) -> str:
    return " ".join(f"word{i}" for i in range(n))


# --- helpers -----------------------------------------------------------------------------------------


def test_word_count_is_unicode_aware():
    assert word_count("") == 0
    assert word_count(None) == 0
    assert word_count("Page won't load") == 3  # inner apostrophe joins
    assert word_count("  Broken   login!!  ") == 2
    assert word_count("naïve café") == 2
    assert word_count(unicodedata.normalize("NFD", "naïve café")) == 2  # combining marks stay in the word
    assert word_count("王小明的电脑坏了") == 8  # Han: one word per character
    assert word_count("ログインできません") == 9
    assert word_count("Привет мир") == 2
    assert word_count("नमस्ते दुनिया") == 2  # Devanagari vowel signs are marks, not separators
    assert word_count("😀 🎉 — !!") == 0
    assert word_count("Order #1234 failed") == 3


def test_normalise_text():
    assert normalise_text("  Hello\t\n World  ") == "hello world"
    assert normalise_text("STRASSE") == normalise_text("straße")
    assert normalise_text("Cafe\u0301") == normalise_text("Café")
    assert normalise_text(None) == ""


def test_jaccard_similarity():
    assert jaccard_similarity("a b c", "a b c") == 1.0
    assert jaccard_similarity("a b", "c d") == 0.0
    assert jaccard_similarity("", "a") == 0.0
    assert jaccard_similarity("The cat", "the CAT sat") == pytest.approx(2 / 3)


# --- find_exact_duplicates -----------------------------------------------------------------------------


def test_find_exact_duplicates_variants_and_first_kept():
    texts = [
        "My card was declined.",
        "my card was DECLINED.",  # case
        "My  card was\n declined. ",  # whitespace
        "Café closed",
        "Cafe\u0301 closed",  # NFC
        "Something else",
    ]
    assert find_exact_duplicates(texts, set()) == [1, 2, 4]


def test_find_exact_duplicates_exempt_rows_ignored():
    texts = ["Refund please", "refund please", "Other", "REFUND PLEASE"]
    # Row 1 is a requested duplicate: not flagged; row 3 still duplicates row 0.
    assert find_exact_duplicates(texts, {1}) == [3]
    # A requested duplicate placed before its partner must not get the partner flagged.
    assert find_exact_duplicates(["Same text", "same text"], {0}) == []


def test_find_exact_duplicates_ignores_empty_texts():
    assert find_exact_duplicates(["", "  ", None, "", "x"], set()) == []


# --- boundary values -----------------------------------------------------------------------------------


def test_very_short():
    k = kind("very_short")
    assert k.mode == "instructed" and k.partner is None
    assert "1 to 5 words" in k.instruction(ctx())
    ok = {**TICKET, "body": "Chair arrived broken"}
    assert k.check(k.transform(ok, ctx(), rng()), ctx()) is None
    assert "expected at most 5" in k.check(TICKET, ctx())
    assert "at least 1" in k.check({**TICKET, "body": "!!"}, ctx())
    assert k.check({**TICKET, "body": None}, ctx()) == "body is not a string"


def test_very_long():
    k = kind("very_long", min_words=500)
    assert "at least 500 words" in k.instruction(ctx())
    assert k.check({**TICKET, "body": words(500)}, ctx()) is None
    reason = k.check({**TICKET, "body": words(499)}, ctx())
    assert reason == "body has 499 words, expected at least 500"
    assert kind("very_long").settings["min_words"] == 500  # default


def test_min_and_max_value():
    lo, hi = kind("min_value", field="quantity"), kind("max_value", field="quantity")
    assert lo.mode == hi.mode == "both"
    row_lo, row_hi = lo.transform(TICKET, ctx(), rng()), hi.transform(TICKET, ctx(), rng())
    assert row_lo["quantity"] == 1 and isinstance(row_lo["quantity"], int)
    assert row_hi["quantity"] == 100
    assert lo.check(row_lo, ctx()) is None and hi.check(row_hi, ctx()) is None
    assert "expected its minimum 1" in lo.check(TICKET, ctx())
    assert "expected its maximum 100" in hi.check(TICKET, ctx())
    assert TICKET["quantity"] == 3  # transforms do not mutate their input
    # price is the only field with a minimum besides quantity → ambiguous without 'field'
    with pytest.raises(EdgeCaseConfigError) as exc:
        kind("min_value")
    assert exc.value.path == "edge_cases.kinds.min_value.field"
    assert "quantity, price" in exc.value.message
    # max_value: quantity is the only field with a maximum
    assert kind("max_value").settings["field"] == "quantity"


def test_invalid_value_given_values():
    k = kind("invalid_value", field="quantity", values=[0, -1])
    assert k.mode == "both"
    assert "0, -1" in k.instruction(ctx())
    seen = set()
    for seed in range(20):
        row = k.transform(TICKET, ctx(), rng(seed))
        assert row["quantity"] in (0, -1)
        assert k.check(row, ctx()) is None
        seen.add(row["quantity"])
    assert seen == {0, -1}  # the seeded choice uses both values
    assert "expected one of the invalid values" in k.check(TICKET, ctx())
    # An LLM that already wrote an invalid value keeps it (its text matches it).
    assert k.transform({**TICKET, "quantity": -1}, ctx(), rng())["quantity"] == -1


def test_invalid_value_defaults_lie_outside_the_range():
    k = kind("invalid_value", field="quantity")
    assert k.settings["values"] == [0, -1, 101]
    for seed in range(10):
        row = k.transform(TICKET, ctx(), np.random.default_rng(seed))  # numpy generators work too
        assert not 1 <= row["quantity"] <= 100
        assert k.check(row, ctx()) is None
    price = kind("invalid_value", field="price")
    assert all(v < 0.5 for v in price.settings["values"])
    unbounded = build_kinds(
        {"invalid_value": {}}, {"body": FieldSpec(), "n": FieldSpec(type="integer")}, "body", DIMS
    )[0]
    assert unbounded.settings == {**unbounded.settings, "field": "n", "values": [0, -1]}
    enum = kind("invalid_value", field="account_tier")
    row = enum.transform(TICKET, ctx(), rng())
    assert row["account_tier"] == "unknown" and enum.check(row, ctx()) is None
    # True == 1 in Python; a boolean is still not the invalid integer 1.
    one = build_kinds(
        {"invalid_value": {"field": "n", "values": [1]}},
        {"body": FieldSpec(), "n": FieldSpec(type="integer", minimum=2)},
        "body",
        DIMS,
    )[0]
    assert one.check({"body": "x", "n": True}, ctx()) is not None


# --- special characters --------------------------------------------------------------------------------


def _has_hard_special(text: str) -> bool:
    return any(
        unicodedata.category(c) in ("Cf", "Mn", "Me")
        or (unicodedata.category(c) == "Cc" and c not in "\t\n\r")
        for c in text
    )


def test_unicode_names_appends_to_ascii_text():
    k = kind("unicode_names")
    assert k.mode == "both"
    assert "Jülia Müller" in k.instruction(ctx())
    row = k.transform(TICKET, ctx(), rng(3))
    assert row["body"].startswith(TICKET["body"])
    assert any(ord(c) > 127 for c in row["body"])
    assert k.check(row, ctx()) is None
    assert k.check(TICKET, ctx()) == "body has no non-ASCII letter, mark or symbol"


def test_unicode_names_keeps_llm_names_and_replaces_name_fields():
    k = kind("unicode_names")
    llm_row = {**TICKET, "body": "Zoë Deschênes here: my chair is broken."}
    assert k.transform(llm_row, ctx(), rng()) == llm_row
    named = kind("unicode_names", field="customer_name")
    row = named.transform(TICKET, ctx(), rng(1))
    assert row["customer_name"] in named.settings["names"]
    assert named.check(row, ctx()) is None
    # Non-ASCII whitespace alone is not a Unicode name.
    assert k.check({**TICKET, "body": "Hello\u00a0there"}, ctx()) is not None


def test_special_chars_injects_invisible_or_control_chars():
    k = kind("special_chars", n_chars=4)
    assert k.mode == "both"
    assert "math symbols" in k.instruction(ctx())
    for seed in range(30):
        row = k.transform(TICKET, ctx(), rng(seed))
        assert _has_hard_special(row["body"])
        assert len(row["body"]) == len(TICKET["body"]) + 4
        assert k.check(row, ctx()) is None
        # NFC (e.g. in a later pipeline step) must not absorb the injected combining marks.
        assert k.check({**row, "body": unicodedata.normalize("NFC", row["body"])}, ctx()) is None
    assert k.transform(TICKET, ctx(), rng(5)) == k.transform(TICKET, ctx(), rng(5))  # deterministic
    reason = k.check({**TICKET, "body": "Price ≤ 5 € ∞ 😀 naïve"}, ctx())
    assert reason == "body has no zero-width, bidi, combining or control character"


# --- missing / null ------------------------------------------------------------------------------------


def test_empty_field():
    k = kind("empty_field", field="body")
    assert k.mode == "transformed" and k.instruction(ctx()) is None
    row = k.transform(TICKET, ctx(), rng())
    assert row["body"] == "" and row["title"] == TICKET["title"]
    assert k.check(row, ctx()) is None
    assert "expected the empty string" in k.check({**TICKET, "body": " "}, ctx())
    assert "expected the empty string" in k.check({**TICKET, "body": None}, ctx())


def test_whitespace_only():
    k = kind("whitespace_only", field="title")
    for seed in range(20):
        row = k.transform(TICKET, ctx(), rng(seed))
        assert row["title"] and not row["title"].strip()
        assert k.check(row, ctx()) is None
    assert k.check({**TICKET, "title": ""}, ctx()) is not None
    assert k.check({**TICKET, "title": "\u200b"}, ctx()) is not None  # zero-width is not whitespace
    assert k.check(TICKET, ctx()) is not None


def test_null_optional():
    k = kind("null_optional", field="account_tier")
    row = k.transform(TICKET, ctx(), rng())
    assert row["account_tier"] is None and k.check(row, ctx()) is None
    assert k.check(TICKET, ctx()) == "account_tier is 'pro', expected null"
    every = kind("null_optional")  # no field: every optional field
    row = every.transform(TICKET, ctx(), rng())
    assert row["account_tier"] is None and row["customer_name"] is None
    assert every.check(row, ctx()) is None
    assert every.check({**row, "customer_name": "Ann"}, ctx()) is not None


# --- duplicates ----------------------------------------------------------------------------------------


def test_exact_duplicate():
    k = kind("exact_duplicate")
    assert k.partner == "same_stratum" and k.mode == "transformed" and not k.needs_generation
    c = ctx(partner=PARTNER)
    row = k.transform(TICKET, c, rng())
    assert row == PARTNER
    assert k.check(row, c) is None
    # Case / whitespace variants of the text still count as the same row.
    assert k.check({**PARTNER, "body": "  " + PARTNER["body"].upper()}, c) is None
    assert k.check(TICKET, c) == "title differs from the partner row's"
    assert k.check({**PARTNER, "urgent": 1}, c) is not None  # True vs 1
    assert k.check(PARTNER, ctx()) == "partner row is not available"
    with pytest.raises(PartnerMissingError):
        k.transform(TICKET, ctx(), rng())


def test_near_duplicate():
    k = kind("near_duplicate")
    assert k.partner == "same_stratum" and k.mode == "instructed"
    c = ctx(partner=PARTNER)
    text = k.instruction(c)
    assert PARTNER["body"] in text and "paraphrase" in text
    paraphrase = (
        "Since this morning I can't log in to my account. It says my password is wrong even though "
        "I reset it twice."
    )
    assert jaccard_similarity(paraphrase, PARTNER["body"]) >= 0.3
    assert k.check({**TICKET, "body": paraphrase}, c) is None
    assert "identical" in k.check({**TICKET, "body": PARTNER["body"].lower()}, c)
    assert "word overlap" in k.check(TICKET, c)
    with pytest.raises(PartnerMissingError):
        k.instruction(ctx())


def test_contrast_pair():
    k = kind("contrast_pair", across="rating")
    assert k.partner == "across:rating" and k.mode == "instructed"
    c = ctx(
        partner=PARTNER,
        values={"tone": "angry", "rating": "1"},
        partner_values={"tone": "angry", "rating": "5"},
    )
    text = k.instruction(c)
    assert PARTNER["body"] in text and "rating = 1" in text and "rating = 5" in text
    contrast = (
        "Since this morning I can log in to my account again. The page accepted my password after "
        "I reset it twice, thanks!"
    )
    assert k.check({**TICKET, "body": contrast}, c) is None
    assert "identical" in k.check({**TICKET, "body": PARTNER["body"]}, c)
    assert "word overlap" in k.check(TICKET, c)
    same_label = ctx(partner=PARTNER, values={"rating": "5"}, partner_values={"rating": "5"})
    assert "same rating" in k.check({**TICKET, "body": contrast}, same_label)


# --- user-defined kinds --------------------------------------------------------------------------------

USER_CASES = [
    # (check, passing row changes, failing row changes)
    ("non_ascii", {"body": "Hola, mi silla llegó rota."}, {"body": "Hello, my chair broke."}),
    ("not_ascii_only", {"body": "Ticket von Jürgen"}, {"body": "Ticket from Jurgen"}),
    ("ascii_only", {"body": "plain text"}, {"body": "naïve"}),
    ("special_chars", {"body": "zero\u200bwidth"}, {"body": "≤ ∞ plain"}),
    ("min_words:3", {"body": "one two three"}, {"body": "one two"}),
    ("max_words:3", {"body": "one two three"}, {"body": "one two three four"}),
    ("min_chars:5", {"body": "abcde"}, {"body": "abcd"}),
    ("max_chars:5", {"body": "abcde"}, {"body": "abcdef"}),
    ("contains:refund", {"body": "I want a REFUND now"}, {"body": "I want a replacement"}),
    ("not_contains:refund", {"body": "I want a replacement"}, {"body": "Refund me"}),
    ("regex:\\d{4}-\\d{4}", {"body": "card 1234-5678 blocked"}, {"body": "card blocked"}),
    ("empty:title", {"title": ""}, {"title": "x"}),
    ("not_empty:title", {"title": "x"}, {"title": "  "}),
    ("whitespace:title", {"title": " \t"}, {"title": ""}),
    ("null:account_tier", {"account_tier": None}, {"account_tier": "pro"}),
]


def test_every_user_check_is_exercised():
    assert {c.split(":")[0] for c, _, _ in USER_CASES} == set(USER_CHECKS)


@pytest.mark.parametrize(("check", "good", "bad"), USER_CASES, ids=[c for c, _, _ in USER_CASES])
def test_user_kind_checks(check, good, bad):
    k = build_kinds(
        {"mixed_language": {"instruction": "The ticket mixes two languages.", "check": check, "count": 4}},
        FIELDS,
        "body",
        DIMS,
    )[0]
    assert k.mode == "instructed" and k.count == 4 and k.partner is None
    assert k.instruction(ctx()) == "Edge case (mixed_language): The ticket mixes two languages."
    assert k.transform(TICKET, ctx(), rng()) == TICKET
    assert k.check({**TICKET, **good}, ctx()) is None
    assert isinstance(k.check({**TICKET, **bad}, ctx()), str)


def test_user_kind_check_list_null_and_field():
    k = build_kinds(
        {
            "terse_german": {
                "instruction": "Write in German, tersely.",
                "check": ["non_ascii", "max_words:4"],
            },
            "free_form": {"instruction": "Anything goes.", "check": None},
            "odd_title": {"instruction": "A strange title.", "check": "contains:zz", "field": "title"},
        },
        FIELDS,
        "body",
        DIMS,
    )
    terse, free, odd = k
    assert terse.check({**TICKET, "body": "Stuhl kaputt, grüße"}, ctx()) is None
    assert "at most 4" in terse.check({**TICKET, "body": "Mein Stuhl ist leider kaputt, grüße"}, ctx())
    assert free.check(TICKET, ctx()) is None
    assert odd.check({**TICKET, "title": "Buzz"}, ctx()) is None
    json.dumps([x.settings for x in k])  # the engine hashes settings as JSON


# --- config validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "path", "message"),
    [
        (
            {"empty_field": {"field": "bodyy"}},
            "edge_cases.kinds.empty_field.field",
            "'bodyy' is not one of the recipe fields: title, body",
        ),
        (
            {"empty_field": {"field": "quantity"}},
            "edge_cases.kinds.empty_field.field",
            "quantity' is integer; expected string",
        ),
        (
            {"null_optional": {"field": "body"}},
            "edge_cases.kinds.null_optional.field",
            "null_optional needs an optional field; 'body' is required",
        ),
        (
            {"contrast_pair": {}},
            "edge_cases.kinds.contrast_pair.across",
            "contrast_pair.across must name a dimension: tone, rating",
        ),
        (
            {"contrast_pair": {"across": "colour"}},
            "edge_cases.kinds.contrast_pair.across",
            "must name a dimension",
        ),
        (
            {"very_long": {"min_word": 10}},
            "edge_cases.kinds.very_long.min_word",
            "unknown setting; very_long accepts: field, min_words",
        ),
        (
            {"very_long": {"min_words": "many"}},
            "edge_cases.kinds.very_long.min_words",
            "expected an integer >= 1",
        ),
        (
            {"very_short": {"min_words": 4, "max_words": 2}},
            "edge_cases.kinds.very_short.max_words",
            "expected an integer >= 4",
        ),
        (
            {"very_short": {"instruction": "x"}},
            "edge_cases.kinds.very_short.instruction",
            "is a built-in kind",
        ),
        ({"typo_storm": {}}, "edge_cases.kinds.typo_storm", "unknown edge-case kind"),
        (
            {"typo_storm": {"instruction": ""}},
            "edge_cases.kinds.typo_storm.instruction",
            "non-empty instruction",
        ),
        (
            {"typo_storm": {"instruction": "x", "check": "shouting"}},
            "edge_cases.kinds.typo_storm.check",
            "unknown check 'shouting'",
        ),
        (
            {"typo_storm": {"instruction": "x", "check": "min_words:lots"}},
            "edge_cases.kinds.typo_storm.check",
            "non-negative integer",
        ),
        (
            {"typo_storm": {"instruction": "x", "check": "regex:("}},
            "edge_cases.kinds.typo_storm.check",
            "invalid regular expression",
        ),
        (
            {"typo_storm": {"instruction": "x", "check": ["non_ascii", "empty:bodyy"]}},
            "edge_cases.kinds.typo_storm.check[1]",
            "not one of the recipe fields",
        ),
        (
            {"typo_storm": {"instruction": "x", "check": "null:body"}},
            "edge_cases.kinds.typo_storm.check",
            "field 'body' is required",
        ),
        (
            {"typo_storm": {"instruction": "x", "check": "non_ascii:yes"}},
            "edge_cases.kinds.typo_storm.check",
            "takes no argument",
        ),
        (
            {"typo_storm": {"instruction": "x", "check": "contains"}},
            "edge_cases.kinds.typo_storm.check",
            "needs an argument",
        ),
        (
            {"invalid_value": {"field": "quantity", "values": [5]}},
            "edge_cases.kinds.invalid_value.values[0]",
            "inside [1.0, 100.0]",
        ),
        (
            {"invalid_value": {"field": "quantity", "values": ["zero"]}},
            "edge_cases.kinds.invalid_value.values[0]",
            "is an integer",
        ),
        (
            {"invalid_value": {"field": "account_tier", "values": ["pro"]}},
            "edge_cases.kinds.invalid_value.values[0]",
            "valid choice",
        ),
        (
            {"invalid_value": {"field": "urgent"}},
            "edge_cases.kinds.invalid_value.field",
            "expected integer or number or enum or string",
        ),
        (
            {"invalid_value": {"field": "title"}},
            "edge_cases.kinds.invalid_value.values",
            "needs a 'values' list",
        ),
        ({"min_value": {"field": "body"}}, "edge_cases.kinds.min_value.field", "expected integer or number"),
        ({"max_value": {"field": "price"}}, "edge_cases.kinds.max_value.field", "has no maximum"),
        (
            {"near_duplicate": {"min_similarity": 1.5}},
            "edge_cases.kinds.near_duplicate.min_similarity",
            "between 0 and 1",
        ),
        (
            {"special_chars": {"n_chars": 0}},
            "edge_cases.kinds.special_chars.n_chars",
            "expected an integer >= 1",
        ),
        (
            {"unicode_names": {"names": ["John Smith"]}},
            "edge_cases.kinds.unicode_names.names[0]",
            "no non-ASCII",
        ),
        (
            {"exact_duplicate": {"count": -2}},
            "edge_cases.kinds.exact_duplicate.count",
            "non-negative integer",
        ),
        ({"exact_duplicate": {"weight": 0}}, "edge_cases.kinds.exact_duplicate.weight", "positive number"),
        (
            {"exact_duplicate": {"count": 3, "weight": 2}},
            "edge_cases.kinds.exact_duplicate.weight",
            "not both",
        ),
        ({"none": {}}, "edge_cases.kinds.none", "reserved"),
        ({"very_short": ["x"]}, "edge_cases.kinds.very_short", "expected a mapping"),
    ],
)
def test_config_errors_name_the_key_path(config, path, message):
    with pytest.raises(EdgeCaseConfigError) as exc:
        build_kinds(config, FIELDS, "body", DIMS)
    assert exc.value.path == path
    assert message in exc.value.message
    assert str(exc.value) == f"{path}: {exc.value.message}"


def test_contrast_pair_needs_two_values():
    with pytest.raises(EdgeCaseConfigError, match="has one value"):
        build_kinds({"contrast_pair": {"across": "only"}}, FIELDS, "body", {"only": ["x"]})


def test_article_recipe_builds_in_order():
    config = {
        "very_short": {},
        "very_long": {"min_words": 500},
        "unicode_names": None,  # YAML `unicode_names:` with no value
        "empty_field": {"field": "body"},
        "null_optional": {"field": "account_tier"},
        "invalid_value": {"field": "quantity", "values": [0, -1]},
        "exact_duplicate": {"count": 5},
        "contrast_pair": {"across": "rating", "weight": 2},
        "my_custom_kind": {"instruction": "The ticket mixes two languages.", "check": "non_ascii"},
    }
    kinds = build_kinds(config, FIELDS, "body", DIMS)
    assert [k.name for k in kinds] == list(config)
    assert [k.partner for k in kinds if k.partner] == ["same_stratum", "across:rating"]
    assert kinds[6].count == 5 and kinds[7].weight == 2.0 and kinds[0].count is None
    modes = {k.name: k.mode for k in kinds}
    assert modes["empty_field"] == "transformed" and modes["very_long"] == "instructed"
    assert modes["unicode_names"] == "both"
    json.dumps([k.settings for k in kinds])


# --- property: deterministic kinds always produce rows that pass their own check ------------------------

DETERMINISTIC = {
    "min_value": {"field": "quantity"},
    "max_value": {"field": "quantity"},
    "invalid_value": {"field": "quantity"},
    "unicode_names": {},
    "special_chars": {},
    "empty_field": {},
    "whitespace_only": {},
    "null_optional": {},
    "exact_duplicate": {},
}

_rows = st.fixed_dictionaries(
    {
        "title": st.text(max_size=40),
        "body": st.one_of(st.none(), st.text(max_size=200)),
        "customer_name": st.one_of(st.none(), st.text(max_size=20)),
        "quantity": st.integers(1, 100),
        "price": st.floats(0.5, 1e6),
        "account_tier": st.sampled_from(["free", "pro", "enterprise", None]),
        "urgent": st.booleans(),
    }
)


def test_deterministic_set_covers_all_transformed_kinds():
    transformed = {n for n, cls in BUILTIN_KINDS.items() if cls.mode in ("transformed", "both")}
    assert transformed == set(DETERMINISTIC)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(DETERMINISTIC)), item=_rows, partner=_rows, seed=st.integers(0, 2**32 - 1))
def test_transform_output_passes_check(name, item, partner, seed):
    k = kind(name, **DETERMINISTIC[name])
    c = ctx(partner=partner)
    out = k.transform(item, c, np.random.default_rng(seed))
    assert k.check(out, c) is None
    assert out.keys() == item.keys()
    assert k.transform(item, c, np.random.default_rng(seed)) == out  # same rng seed, same row
