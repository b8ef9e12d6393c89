"""The real `anthropic` SDK against the loopback Messages server: no mocks, 127.0.0.1 only, bounded loops."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import logging
import os
import subprocess
import sys
import time
import traceback
from typing import Any

import pytest

from hf_synth.generation.backends.anthropic import (
    TOOL_NAME,
    AnthropicBackend,
    InMemoryBatchStore,
    custom_id_for,
)
from hf_synth.generation.backends.base import (
    FatalBackendError,
    GenerationRequest,
    GenerationResult,
    RetryableBackendError,
)
from hf_synth.generation.pricing import cost_usd, estimate_tokens
from hf_synth.generation.ratelimit import AdaptiveConcurrency, RateLimiter
from hf_synth.recipe.fields import FieldSpec
from hf_synth.testing.messages_server import MessagesServer, default_responder

SECRET = "sk-ant-test-SECRET-do-not-leak-0123456789"
pytestmark = [pytest.mark.timeout(60), pytest.mark.loopback(api_key=SECRET, retry_after=0.05)]
MODEL = "claude-haiku-4-5"
FIELDS = {
    "text": FieldSpec(type="string", description="the review"),
    "stars": FieldSpec(type="integer", minimum=1, maximum=5),
    "sentiment": FieldSpec(type="enum", values=["positive", "negative"]),
    "note": FieldSpec(type="string", optional=True),
}
SYSTEM = "You write realistic product reviews. " * 20
LONG_SYSTEM = "You write realistic product reviews. " * 450  # ~4,200 tokens at 4 characters per token


def make_request(
    i: int = 0, n: int = 3, feedback: str | None = None, system: str | None = SYSTEM
) -> GenerationRequest:
    return GenerationRequest(
        key=f"{i:064x}",
        slot_ids=tuple(range(i * n, i * n + n)),
        system=system,
        prompt=f"Write a review of product {i} in the stratum 'books | positive'.",
        n_items=n,
        fields=FIELDS,
        max_tokens=1024,
        temperature=0.7,
        feedback=feedback,
    )


def backend(**kw: Any) -> AnthropicBackend:
    opts: dict[str, Any] = {
        "model": MODEL,
        "concurrency": 8,
        "max_attempts": 6,
        "timeout": 10.0,
        "backoff_initial": 0.02,
        "backoff_max": 0.2,
    }
    opts.update(kw)
    return AnthropicBackend(**opts)


async def run_all(
    b: AnthropicBackend, reqs: list[GenerationRequest]
) -> list[GenerationResult | BaseException]:
    try:
        return await asyncio.gather(*(b.generate(r) for r in reqs), return_exceptions=True)
    finally:
        await b.aclose()


def test_tool_use_items_usage_and_cost(server: MessagesServer) -> None:
    b = backend(items_per_request=3)
    (res,) = asyncio.run(run_all(b, [make_request(0, n=3)]))
    assert isinstance(res, GenerationResult)
    assert len(res.items) == 3
    assert all(set(item) == set(FIELDS) for item in res.items)
    assert len({item["text"] for item in res.items}) == 3  # distinct items
    assert all(1 <= item["stars"] <= 5 for item in res.items)
    u = res.usage
    assert u.requests == 1 and u.input_tokens > 0 and u.output_tokens > 0
    assert u.cost_usd == pytest.approx(cost_usd(MODEL, u)) and u.cost_usd > 0
    (body,) = server.bodies()
    assert body["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
    items_schema = body["tools"][0]["input_schema"]["properties"]["items"]
    assert items_schema["minItems"] == items_schema["maxItems"] == 3
    assert set(items_schema["items"]["properties"]) == set(FIELDS)
    assert "exactly 3 distinct items" in body["messages"][0]["content"][0]["text"]
    # API version 2026-10-21 (pinned by the SDK) rejects sampling parameters: none is sent by default.
    assert "temperature" not in body and body["max_tokens"] == 1024


def test_forced_tool_rejected_falls_back_to_auto(server: MessagesServer) -> None:
    b = backend(model="claude-sonnet-5-5")
    (res,) = asyncio.run(run_all(b, [make_request(0)]))
    assert isinstance(res, GenerationResult) and len(res.items) == 3
    first, second = server.bodies()
    assert first["tool_choice"]["type"] == "tool" and second["tool_choice"] == {"type": "auto"}
    assert b.tool_choice == "auto" and b.stats["tool_choice_fallback"] == 1


def test_sampling_parameters_are_rejected_by_the_current_api_version(server: MessagesServer) -> None:
    (res,) = asyncio.run(run_all(backend(send_temperature=True), [make_request(0)]))
    assert isinstance(res, FatalBackendError) and "temperature" in str(res) and "400" in str(res)
    assert server.bodies()[0]["temperature"] == 0.7


def test_prompt_caching_counts_cache_tokens(server: MessagesServer) -> None:
    # Claude Haiku 4.5 caches prefixes of 4,096 tokens and more: the system prompt is made that long.
    b = backend()

    async def two() -> list[GenerationResult]:
        try:
            first = await b.generate(make_request(0, system=LONG_SYSTEM))
            second = await b.generate(make_request(1, system=LONG_SYSTEM))
            return [first, second]
        finally:
            await b.aclose()

    first, second = asyncio.run(two())
    assert first.usage.cache_write_tokens > 0 and first.usage.cache_read_tokens == 0
    assert second.usage.cache_read_tokens == first.usage.cache_write_tokens
    assert second.usage.cost_usd < first.usage.cost_usd  # reads are cheaper than writes
    body = server.bodies()[0]
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    # The tool schema alone (~150 tokens) is far below the minimum: no breakpoint after it.
    assert "cache_control" not in body["tools"][0]

    server.clear()
    off = backend(prompt_caching=False)
    (res,) = asyncio.run(run_all(off, [make_request(2, system=LONG_SYSTEM)]))
    assert res.usage.cache_read_tokens == res.usage.cache_write_tokens == 0
    assert "cache_control" not in server.bodies()[0]["tools"][0]


def test_caching_is_not_requested_below_the_models_minimum(server: MessagesServer) -> None:
    # ~400 tokens of tool schema + system prompt: Haiku 4.5 (minimum 4,096) would cache nothing, Sonnet
    # 4.6 (minimum 1,024) neither; a 1,500-token prefix is cached by Sonnet 4.6 but not by Haiku 4.5.
    medium = "You write realistic product reviews. " * 150
    haiku, sonnet = backend(), backend(model="claude-sonnet-4-6")

    async def go() -> list[GenerationResult]:
        try:
            return [
                await haiku.generate(make_request(0)),
                await haiku.generate(make_request(1, system=medium)),
                await sonnet.generate(make_request(2, system=medium)),
                await sonnet.generate(make_request(3, system=medium)),
            ]
        finally:
            await haiku.aclose()
            await sonnet.aclose()

    short, haiku_medium, sonnet_write, sonnet_read = asyncio.run(go())
    bodies = server.bodies()
    for body in bodies[:2]:
        assert "cache_control" not in json.dumps(body)  # nothing marked below Haiku's minimum
    assert short.usage.cache_write_tokens == haiku_medium.usage.cache_write_tokens == 0
    assert bodies[2]["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert sonnet_write.usage.cache_write_tokens >= 1024 and sonnet_read.usage.cache_read_tokens >= 1024
    requested, skipped, why = haiku.caching_summary()
    assert (requested, skipped) == (0, 2)
    assert why is not None and "claude-haiku-4-5" in why and "4,096" in why
    assert sonnet.caching_summary() == (2, 0, None)


def test_loopback_server_caches_nothing_below_the_minimum(server: MessagesServer) -> None:
    import anthropic

    client = anthropic.Anthropic(api_key=SECRET, base_url=server.url, max_retries=0)

    def usage(model: str, system: str) -> Any:
        block = {"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}
        msg = client.messages.create(
            model=model, max_tokens=20, system=[block], messages=[{"role": "user", "content": "hi"}]
        )
        return msg.usage

    try:
        short = "x" * 4 * 1000  # ~1,000 tokens: below every minimum but 512
        assert usage("claude-sonnet-4-6", short).cache_creation_input_tokens == 0
        assert usage("claude-sonnet-4-6", short).cache_read_input_tokens == 0
        mid = "y" * 4 * 2000  # ~2,000 tokens: enough for Sonnet 4.6, not for Haiku 4.5 or Opus 4.7
        assert usage("claude-sonnet-4-6", mid).cache_creation_input_tokens > 0
        assert usage("claude-sonnet-4-6", mid).cache_read_input_tokens > 0
        for model in ("claude-haiku-4-5", "claude-opus-4-7"):
            u = usage(model, mid)
            assert u.cache_creation_input_tokens == u.cache_read_input_tokens == 0
        assert usage("claude-haiku-4-5", "z" * 4 * 4200).cache_creation_input_tokens > 0
    finally:
        client.close()


def test_transient_errors_are_retried_then_succeed(server: MessagesServer) -> None:
    server.script_faults(["rate_limit", "overloaded", "api_error", "drop", "ok"])
    b = backend()
    (res,) = asyncio.run(run_all(b, [make_request(0)]))
    assert isinstance(res, GenerationResult) and len(res.items) == 3
    assert server.count("POST", "/v1/messages") == 5
    assert b.stats["rate_limited"] == 1 and b.stats["overloaded"] == 1
    assert b.stats["server_error"] == 1 and b.stats["connection"] == 1
    assert b.stats["retries"] == 4
    assert res.usage.requests == 1  # only the answered attempt is billed


def test_retry_after_is_honoured_and_slow_answers_time_out(server: MessagesServer) -> None:
    server.retry_after = 0.4
    server.slow_latency = 3.0
    server.script_faults(["rate_limit", "slow", "ok"])
    b = backend(timeout=0.5)
    t0 = time.monotonic()
    (res,) = asyncio.run(run_all(b, [make_request(0)]))
    elapsed = time.monotonic() - t0
    assert isinstance(res, GenerationResult)
    assert b.stats["rate_limited"] == 1 and b.stats["connection"] == 1  # the timeout
    assert elapsed >= 0.4 + 0.5  # waited retry-after, then the timeout
    assert server.count("POST", "/v1/messages") == 3


def test_unknown_model_is_fatal(server: MessagesServer) -> None:
    (res,) = asyncio.run(run_all(backend(model="gpt-nope"), [make_request(0)]))
    assert isinstance(res, FatalBackendError) and "404" in str(res) and "gpt-nope" in str(res)
    assert server.count("POST", "/v1/messages") == 1


def test_retries_exhausted_raise_retryable_naming_the_request(server: MessagesServer) -> None:
    server.fail_for("overloaded", 30)
    b = backend(max_attempts=3)
    req = make_request(7)
    (res,) = asyncio.run(run_all(b, [req]))
    assert isinstance(res, RetryableBackendError)
    assert req.key[:16] in str(res) and "21" in str(res) and "overloaded_error" in str(res)
    assert server.count("POST", "/v1/messages") == 3
    assert SECRET not in str(res)


def test_sustained_429_slows_then_completes(server: MessagesServer) -> None:
    server.retry_after = 0.2
    b = backend(concurrency=8, max_attempts=30)
    limits: list[float] = []

    async def go() -> tuple[list[Any], float]:
        async def watch() -> None:
            while True:
                limits.append(b.concurrency.limit)
                await asyncio.sleep(0.05)

        await b.count_tokens(make_request(0))  # warm up the SDK and the connection first
        server.fail_for("rate_limit", 1.5)
        t0 = time.monotonic()
        w = asyncio.create_task(watch())
        try:
            return await run_all(b, [make_request(i) for i in range(16)]), time.monotonic() - t0
        finally:
            w.cancel()

    results, elapsed = asyncio.run(go())
    assert all(isinstance(r, GenerationResult) for r in results)
    assert 1.4 <= elapsed < 15
    assert b.stats["rate_limited"] > 0
    assert min(limits) < 8  # AIMD backed off …
    assert min(limits) >= 1  # … but never below the floor
    # While the server kept refusing, our retries were paced by retry-after, not a hot loop.
    assert server.count("POST", "/v1/messages") < 16 + 16 * 1.5 / 0.2


def test_rate_limit_headers_pace_the_send_rate(server: MessagesServer) -> None:
    # The server allows 600 requests/min (10/s) and starts with ~3 requests left in its bucket.
    n = 30
    b = backend(concurrency=8, max_attempts=20)

    async def go() -> tuple[list[Any], float]:
        await b.count_tokens(make_request(0))  # warm up the SDK and the connection first
        server.set_rate_limits(requests_per_minute=600, initial_fill=0.005)
        t0 = time.monotonic()
        results = await run_all(b, [make_request(i, n=1) for i in range(n)])
        return results, time.monotonic() - t0

    results, elapsed = asyncio.run(go())
    assert all(isinstance(r, GenerationResult) for r in results)
    sends = sorted(r.time for r in server.requests if r.path == "/v1/messages")
    late = [t for t in sends if t >= sends[0] + 1.0]
    rate = (len(late) - 1) / (late[-1] - late[0])
    refused = sum(1 for r in server.requests if r.status == 429)
    refused_late = sum(1 for r in server.requests if r.status == 429 and r.time >= sends[0] + 1.0)
    print(f"\nsends/s after the first second: {rate:.1f} (server allows 10/s); 429s: {refused}")
    assert elapsed >= 2.2  # ≥ (30 - 3) / 10 s with some slack
    assert rate <= 12.5
    # Only the first blind wave (before any header was seen) may bump into the limit.
    assert refused <= 12 and refused_late <= 2


def test_401_is_fatal_and_the_key_never_leaks(
    server: MessagesServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.script_faults(["rate_limit", "drop", "malformed", "ok"])
    good = backend()
    (ok,) = asyncio.run(run_all(good, [make_request(0)]))
    assert isinstance(ok, GenerationResult)

    wrong = SECRET + "-revoked"
    monkeypatch.setenv("ANTHROPIC_API_KEY", wrong)
    bad = backend()
    (res,) = asyncio.run(run_all(bad, [make_request(1)]))
    assert isinstance(res, FatalBackendError)
    assert "401" in str(res) and "authentication_error" in str(res) and "ANTHROPIC_API_KEY" in str(res)
    assert server.count("POST", "/v1/messages") == 5  # no retry after a 401
    text = "".join(traceback.format_exception(res)) + str(res) + repr(res)
    for secret in (SECRET, wrong):
        assert secret not in text
        for record in caplog.records:
            assert secret not in record.getMessage()
            assert secret not in str(record.args)
        assert secret not in caplog.text
    assert all("authorization" not in r.headers for r in server.requests)


def test_missing_key_is_fatal(server: MessagesServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    (res,) = asyncio.run(run_all(backend(), [make_request(0)]))
    assert isinstance(res, FatalBackendError) and "ANTHROPIC_API_KEY" in str(res)
    assert server.count() == 0


def test_malformed_tool_input_is_retried_bad_items_pass_through(server: MessagesServer) -> None:
    server.script_faults(["malformed", "ok", "bad_items"])
    b = backend()

    async def go() -> tuple[GenerationResult, GenerationResult]:
        try:
            return await b.generate(make_request(0)), await b.generate(make_request(1))
        finally:
            await b.aclose()

    fixed, raw = asyncio.run(go())
    assert len(fixed.items) == 3 and b.stats["malformed"] == 1
    assert fixed.usage.requests == 2  # the unusable answer was billed too
    # Wrong field types are the engine's to validate (and feed back), not a transport retry.
    assert set(raw.items[0]) != set(FIELDS)
    assert server.count("POST", "/v1/messages") == 3


def test_feedback_is_sent_as_a_follow_up(server: MessagesServer) -> None:
    feedback = "stars: 7 is above the maximum 5"
    (res,) = asyncio.run(run_all(backend(), [make_request(0, feedback=feedback)]))
    assert isinstance(res, GenerationResult)
    content = server.bodies()[-1]["messages"][0]["content"]
    assert content[0]["text"].startswith("Write a review of product 0")
    assert feedback in content[1]["text"] and "rejected" in content[1]["text"]


def test_count_tokens_endpoint_and_fallback(server: MessagesServer) -> None:
    b = backend()
    req = make_request(0)
    counted = asyncio.run(b.count_tokens(req))
    assert counted > estimate_tokens(SYSTEM)
    assert server.count("POST", "/v1/messages/count_tokens") == 1
    server.stop()
    fallback = asyncio.run(b.count_tokens(req))
    asyncio.run(b.aclose())
    assert fallback == pytest.approx(counted, rel=0.2)


def _outcome(custom_id: str, params: dict[str, Any]) -> str:
    text = params["messages"][0]["content"][0]["text"]
    if "product 1 " in text:
        return "errored"
    if "product 2 " in text:
        return "expired"
    return "succeeded"


def test_batch_submit_poll_collect(server: MessagesServer) -> None:
    server.batch_delay = 0.3
    server.batch_outcome = _outcome
    store = InMemoryBatchStore()
    b = backend(batch=True, batch_poll_interval=0.1, batch_size=2)
    reqs = [make_request(i) for i in range(5)]

    async def go() -> dict[int, Any]:
        try:
            return {reqs.index(r): res async for r, res in b.generate_batch(reqs, store)}
        finally:
            await b.aclose()

    got = asyncio.run(go())
    assert sorted(got) == [0, 1, 2, 3, 4]
    assert isinstance(got[1], RetryableBackendError) and "errored" in str(got[1])
    assert isinstance(got[2], RetryableBackendError) and "expired" in str(got[2])
    for i in (0, 3, 4):
        res = got[i]
        assert isinstance(res, GenerationResult) and len(res.items) == 3
        assert res.usage.cost_usd == pytest.approx(cost_usd(MODEL, res.usage, batch=True))
        assert res.usage.cost_usd == pytest.approx(cost_usd(MODEL, res.usage) / 2)
    assert server.count("POST", "/v1/messages/batches") == 3  # 5 requests in batches of ≤ 2
    assert store.open_batches() == [] and len(store.closed) == 3
    assert server.count("POST", "/v1/messages") == 0


def test_batch_crash_resumes_polling_without_resubmitting(server: MessagesServer) -> None:
    server.batch_delay = 1.0
    store = InMemoryBatchStore()
    reqs = [make_request(i) for i in range(4)]

    async def crash() -> None:
        b = backend(batch=True, batch_poll_interval=0.1)
        gen = b.generate_batch(reqs, store)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(gen.__anext__(), 0.4)  # the process "dies" while the batch runs
        await gen.aclose()
        await b.aclose()

    asyncio.run(crash())
    (opened,) = store.open_batches()
    assert sorted(opened[1]) == sorted(custom_id_for(r) for r in reqs)

    async def resume() -> list[Any]:
        b = backend(batch=True, batch_poll_interval=0.1)
        try:
            return [res async for _, res in b.generate_batch(reqs, store)]
        finally:
            await b.aclose()

    results = asyncio.run(resume())
    assert len(results) == 4 and all(isinstance(r, GenerationResult) for r in results)
    assert server.count("POST", "/v1/messages/batches") == 1
    assert store.open_batches() == []


def test_server_handles_128_concurrent_connections(server: MessagesServer) -> None:
    server.latency = 0.3
    server.keep_bodies = False
    b = backend(concurrency=128)
    t0 = time.monotonic()
    results = asyncio.run(run_all(b, [make_request(i, n=1) for i in range(128)]))
    elapsed = time.monotonic() - t0
    assert all(isinstance(r, GenerationResult) for r in results)
    assert server.max_open_connections >= 100
    assert elapsed < 4.0  # one 0.3 s round, not 128 sequential ones


def test_server_command_line_prints_its_url() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hf_synth.testing.messages_server", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        import anthropic

        client = anthropic.Anthropic(api_key="any", base_url=url, max_retries=0)
        n = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "hello"}])
        assert n.input_tokens > 0
        client.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_pricing_lookup_batch_and_unknown_model(caplog: pytest.LogCaptureFixture) -> None:
    from hf_synth.generation.backends.base import Usage

    u = Usage(requests=1, input_tokens=1_000_000, output_tokens=1_000_000)
    assert cost_usd("claude-sonnet-4-5-20250929", u) == pytest.approx(3.0 + 15.0)
    assert cost_usd("claude-sonnet-4-5", u, batch=True) == pytest.approx(9.0)
    assert cost_usd("claude-3-5-haiku-latest", u) == pytest.approx(4.8)
    assert cost_usd("claude-opus-4-1", Usage(cache_read_tokens=1_000_000)) == pytest.approx(1.5)
    with caplog.at_level(logging.WARNING):
        assert cost_usd("claude-unknown-9", u) is None
    assert "claude-unknown-9" in caplog.text
    assert estimate_tokens("x" * 400) == 100 and estimate_tokens("") == 0


def test_aimd_decreases_once_per_round_trip_with_a_floor() -> None:
    c = AdaptiveConcurrency(16)
    t = time.monotonic()
    c.on_rate_limited(t)
    c.on_rate_limited(t)  # same round trip: one signal
    assert c.limit == 8
    for _ in range(10):
        c.on_rate_limited(time.monotonic() + 1)
    assert c.current == 1
    for _ in range(100):
        c.on_success()
    assert 1 < c.limit <= 16


def test_limiter_refunds_unused_output_tokens() -> None:
    async def go() -> None:
        lim = RateLimiter(output_tokens_per_minute=6000)
        r = await lim.acquire(10, 5000)
        assert lim.output_tokens.tokens == pytest.approx(1000, abs=5)
        lim.settle(r, 10, 100)
        assert lim.output_tokens.tokens == pytest.approx(5900, abs=5)
        lim.observe_headers(
            {
                "anthropic-ratelimit-output-tokens-limit": "6000",
                "anthropic-ratelimit-output-tokens-remaining": "2000",
            }
        )
        assert lim.output_tokens.tokens == pytest.approx(2000, abs=5)

    asyncio.run(go())


def test_rate_limited_server_learnt_from_headers_with_an_empty_bucket(server: MessagesServer) -> None:
    # A busy key: every bucket starts empty; the client knows no limit and learns it from the headers.
    # Answers are ~150 output tokens written at 2 ms/token; the output limit (60,000/min) binds.
    server.latency, server.latency_per_output_token = 0.2, 0.002
    server.keep_bodies = False

    def responder(body: dict) -> dict:
        out = default_responder(body)
        for item in out["items"]:
            item["text"] = "A long customer review. " * 23
        return out

    server.responder = responder
    b = backend(concurrency=16, max_attempts=10)
    reqs = [make_request(i, n=1, system=None) for i in range(40)]
    reqs = [dataclasses.replace(r, max_tokens=300) for r in reqs]

    async def go() -> list[Any]:
        await b.count_tokens(reqs[0])  # warm up the SDK (count_tokens is not rate limited)
        server.set_rate_limits(requests_per_minute=6_000, output_tokens_per_minute=60_000, initial_fill=0.0)
        return await run_all(b, reqs)

    results = asyncio.run(go())
    assert all(isinstance(r, GenerationResult) for r in results)
    calls = [r for r in server.requests if r.path == "/v1/messages"]
    refused = [r for r in calls if r.status == 429]
    assert len(refused) <= 2, [round(r.time - calls[0].time, 2) for r in refused]
    assert b.stats["rate_limited"] == b.stats["rate_limited_by_tokens"]  # all explained by the buckets
    assert b.concurrency.limit == 16  # a token-bucket 429 never cuts the concurrency
    # No sender was paused beyond what the buckets needed: the widest gap between two sends is at most
    # the time the empty output bucket needs to hold one request's max_tokens (300 / 1,000 per s), plus
    # scheduling slack.
    times = [r.time for r in calls]
    assert max(b - a for a, b in itertools.pairwise(times)) < 0.3 + 1.0
    # Reservations follow the observed output (~150 of 300 tokens), not max_tokens.
    assert b.limiter.expected_output(300) < 250


def test_body_bytes_match_the_params_for_every_template() -> None:
    # Online requests send bytes assembled from a per-template prefix; they must say exactly what the
    # dict body (used for batches and token counting) says.
    b = backend(model="claude-sonnet-4-6", send_temperature=True)
    cases = [
        make_request(0),
        make_request(1, n=1, system=None),
        make_request(2, feedback="stars: 7 is above the maximum 5"),
        make_request(3, system=LONG_SYSTEM),
        dataclasses.replace(make_request(4, n=2), prompt="Ünïcode “quotes” \\ and {braces}", temperature=1.7),
    ]
    for request in cases:
        assert json.loads(b.bodies.body(request)) == b.build_params(request)
    b.tool_choice = "auto"
    request = make_request(5)
    body = json.loads(b.bodies.body(request))
    assert body == b.build_params(request) and body["tool_choice"] == {"type": "auto"}
    assert body["temperature"] == 0.7 and json.loads(b.bodies.body(cases[-1]))["temperature"] == 1.0
