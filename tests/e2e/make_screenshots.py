"""The pictures of each page in the README and docs/screens/: the real server, Debian's
Chromium with the test face video as its webcam, one screenshot a page.

    .venv/bin/python -m tests.e2e.make_screenshots [--out docs/screens]

Look at every picture it writes before committing them."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.e2e.conftest import CHROMIUM, chromium_args, digigami, free_port
from tests.e2e.facevideo import write_face_video

VIEWPORT = {"width": 1360, "height": 900}


def serve(folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DIGIGAMI_DB": str(folder / "d.db"),
           "DIGIGAMI_AVATAR_DIR": str(folder / "avatars")}  # fmt: skip
    with open(folder / "serve.log", "wb") as log:
        proc = subprocess.Popen(
            [*digigami(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"the server did not start: {(folder / 'serve.log').read_text()[-2000:]}")


def export_dialog(page, url: str, out: Path) -> Path:
    """The library's export dialog, a small PNG + GIF export of Digi done, its link shown."""
    page.goto(f"{url}/library")
    page.get_by_role("button", name="Export Digi…").click()
    dialog = page.locator("dialog#export-dialog")
    dialog.locator('input[name="format"][value="gif"]').check()
    dialog.locator('.export-chip[data-name="wave"]').click()
    dialog.locator("#export-size").fill("256")
    dialog.get_by_role("button", name="Start export").click()
    dialog.locator("#export-download").wait_for(state="visible", timeout=120_000)
    dialog.locator(".export-body").evaluate("body => body.scrollTo(0, 0)")  # the formats
    path = out / "export.png"
    page.screenshot(path=str(path))
    return path


def shoot(out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="screens_"))
    video = write_face_video(folder / "face.y4m")
    proc, url = serve(folder)
    written = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), args=chromium_args(video.path)
            )
            ctx = browser.new_context(viewport=VIEWPORT)
            page = ctx.new_page()

            def snap(name: str) -> None:
                path = out / f"{name}.png"
                page.screenshot(path=str(path))
                written.append(path)

            page.goto(url)
            page.wait_for_function("() => window.digigami?.lastStatus?.fps > 20", timeout=90_000)
            page.wait_for_timeout(3000)  # the face found, the stats settled
            snap("puppet")
            obs_url = page.evaluate("digigami.session.obs_url")
            obs = ctx.new_page()
            obs.set_viewport_size({"width": 640, "height": 640})
            obs.goto(obs_url)
            obs.wait_for_timeout(6000)
            obs.screenshot(path=str(out / "obs.png"))
            written.append(out / "obs.png")
            obs.close()
            page.goto(f"{url}/preview?animation=dance_3&outfit=armor&accessory=hat")
            page.wait_for_function("() => window.digigamiPreview?.state === 'connected'")
            page.wait_for_timeout(4000)
            snap("preview")
            page.goto(f"{url}/create")
            page.wait_for_timeout(2500)
            snap("create")
            page.goto(f"{url}/library")
            page.wait_for_timeout(2500)
            snap("library")
            written.append(export_dialog(page, url, out))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screens"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(json.dumps([str(p) for p in shoot(args.out)]))


if __name__ == "__main__":
    main()
