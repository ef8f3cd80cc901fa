"""Opening a local page in headless Chromium through the DevTools protocol (standard library only).

Chromium is started with ``--remote-debugging-pipe``: protocol messages are NUL-terminated JSON on
file descriptors 3 (commands) and 4 (replies and events), so no websocket client is needed. The
page gets no network at all (every http/https request is blocked), so a page that needs a CDN
fails with console errors. :class:`HeadlessPage` collects console errors and warnings, uncaught
exceptions and browser log errors, evaluates JavaScript, moves the mouse and takes screenshots.

Used by the explorer's browser test and ``docs/make_explorer_screenshot.py``. Needs Debian's
``chromium`` package (``apt-get install -y chromium``).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Self

from repository.errors import UsageError

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
HEADLESS_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-extensions", "--mute-audio", "--hide-scrollbars")
PIPE_IN_FD, PIPE_OUT_FD = 3, 4
DEFAULT_TIMEOUT_S = 30.0
ERROR_CONSOLE_TYPES = ("error", "assert")


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None."""
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


class BrowserError(UsageError):
    """Chromium could not be started or did not answer."""


class HeadlessPage:
    """One headless Chromium with one page; use as a context manager.

    ``problems`` lists console errors, uncaught exceptions and browser log errors as one-line
    strings, as do failed requests (every http/https/ws request is blocked: pages must be
    self-contained); ``messages`` lists every console message as (type, text).
    """

    def __init__(self, width: int = 1400, height: int = 900, *, chromium: str | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S):
        self.width, self.height, self.timeout_s = width, height, timeout_s
        self.chromium = chromium or find_chromium()
        if self.chromium is None:
            raise BrowserError("no Chromium found (install Debian's chromium package)")
        self.problems: list[str] = []
        self.messages: list[tuple[str, str]] = []
        self._events: list[dict[str, Any]] = []
        self._requests: dict[str, str] = {}
        self._buffer = b""
        self._next_id = 0
        self._session: str | None = None

    # -- process and protocol ------------------------------------------------------------------
    def __enter__(self) -> Self:
        self._profile = tempfile.mkdtemp(prefix="xasrepo-chromium-")
        commands_r, self._commands_w = os.pipe()
        self._replies_r, replies_w = os.pipe()

        def wire_pipes() -> None:  # in the child: put the pipe ends on fds 3 and 4
            high_in = fcntl.fcntl(commands_r, fcntl.F_DUPFD_CLOEXEC, 10)
            high_out = fcntl.fcntl(replies_w, fcntl.F_DUPFD_CLOEXEC, 10)
            os.dup2(high_in, PIPE_IN_FD)
            os.dup2(high_out, PIPE_OUT_FD)

        args = [self.chromium, *HEADLESS_FLAGS, f"--user-data-dir={self._profile}",
                "--remote-debugging-pipe", f"--window-size={self.width},{self.height}", "about:blank"]
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL,
                                         preexec_fn=wire_pipes,  # noqa: PLW1509 (dup2 only; no locks)
                                         close_fds=False)  # only inheritable fds pass: 0-2, 3, 4
        os.close(commands_r)
        os.close(replies_w)
        try:
            target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
            self._session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                      session=False)["sessionId"]
            for domain in ("Runtime", "Log", "Page", "Network"):
                self.send(f"{domain}.enable")
            self.send("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*"]})
            self.send("Emulation.setDeviceMetricsOverride",
                      {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})
        except Exception:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.send("Browser.close", session=False, wait=False)
        except (OSError, BrowserError):
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for fd in (self._commands_w, self._replies_r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def send(self, method: str, params: dict | None = None, *, session: bool = True,
             wait: bool = True) -> dict[str, Any]:
        """Send one protocol command and return its result (raises BrowserError on a protocol error)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self._session:
            message["sessionId"] = self._session
        os.write(self._commands_w, json.dumps(message).encode() + b"\0")
        if not wait:
            return {}
        wanted = self._next_id
        deadline = time.monotonic() + self.timeout_s
        while True:
            reply = self._read(deadline)
            if reply.get("id") == wanted:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self._event(reply)

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"Chromium did not answer within {self.timeout_s:.0f} s")
            ready, _, _ = select.select([self._replies_r], [], [], left)
            if ready:
                chunk = os.read(self._replies_r, 1 << 20)
                if not chunk:
                    raise BrowserError("Chromium closed the DevTools pipe (did it crash?)")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _event(self, event: dict[str, Any]) -> None:
        method, params = event.get("method"), event.get("params", {})
        self._events.append(event)
        if method == "Runtime.consoleAPICalled":
            words = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.messages.append((params.get("type", ""), words))
            if params.get("type") in ERROR_CONSOLE_TYPES:
                self.problems.append(f"console.{params['type']}: {words}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            description = details.get("exception", {}).get("description") or details.get("text", "")
            self.problems.append(f"uncaught exception: {description.splitlines()[0] if description else ''}")
        elif method == "Network.requestWillBeSent":
            self._requests[params.get("requestId")] = params.get("request", {}).get("url", "")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            url = self._requests.get(params.get("requestId"), "?")
            reason = params.get("blockedReason") or params.get("errorText", "")
            self.problems.append(f"request failed: {url} ({reason})")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.problems.append(f"log {entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())

    def pump(self, seconds: float) -> None:
        """Process events for a while (lets timers and animations run)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                self._event(self._read(deadline))
            except BrowserError:
                if time.monotonic() >= deadline:
                    return
                raise

    # -- what tests and scripts use ------------------------------------------------------------
    def open(self, path: str | Path, fragment: str = "") -> None:
        """Load a local file and wait for its load event."""
        url = Path(path).resolve().as_uri() + (f"#{fragment}" if fragment else "")
        # via an empty page, so a URL that differs only in its fragment still loads a new document
        for target in ("about:blank", url):
            self._events.clear()
            self.send("Page.navigate", {"url": target})
            deadline = time.monotonic() + self.timeout_s
            while not any(e.get("method") == "Page.loadEventFired" for e in self._events):
                self._event(self._read(deadline))
        if self.evaluate("location.href") != url:
            raise BrowserError(f"the page did not open {url}")

    def evaluate(self, expression: str) -> Any:
        """Value of a JavaScript expression in the page (promises are awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"JavaScript failed: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout_s: float | None = None) -> Any:
        """Poll a JavaScript expression until it is truthy; returns its value (or the last falsy one)."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            value = self.evaluate(expression)
            if value or time.monotonic() >= deadline:
                return value
            self.pump(0.1)

    def mouse_move(self, x: float, y: float) -> None:
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})

    def click(self, x: float, y: float) -> None:
        self.mouse_move(x, y)
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                   "clickCount": 1})

    def screenshot(self, path: str | Path) -> Path:
        """Save the visible page as a PNG."""
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

