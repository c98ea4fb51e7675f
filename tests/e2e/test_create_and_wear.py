"""The whole creator's path in real Chromium: the landing page turns an uploaded photo (the
astronaut) into a styled avatar, "Puppet it live" opens the puppet page wearing it, and
the stream the browser receives shows the styled face, whose mouth opens and closes with
the fake webcam's face (tests/e2e/facevideo.py: the mouth opens three times a roll cycle).

The colours of the received frames' faces are compared with local renders of Digi wearing the same avatar
(its pictures and landmarks fetched from the server) and of Digi bare. The mouth is measured as
the dark-red inner-mouth pixels in the head, and correlated with the camera's mouth over a
lag search, as the puppet-stream test does with head roll."""

from __future__ import annotations

import io
import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.face import FaceArt, wear_face
from tests.e2e.conftest import wait_until_idle
from tests.e2e.facevideo import FaceVideo
from tests.e2e.test_puppet_stream import CAPTURE_JS, decode_png
from tests.photos import astronaut
from tests.tracking.warps import contact_sheet, save_png
from tests.worn import Box, render_at_rest, slot_box
from tests.worn import colour_overlap as overlap

pytestmark = pytest.mark.slow

SAMPLE_S = 8.0
MIN_LAG_S, MAX_LAG_S = -0.1, 0.6
MIN_MOUTH_CORRELATION = 0.6


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def worn_reference(server: str, avatar_id: str, digi) -> tuple[np.ndarray, np.ndarray, Box, Box]:
    """Renders at rest, as the stream frames them, of Digi wearing the avatar (its pictures
    and landmarks fetched from the server) and of Digi bare; the box round the worn face,
    and round its mouth with room for the head's roll."""
    record = json.loads(fetch(f"{server}/avatars/{avatar_id}"))

    def picture(name: str, mode: str) -> np.ndarray:
        png = fetch(f"{server}{record['outputs'][name]['url']}")
        return np.asarray(Image.open(io.BytesIO(png)).convert(mode))

    art = FaceArt(avatar_id, picture("full", "RGB"), picture("transparent", "RGBA"),
                  np.array(record["landmarks"]))  # fmt: skip
    bundle = wear_face(art)
    wearing, rect = render_at_rest(bundle)
    bare, _ = render_at_rest(digi)
    return (
        wearing,
        bare,
        slot_box(bundle, rect, "face"),
        slot_box(bundle, rect, "face_mouth", pad=24),
    )


def inner_mouth(rgb: np.ndarray) -> int:
    """Pixels of the inner mouth's dark red (the backdrop and Digi's red shoes are not)."""
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    return int(((r < 120) & (g < 70) & (b < 80) & (r > g + 15)).sum())


def generated(context, server: str, tmp_path: Path):
    """A page of /create that was given the astronaut and asked to generate (on a server
    that streams nothing else)."""
    idle = wait_until_idle(server)
    assert idle["sessions"] == 0, f"earlier streams still run: {idle}"
    photo = tmp_path / "astronaut.png"
    Image.fromarray(astronaut()).save(photo)
    page = context.new_page()
    page.goto(f"{server}/create")
    page.wait_for_function(
        "() => document.getElementById('conn').dataset.tone === 'ok'", timeout=15_000
    )
    page.set_input_files("#file", str(photo))
    page.get_by_role("button", name="Generate avatar").click()
    return page


