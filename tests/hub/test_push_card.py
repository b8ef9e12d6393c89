"""Issue 11: what `push` uploads is true for the repo it goes to, and an incomplete folder is never pushed.

The real huggingface_hub client (in-process `push_folder`, `hf_hub_download`) and, for loading, the real
`datasets.load_dataset` in a fresh interpreter, against the loopback Hub (`running_hub`); one test generates
a real incomplete folder through the anthropic SDK and the loopback Messages server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hf_synth.card import release_card, render_card
from hf_synth.errors import IncompleteFolderError, IncompleteRunError
from hf_synth.fonts import undrawable
from hf_synth.hub.push import push_folder
from hf_synth.hub.server import USER_NAME, running_hub
from tests.card.test_card import load_report, write_parquet_files
from tests.support.hubtools import run_cli, run_client

TOKEN = "hf_pushCardToken0123456789abcdef"
OLD_ID = "hf-synth-demo/support_tickets"
SECRET = "sk-ant-push-card-4f9e2b7c-never-upload"


@pytest.fixture(scope="module")
def hub_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_hub(tmp_path_factory.mktemp("hub"), tokens={TOKEN}) as url:
        yield url


def generated_folder(base: Path, report: dict[str, Any] | None = None) -> Path:
    """A folder as `generate` leaves it: parquet files, report.json, recipe.yaml and the card for OLD_ID."""
    folder = base / "support-tickets"
    folder.mkdir(parents=True)
    report = report or load_report()
    write_parquet_files(folder, report)
    (folder / "report.json").write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    (folder / "recipe.yaml").write_text("name: support-tickets-demo\n", encoding="utf-8")
    render_card(folder, report)
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def download(url: str, repo_id: str, filename: str, cache: Path) -> bytes:
    from huggingface_hub import hf_hub_download

    path = hf_hub_download(
        repo_id, filename, repo_type="dataset", endpoint=url, token=TOKEN, cache_dir=str(cache)
    )
    return Path(path).read_bytes()


def test_push_under_another_id_uploads_the_card_for_that_id(
    hub_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = load_report()
    folder_path = tmp_path / "support-tickets"
    # Local paths and a secret as they could reach the folder's text files (a local embedding model, a
    # reference file, a key pasted into a description); the secret is only in the environment at push time.
    report["coverage"]["model"] = f"path:{folder_path}/models/minilm"
    report["recipe"]["description"] += f" (key {SECRET}; home {Path.home()}/notes)"
    folder = generated_folder(tmp_path, report)
    (folder / "recipe.yaml").write_text(
        f"name: x\nreference: {folder}/ref.csv  # {SECRET}\n", encoding="utf-8"
    )
    before = snapshot(folder)
    assert (
        SECRET in before["README.md"].decode() and f'load_dataset("{OLD_ID}"' in before["README.md"].decode()
    )
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)

    result = push_folder(folder, "other-org/renamed", token=TOKEN, endpoint=hub_url, render_card=release_card)
    assert snapshot(folder) == before  # pushing changes nothing in the folder

    cache = tmp_path / "hf-cache"
    readme = download(hub_url, "other-org/renamed", "README.md", cache).decode()
    for config in ("default", "clean", "edge_cases"):
        assert f'ds = load_dataset("other-org/renamed", "{config}")' in readme
    assert "howpublished = {\\url{https://huggingface.co/datasets/other-org/renamed}}" in readme
    assert OLD_ID not in readme
    texts = {
        name: download(hub_url, "other-org/renamed", name, cache).decode()
        for name in result.added
        if name in ("README.md", "report.json", "recipe.yaml")
    }
    assert set(texts) == {"README.md", "report.json", "recipe.yaml"}
    for name, text in texts.items():
        assert SECRET not in text, name
        assert str(tmp_path) not in text and str(Path.home()) + "/" not in text, name
    assert "[REDACTED]" in texts["README.md"] and "[REDACTED]" in texts["report.json"]
    assert "local model minilm" in texts["README.md"]
    assert json.loads(texts["report.json"])["coverage"]["model"] == "path:./models/minilm"
    assert "reference: ./ref.csv" in texts["recipe.yaml"]
    # The charts it links are the local ones, byte for byte (rendering is reproducible).
    charts = [p for p in result.added if p.startswith("images/")]
    assert charts and all(download(hub_url, "other-org/renamed", p, cache) == before[p] for p in charts)

    # Pushing the same folder again is no change: the re-rendered card is identical.
    again = push_folder(folder, "other-org/renamed", token=TOKEN, endpoint=hub_url, render_card=release_card)
    assert not again.changed and again.commit_oid == result.commit_oid

    # A reader of the new repo gets a loadable dataset whose card names the repo they loaded.
    code = """
    import datasets
    from huggingface_hub import DatasetCard
    dd = datasets.load_dataset("other-org/renamed", "clean")
    card = DatasetCard.load("other-org/renamed", repo_type="dataset")
    emit({"rows": {s: d.num_rows for s, d in dd.items()}, "text": card.text})
    """
    loaded = run_client(code, hub_url, TOKEN, tmp_path)
    assert loaded["rows"] == {"train": 182, "validation": 38, "test": 39}
    assert 'load_dataset("other-org/renamed", "clean")' in loaded["text"]


def test_bare_name_goes_to_the_token_owner_and_the_card_says_so(hub_url: str, tmp_path: Path) -> None:
    folder = generated_folder(tmp_path)
    result = push_folder(folder, "bare-name", token=TOKEN, endpoint=hub_url, render_card=release_card)
    assert result.repo_id == f"{USER_NAME}/bare-name"
    readme = download(hub_url, result.repo_id, "README.md", tmp_path / "cache").decode()
    assert f'load_dataset("{USER_NAME}/bare-name", "default")' in readme


def test_a_user_card_without_our_block_is_uploaded_as_it_is(tmp_path: Path) -> None:
    folder = generated_folder(tmp_path)
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# My own card\n", encoding="utf-8")
    assert release_card(folder, "org/x") == {}


def incomplete_folder(base: Path) -> Path:
    report = load_report()
    report["complete"] = False
    report["incomplete"] = {
        "reason": "budget reached",
        "missing_rows": 3,
        "short_cells": {"billing | angry": 3},
    }
    return generated_folder(base, report)


def test_incomplete_folder_is_refused_before_anything_is_sent(hub_url: str, tmp_path: Path) -> None:
    from huggingface_hub import HfApi

    folder = incomplete_folder(tmp_path)
    with pytest.raises(IncompleteFolderError, match=r"incomplete run \(3 of 300 planned rows are missing\)"):
        push_folder(folder, "org/incomplete", token=TOKEN, endpoint=hub_url, render_card=release_card)
    # Refused before the token is even looked at, so nothing reached the Hub: the repo does not exist.
    with pytest.raises(IncompleteFolderError):
        push_folder(folder, "org/incomplete", token=None, endpoint=hub_url)
    assert not HfApi(endpoint=hub_url, token=TOKEN).repo_exists("org/incomplete", repo_type="dataset")

    home = tmp_path / "home"
    home.mkdir()
    proc = run_cli(["push", str(folder), "--repo-id", "org/incomplete"], hub_url, TOKEN, home)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "holds an incomplete run" in proc.stderr and "not for release" in proc.stderr
    assert "Traceback" not in proc.stderr and TOKEN not in proc.stdout + proc.stderr


RECIPE = {
    "name": "cities",
    "seed": 5,
    "fields": {"text": {"type": "string", "description": "the ticket"}},
    "text_field": "text",
    "dimensions": {"city": ["東京", "大阪"], "tone": {"calm": 1, "angry": 1}},
    "strata": {"by": ["city"], "counts": {"東京": 6, "大阪": 6}},
    "splits": {"train": 0.5, "test": 0.5},
    "prompt": "Write a {{ tone }} support ticket from {{ city }}.",
    "backend": {"name": "anthropic", "model": "claude-sonnet-4-6", "concurrency": 2, "max_attempts": 1},
    "dedup": {"near_threshold": None},
    "max_rounds": 1,
}


def test_a_real_incomplete_run_gets_a_banner_and_is_not_pushed(
    hub_url: str, tmp_path: Path, monkeypatch
) -> None:
    from hf_synth.pipeline import RunOptions, generate
    from hf_synth.recipe import parse_recipe
    from hf_synth.testing.messages_server import MessagesServer, default_responder

    def responder(request: dict[str, Any]) -> dict[str, Any]:
        # Every request about 大阪 gets an answer without items: that stratum stays short.
        return (
            {"items": "none"}
            if "大阪" in json.dumps(request, ensure_ascii=False)
            else default_responder(request)
        )

    server = MessagesServer(api_key="sk-ant-loopback-key-0123456789", responder=responder).start()
    try:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-loopback-key-0123456789")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        out = tmp_path / "cities"
        with pytest.raises(IncompleteRunError):
            generate(
                parse_recipe(RECIPE), out, RunOptions(backend="anthropic", progress=False, quality=False)
            )
    finally:
        server.stop()
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["complete"] is False
    text = (out / "README.md").read_text(encoding="utf-8")
    banner = text[text.index("# ") : text.index("## Summary")]
    assert "**INCOMPLETE: 6 of 12 rows (6 missing); not for release.**" in banner
    assert "大阪 (short 6)" in banner
    assert undrawable("".join(RECIPE["dimensions"]["city"])) == ""  # the city chart draws 東京 and 大阪
    assert (out / "images" / "city.png").is_file()

    home = tmp_path / "home"
    home.mkdir()
    proc = run_cli(["push", str(out), "--repo-id", "org/cities"], hub_url, TOKEN, home)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "6 of 12 planned rows are missing" in proc.stderr
