"""The judge on its own: blind requests, verdicts kept apart and stored by content, retries, budget."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from hf_synth.errors import UsageError
from hf_synth.generation.audit.judge import Judge
from hf_synth.generation.audit.request import quoted_texts
from hf_synth.generation.audit.store import VerdictStore
from hf_synth.generation.backends.anthropic import AnthropicBackend
from hf_synth.generation.budget import Budget
from hf_synth.testing.judge import LabelWorld
from hf_synth.testing.messages_server import MessagesServer
from tests.audit.common import DIMS, KEY

pytestmark = pytest.mark.loopback(api_key=KEY)


def _texts(n: int, offset: int = 0) -> list[dict[str, str]]:
    tones, topics = DIMS["tone"], DIMS["topic"]
    return [
        {"body": f"message {i}: ⟦tone={tones[i % 3]}⟧ ⟦topic={topics[(i // 3) % 2]}⟧ about my order"}
        for i in range(offset, offset + n)
    ]


def _judge(tmp_path: Path, **kw: object) -> Judge:
    backend = AnthropicBackend(model="claude-haiku-4-5", max_attempts=3, backoff_initial=0.01)
    store = VerdictStore(tmp_path / "run.sqlite")
    return Judge(backend, store, DIMS, seed=7, progress=False, **kw)  # type: ignore[arg-type]


async def _judge_and_close(judge: Judge, texts: list[dict[str, str]]) -> list:
    try:
        return await judge.judge(texts)
    finally:
        await judge.backend.aclose()


def test_verdicts_are_kept_apart_and_stored_by_content(server: MessagesServer, tmp_path: Path) -> None:
    world = server.responder = LabelWorld(DIMS)
    texts = _texts(12)
    texts.append(dict(texts[0]))  # the same text twice is judged once
    judge = _judge(tmp_path, items_per_request=5)
    verdicts = asyncio.run(_judge_and_close(judge, texts))
    for text, verdict in zip(texts, verdicts, strict=True):
        tone = re.search(r"tone=(\w+)", text["body"]).group(1)  # type: ignore[union-attr]
        topic = re.search(r"topic=(\w+)", text["body"]).group(1)  # type: ignore[union-attr]
        assert verdict == {"tone": tone, "topic": topic}
    assert world.judge_requests == 3 and len(world.judged) == 12  # ceil(12 / 5) requests, 12 distinct texts
    assert judge.store.usage().requests == 3
    # Known texts cost nothing; a changed text is judged again.
    judge2 = _judge(tmp_path, items_per_request=5)
    changed = [*texts[:5], {"body": "message 99: ⟦tone=angry⟧ ⟦topic=billing⟧ new words"}]
    verdicts2 = asyncio.run(_judge_and_close(judge2, changed))
    assert verdicts2[-1] == {"tone": "angry", "topic": "billing"}
    assert world.judge_requests == 4 and world.judged[-1].startswith("message 99")


def test_requests_are_blind_and_list_values_in_a_shuffled_order(
    server: MessagesServer, tmp_path: Path
) -> None:
    server.responder = LabelWorld(DIMS)
    judge = _judge(tmp_path, items_per_request=2)
    asyncio.run(_judge_and_close(judge, _texts(40)))
    bodies = server.bodies()
    assert len(bodies) == 20
    frames, orders = set(), set()
    for body in bodies:
        prompt = body["messages"][0]["content"][0]["text"]
        assert len(quoted_texts(prompt)) == 2
        # Outside the quoted texts, a request holds only the instructions and the shuffled value lists.
        frame = re.sub(r'<text n="\d">\n.*?\n</text n="\d">', "<quoted>", prompt, flags=re.DOTALL)
        listing = re.findall(r"^- (\w+): (.*)$", frame, flags=re.MULTILINE)
        order = tuple((d, tuple(v.split(", "))) for d, v in listing)
        for d, values in order:
            assert values[-1] == "unclear" and sorted(values[:-1]) == sorted(DIMS[d])
        # The tool's enums list the values in the prompt's order: one enum property per dimension.
        props = body["tools"][0]["input_schema"]["properties"]["items"]["items"]["properties"]
        assert {d: tuple(p["enum"]) for d, p in props.items()} == dict(order)
        for _, values in order:
            frame = frame.replace(", ".join(values), "<values>")
        frames.add(frame)
        orders.add(order)
    assert len(frames) == 1  # every request says the same thing apart from the texts and the value order
    assert len(orders) > 3  # and the order really is shuffled per request


def test_broken_answers_are_retried_and_their_cost_is_kept(server: MessagesServer, tmp_path: Path) -> None:
    server.responder = LabelWorld(DIMS)
    server.script_faults(["bad_items", "malformed", "malformed", "malformed"])
    judge = _judge(tmp_path, items_per_request=4)
    verdicts = asyncio.run(_judge_and_close(judge, _texts(8)))
    assert all(v is not None for v in verdicts)
    assert judge.stats.failed_requests >= 1
    # Every billed answer is stored, the unusable ones included.
    assert judge.store.usage().requests == server.count("POST", "/v1/messages") >= 4


def test_a_budget_refuses_an_unpriced_judge_model(tmp_path: Path) -> None:
    backend = AnthropicBackend(model="claude-nobody-knows-1")
    with pytest.raises(UsageError, match="claude-nobody-knows-1"):
        Judge(backend, VerdictStore(tmp_path / "s.sqlite"), DIMS, budget=Budget(1.0, backend, 0.0))


def test_the_local_judge_quotes_one_row_per_request(tmp_path: Path) -> None:
    from hf_synth.generation.backends.local import LocalBackend

    judge = Judge(LocalBackend(), VerdictStore(tmp_path / "s.sqlite"), DIMS, items_per_request=10)
    # It scores one prompt per request, so several rows in one request would all get the same verdict.
    assert judge.items_per_request == 1


def test_the_server_command_line_serves_a_label_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from hf_synth.testing.messages_server import spawned_server

    with spawned_server(0.0, "--label-world", json.dumps(DIMS), "--wrong-share", "0.5") as proc:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", proc.url)  # type: ignore[attr-defined]
        judge = _judge(tmp_path, items_per_request=3)
        verdicts = asyncio.run(_judge_and_close(judge, _texts(3)))
    assert [v["tone"] for v in verdicts] == ["polite", "angry", "confused"]  # type: ignore[index]
