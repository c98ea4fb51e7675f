"""The look survives (issue 15): a session's outfit, colours, style, framing, scene and
calibration come back when its page reopens it, after a reload and after a server restart
(a new app and manager on the same SQLite file), and its id and token stay valid, so the
OBS URL keeps working. A bad stored row is skipped, never an error."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from engine.render.scene import Scene
from streaming.idents import IdentRegistry, _digest
from tests.streaming.peers import Client, PhotoCamera, connect, serve
from webapi.app import MANAGER


async def _resume(http: TestClient, client: Client, ident: dict[str, str]) -> dict:
    offer = await client.offer()
    resp = await http.post("/api/sessions", json={"sdp": offer, "type": "offer", **ident})
    answer = await resp.json()
    assert resp.status == 200, answer
    await client.accept(answer["sdp"])
    return answer


async def _status_with(client: Client, what: str, check) -> dict:
    await client.wait_for(lambda: any(check(m) for m in client.of_type("status")), 20, what)
    return next(m for m in client.of_type("status") if check(m))


def test_the_look_survives_a_server_restart(face_frames, tmp_path: Path) -> None:
    db = tmp_path / "digigami.db"
    kept: dict = {}

    async def first_run(http: TestClient) -> None:
        client = Client(PhotoCamera(face_frames))
        body = await connect(http, client)
        kept["ident"] = {"session": body["session"], "token": body["token"]}
        await client.wait_for(lambda: client.of_type("hello"), 20, "hello")
        for msg in (
            {"type": "swap", "category": "outfit", "label": "armor"},
            {"type": "swap", "category": "accessories", "label": "hat"},
            {"type": "color", "part": "avatar", "hue": 40},
            {"type": "framing", "value": "bust"},
            {"type": "style", "value": "ghibli"},
        ):
            client.send(msg)
        session = http.app[MANAGER].sessions[body["session"]]
        # the scene's own control message is the scene issue's; its data is set whole
        session.scene = Scene(background="colour", colour="#123456", x=0.25, scale=0.8)
        await _status_with(
            client, "the look applied",
            lambda m: m["customizations"]["sprites"].get("outfit") == "armor"
            and m["framing"] == "bust" and m["style"] == "ghibli",
        )  # fmt: skip
        await client.wait_for(
            lambda: any(m["tracking"] == "tracking" for m in client.of_type("status")), 30,
            "the tracker to find the face",
        )  # fmt: skip
        client.send({"type": "calibrate"})
        await client.wait_for(
            lambda: session.tracker.neutral_pose() is not None, 20, "the calibration"
        )
        kept["neutral"] = session.tracker.neutral_pose()
        await client.close()
        # the app's shutdown (the "restart") saves what the session wears last

    serve(first_run, db=db)
    with sqlite3.connect(db) as conn:
        (text,) = conn.execute(
            "SELECT state FROM live_sessions WHERE id = ?", [kept["ident"]["session"]]
        ).fetchone()
        (digest,) = conn.execute("SELECT token_hash FROM live_sessions").fetchone()
    assert kept["ident"]["token"] not in text and kept["ident"]["token"] != digest  # hashed

    async def second_run(http: TestClient) -> None:
        ident = kept["ident"]
        client = Client(PhotoCamera(face_frames))
        answer = await _resume(http, client, ident)
        assert answer["session"] == ident["session"]  # issued before the restart: still valid
        assert answer["obs_url"] == f"/obs/{ident['session']}?token={ident['token']}"
        await client.wait_for(lambda: client.of_type("hello"), 20, "hello")
        hello = client.of_type("hello")[0]
        # in the very first message: the page's controls show the restored look
        assert hello["current"]["outfit"] == "armor" and hello["current"]["accessories"] == "hat"
        assert hello["style"] == "ghibli"
        assert hello["customizations"]["colors"] == {"avatar": {
            "hue": 40.0, "saturation": 1.0, "brightness": 1.0, "contrast": 1.0}}  # fmt: skip
        session = http.app[MANAGER].sessions[ident["session"]]
        assert session.framing == "bust"
        assert session.scene == Scene(background="colour", colour="#123456", x=0.25, scale=0.8)
        assert session.tracker.neutral_pose() == pytest.approx(kept["neutral"], abs=1e-5)
        # the OBS URL from before the restart opens a viewer
        viewer = Client()
        offer = await viewer.offer(channel=False)
        resp = await http.post(
            f"/whep/{ident['session']}?token={ident['token']}", data=offer,
            headers={"Content-Type": "application/sdp"},
        )  # fmt: skip
        assert resp.status == 201
        await viewer.accept(await resp.text())
        await viewer.wait_for(lambda: viewer.received > 5, 30, "the viewer's frames")
        # a stranger's token is still refused
        thief = Client(PhotoCamera(face_frames))
        offer = await thief.offer()
        resp = await http.post(
            "/api/sessions",
            json={"sdp": offer, "type": "offer", "session": ident["session"], "token": "x" * 22},
        )
        assert resp.status == 403
        for c in (client, viewer, thief):
            await c.close()

    serve(second_run, db=db)


def test_a_page_that_names_another_avatar_starts_from_its_look(face_frames, tmp_path) -> None:
    """The saved outfit belongs to the avatar it was worn on; framing goes with the session."""
    db = tmp_path / "digigami.db"

    async def test(http: TestClient) -> None:
        manager = http.app[MANAGER]
        client = Client(PhotoCamera(face_frames))
        body = await connect(http, client)
        ident = {"session": body["session"], "token": body["token"]}
        await client.wait_for(lambda: client.of_type("hello"), 20, "hello")
        client.send({"type": "swap", "category": "outfit", "label": "formal"})
        client.send({"type": "framing", "value": "face"})
        await _status_with(client, "the outfit", lambda m: m["framing"] == "face"
                           and m["customizations"]["sprites"]["outfit"] == "formal")  # fmt: skip
        await client.close()
        await client.wait_for(lambda: ident["session"] not in manager.sessions, 15, "its end")
        # a reload asking for a render style of its own keeps the outfit, takes its style
        again = Client(PhotoCamera(face_frames))
        offer = await again.offer()
        resp = await http.post("/api/sessions", json={
            "sdp": offer, "type": "offer", **ident, "style": "ghibli"})  # fmt: skip
        assert resp.status == 200
        await again.accept((await resp.json())["sdp"])
        await again.wait_for(lambda: again.of_type("hello"), 20, "hello")
        hello = again.of_type("hello")[0]
        assert hello["current"]["outfit"] == "formal" and hello["style"] == "ghibli"
        assert manager.sessions[ident["session"]].framing == "face"
        await again.close()

    serve(test, db=db)


def test_a_bad_stored_look_is_skipped_and_the_session_opens(face_frames, tmp_path) -> None:
    db = tmp_path / "digigami.db"
    kept: dict = {}

    async def first_run(http: TestClient) -> None:
        client = Client(PhotoCamera(face_frames))
        body = await connect(http, client)
        kept["ident"] = {"session": body["session"], "token": body["token"]}
        await client.wait_for(lambda: client.received > 5, 20, "frames")
        await client.close()

    serve(first_run, db=db)
    sid = kept["ident"]["session"]

    def store(state: str) -> None:
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE live_sessions SET state = ? WHERE id = ?", [state, sid])

    bad_states = [
        "not json at all {",
        json.dumps([1, 2, 3]),
        json.dumps({"v": 99, "framing": "bust"}),  # a newer format: ignored whole
        # an outfit the rig does not have, a framing and scene that do not exist, a
        # calibration of the wrong length: each skipped, the good framing kept
        json.dumps(
            {
                "v": 1,
                "avatar": {"face": None, "saved": None, "wears": "character"},
                "customizations": {"sprites": {"outfit": "spacesuit"}},
                "scene": {"background": "plaid"},
                "calibration": [1, 2, 3],
                "framing": "bust",
            }
        ),
    ]

    async def reopen(http: TestClient) -> None:
        client = Client(PhotoCamera(face_frames))
        await _resume(http, client, kept["ident"])
        await client.wait_for(lambda: client.received > 5, 30, "frames")
        await client.wait_for(lambda: client.of_type("hello"), 20, "hello")
        kept["hello"] = client.of_type("hello")[0]
        kept["framing"] = http.app[MANAGER].sessions[sid].framing
        kept["scene"] = http.app[MANAGER].sessions[sid].scene
        await client.close()

    for state in bad_states:
        store(state)
        serve(reopen, db=db)
        assert kept["hello"]["current"]["outfit"] != "spacesuit"
        assert kept["scene"] == Scene()
    assert kept["framing"] == "bust"  # the last one's good part


def test_idents_are_kept_and_loaded_across_registries() -> None:
    """The registry tells its saver every id it keeps (hash and wall-clock expiry) and a new
    registry (after a restart) takes them back, expired ones excepted."""
    saved: list = []
    now, wall = [100.0], [1_000_000.0]
    old = IdentRegistry(ttl=50.0, clock=lambda: now[0], wall=lambda: wall[0],
                        saver=lambda *a: saved.append(a))  # fmt: skip
    sid, token = old.issue()
    old.keep(sid, token)
    gone, gone_token = old.issue()
    old.keep(gone, gone_token)
    assert [s[0] for s in saved] == [sid, gone]
    assert saved[0][1] == _digest(token) and saved[0][2] == wall[0] + 50.0
    # a restart 30 s later: a new monotonic clock, the wall clock went on
    fresh = IdentRegistry(ttl=50.0, clock=lambda: 5.0, wall=lambda: wall[0] + 30.0)
    entries = [(sid, _digest(token), wall[0] + 50.0), (gone, _digest(gone_token), wall[0] + 10)]
    assert fresh.load(entries) == 1
    fresh.check(sid, token)
    with pytest.raises(PermissionError, match="someone else"):
        fresh.check(sid, "wrong")
    with pytest.raises(PermissionError, match="not issued"):
        fresh.check(gone, gone_token)
    # malformed entries (from a damaged store) are skipped
    assert fresh.load([(1, b"x", 0.0), ("a" * 22, b"short", wall[0] + 40)]) == 0


def test_saving_is_debounced(face_frames, tmp_path) -> None:
    """Fifty colour steps within a second are one or two writes, not fifty."""
    db = tmp_path / "digigami.db"

    async def test(http: TestClient) -> None:
        manager = http.app[MANAGER]
        writes: list[str] = []
        memory = manager.memory
        real = memory.remember
        memory.remember = lambda sid, state, owner: (writes.append(sid), real(sid, state, owner))
        client = Client(PhotoCamera(face_frames))
        body = await connect(http, client)
        await client.wait_for(lambda: client.of_type("hello"), 20, "hello")
        for step in range(50):
            client.send({"type": "color", "part": "avatar", "hue": float(step)})
        await _status_with(client, "the last step", lambda m: m["customizations"]["colors"]
                           .get("avatar", {}).get("hue") == 49.0)  # fmt: skip
        await asyncio.sleep(5)  # two saving rounds
        assert 1 <= writes.count(body["session"]) <= 3, writes
        await client.close()

    serve(test, db=db)
