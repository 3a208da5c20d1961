"""Headless Chromium for the report tests, driven over the DevTools protocol on a pipe.

``--remote-debugging-pipe`` makes Chromium read protocol messages from fd 3 and write them to
fd 4 (NUL-terminated JSON), so no port, no websocket library and no network are needed. The
page is loaded from a file; console messages, uncaught exceptions and log entries (CSP
violations, failed loads) are collected, and a full-page screenshot is taken.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
)  # fmt: skip


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageLoad:
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, log errors
    messages: list[str] = field(default_factory=list)  # every console/log message
    screenshot: bytes = b""
    title: str = ""


class _Pipe:
    def __init__(self, proc: subprocess.Popen, to_browser: int, from_browser: int) -> None:
        self.proc, self.w, self.r = proc, to_browser, from_browser
        self.buf = b""
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        return self.next_id

    def _read_one(self, deadline: float) -> dict:
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self.r], [], [], left)
            if ready:
                chunk = os.read(self.r, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium exited (status {self.proc.poll()})")
                self.buf += chunk
        raw, _, self.buf = self.buf.partition(b"\0")
        return json.loads(raw)

    def call(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float = 60.0,
    ) -> dict:
        want = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read_one(deadline)
            if msg.get("id") == want:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 60.0) -> dict:
        for i, ev in enumerate(self.events):
            if ev["method"] == method:
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read_one(deadline)
            if "method" in msg:
                if msg["method"] == method:
                    return msg
                self.events.append(msg)


def _describe(ev: dict) -> tuple[str, bool]:
    """(text, is_error) of a console/log/exception event."""
    p = ev.get("params", {})
    if ev["method"] == "Runtime.consoleAPICalled":
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
        return f"console.{p.get('type')}: {text}", p.get("type") in ("error", "assert")
    if ev["method"] == "Runtime.exceptionThrown":
        d = p.get("exceptionDetails", {})
        return f"exception: {d.get('text')} {d.get('exception', {}).get('description', '')}", True
    if ev["method"] == "Log.entryAdded":
        e = p.get("entry", {})
        return f"log {e.get('source')}/{e.get('level')}: {e.get('text')} {e.get('url', '')}", (
            e.get("level") == "error"
        )
    return json.dumps(ev)[:300], False


def load_page(path: Path, width: int = 1400, timeout: float = 90.0) -> PageLoad:
    """Open ``path`` in headless Chromium; console errors and a full-page PNG screenshot."""
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError("no chromium executable on PATH")
    a_r, a_w = os.pipe()  # test -> browser (its fd 3)
    b_r, b_w = os.pipe()  # browser -> test (its fd 4)

    def child_fds() -> None:  # close_fds=False: Python fds are non-inheritable, 3/4 are
        hi_a, hi_b = os.dup(a_r), os.dup(b_w)  # out of the way of 3/4 first
        os.dup2(hi_a, 3)
        os.dup2(hi_b, 4)

    with tempfile.TemporaryDirectory(prefix="avprep-chromium-") as profile:
        args = [
            exe,
            *FLAGS,
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            f"--window-size={width},900",
            "about:blank",
        ]
        proc = subprocess.Popen(
            args,
            preexec_fn=child_fds,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            close_fds=False,
        )
        os.close(a_r)
        os.close(b_w)
        pipe = _Pipe(proc, a_w, b_r)
        result = PageLoad()
        try:
            target = pipe.call("Target.createTarget", {"url": "about:blank"}, timeout=timeout)
            session = pipe.call(
                "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
            )["sessionId"]
            for domain in ("Runtime", "Log", "Page"):
                pipe.call(f"{domain}.enable", session=session)
            pipe.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
            pipe.call("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
            pipe.wait_event("Page.loadEventFired", timeout=timeout)
            time.sleep(0.5)  # late console messages (image decode errors)
            pipe.call("Runtime.evaluate", {"expression": "1"}, session=session)
            title = pipe.call("Runtime.evaluate", {"expression": "document.title"}, session=session)
            result.title = title.get("result", {}).get("value", "")
            shot = pipe.call(
                "Page.captureScreenshot",
                {"format": "png", "captureBeyondViewport": True, "clip": _full_clip(pipe, session)},
                session=session,
                timeout=timeout,
            )
            result.screenshot = base64.b64decode(shot["data"])
            for ev in pipe.events:
                if ev["method"] in (
                    "Runtime.consoleAPICalled",
                    "Runtime.exceptionThrown",
                    "Log.entryAdded",
                ):
                    text, is_error = _describe(ev)
                    result.messages.append(text)
                    if is_error:
                        result.errors.append(text)
            try:
                pipe.call("Browser.close", timeout=10)
            except (RuntimeError, TimeoutError):
                pass
        finally:
            os.close(a_w)
            os.close(b_r)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return result


def _full_clip(pipe: _Pipe, session: str) -> dict:
    m = pipe.call("Page.getLayoutMetrics", session=session)
    size = m.get("cssContentSize") or m["contentSize"]
    return {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
