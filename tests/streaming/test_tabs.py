"""One session, many tabs (issue 15): a second page for a live session is asked before it
takes over; moving keeps the session itself (its render, its outputs, its WHEP and OBS
viewers) and tells the old page, which stays put."""

from __future__ import annotations

import asyncio

import numpy as np
from aiohttp.test_utils import TestClient

from streaming import manager as manager_module
from tests.streaming.peers import Client, PhotoCamera, bare_offer, connect, serve
from webapi.app import MANAGER


async def _viewer(http: TestClient, sid: str, token: str) -> Client:
    viewer = Client()
    offer = await viewer.offer(channel=False)
    resp = await http.post(
        f"/whep/{sid}?layout=packed&token={token}",
        data=offer,
        headers={"Content-Type": "application/sdp"},
    )
    assert resp.status == 201, await resp.text()
    await viewer.accept(await resp.text())
    return viewer


async def _watched_puppet(http: TestClient, face_frames) -> tuple[Client, str, str, Client]:
    """A puppet page's session with an OBS-like viewer receiving its frames: (the page, the
    session's id and token, the viewer)."""
    first = Client(PhotoCamera(face_frames))
    body = await connect(http, first)
    sid, token = body["session"], body["token"]
    viewer = await _viewer(http, sid, token)
    await viewer.wait_for(lambda: viewer.received > 20, 30, "the viewer's frames")
    return first, sid, token, viewer


def test_a_second_tab_is_asked_then_moves_the_session_and_its_viewer_never_notices(
    face_frames,
) -> None:
    async def test(http: TestClient) -> None:
        manager = http.app[MANAGER]
        first = Client(PhotoCamera(face_frames))
        body = await connect(http, first)
        sid, token = body["session"], body["token"]
        ident = {"session": sid, "token": token}
        session = manager.sessions[sid]
        viewer = await _viewer(http, sid, token)
        await viewer.wait_for(lambda: viewer.received > 20, 30, "the OBS viewer's frames")
        await first.wait_for(lambda: first.of_type("hello"), 20, "the first page's hello")
        first.send({"type": "framing", "value": "bust"})

        second = Client(PhotoCamera(face_frames))
        offer = await second.offer()
        resp = await http.post("/api/sessions", json={"sdp": offer, "type": "offer", **ident})
        refusal = await resp.json()
        assert resp.status == 409, refusal
        assert refusal["live_elsewhere"] is True
        assert "live in another tab" in refusal["error"]
        # asking changed nothing: the first page still streams, nobody was told anything
        n = first.received
        await first.wait_for(lambda: first.received > n + 20, 20, "the first page's frames")
        assert not first.of_type("moved") and manager.sessions[sid] is session

        bad = await http.post(
            "/api/sessions", json={"sdp": offer, "type": "offer", **ident, "move": "yes"}
        )
        assert bad.status == 400 and '"move"' in (await bad.json())["error"]

        # the viewer's frames are counted across the whole move: they never stop
        watched = viewer.received
        resp = await http.post(
            "/api/sessions", json={"sdp": offer, "type": "offer", **ident, "move": True}
        )
        answer = await resp.json()
        assert resp.status == 200, answer
        assert (answer["session"], answer["token"]) == (sid, token)
        await second.accept(answer["sdp"])
        await first.wait_for(lambda: first.of_type("moved"), 10, 'the old page\'s "moved"')
        await second.wait_for(lambda: second.received > 20, 30, "the new page's frames")
        await first.wait_for(
            lambda: first.pc.connectionState in ("closed", "failed"), 15, "the old peer closing"
        )
        # the same session object: its render, outputs and framing went on as they were
        assert manager.sessions[sid] is session and not session.closed
        assert session.framing == "bust"
        await viewer.wait_for(
            lambda: viewer.received > watched + 30, 20, "the viewer's frames after the move"
        )
        assert viewer.pc.connectionState == "connected"
        # the viewer's stream did not restart: its timestamps run on without a jump back
        pts = [f.pts for f in list(viewer.frames)[-30:]]
        assert (np.diff(pts) > 0).all(), pts
        health = await (await http.get("/api/health")).json()
        assert health["sessions"] == 1 and health["peers"] == 2  # the new page and the viewer
        # the new page drives the session
        await second.wait_for(lambda: second.of_type("hello"), 20, "the new page's hello")
        second.send({"type": "framing", "value": "face"})
        await second.wait_for(
            lambda: any(m.get("framing") == "face" for m in second.of_type("status")), 10,
            "the new page's framing applied",
        )  # fmt: skip

        # moving it back is the same deliberate question
        back = Client(PhotoCamera(face_frames))
        offer = await back.offer()
        resp = await http.post("/api/sessions", json={"sdp": offer, "type": "offer", **ident})
        assert resp.status == 409
        await back.close()
        for c in (first, second, viewer):
            await c.close()

    serve(test, timeout=150)


def test_a_page_whose_old_tab_is_gone_resumes_without_a_question(face_frames) -> None:
    """A reload: the old page closed its peer (and ended its session), so the new one
    just gets its session id back."""

    async def test(http: TestClient) -> None:
        manager = http.app[MANAGER]
        first = Client(PhotoCamera(face_frames))
        body = await connect(http, first)
        sid, token = body["session"], body["token"]
        await first.wait_for(lambda: first.received > 5, 20, "frames")
        await first.close()
        await first.wait_for(lambda: sid not in manager.sessions, 15, "the old session's end")
        again = Client(PhotoCamera(face_frames))
        offer = await again.offer()
        resp = await http.post(
            "/api/sessions", json={"sdp": offer, "type": "offer", "session": sid, "token": token}
        )
        answer = await resp.json()
        assert resp.status == 200 and answer["session"] == sid, answer
        await again.accept(answer["sdp"])
        await again.wait_for(lambda: again.received > 10, 20, "frames on the resumed session")
        await again.close()

    serve(test)


