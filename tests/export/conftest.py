"""Outside runtimes for exports: Debian's Chromium (driven by Playwright, never downloaded)
loading test-only npm packages (pixi.js, lottie-web, three; installed by .ci/setup from the
lockfile) from a local static server, and where the tests' pictures go.

`runtime_server` serves two trees over HTTP on 127.0.0.1: `/node_modules/...` from the
repository's node_modules, and `/files/...` from a per-test directory the test fills (the
exported files and a small HTML page that plays them). Nothing is fetched from elsewhere:
the page's requests to any other origin are aborted and fail the test.

Set DIGIGAMI_SHOTS=<dir> to keep each runtime's screenshot (docs/exports/ is made that way:
`DIGIGAMI_SHOTS=docs/exports .venv/bin/python -m pytest tests/export`)."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"
CHROMIUM = Path("/usr/bin/chromium")


def need_node_package(name: str) -> Path:
    path = NODE_MODULES / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"node_modules/{name} is missing: .ci/setup installs it with npm ci")
        pytest.skip(f"needs node_modules/{name} (run .ci/setup)")
    return path


class _Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, files: Path, **kwargs) -> None:
        self._files = files
        super().__init__(*args, directory=str(ROOT), **kwargs)

    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0]
        if path.startswith("/files/"):
            return str(self._files / path[len("/files/") :])
        if path.startswith("/node_modules/"):
            return str(NODE_MODULES / path[len("/node_modules/") :])
        return str(self._files / "__nothing__")

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args: object) -> None:
        pass


class RuntimeServer:
    def __init__(self, files: Path) -> None:
        self.files = files
        handler = functools.partial(_Handler, files=files)
        http.server.SimpleHTTPRequestHandler.extensions_map.update(
            {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
             ".glb": "model/gltf-binary", ".json": "application/json", ".webm": "video/webm",
             ".apng": "image/apng", ".svg": "image/svg+xml"}
        )  # fmt: skip
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def put(self, name: str, data: bytes | str) -> str:
        """Write a file under /files/ and return its URL."""
        path = self.files / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return f"{self.url}/files/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def runtime_server(tmp_path: Path) -> Iterator[RuntimeServer]:
    server = RuntimeServer(tmp_path / "served")
    server.files.mkdir()
    yield server
    server.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """Debian's Chromium, headless, with software WebGL (SwiftShader)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/setup installs Debian's chromium")
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (run .ci/setup)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--no-first-run",
                  "--enable-unsafe-swiftshader", "--autoplay-policy=no-user-gesture-required"],
        )  # fmt: skip
    except Exception:
        pw.stop()
        raise
    yield browser
    browser.close()
    pw.stop()


@pytest.fixture
def page(chromium, runtime_server: RuntimeServer) -> Iterator[object]:
    """A fresh page (transparent-friendly: white is never assumed) whose console errors and
    page errors fail the test, and whose requests may reach only the runtime server."""
    ctx = chromium.new_context(viewport={"width": 1024, "height": 768})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    pg.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)

    def route(r) -> None:
        if (
            r.request.url.startswith(runtime_server.url)
            or r.request.url.startswith("data:")
            or r.request.url.startswith("blob:")
        ):
            r.continue_()
        else:
            errors.append(f"blocked request to {r.request.url}")
            r.abort()

    pg.route("**/*", route)
    pg.errors = errors  # the test may assert on them earlier
    yield pg
    ctx.close()
    assert not errors, "\n".join(errors)


@pytest.fixture
def shot():
    """shot(name, png_bytes_or_image): keep a picture for docs when DIGIGAMI_SHOTS is set."""
    where = os.environ.get("DIGIGAMI_SHOTS")

    def keep(name: str, picture) -> None:
        if not where:
            return
        out = Path(where)
        out.mkdir(parents=True, exist_ok=True)
        if isinstance(picture, bytes):
            (out / name).write_bytes(picture)
        elif isinstance(picture, Path):
            shutil.copy(picture, out / name)
        else:
            picture.save(out / name, optimize=True)

    return keep
