"""Reference-seeded prompts: which real texts a request quotes, that the draw is stable, where the section
sits, and that near-copies of reference texts are regenerated."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hf_synth.generation.request_builder import EXAMPLES_HEADING, RequestBuilder
from hf_synth.planning.plan import make_plan
from hf_synth.planning.seeding import read_reference, seed_plan_slots
from hf_synth.planning.spec import plan_spec
from hf_synth.quality.diversity import max_cosine
from hf_synth.recipe import parse_recipe
from hf_synth.testing.examples import ExampleWriter, quoted_examples
from hf_synth.testing.messages_server import MessagesServer
from hf_synth.testing.responder import first_text
from tests.gaps.common import TOPICS, WordEmbedder, recipe_data, run, write_reference

SECRET = "sk-ant-gaps-examples-0000"
pytestmark = pytest.mark.loopback(api_key=SECRET)


@pytest.fixture()
def reference(tmp_path: Path) -> Path:
    return write_reference(tmp_path / "ref.csv")


def seeded(data: dict) -> tuple[list, dict, object]:
    recipe = parse_recipe(data)
    ref = read_reference(recipe)
    specs, info = seed_plan_slots(
        make_plan(plan_spec(recipe)).slot_specs(), recipe, ref, WordEmbedder().encode
    )
    return specs, info, ref


def test_same_stratum_examples_carry_the_rows_label_and_each_request_draws_anew(reference: Path) -> None:
    data = recipe_data(
        reference, backend={"name": "anthropic", "model": "claude-sonnet-4-6", "items_per_request": 2}
    )
    specs, info, ref = seeded(data)
    label = {t: ref.labels["topic"][i] for i, t in enumerate(ref.texts)}
    assert all(len(s.examples) == 3 for s in specs) and info["slots_without_examples"] == {}
    for s in specs:
        assert {label[t] for t in s.examples} == {s.values["topic"]}
    # Slots sharing their values go two per request (items_per_request): each pair shares its draw, the
    # next pair draws again.
    by_values: dict[tuple, list] = {}
    for s in specs:
        by_values.setdefault(tuple(s.values.values()), []).append(s.examples)
    for draws in by_values.values():
        pairs = [draws[i : i + 2] for i in range(0, len(draws), 2)]
        assert all(len(set(p)) == 1 for p in pairs)
        if len(pairs) > 1:
            assert len({p[0] for p in pairs}) > 1
    # The same recipe draws the same texts (resumed requests keep their keys); another seed does not.
    again, _, _ = seeded(data)
    assert [s.examples for s in again] == [s.examples for s in specs]
    other, _, _ = seeded({**data, "seed": 6})
    assert [s.examples for s in other] != [s.examples for s in specs]


def test_same_region_quotes_an_anchor_and_its_nearest_texts_and_any_ignores_labels(reference: Path) -> None:
    specs, _, ref = seeded(recipe_data(reference, examples={"per_request": 3, "from": "same_region"}))
    emb = WordEmbedder().encode(ref.texts)
    index = {t: i for i, t in enumerate(ref.texts)}
    for s in specs[:8]:
        anchor, *rest = s.examples
        pool = [i for i, v in enumerate(ref.labels["topic"]) if v == s.values["topic"]]
        sims = emb[pool] @ emb[index[anchor]]
        # the two others are the anchor's nearest texts of the row's topic (anchor excluded)
        nearest = sorted(sims, reverse=True)[1:3]
        got = sorted((float(emb[index[t]] @ emb[index[anchor]]) for t in rest), reverse=True)
        assert np.allclose(got, nearest, atol=1e-6)
    any_specs, _, ref2 = seeded(recipe_data(reference, examples={"per_request": 3, "from": "any"}))
    labels = {ref2.labels["topic"][ref2.texts.index(t)] for s in any_specs for t in s.examples}
    assert not labels <= set(TOPICS)  # texts of other intents are quoted too


def test_a_stratum_without_reference_texts_is_named_and_quotes_nothing(tmp_path: Path) -> None:
    ref = write_reference(tmp_path / "ref.csv", intents=TOPICS[:3])
    specs, info, _ = seeded(recipe_data(ref))
    missing = [s for s in specs if s.values["topic"] == TOPICS[3]]
    assert missing and all(s.examples == () for s in missing)
    assert info["slots_without_examples"] == {TOPICS[3]: len(missing)}


def test_the_section_follows_the_prompt_unless_the_template_places_the_examples(reference: Path) -> None:
    recipe = parse_recipe(recipe_data(reference, system="You write bank support messages."))
    builder = RequestBuilder(recipe, "anthropic", "m")
    values = {"topic": TOPICS[0], "tone": "polite"}
    system, prompt = builder.render(values, ("Where is my card?", "Card not here"), 1)
    assert system == "You write bank support messages."  # the shared prefix never changes with the examples
    assert prompt.startswith("Write a polite customer message about card_arrival.\n\n" + EXAMPLES_HEADING)
    assert quoted_examples(prompt) == ["Where is my card?", "Card not here"]
    assert builder.render(values, (), 1)[1] == "Write a polite customer message about card_arrival."
    own = parse_recipe(
        recipe_data(reference, prompt="Like: {{ examples | join(' / ') }}. Write about {{ topic }}.")
    )
    _, placed = RequestBuilder(own, "anthropic", "m").render(values, ("a", "b"), 1)
    assert placed == "Like: a / b. Write about card_arrival." and EXAMPLES_HEADING not in placed


def test_requests_quote_texts_of_their_topic_and_a_rerun_sends_nothing(
    server: MessagesServer, reference: Path, tmp_path: Path
) -> None:
    writer = ExampleWriter()
    server.responder = writer
    data = recipe_data(reference)
    run(data, tmp_path / "out")
    ref = read_reference(parse_recipe(data))
    label = {t: ref.labels["topic"][i] for i, t in enumerate(ref.texts)}
    bodies = server.bodies()
    assert len(bodies) >= 24 and writer.unseeded == 0
    for body in bodies:
        prompt = first_text(body)
        topic = prompt.split("about ")[1].split(".")[0]
        assert {label[t] for t in quoted_examples(prompt)} == {topic}
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["seeding"]["examples"]["per_request"] == 3
    server.clear()
    run(data, tmp_path / "out")
    assert server.count("POST", "/v1/messages") == 0


def test_near_copies_of_reference_texts_are_regenerated(
    server: MessagesServer, reference: Path, tmp_path: Path
) -> None:
    writer = ExampleWriter(copy_share=0.3)
    server.responder = writer
    data = recipe_data(reference)
    data["reference"]["leakage_threshold"] = 0.99
    result = run(data, tmp_path / "out")
    assert writer.copied >= 5
    texts = [t for ds in result.values() for t in ds["message"]]
    ref = read_reference(parse_recipe(data))
    emb = WordEmbedder()
    sims = max_cosine(emb.encode(texts), emb.encode(ref.texts))
    assert (sims < 0.99).all()
    assert not set(texts) & set(ref.texts)
    seeding = result.report.seeding
    assert seeding["regenerated_near_copies"] >= writer.copied and seeding["still_near_copies"] == 0
    assert result.validation.ok
