"""Browser end-to-end fixtures: the real server as a subprocess (`digigami serve`), Debian's
Chromium driven by Playwright with a fake webcam playing a known face video, and what went
wrong (the server's log, the pages' consoles) attached to any failing test's report.

Playwright never downloads a browser here: the tests launch /usr/bin/chromium, which
.ci/setup installs. Without it the tests skip, except in CI, where they fail."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.facevideo import FaceVideo, write_face_video

CHROMIUM = Path("/usr/bin/chromium")
SERVER_START_S = 90.0  # first start loads the rig, the GL context and MediaPipe

# What a failing test's report gets: the server's log tail and the browser consoles.
_server_log: Path | None = None
_console: list[str] = []


def digigami() -> list[str]:
    """The installed `digigami` command (the module when it is not installed)."""
    script = Path(sys.executable).with_name("digigami")
    return [str(script)] if script.exists() else [sys.executable, "-m", "webapi.cli"]


def log_tail(path: Path | None, lines: int = 60) -> str:
    """The end of the server's log, without aioice's per-candidate-pair chatter."""
    if path is None or not path.exists():
        return "(no server log)"
    kept = [
        line for line in path.read_text(errors="replace").splitlines() if "aioice.ice" not in line
    ]
    return "\n".join(kept[-lines:])


def health(server: str) -> dict:
    with urllib.request.urlopen(f"{server}/api/health", timeout=5) as r:
        return json.loads(r.read())


def wait_until_idle(server: str, timeout: float = 20.0) -> dict:
    """Wait until the server holds no sessions or previews (earlier tests' pages are gone:
    the server drops a closed page's session within a few seconds), so that a measurement
    does not share the render worker with them. Returns the last health answer."""
    deadline = time.monotonic() + timeout
    while True:
        h = health(server)
        if h.get("sessions", 0) == 0 and h.get("previews", 0) == 0:
            return h
        if time.monotonic() > deadline:
            return h
        time.sleep(0.25)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def face_video(tmp_path_factory: pytest.TempPathFactory) -> FaceVideo:
    """The fake webcam's video (tests/e2e/facevideo.py): made once per run."""
    return write_face_video(tmp_path_factory.mktemp("camera") / "face.y4m")


@contextlib.contextmanager
def serving(
    run: Path, *args: str, env: dict[str, str | None] | None = None, what: str = "digigami serve"
) -> Iterator[str]:
    """`digigami serve --host 127.0.0.1 --port N --log-level info *args` with `env` over this
    environment (a None value removes the variable), its log at `run`/serve.log (shown by the
    report hook when a test fails); yields its base URL once /api/health answers, stops it
    after."""
    global _server_log
    port = free_port()
    log = run / "serve.log"
    _server_log = log
    environ = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*digigami(), "serve", "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "info", *args],
            stdout=out, stderr=subprocess.STDOUT, env=environ,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited ({proc.returncode}) before answering:\n{log_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(
                f"{what} did not answer /api/health in {SERVER_START_S:.0f} s:\n{log_tail(log)}"
            )
        time.sleep(0.2)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`digigami serve` on a free port; yields its base URL (http://127.0.0.1:N)."""
    # generated avatars go to the run's own folder, not the checkout's out/avatars
    avatars = tmp_path_factory.mktemp("avatars")
    with serving(tmp_path_factory.mktemp("server"), env={"DIGIGAMI_AVATAR_DIR": str(avatars)}) as url:
        yield url


@pytest.fixture(scope="session")
def studio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`digigami serve` with a database and avatars of its own (not the checkout's
    out/digigami.db), shared by the studio's browser tests (tests/e2e/test_studio_*.py:
    their sign-ups take unique names)."""
    run = tmp_path_factory.mktemp("studio-server")
    env = {"DIGIGAMI_AVATAR_DIR": str(run / "avatars"), "DIGIGAMI_DB": str(run / "db.sqlite")}
    with serving(run, env=env) as url:
        yield url


def sign_up(page, server: str, username: str) -> None:
    """Sign up on the account page as a person does (the page's own form)."""
    page.goto(f"{server}/account")
    page.wait_for_selector("#signed-out:not([hidden])", timeout=15_000)
    form = page.locator("#signup-form")
    form.locator("input[name=email]").fill(f"{username}@example.com")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill("a long enough passphrase")
    form.get_by_role("button", name="Sign up").click()
    page.wait_for_selector("#signed-in:not([hidden])", timeout=30_000)


def chromium_args(camera: Path) -> list[str]:
    return [
        "--no-sandbox",
        # the camera: allowed without a prompt, and played from the test's video file
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}",
        "--autoplay-policy=no-user-gesture-required",
        # nothing but our server: no updates, sync, QUIC or first-run work on the side
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        # plain host candidates (real IPs) instead of mDNS names, as a local server expects
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        # GL stays on: the OBS page's WebGL path runs on Chromium's software GL here, and so
        # does the puppet page's FaceMesh (WebGL 2 on ANGLE/SwiftShader, and wasm with SIMD:
        # no extra flags needed; on software GL tracking.js runs its models on the CPU)
    ]


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[object]:
    """Debian's Chromium, headless, with the face video as its webcam. Per module, not per
    run: Playwright's sync API keeps its event loop running in the main thread while it is
    started, and every later test calling asyncio.run() (tests/streaming) would fail."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/setup installs Debian's chromium")
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (run .ci/setup)")
    from playwright.sync_api import sync_playwright

    # only now: no video is made (MediaPipe, a few seconds) for a run that skips
    face_video: FaceVideo = request.getfixturevalue("face_video")

    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=chromium_args(face_video.path)
        )
    except Exception:
        pw.stop()
        raise
    yield b
    b.close()
    pw.stop()


@pytest.fixture
def context(browser) -> Iterator[object]:
    """A fresh browser context (own storage, 1280x900) whose pages' console messages and
    errors go into the report of a failing test."""
    _console.clear()
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})

    def watch(page) -> None:
        name = lambda: page.url.split("?")[0]  # noqa: E731 (the page's URL when it logs)
        page.on("console", lambda m: _console.append(f"[{name()}] {m.type}: {m.text}"))
        page.on("pageerror", lambda e: _console.append(f"[{name()}] page error: {e}"))

    ctx.on("page", watch)
    yield ctx
    ctx.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("setup", "call"):
        if "server" in item.fixturenames:
            report.sections.append(("digigami serve: log tail", log_tail(_server_log)))
        if "context" in item.fixturenames and _console:
            report.sections.append(("browser console", "\n".join(_console[-80:])))
