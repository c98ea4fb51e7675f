"""One puppet session in real Chromium through a cluster front (issue 19): the front app
(ClusterSessions) on a real port, two render boxes on Ray's local multi-node simulation,
the fake webcam playing a face that rolls its head (tests/e2e/facevideo.py).

The page goes live with its media straight from the box the directory placed it on, Digi
follows the camera's face (the e2e tests' roll check), the page's OBS URL draws through
the front, and when the box's node dies the page says so, re-offers by itself under the
same session id (puppet.js) and streams again from the other box: its OBS URL unchanged.

It lives here, beside tests/cluster/conftest.py, for the test session's one Ray cluster
(`ray_cluster`); the browser fixtures come from tests/e2e/conftest.py."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import ray

from tests.e2e.conftest import browser, context, face_video  # noqa: F401 (fixtures)
from tests.e2e.facevideo import FaceVideo
from tests.e2e.test_puppet_stream import (
    CAPTURE_JS,
    MIN_CORRELATION,
    decode_png,
    head_roll,
    open_puppet,
    roll_correlation,
)
from tests.e2e.test_reconnect import ServedApp, frames_flow
from webapi.app import MANAGER

pytestmark = pytest.mark.slow

SAMPLE_S = 5.0  # the roll check's window: more than one of the face video's 4 s rolls
GRAB_EVERY_MS = 100
BACK_WITHIN_MS = 30_000  # a bound that says it came back (the 10 s contract: test_cluster.py)


def where(front: ServedApp, sid: str) -> tuple[str | None, dict]:
    """The box holding session `sid` in the directory's snapshot, and the snapshot."""
    snap = front.call(front.app[MANAGER].snapshot())
    held = [box for box, b in snap["boxes"].items() if sid in b["sessions"]]
    assert len(held) <= 1, snap
    return (held[0] if held else None), snap


def test_a_puppet_page_through_the_cluster_front(
    ray_cluster,
    context,  # noqa: F811 (the fixture)
    face_video: FaceVideo,  # noqa: F811
    tmp_path: Path,
) -> None:
    with (
        ray_cluster.boxes((2, 3), tmp_path) as boxes,
        ServedApp(ray_cluster.app(tmp_path)) as front,
    ):
        page = open_puppet(context, front.url)
        session = page.evaluate("window.digigami.session")
        sid, obs_url = session["session"], session["obs_url"]
        assert obs_url.startswith(f"{front.url}/obs/{sid}?token="), obs_url

        # placed on a render box: the directory says which, and that box runs it
        box, snap = where(front, sid)
        assert box in {b.id for b in boxes}, snap
        holder = next(b for b in boxes if b.id == box)
        other = next(b for b in boxes if b.id != box)
        assert ray.get(holder.handle.health.remote(), timeout=30)["sessions"] == 1
        assert snap["boxes"][box]["used"] == 1 and snap["boxes"][other.id]["used"] == 0, snap

        # Digi follows the camera's face (test_puppet_stream's check, a shorter window)
        page.wait_for_function(
            "() => window.digigami.lastStatus?.tracking === 'tracking'", timeout=30_000
        )
        grabs = page.evaluate(CAPTURE_JS, {"seconds": SAMPLE_S, "every": GRAB_EVERY_MS})["grabs"]
        cams = np.array([-1 if g["cam"] is None else g["cam"] for g in grabs])
        rolls = np.array([head_roll(decode_png(g["png"])) for g in grabs])
        assert np.isfinite(rolls).mean() > 0.7, "Digi's irises were not found in the grabs"
        correlation = roll_correlation(rolls, cams, face_video)
        best = max(correlation.values())
        assert best >= MIN_CORRELATION, f"Digi does not follow the face: {correlation}"

        # the OBS URL draws through the front (WHEP routed to the box holding the session)
        obs = context.new_page()
        obs.set_viewport_size({"width": 512, "height": 512})
        obs.goto(obs_url)
        obs.wait_for_function(
            "() => window.digigamiObs && window.digigamiObs.framesDrawn > 10", timeout=30_000
        )
        obs.close()  # its reconnects would race the page's below: one stream is watched

        # the box's machine dies: the page reconnects by itself, onto the other box
        page.evaluate("() => { window.__states = []; }")
        page.evaluate(
            """() => new MutationObserver(() => window.__states.push(document.body.dataset.state))
              .observe(document.body, { attributes: true, attributeFilter: ["data-state"] })"""
        )
        removed = time.monotonic()
        ray_cluster.remove(holder.node_id)
        page.wait_for_function(
            "() => window.digigami.reconnects >= 1 && window.digigami.state === 'connected'",
            timeout=BACK_WITHIN_MS,
        )
        page.wait_for_function(
            "() => window.digigami.stats().then((s) => s.framesDecoded > 0)",
            polling=200,
            timeout=BACK_WITHIN_MS,
        )
        back = time.monotonic() - removed
        assert "reconnecting" in page.evaluate("window.__states")
        again = page.evaluate("window.digigami.session")
        assert (again["session"], again["obs_url"]) == (sid, obs_url), (session, again)
        assert frames_flow(page) > 20
        box, snap = where(front, sid)
        assert box == other.id, snap
        assert holder.id not in snap["boxes"], snap  # the dead box left the directory
        assert snap["boxes"][other.id]["used"] == 1, snap
        print(f"the page streamed again from the other box {back:.1f} s after its node died")
        # the OBS source's URL, pasted once, still draws: the front routes it to the new box
        obs = context.new_page()
        obs.set_viewport_size({"width": 512, "height": 512})
        obs.goto(obs_url)
        obs.wait_for_function(
            "() => window.digigamiObs && window.digigamiObs.framesDrawn > 10", timeout=30_000
        )
        obs.close()
        page.close()
