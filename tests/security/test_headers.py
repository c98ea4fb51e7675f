"""Security headers (issue 12): every answer of `digigami serve` says nosniff and
no-referrer and carries a Content-Security-Policy; the pages' policies allow no inline
script or style and no framing (but the OBS source's by its own origin); the pages hold no
inline code the policy would block; and each page does its job in real Chromium under its
policy without one violation."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.conftest import browser, context, face_video, server  # noqa: F401 (fixtures)
from tests.security.server import Server

STATIC = Path(__file__).resolve().parents[2] / "webapi" / "static"
PAGES = ["/", "/obs/x", "/preview", "/create"]
OTHER_ANSWERS = [
    ("GET", "/api/health", None, {}),
    ("GET", "/static/style.css", None, {}),
    ("GET", "/static/puppet.js", None, {}),
    ("GET", "/vendor/face_mesh/face_mesh.js", None, {}),
    ("GET", "/api/nothing-here", None, {}),  # aiohttp's own 404
    ("GET", "/avatars/nope", None, {}),  # a JSON 404 from generation
    ("POST", "/api/sessions", b"{", {"Content-Type": "application/json"}),  # our 400
    ("POST", "/api/sessions", b"{}", {"Content-Type": "text/plain"}),  # 415
    ("OPTIONS", "/whep/x", None, {}),
    ("DELETE", "/api/sessions/nope", None, {}),
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("headers"), "--allow-origin", "https://studio.example")
    running.start()
    yield running
    running.stop()


def directives(csp: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


def assert_common(headers: dict[str, str], what: str) -> None:
    h = {k.lower(): v for k, v in headers.items()}
    assert h.get("x-content-type-options") == "nosniff", (what, headers)
    assert h.get("referrer-policy") == "no-referrer", (what, headers)
    assert "content-security-policy" in h, (what, headers)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_a_strict_policy(live: Server, path: str) -> None:
    status, headers, body = live.request("GET", path)
    assert status == 200 and b"<html" in body
    assert_common(headers, path)
    csp = directives(headers["Content-Security-Policy"])
    scripts = csp["script-src"]
    assert "'self'" in scripts
    for loose in ("'unsafe-inline'", "*", "data:", "blob:", "http:", "https:"):
        assert loose not in scripts, (path, scripts)
        assert loose not in csp["style-src"], (path, csp["style-src"])
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert csp["default-src"] == ["'self'"]
    assert "'self'" in csp["connect-src"]
    if path.startswith("/obs/"):
        # OBS loads it top-level; only our own pages and the operator's origins may frame it
        assert csp["frame-ancestors"] == ["'self'", "https://studio.example"]
    else:
        assert csp["frame-ancestors"] == ["'none'"] and headers["X-Frame-Options"] == "DENY"
    if path != "/":  # only the puppet page runs FaceMesh's wasm
        assert scripts == ["'self'"], (path, scripts)


@pytest.mark.parametrize("path", PAGES)
def test_a_revalidated_page_keeps_its_own_policy(live: Server, path: str) -> None:
    """A reload asks with If-Modified-Since; browsers apply the 304's headers to the cached
    page, so a 304 carrying the resources' `default-src 'none'` would block all its scripts."""
    status, headers, _ = live.request("GET", path)
    modified = headers.get("Last-Modified")
    if modified is None:
        pytest.skip(f"{path} is not served with Last-Modified: never revalidated")
    status, again, _ = live.request("GET", path, headers={"If-Modified-Since": modified})
    assert status == 304, status
    assert "default-src 'none'" not in again.get("Content-Security-Policy", ""), again


