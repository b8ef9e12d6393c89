"""Headless Chromium for tests that look at a page: a minimal DevTools client over a pipe, and the coverage
map's page helpers (wait for plotly to draw, read what it drew, hover a point and read the hover label).

`--remote-debugging-pipe` (fd 3 in, fd 4 out) needs no port and no extra package. Tests using it carry
`needs_chromium`, which skips them with the reason when the browser is missing (Debian: `apt-get install
chromium fonts-noto-cjk`; another binary: HF_SYNTH_CHROMIUM=/path).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("HF_SYNTH_CHROMIUM", "/usr/bin/chromium")


class DevTools:
    """Minimal Chrome DevTools Protocol client over `--remote-debugging-pipe` (fd 3 in, fd 4 out)."""

    def __init__(self, profile: Path) -> None:
        cmd_r, cmd_w = os.pipe()
        out_r, out_w = os.pipe()
        # Move the child's ends above 9 so `3<&N 4>&M` cannot clobber one with the other (bash, not dash:
        # dash only redirects single-digit descriptors).
        child_in, child_out = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10), fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)
        os.close(cmd_r)
        os.close(out_w)
        args = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync", "--mute-audio",
            f"--user-data-dir={profile}", "--remote-debugging-pipe", "--window-size=1400,1000", "about:blank",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", f'exec "$0" "$@" 3<&{child_in} 4>&{child_out}', CHROMIUM, *args],
            pass_fds=(child_in, child_out),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(child_in)
        os.close(child_out)
        self._w = os.fdopen(cmd_w, "wb", buffering=0)
        self._r = os.fdopen(out_r, "rb", buffering=0)
        self._buf = b""
        self._next = 0
        self.events: list[dict] = []
        self.session: str | None = None

    def _read(self) -> dict:
        while b"\0" not in self._buf:
            chunk = self._r.read(1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        self._w.write(json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        seen = len(self.events)
        while time.monotonic() < deadline:
            for event in self.events[seen:]:
                if event.get("method") == method:
                    return event
            seen = len(self.events)
            self.events.append(self._read())
        raise TimeoutError(method)

    def evaluate(self, expression: str):
        result = self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            self.send("Browser.close", session=False)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


needs_chromium = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and os.access(CHROMIUM, os.X_OK)),
    reason=f"{CHROMIUM} not found: install Debian's `chromium` (and `fonts-noto-cjk` for CJK labels)",
)


def open_page(browser: DevTools, path: Path, width: int = 1400, height: int = 1000) -> None:
    """Attach to a new tab, enable the domains the tests read (Page, Runtime, Log, Network), load `path`."""
    target = browser.send("Target.createTarget", {"url": "about:blank"}, session=False)
    browser.session = browser.send(
        "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, session=False
    )["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.send(f"{domain}.enable")
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    browser.send("Page.navigate", {"url": Path(path).resolve().as_uri()})
    browser.wait_for("Page.loadEventFired")


MAP_STATE = """(async () => {
    const gd = document.getElementById('coverage-map');
    for (let i = 0; i < 100 && !(gd && gd._fullLayout); i++) {
      await new Promise(r => setTimeout(r, 100));
    }
    return {
      traces: gd._fullData.map(t => [t.type, t.name, (t.x || []).length]),
      markers: gd.querySelectorAll('.scatterlayer .point').length,
      heatmap: gd.querySelectorAll('.heatmaplayer image').length,
      legend: [...gd.querySelectorAll('.legend .legendtext')].map(e => e.textContent),
      annotations: [...gd.querySelectorAll('.annotation-text')].map(e => e.textContent),
    };
})()"""


def map_state(browser: DevTools) -> dict[str, Any]:
    """What plotly drew on the coverage map page: traces [type, name, points], drawn markers, heatmap
    images, legend texts, annotation texts."""
    return browser.evaluate(MAP_STATE)


def hover_point(browser: DevTools, trace_name: str, contains: str) -> str | None:
    """Move the mouse onto the first point of `trace_name` whose hover text contains `contains`; return the
    hover label's text (None when no such point or no label appeared)."""
    point = browser.evaluate(
        f"""(() => {{
            const gd = document.getElementById('coverage-map');
            const t = gd._fullData.find(t => t.name === {json.dumps(trace_name)});
            const i = t ? t.text.findIndex(s => s.includes({json.dumps(contains)})) : -1;
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
            const box = gd.getBoundingClientRect();
            if (i < 0) return null;
            return [box.left + xa._offset + xa.l2p(t.x[i]), box.top + ya._offset + ya.l2p(t.y[i])];
        }})()"""
    )
    if point is None:
        return None
    for dx in (0.0, 0.5):
        browser.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": point[0] + dx, "y": point[1]})
    return browser.evaluate(
        """(async () => {
            for (let i = 0; i < 50; i++) {
              const t = document.querySelector('.hoverlayer .hovertext');
              if (t) return t.textContent;
              await new Promise(r => setTimeout(r, 100));
            }
            return null;
        })()"""
    )


def page_errors(browser: DevTools) -> list[dict[str, Any]]:
    """Exceptions, console errors and log errors the page raised."""
    return [
        e["params"]
        for e in browser.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "assert"))
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")
    ]


def requested_urls(browser: DevTools) -> list[str]:
    """Every URL the page requested."""
    return [
        e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
