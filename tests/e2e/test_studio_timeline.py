"""The studio's Animation creator in real Chromium against the real server, read from the
stream's pixels: a three-key animation made with the timeline's own controls (upperarm_r
rotation 0 -> 90 -> 0) is drafted into the viewport, its middle key's BEZIER in-between
frame differs from the LINEAR one, it is saved, listed by GET /api/animations and played;
a 10,000-key clip forced through the page's JS is refused with a clear message and nothing
is saved."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.studio_util import (
    VIEWPORT,
    diff,
    frame,
    idle,
    motion,
    open_studio,
    settled,
    shot,
    signed_up,
    wait_status,
)

pytestmark = pytest.mark.slow

NAME = "arm wave"
MID = 0.5  # the middle of the segment arriving at the 1 s key


@pytest.fixture(scope="module")
def server(studio_server: str) -> str:
    """The studio's shared server (conftest.py), once earlier modules' sessions are gone."""
    return idle(studio_server)


@pytest.fixture(scope="module")
def studio(browser, server: str) -> Iterator[object]:
    """One signed-in page on the Animation panel for the module (a studio session is the
    costly part: the tests share it)."""
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    signed_up(page, server, "timeliner")
    open_studio(page, server, "timeline")
    page.wait_for_function("() => window.digigamiTimeline", timeout=10_000)
    yield page
    ctx.close()


def playhead(page, seconds: float) -> None:
    """Move the playhead with the timeline's keys (Shift+arrow: ten frames, arrow: one)."""
    canvas = page.locator(".tl-canvas")
    canvas.focus()
    frames = round((seconds - page.evaluate("digigamiTimeline.time")) * 30)
    key = "ArrowRight" if frames > 0 else "ArrowLeft"
    for _ in range(abs(frames) // 10):
        canvas.press(f"Shift+{key}")
    for _ in range(abs(frames) % 10):
        canvas.press(key)
    assert abs(page.evaluate("digigamiTimeline.time") - seconds) < 1e-3


def add_key(page, seconds: float, value: float) -> None:
    playhead(page, seconds)
    page.locator(".tl-panel").get_by_role("button", name="Add key").click()
    field = page.locator(".tl-value").first
    field.fill(str(value))
    field.press("Tab")  # commits (a change event): one history entry, then the draft


def select_key(page, index: int) -> None:
    x, y = page.evaluate(
        "(i) => digigamiTimeline.view.keyPoint(0, digigamiTimeline.model.tracks[0].keys[i])", index
    )
    box = page.locator(".tl-canvas").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)


def scrubbed(page, seconds: float) -> object:
    """The frame at `seconds` once the session's draft has been put and scrubbed there."""
    page.wait_for_timeout(200)  # the draft PUT is debounced by 50 ms
    playhead(page, seconds + 1 / 30)
    playhead(page, seconds)  # a move after the draft is in: the session scrubs the new draft
    wait_status(
        page,
        f"s.studio.timeline && s.studio.draft && Math.abs(s.studio.time - {seconds}) < 1e-3",
    )
    return settled(page, wait_ms=800)


