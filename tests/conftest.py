"""Shared fixtures: the loopback Messages API with the environment the real `anthropic` SDK reads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hf_synth.testing.messages_server import MessagesServer

DEFAULT_KEY = "sk-ant-loopback-test-key-0000"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "loopback(api_key=..., **settings): the key and MessagesServer settings of the `server` fixture",
    )


@pytest.fixture()
def server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[MessagesServer]:
    """A started loopback Messages server; ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL point the SDK at it.

    A module or test sets the accepted key and server settings with
    `@pytest.mark.loopback(api_key=SECRET, retry_after=0.05)` (keyword arguments of `MessagesServer`).
    """
    marker = request.node.get_closest_marker("loopback")
    settings = dict(marker.kwargs) if marker is not None else {}
    key = settings.setdefault("api_key", DEFAULT_KEY)
    with MessagesServer(**settings) as srv:
        monkeypatch.setenv("ANTHROPIC_API_KEY", key)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.url)
        monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
        yield srv
