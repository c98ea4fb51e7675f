"""Issue 16, the export dialog on "My avatars" (/library), in Debian's Chromium against the real
server: a guest opens "Export Digi", chooses PNG + GIF, the `wave` animation, size 64 and
8 fps, starts, watches the progress and downloads a zip holding `png/digi.png` and
`gif/wave.gif`; a bad size (5000) shows the server's own error next to the size field and
starts nothing.

What each check catches:
- the bad size first: the form sends the value as typed (no browser validation hiding the
  server's word), the 400's message lands next to the field, and no job starts (no progress
  section, no POST answered 202);
- the good export: the dialog's body matches the API (formats, animations, size, fps, pose),
  progress arrives over /ws and the Download link appears with the file's size; the file is
  fetched through the link (a real download) and is a zip with exactly the files asked for,
  the PNG 64 px on its larger side and the GIF animated (more than one frame);
- closing with Esc keeps the job: reopening shows its state, not a blank form."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.test_accounts_flow import LABELS_OUTSIDE_JS

pytestmark = pytest.mark.slow

EXPORT_TIMEOUT_MS = 60_000  # PNG + a 64 px GIF at 8 fps takes a few seconds on 2 CPUs


def open_dialog(page, server: str):
    page.goto(f"{server}/library")
    page.get_by_role("button", name="Export Digi…").click()
    dialog = page.locator("dialog#export-dialog")
    dialog.wait_for(state="visible")
    # the form is built from /api/exports/options: wait for its formats
    dialog.locator('input[name="format"][value="gif"]').wait_for()
    return dialog


def choose(dialog, *, size: str) -> None:
    """PNG + GIF only, `wave` only, the size as typed, 8 fps."""
    for box in dialog.locator('input[name="format"]').all():
        box.set_checked(box.get_attribute("value") in ("png", "gif"))
    for chip in dialog.locator(".export-chip").all():
        want = chip.get_attribute("data-name") == "wave"
        if (chip.get_attribute("aria-pressed") == "true") != want:
            chip.click()
    dialog.locator("#export-size").fill(size)
    dialog.locator("#export-fps").fill("8")


def test_export_digi_from_the_library(server: str, context, tmp_path: Path) -> None:
    page = context.new_page()
    posts: list[int] = []  # the statuses of the export requests the page made

    def answered(response) -> None:
        if response.request.method == "POST" and response.url.endswith("/api/avatars/digi/export"):
            posts.append(response.status)

    page.on("response", answered)
    dialog = open_dialog(page, server)
    # keyboard: focus moves into the dialog (a modal: Tab stays there, Esc closes it)
    assert page.evaluate("document.activeElement.closest('dialog') !== null")

    # a bad size: the server's words next to the size field, and nothing starts
    choose(dialog, size="5000")
    dialog.get_by_role("button", name="Start export").click()
    near = dialog.locator("#export-error-size")
    near.wait_for(state="visible")
    assert re.search(r"size must be .*16 to 2048", near.inner_text()), near.inner_text()
    assert dialog.locator("#export-size").get_attribute("aria-invalid") == "true"
    assert dialog.locator("#export-error").is_visible()  # also above the buttons
    assert dialog.locator("#export-progress").is_hidden()
    assert posts == [400], posts

    # the good one
    dialog.locator("#export-size").fill("64")
    assert near.is_hidden()  # a corrected value clears its complaint
    with page.expect_request(lambda r: r.method == "POST" and "/export" in r.url) as sent:
        dialog.get_by_role("button", name="Start export").click()
    body = sent.value.post_data_json
    assert body["formats"] == ["png", "gif"] and body["animations"] == ["wave"], body
    assert body["size"] == 64 and body["fps"] == 8 and body["pose"]["state"] == "idle", body
    dialog.locator("#export-progress").wait_for(state="visible")  # once the 202 is in

    link = dialog.locator("#export-download")
    link.wait_for(state="visible", timeout=EXPORT_TIMEOUT_MS)
    assert posts == [400, 202], posts
    assert dialog.locator("#export-bar").get_attribute("value") == "100"
    assert re.fullmatch(r"\d+(\.\d)? (bytes|KB|MB)", dialog.locator("#export-file").inner_text())
    page.screenshot(path=str(tmp_path / "export.png"))

    with page.expect_download() as got:
        link.click()
    data = Path(got.value.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert sorted(z.namelist()) == ["gif/wave.gif", "png/digi.png"], z.namelist()
        png = Image.open(io.BytesIO(z.read("png/digi.png")))
        assert max(png.size) == 64, png.size
        gif = Image.open(io.BytesIO(z.read("gif/wave.gif")))
        assert getattr(gif, "n_frames", 1) > 1  # an animation, not a still

    # Esc closes; the job is kept: reopening shows it done, with its link
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.textContent") == "Export Digi…"  # back home
    page.get_by_role("button", name="Export Digi…").click()
    dialog.wait_for(state="visible")
    assert link.is_visible() and dialog.get_by_role("button", name="Start again").is_enabled()


def test_a_saved_avatar_has_its_own_export_button(server: str, context) -> None:
    """The "Export…" button in a saved avatar's card exports that avatar (its id in the URL,
    its name in the title and the file's name), not Digi."""
    page = context.new_page()
    page.goto(f"{server}/library")
    # saving needs an account (or a guest's cookie): sign up from the page, then save one
    saved = page.evaluate(
        """async (who) => {
            const post = (url, body) => fetch(url, {method: "POST",
                headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
            const signup = await post("/api/auth/signup", who);
            if (!signup.ok) return [signup.status, await signup.json()];
            const res = await post("/api/avatars", {name: "Pip"});
            return [res.status, await res.json()];
        }""",
        {"email": "pip@example.com", "username": "pip", "password": "correct horse battery"},
    )
    assert saved[0] == 201, saved
    avatar_id = saved[1]["id"]
    page.reload()
    card = page.locator(f"#avatar-{avatar_id}")
    card.get_by_role("button", name="Export…").wait_for()
    for where in (f"#avatar-{avatar_id}", ".export-card"):  # the new buttons fit their cards
        assert page.evaluate(LABELS_OUTSIDE_JS, where) == [], where
    card.get_by_role("button", name="Export…").click()
    dialog = page.locator("dialog#export-dialog")
    dialog.locator('input[name="format"][value="png"]').wait_for()
    assert dialog.locator("#export-title").inner_text() == "Export Pip"
    for box in dialog.locator('input[name="format"]').all():
        box.set_checked(box.get_attribute("value") == "png")
    dialog.locator("#export-size").fill("32")
    with page.expect_request(lambda r: r.method == "POST" and "/export" in r.url) as sent:
        dialog.get_by_role("button", name="Start export").click()
    assert sent.value.url.endswith(f"/api/avatars/{avatar_id}/export")
    link = dialog.locator("#export-download")
    link.wait_for(state="visible", timeout=EXPORT_TIMEOUT_MS)
    # one file is handed over as itself, named for the avatar
    assert re.fullmatch(r"Download avatar-[0-9a-f]{8}\.png", link.inner_text()), link.inner_text()