@pytest.mark.parametrize(("method", "path", "body", "headers"), OTHER_ANSWERS)
def test_every_other_answer_has_the_headers(
    live: Server, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> None:
    status, got, _ = live.request(method, path, body, headers)
    assert_common(got, f"{method} {path} -> {status}")
    if not got.get("Content-Type", "").startswith("text/html"):
        assert directives(got["Content-Security-Policy"])["default-src"] == ["'none'"]


class _InlineCode(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._tag: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {k.lower() for k, _ in attrs}
        if tag == "script" and "src" not in names:
            self._tag = "script"
        if tag == "style":
            self._tag = "style"
        self.found += [f"<{tag} {k}=...>" for k in names if k.startswith("on") or k == "style"]
        href = dict(attrs).get("href") or ""
        if href.lower().startswith("javascript:"):
            self.found.append(f"<{tag} href=javascript:...>")

    def handle_data(self, data: str) -> None:
        if self._tag and data.strip():
            self.found.append(f"inline <{self._tag}>: {data.strip()[:60]!r}")

    def handle_endtag(self, tag: str) -> None:
        self._tag = None


@pytest.mark.parametrize("page", sorted(p.name for p in STATIC.glob("*.html")))
def test_pages_hold_no_inline_script_or_style(page: str) -> None:
    parser = _InlineCode()
    parser.feed((STATIC / page).read_text())
    assert parser.found == [], f"{page}: {parser.found}"


# ---- in Chromium ---------------------------------------------------------------------------

WATCH_JS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} ` +
                    `(${e.sourceFile}:${e.lineNumber})`);
});
"""
CSP_CONSOLE = re.compile(r"Content.Security.Policy|Refused to", re.I)


def watched_page(context):  # noqa: F811 (the fixture)
    """A new page that records CSP violations: the DOM events and the console's reports."""
    page = context.new_page()
    page.add_init_script(WATCH_JS)
    console: list[str] = []
    page.on("console", lambda m: CSP_CONSOLE.search(m.text) and console.append(m.text))
    page.on("pageerror", lambda e: CSP_CONSOLE.search(str(e)) and console.append(str(e)))
    return page, console


def until(page, expression: str, timeout: float, what: str) -> None:
    """Poll `expression` from here. Not page.wait_for_function with an expression:
    Playwright evals it in the page at every poll, which a policy without 'unsafe-eval'
    refuses (and reports as a violation)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            pytest.fail(f"{page.url}: timed out after {timeout:.0f} s waiting for {what}")
        page.wait_for_timeout(200)


def assert_no_violations(page, console: list[str]) -> None:
    events = page.evaluate("window.__csp")
    assert events == [] and console == [], f"{page.url}: CSP violations {events} {console}"


@pytest.mark.slow
def test_pages_work_in_chromium_without_csp_violations(
    context,  # noqa: F811 (the fixture)
    server: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    # the puppet page: FaceMesh (script, wasm, model) runs in the browser under the policy
    page, console = watched_page(context)
    page.goto(f"{server}/")
    until(
        page,
        "window.digigami && ['connected', 'busy', 'error', 'failed'].includes(window.digigami.state)",
        60,
        "the puppet page to connect",
    )
    assert page.evaluate("window.digigami.state") == "connected", page.locator(
        "#banners"
    ).inner_text()
    until(page, "window.digigami.lastStatus?.tracking === 'tracking'", 60, "face tracking")
    assert page.evaluate("window.digigami.tracking.active") == "browser", (
        "FaceMesh did not start under the CSP: " + page.locator("#banners").inner_text()
    )
    assert_no_violations(page, console)
    obs_url = page.evaluate("window.digigami.session.obs_url")

    # the OBS source, drawing with WebGL
    obs, obs_console = watched_page(context)
    obs.goto(obs_url)
    until(obs, "window.digigamiObs && window.digigamiObs.framesDrawn > 10", 30, "OBS frames")
    assert_no_violations(obs, obs_console)
    obs.close()
    page.close()

    # a preview
    preview, preview_console = watched_page(context)
    preview.goto(f"{server}/preview?animation=wave")
    until(
        preview,
        "window.digigamiPreview && ['connected', 'error', 'failed'].includes(window.digigamiPreview.state)",
        30,
        "the preview to connect",
    )
    assert preview.evaluate("digigamiPreview.state") == "connected"
    assert_no_violations(preview, preview_console)
    preview.close()

    # the create page: its WebSocket connects, a picked photo shows (a data: URL)
    create, create_console = watched_page(context)
    create.goto(f"{server}/create")
    until(create, "document.getElementById('conn').dataset.tone === 'ok'", 15, "the socket")
    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 64), (200, 150, 120)).save(photo)
    create.set_input_files("#file", str(photo))
    create.wait_for_selector("#photo:not([hidden])", timeout=10_000)
    assert create.evaluate("document.getElementById('photo').naturalWidth") == 64
    assert_no_violations(create, create_console)