def test_a_photo_becomes_a_live_puppet(
    context, server: str, face_video: FaceVideo, digi, tmp_path: Path
) -> None:
    page = generated(context, server, tmp_path)
    page.wait_for_selector("#result:not([hidden])", timeout=60_000)
    # the character made from the photo: measured features, its still, the editor
    page.wait_for_selector("#character:not([hidden])", timeout=30_000)
    page.wait_for_function(
        "() => { const i = document.getElementById('char-still'); "
        "return i.complete && i.naturalWidth > 0; }",
        timeout=60_000,
    )
    assert page.locator("#char-features .chip").count() >= 4
    page.screenshot(path=str(tmp_path / "create.png"), full_page=True)
    href = page.get_attribute("#char-puppet", "href")
    assert href and href.startswith("/?avatar="), href
    avatar_id = href.split("=", 1)[1]
    assert page.get_attribute("#photo-puppet", "href") == f"{href}&wears=photo"

    # first the photo face (the character is checked after)
    page.click("#photo-puppet")
    page.wait_for_url(f"**/?avatar={avatar_id}&wears=photo")
    page.wait_for_function(
        "() => window.digigami && ['connected', 'busy', 'error', 'failed'].includes(window.digigami.state)",
        timeout=30_000,
    )
    state = page.evaluate("window.digigami.state")
    assert state == "connected", f"{state}: {page.locator('#banners').inner_text()}"
    assert page.locator("#wearing").is_visible()  # and a way back to Digi's own face
    page.wait_for_function(
        "() => window.digigami.lastStatus && window.digigami.lastStatus.tracking === 'tracking'",
        timeout=30_000,
    )
    # and its frames: a new look's renderer is made beside the render thread, so the
    # first frame can come after tracking has started
    page.wait_for_function(
        "() => document.getElementById('avatar').classList.contains('live')", timeout=30_000
    )
    result = page.evaluate(CAPTURE_JS, {"seconds": SAMPLE_S, "every": 100})
    page.screenshot(path=str(tmp_path / "puppet.png"))
    grabs = result["grabs"]
    frames = [decode_png(g["png"]) for g in grabs]
    cams = np.array([-1 if g["cam"] is None else g["cam"] for g in grabs])
    save_png(
        contact_sheet([frames[i : i + 8 : 2] for i in (0, 10, 20)], 200),
        str(tmp_path / "grabs.png"),
    )

    # the styled face, not Digi's: its colours are those of the render of Digi wearing it,
    # not of Digi bare (colour histograms over the face's box: the head rolls and turns,
    # which moves pixels but hardly changes which colours there are)
    wearing_ref, bare_ref, box, mouth_box = worn_reference(server, avatar_id, digi)
    wearing = np.median([overlap(f[box], wearing_ref[box]) for f in frames])
    bare = np.median([overlap(f[box], bare_ref[box]) for f in frames])
    assert wearing > 0.6 and wearing > bare + 0.2, (
        f"the stream does not show the worn face: its colours overlap {wearing:.2f} with Digi "
        f"wearing it, {bare:.2f} with Digi bare (grabs: {tmp_path / 'grabs.png'})"
    )

    # its mouth opens with the camera's
    mouth = np.array([inner_mouth(f[mouth_box]) for f in frames], dtype=float)
    ok = cams >= 0
    assert ok.mean() > 0.9
    assert mouth.max() > 100, (
        f"the mouth never opened (at most {mouth.max():.0f} px; {tmp_path / 'grabs.png'})"
    )
    correlation = {}
    for lag in range(round(MIN_LAG_S * face_video.fps), round(MAX_LAG_S * face_video.fps) + 1):
        opened = face_video.mouth[(cams[ok] - lag) % face_video.frames]
        correlation[lag] = float(np.corrcoef(opened, mouth[ok])[0, 1])
    best = max(correlation, key=correlation.get)
    assert correlation[best] >= MIN_MOUTH_CORRELATION, (
        f"the worn face's mouth does not follow the camera's: best correlation "
        f"{correlation[best]:.2f} at {1000 * best / face_video.fps:.0f} ms "
        f"(grabs: {tmp_path / 'grabs.png'})"
    )
    print(
        f"worn face: colours overlap {wearing:.2f} (bare Digi {bare:.2f}); mouth correlation "
        f"{correlation[best]:.2f} at {1000 * best / face_video.fps:.0f} ms"
    )


def test_the_character_is_worn_live(context, server: str, digi, tmp_path: Path) -> None:
    """The generated avatar's character (Digi's rig in its measured colours and hairstyle),
    edited on the page (a beard, a render style), is what "Puppet it live" streams: the
    head's colours are those of a local render of the character (fetched from the server
    and assembled here) in that style, not Digi's own."""
    from engine.likeness.assemble import assemble
    from engine.likeness.character import Character

    page = generated(context, server, tmp_path)
    page.wait_for_selector("#character:not([hidden])", timeout=90_000)
    avatar_id = page.get_attribute("#char-puppet", "href").split("=", 1)[1]
    # the editor: a chip goes to its control; a beard is saved for the owner
    page.locator("#char-features button.chip").first.click()
    assert page.evaluate("document.activeElement.id").startswith("char-")
    page.select_option("#char-facial_hair", "beard")
    page.wait_for_function(
        "() => document.getElementById('char-note').textContent.startsWith('Saved')",
        timeout=60_000,
    )
    character = Character.from_json(
        json.loads(fetch(f"{server}/avatars/{avatar_id}/character"))["character"]
    )
    assert character.facial_hair == "beard"
    # a render style for the still and the live session
    page.select_option("#char-style", "cel-shade")
    assert "style=cel-shade" in page.get_attribute("#char-still", "src")
    page.wait_for_function(
        "() => { const i = document.getElementById('char-still'); "
        "return i.complete && i.naturalWidth > 0; }",
        timeout=60_000,
    )
    page.screenshot(path=str(tmp_path / "create_edited.png"), full_page=True)
    page.click("#char-puppet")
    page.wait_for_url(f"**/?avatar={avatar_id}&style=cel-shade")
    page.wait_for_function(
        "() => window.digigami && ['connected', 'busy', 'error', 'failed'].includes(window.digigami.state)",
        timeout=60_000,
    )
    assert page.evaluate("window.digigami.state") == "connected"
    page.wait_for_function(
        "() => document.getElementById('avatar').classList.contains('live')", timeout=30_000
    )
    page.wait_for_timeout(1000)  # past the first frames' encoder ramp-up
    result = page.evaluate(CAPTURE_JS, {"seconds": 3.0, "every": 250})
    frames = [decode_png(g["png"]) for g in result["grabs"]]
    page.screenshot(path=str(tmp_path / "puppet_character.png"))
    assert page.evaluate("window.digigami.lastStatus.style") == "cel-shade"
    assert page.input_value("#look") == "cel-shade"
    bundle = assemble(character)
    wearing, rect = render_at_rest(bundle, style="cel-shade")
    bare, _ = render_at_rest(digi, style="cel-shade")
    box = slot_box(bundle, rect, "head", pad=16)
    ours = np.median([overlap(f[box], wearing[box]) for f in frames])
    digis = np.median([overlap(f[box], bare[box]) for f in frames])
    save_png(contact_sheet([frames[:4]], 200), str(tmp_path / "character_grabs.png"))
    assert ours > 0.6 and ours > digis + 0.1, (
        f"the stream does not show the character: its colours overlap {ours:.2f} with the "
        f"character, {digis:.2f} with Digi ({tmp_path / 'character_grabs.png'})"
    )
