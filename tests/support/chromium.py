"""Open a local HTML file in headless Chromium, offline, and report what happened.

:func:`render_page` starts a fresh Chromium (Debian's ``chromium`` package; CI
installs it with ``.ci/install-system``) with its own temporary profile and drives
it over the DevTools protocol on a pipe (``--remote-debugging-pipe``: file
descriptors 3 and 4, NUL-terminated JSON messages), so no port is opened and no
extra Python package is needed. It returns the DOM after the page's scripts ran,
every console message and uncaught exception, the requests that failed, and
optionally a full-page PNG screenshot.

The network is off: every request goes to a proxy that does not exist
(``--proxy-server=127.0.0.1:1``, loopback included via ``<-loopback>``) and every
host name resolves to nothing (``--host-resolver-rules``). ``file://`` URLs still
load. A page that needs a CDN therefore fails here exactly as it would offline.

Tests call :func:`require_chromium` first: it skips when Chromium is missing,
except in CI (``CI=true``) where it fails (see ``support/components.py``).
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CHROMIUM_FLAGS",
    "ChromiumUnavailable",
    "PageResult",
    "find_chromium",
    "render_page",
    "require_chromium",
]

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # we run as root in CI containers
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
    "--force-color-profile=srgb",
    # Network off: a dead proxy for every scheme and host, loopback included,
    # and no name resolution at all.
    "--proxy-server=127.0.0.1:1",
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
"""Flags every Chromium started here gets (plus a fresh ``--user-data-dir``)."""

_CANDIDATES = (
    "/usr/lib/chromium/chromium",  # Debian's binary, without the wrapper script's extra flags
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)
_ERROR_CONSOLE_TYPES = {"error", "assert"}


class ChromiumUnavailable(RuntimeError):
    """No usable Chromium on this machine, or it would not start."""


@dataclass(frozen=True)
class PageResult:
    """What a page did in :func:`render_page`.

    Attributes
    ----------
    dom
        ``document.documentElement.outerHTML`` after scripts ran.
    console_errors
        ``console.error``/``console.assert`` calls, uncaught exceptions and browser
        log errors (e.g. ``Failed to load resource``), one string each.
    console_messages
        Every console call, as ``"<type>: <text>"``.
    failed_requests
        ``(url, error)`` for each request that failed, e.g. ``net::ERR_PROXY_CONNECTION_FAILED``.
    values
        Results of the ``evaluate`` expressions, by name.
    ready
        Whether ``wait_for`` became true in time (always true without ``wait_for``).
    screenshot
        Where the PNG was written, if one was asked for.
    """

    dom: str
    console_errors: list[str] = field(default_factory=list)
    console_messages: list[str] = field(default_factory=list)
    failed_requests: list[tuple[str, str]] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    ready: bool = True
    screenshot: Path | None = None


def find_chromium() -> Path:
    """Path of the Chromium executable.

    Looks at ``$MILLPOND_CHROMIUM``, then Debian's ``/usr/lib/chromium/chromium``,
    then ``chromium``, ``chromium-browser`` and ``google-chrome`` on ``PATH``.

    Raises
    ------
    ChromiumUnavailable
        If none exists, saying how to install it.

    Examples
    --------
    >>> find_chromium().name in {"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}
    True
    """
    override = os.environ.get("MILLPOND_CHROMIUM")
    if override:
        if found := shutil.which(override):
            return Path(found)
        raise ChromiumUnavailable(f"$MILLPOND_CHROMIUM is {override!r}, which is not an executable")
    for candidate in _CANDIDATES:
        if found := shutil.which(candidate):
            return Path(found)
    raise ChromiumUnavailable(
        "no Chromium executable found (looked at $MILLPOND_CHROMIUM, "
        + ", ".join(_CANDIDATES)
        + "); install it with `.ci/install-system` (Debian: `apt-get install -y chromium`)"
    )


def require_chromium() -> Path:
    """:func:`find_chromium`, or stop the test: fail in CI, skip elsewhere."""
    from support.components import require_component

    try:
        return find_chromium()
    except ChromiumUnavailable as missing:
        require_component("Chromium", str(missing))


def render_page(
    html_path: str | os.PathLike[str],
    *,
    screenshot: str | os.PathLike[str] | None = None,
    wait_ms: int = 1000,
    wait_for: str | None = None,
    evaluate: Mapping[str, str] | None = None,
    steps: Sequence[tuple[str, str | None]] = (),
    width: int = 1280,
    height: int = 900,
    timeout_s: float = 60.0,
) -> PageResult:
    """Open ``html_path`` in headless Chromium with the network off.

    Parameters
    ----------
    html_path
        A local HTML file.
    screenshot
        If given, write a full-page PNG there (parent directories are created).
    wait_ms
        After the ``load`` event: how long to let scripts run, or, with ``wait_for``,
        the most to wait for it.
    wait_for
        A JavaScript expression; wait until it is truthy (polled every 50 ms).
    evaluate
        JavaScript expressions to evaluate once the page settled (and the ``steps``
        ran), by name; their JSON-serialisable results end up in :attr:`PageResult.values`.
    steps
        ``(action, wait_for)`` pairs run in order once the page settled: evaluate the
        action (a click, typing into a field, following a link), then wait up to
        ``wait_ms`` for ``wait_for`` (if given) to be truthy, across page loads.
    width, height
        Viewport size in CSS pixels (the screenshot grows to the page's full height).
    timeout_s
        Give up on an unresponsive browser after this long.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> page = pathlib.Path(tempfile.mkdtemp()) / "page.html"
    >>> _ = page.write_text("<p id=x></p><script>x.textContent = 6 * 7; console.error('oops')</script>")
    >>> result = render_page(page, wait_ms=0)
    >>> '<p id="x">42</p>' in result.dom, result.console_errors
    (True, ['console.error: oops (page.html:1)'])
    """
    path = Path(html_path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"render_page: no such file {path}")
    with tempfile.TemporaryDirectory(prefix="millpond-chromium-") as profile:
        with _Browser(find_chromium(), Path(profile), timeout_s) as browser:
            return browser.render(
                path.as_uri(),
                screenshot=Path(screenshot) if screenshot is not None else None,
                wait_ms=wait_ms,
                wait_for=wait_for,
                evaluate=dict(evaluate or {}),
                steps=list(steps),
                size=(width, height),
            )


class _Browser:
    """One Chromium process and its DevTools pipe."""

    def __init__(self, executable: Path, profile: Path, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.log_path = profile / "chromium.log"
        self.events: list[dict[str, Any]] = []
        self._buffer = b""
        self._next_id = 0
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4. Park both ends
        # above 10 first so that moving them to 3 and 4 cannot clobber each other.
        high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD_CLOEXEC, 10)
        high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD_CLOEXEC, 10)

        def give_pipe_to_child() -> None:
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        args = [str(executable), *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
        args += ["--remote-debugging-pipe", "about:blank"]
        with open(self.log_path, "wb") as log:
            # close_fds=False keeps fds 3 and 4 (set up by the preexec hook) open;
            # our other descriptors are non-inheritable anyway (PEP 446).
            self.process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                close_fds=False,
                preexec_fn=give_pipe_to_child,
            )
        for fd in (to_browser_r, from_browser_w, high_r, high_w):
            os.close(fd)

    def __enter__(self) -> _Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.send("Browser.close")
        except Exception:  # already gone: nothing to close
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)

    def render(self, url, *, screenshot, wait_ms, wait_for, evaluate, steps, size) -> PageResult:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        self.session = session["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.send(f"{domain}.enable", session=self.session)
        width, height = size
        self._set_viewport(width, height)
        self.send("Page.navigate", {"url": url}, session=self.session)
        self._pump_until(lambda: self._seen("Page.loadEventFired"), self.timeout_s)
        ready = True
        if wait_for is None:
            self._pump_until(lambda: False, wait_ms / 1000)
        else:
            ready = self._poll(wait_for, wait_ms / 1000)
        for action, condition in steps:
            self.eval(action)
            if condition is not None:
                ready = self._poll(condition, wait_ms / 1000) and ready
        values = {name: self.eval(expression) for name, expression in evaluate.items()}
        dom = self.eval("document.documentElement.outerHTML")
        if screenshot is not None:
            self._screenshot(screenshot, width)
        errors, messages, failed = self._digest_events()
        return PageResult(dom, errors, messages, failed, values, ready, screenshot)

    # -- DevTools protocol ------------------------------------------------------------

    def send(self, method: str, params: dict | None = None, *, session: str | None = None) -> dict:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        reply: dict[str, Any] = {}
        wanted = self._next_id
        self._pump_until(lambda: bool(reply), self.timeout_s, reply_to=(wanted, reply))
        if not reply:
            raise ChromiumUnavailable(f"Chromium did not answer {method} in {self.timeout_s} s")
        if "error" in reply:
            raise RuntimeError(f"DevTools {method} failed: {reply['error']}")
        return reply.get("result", {})

    def eval(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=self.session,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluating {expression!r} threw: {_describe(result['exceptionDetails'])}")
        return result["result"].get("value")

    def _pump_until(self, done, seconds: float, reply_to=None) -> None:
        """Read messages until ``done()`` or ``seconds`` elapsed, storing events."""
        deadline = time.monotonic() + seconds
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            # poll, not select: select() refuses a descriptor numbered 1024 or more, which a
            # long test session reaches (the limit here is 20,000 open files)
            poller = select.poll()
            poller.register(self._from_browser, select.POLLIN)
            if not poller.poll(remaining * 1000):
                return
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise ChromiumUnavailable(
                    f"Chromium exited (code {self.process.poll()}); its log ends with:\n" + _tail(self.log_path)
                )
            *complete, self._buffer = (self._buffer + chunk).split(b"\0")
            for raw in complete:
                message = json.loads(raw)
                if reply_to is not None and message.get("id") == reply_to[0]:
                    reply_to[1].update(message)
                elif "method" in message:
                    self.events.append(message)

    def _poll(self, expression: str, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            try:
                if self.eval(f"Boolean({expression})"):
                    return True
            except RuntimeError:  # the page is navigating: its context went away; ask again
                pass
            if time.monotonic() >= deadline:
                return False
            self._pump_until(lambda: False, 0.05)

    def _seen(self, method: str) -> bool:
        return any(event["method"] == method for event in self.events)

    def _set_viewport(self, width: int, height: int) -> None:
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self.send("Emulation.setDeviceMetricsOverride", metrics, session=self.session)

    def _screenshot(self, path: Path, width: int) -> None:
        content = self.send("Page.getLayoutMetrics", session=self.session)["cssContentSize"]
        self._set_viewport(width, min(int(content["height"]) + 1, 16384))
        self._pump_until(lambda: False, 0.2)  # let the layout settle at the new size
        shot = self.send("Page.captureScreenshot", {"format": "png"}, session=self.session)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def _digest_events(self) -> tuple[list[str], list[str], list[tuple[str, str]]]:
        errors: list[str] = []
        messages: list[str] = []
        failed: list[tuple[str, str]] = []
        urls: dict[str, str] = {}
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled":
                text = " ".join(_arg_text(arg) for arg in params.get("args", []))
                line = f"console.{params['type']}: {text}{_where(params.get('stackTrace'))}"
                messages.append(line)
                if params["type"] in _ERROR_CONSOLE_TYPES:
                    errors.append(line)
            elif method == "Runtime.exceptionThrown":
                errors.append(f"uncaught: {_describe(params['exceptionDetails'])}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                entry = params["entry"]
                errors.append(f"{entry['source']}: {entry['text']} ({entry.get('url', '')})")
            elif method == "Network.requestWillBeSent":
                urls[params["requestId"]] = params["request"]["url"]
            elif method == "Network.loadingFailed":
                failed.append((urls.get(params["requestId"], "?"), params["errorText"]))
        return errors, messages, failed


def _arg_text(arg: dict[str, Any]) -> str:
    if "value" in arg:
        return str(arg["value"])
    return arg.get("description", arg.get("type", "?"))


def _where(stack: dict | None) -> str:
    frames = (stack or {}).get("callFrames") or []
    if not frames:
        return ""
    frame = frames[0]
    return f" ({frame['url'].rsplit('/', 1)[-1]}:{frame['lineNumber'] + 1})"


def _describe(details: dict[str, Any]) -> str:
    exception = details.get("exception") or {}
    text = exception.get("description") or details.get("text", "?")
    return f"{text}{_where(details.get('stackTrace'))}"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