def test_a_three_key_animation_made_on_the_timeline(studio, server: str, tmp_path: Path) -> None:
    page = studio
    page.locator(".tl-track-kind").select_option("bone")
    page.locator(".tl-track-bone").select_option("upperarm_r")
    page.locator(".tl-track-channel").select_option("rotation")
    page.get_by_role("button", name="Add track").click()
    panel = page.locator(".tl-panel")
    panel.get_by_label("Name", exact=True).fill(NAME)
    panel.get_by_label("Name", exact=True).press("Tab")
    panel.get_by_label("Length (s)").fill("2")
    panel.get_by_label("Length (s)").press("Tab")
    tracks = page.evaluate("digigamiTimeline.model.tracks.map((t) => t.id)")
    assert tracks == ["bone:upperarm_r:rotation"], tracks
    add_key(page, 0.0, 0)
    add_key(page, 1.0, 90)
    add_key(page, 2.0, 0)
    keys = page.evaluate("digigamiTimeline.model.tracks[0].keys.map((k) => [k.time, k.value[0]])")
    assert [[round(t, 3), v] for t, v in keys] == [[0, 0], [1, 90], [2, 0]], keys
    # Delete removes the selected key (the last one added); Ctrl+Z brings it back
    page.locator(".tl-canvas").press("Delete")
    assert page.evaluate("digigamiTimeline.model.tracks[0].keys.length") == 2
    page.locator(".tl-canvas").press("Control+z")
    assert page.evaluate("digigamiTimeline.model.tracks[0].keys.length") == 3

    linear = scrubbed(page, MID)
    again = scrubbed(page, MID)
    noise = diff(linear, again)
    rest = scrubbed(page, 0.0)
    assert diff(linear, rest) > 4 * noise + 0.3, "the draft's 45 degrees did not show in the stream"

    # the middle key becomes BEZIER with a slow start: at the mid time the arm has barely moved
    select_key(page, 1)
    page.locator(".tl-interp").select_option("bezier")
    for name, value in (("x1", 0.9), ("y1", 0), ("x2", 1), ("y2", 0.1)):
        field = page.locator(f'.tl-curve-field[data-handle="{name}"]')
        field.fill(str(value))
        field.press("Tab")
    bezier = scrubbed(page, MID)
    assert diff(bezier, linear) > 4 * noise + 0.3, (diff(bezier, linear), noise)
    assert diff(bezier, rest) < diff(linear, rest), "the slow-start curve should sit nearer rest"
    page.evaluate("document.getElementById('studio-panels').scrollTop = 0")
    shot(page, "studio-timeline.png", tmp_path)

    page.get_by_role("button", name="Save animation").click()
    page.locator(".tl-after:not([hidden])").wait_for(timeout=15_000)
    saved = page.locator(".tl-after").get_attribute("data-id")
    listed = page.request.get(f"{server}/api/animations?limit=200").json()["animations"]
    mine = [a for a in listed if a["id"] == saved]
    assert mine and mine[0]["name"] == NAME, listed
    definition = page.request.get(f"{server}/api/animations/{saved}").json()["definition"]
    keys = definition["bones"]["upperarm_r"]["rotation"]
    assert [k.get("interp", "linear") for k in keys] == ["linear", "bezier", "linear"], keys

    # it plays: in the viewport (the draft from 0, looping) and, after a reload, in the
    # Preview panel (a session loads the creator's animations when it opens)
    page.get_by_role("button", name="Play it here").click()
    wait_status(page, "s.studio.playing")
    moved = motion(page)
    assert moved > 0.5, f"the saved animation does not move in the viewport ({moved:.2f} %)"
    # a new tab: its own session, which lists the creator's animations as it opens
    preview = page.context.new_page()
    open_studio(preview, server, "animations")
    preview.locator(f'.an-play[data-id="{saved}"]').click()
    moved = motion(preview)
    log = preview.locator("#studio-log").inner_text()
    assert moved > 0.5, (
        f"the saved animation does not play in the Preview panel ({moved:.2f} %, {log})"
    )
    preview.close()


def test_ten_thousand_keys_are_refused_with_a_message(studio, server: str) -> None:
    page = studio
    open_studio(page, server, "timeline")
    page.wait_for_function("() => window.digigamiTimeline", timeout=10_000)
    before = page.request.get(f"{server}/api/animations?limit=200").json()["total"]
    page.wait_for_timeout(500)  # the restored clip's draft (sent on hello) has gone out
    sent = page.evaluate("digigamiStudio.sent")
    page.evaluate(
        """async () => {
          const p = digigamiTimeline;
          p.model.name = "too many";
          const t = p.model.addTrack("bone", "upperarm_r", "rotation");
          t.keys = Array.from({ length: 10000 }, (_, i) => ({ time: i * 0.005, value: [i % 90],
            interp: "linear", handles: [0, 0, 1, 1] }));
          p.model.length = 60;
          p.changed();
          await p.save();
        }"""
    )
    errors = page.locator(".tl-panel .tl-errors")
    errors.wait_for(state="visible", timeout=5_000)
    text = errors.inner_text()
    assert "too many keys" in text and "10000" in text and "2000" in text, text
    # the page refused it: no draft went out, no control message, nothing saved
    page.wait_for_timeout(300)
    assert page.evaluate("digigamiStudio.sent") == sent
    assert page.request.get(f"{server}/api/animations?limit=200").json()["total"] == before

    # forced past the page's own check, the server answers 413 (10,000 keys weigh more than
    # the byte limit, which it checks first) and its words are what the page would show
    answer = page.evaluate(
        """async () => {
          const def = { ...digigamiTimeline.model.toDefinition(), name: "too many" };
          const r = await fetch("/api/animations", { method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ name: "too many", rig: "digi", definition: def }) });
          const draft = await digigamiStudio.draft.put(def).then(() => "stored", (e) => e.message);
          return { status: r.status, error: (await r.json()).error, draft };
        }"""
    )
    assert answer["status"] == 413 and "too large" in answer["error"], answer
    assert "too large" in answer["draft"], answer
    assert page.request.get(f"{server}/api/animations?limit=200").json()["total"] == before
    # and the viewport still shows the last good draft (or none): a bad value names its path
    page.evaluate(
        """() => {
          const p = digigamiTimeline;
          p.model.tracks = [];
          const t = p.model.addTrack("bone", "upperarm_r", "rotation");
          t.keys = [{ time: 0, value: [NaN], interp: "linear", handles: [0, 0, 1, 1] }];
          p.model.length = 2;
          p.save();
        }"""
    )
    page.wait_for_function(
        "() => document.querySelector('.tl-panel .tl-errors').textContent.includes('[0].value')"
    )
    assert (
        "definition.bones.upperarm_r.rotation[0].value"
        in page.locator(".tl-panel .tl-errors").inner_text()
    )
    assert frame(page).size > 0