def test_moving_to_a_page_that_tracks_another_way_remakes_the_session(face_frames) -> None:
    """A page tracking in the browser takes over a server-tracked session: another tracking
    worker is needed, so the session is made anew under the same id (and the same look);
    the old page is still told it moved."""

    async def test(http: TestClient) -> None:
        manager = http.app[MANAGER]
        first = Client(PhotoCamera(face_frames))
        body = await connect(http, first)
        sid = body["session"]
        await first.wait_for(lambda: first.of_type("hello"), 20, "hello")
        first.send({"type": "swap", "category": "outfit", "label": "formal"})
        await first.wait_for(
            lambda: any(
                m["customizations"]["sprites"].get("outfit") == "formal"
                for m in first.of_type("status")
            ),
            10,
            "the outfit",
        )
        old = manager.sessions[sid]
        pc, offer = await bare_offer("puppet")  # browser tracking: landmarks, no video up
        offer.update(session=sid, token=body["token"], move=True)
        resp = await http.post("/api/sessions", json=offer)
        assert resp.status == 200, await resp.json()
        await first.wait_for(lambda: first.of_type("moved"), 10, '"moved"')
        new = manager.sessions[sid]
        assert new is not old and old.closed
        assert new.tracking_source == "browser"
        assert new.puppet.wearing["outfit"] == "formal"  # the look went with it
        await pc.close()
        await first.close()

    serve(test)


def test_a_reload_while_obs_watches_keeps_the_session_and_its_viewer(
    face_frames, monkeypatch
) -> None:
    """The page leaves (its DELETE with `linger=1`, as on a reload) while a viewer watches:
    only the page's peer closes; the reloaded page comes back into the same session without
    a question, and the viewer's connection and frames go on. A page that never comes back
    ends the session after LINGER seconds."""
    monkeypatch.setattr(manager_module, "LINGER", 3.0)

    async def test(http: TestClient) -> None:
        manager = http.app[MANAGER]
        first, sid, token, viewer = await _watched_puppet(http, face_frames)
        session = manager.sessions[sid]
        # the page leaves: its keepalive DELETE says it may come back
        resp = await http.delete(f"/api/sessions/{sid}?token={token}&linger=1")
        assert resp.status == 200
        await first.close()
        assert manager.sessions[sid] is session and not session.closed
        seen = viewer.received
        await viewer.wait_for(lambda: viewer.received > seen + 20, 20, "frames while away")
        again = Client(PhotoCamera(face_frames))
        offer = await again.offer()
        resp = await http.post(
            "/api/sessions", json={"sdp": offer, "type": "offer", "session": sid, "token": token}
        )
        answer = await resp.json()
        assert resp.status == 200, answer  # no 409: no page had it
        await again.accept(answer["sdp"])
        await again.wait_for(lambda: again.received > 10, 30, "the reloaded page's frames")
        await asyncio.sleep(4)  # past LINGER: the session was taken back, not ended
        assert manager.sessions[sid] is session and not session.closed
        assert viewer.pc.connectionState == "connected"
        # now the page goes for good: after LINGER the session ends, and its viewer with it
        resp = await http.delete(f"/api/sessions/{sid}?token={token}&linger=1")
        await again.close()
        assert manager.sessions.get(sid) is session
        await viewer.wait_for(lambda: session.closed, 15, "the session's end")
        assert sid not in manager.sessions
        health = await (await http.get("/api/health")).json()
        assert health["sessions"] == 0 and health["peers"] == 0
        await viewer.close()

    serve(test)


def test_a_reload_whose_offer_comes_while_the_old_peer_still_closes_keeps_the_session(
    face_frames,
) -> None:
    """On a loaded server the page's DELETE (`linger=1`) may still be closing the old
    peer's connection when the reloaded page's offer comes: the offer must find the session
    lingering and come back into it (no new session under the same id, which would drop
    OBS), and the DELETE, once done, must not end the session the page is back in."""

    async def test(http: TestClient) -> None:
        manager = http.app[MANAGER]
        first, sid, token, viewer = await _watched_puppet(http, face_frames)
        session = manager.sessions[sid]
        old = manager.peers[next(p for p, v in manager.peers.items() if v.kind == "puppet")]
        closing = old.pc.close

        async def slow_close() -> None:  # a busy event loop: the close takes a while
            await asyncio.sleep(1.5)
            await closing()

        old.pc.close = slow_close
        leaving = asyncio.create_task(http.delete(f"/api/sessions/{sid}?token={token}&linger=1"))
        await asyncio.sleep(0.3)  # the DELETE is inside the old peer's close
        assert not leaving.done()
        again = Client(PhotoCamera(face_frames))
        offer = await again.offer()
        resp = await http.post(
            "/api/sessions",
            json={"sdp": offer, "type": "offer", "session": sid, "token": token, "move": True},
        )
        answer = await resp.json()
        assert resp.status == 200, answer
        await again.accept(answer["sdp"])
        assert (await leaving).status == 200
        await first.close()
        await again.wait_for(lambda: again.received > 10, 30, "the reloaded page's frames")
        assert manager.sessions[sid] is session and not session.closed
        seen = viewer.received
        await viewer.wait_for(lambda: viewer.received > seen + 20, 20, "the viewer's frames after")
        assert viewer.pc.connectionState == "connected"
        assert manager._puppet_of(session) is not None
        await again.close()
        await viewer.close()

    serve(test)
