"""What a SessionManager offers whoever wraps it (a cluster's render node, issue 19): the
session's opener set before it is reachable (`owner`, `scene_owner` through
`scene_backgrounds`), `on_end` told once per session id that ends (not when a reload makes
it anew, never raising into the ending), the studio draft by session id and token, and the
ICE servers every peer connection is made with (none by default)."""

from __future__ import annotations

from typing import Any

import pytest
from aiortc import RTCIceServer

from engine.anim.loader import parse_clip
from streaming.live import LiveSession
from streaming.manager import NotFound, SessionManager, local_only
from tests.streaming.peers import Client, bare_offer
from tests.streaming.test_market_items import run_with_manager
from tests.streaming.test_studio import DRAFT


def test_the_opener_the_end_and_the_studio_draft() -> None:
    async def test(manager: SessionManager) -> None:
        ended: list[str] = []
        scenes: list[tuple[str | None, bool]] = []

        def on_end(session: LiveSession) -> None:
            ended.append(session.id)
            raise RuntimeError("a listener's bug")  # logged, the session still ends

        def picture(bid: str) -> Any:
            raise LookupError(bid)

        def scene(owner: str | None) -> tuple[Any, dict[str, str]]:
            scenes.append((owner, bool(manager.sessions)))  # nothing registered yet
            return picture, {"u1": "Beach"}

        manager.on_end = on_end
        manager.scene_backgrounds = scene
        client = Client()
        offer = {"sdp": await client.offer(), "type": "offer", "tracking": "none"}
        answer, session = await manager.open_puppet(offer, owner="acct", scene_owner="guest:1")
        await client.accept(answer)
        assert session.owner == "acct" and scenes == [("guest:1", False)]
        assert session.backgrounds is picture and session.background_names == {"u1": "Beach"}

        # another tracking path, same id: the session is made anew, its id never ended
        pc, again = await bare_offer("puppet")
        ident = {"session": session.id, "token": session.token, "move": True}
        _, remade = await manager.open_puppet({**again, **ident}, owner=None, scene_owner=None)
        assert remade is not session and remade.id == session.id and session.closed
        assert ended == [] and remade.owner is None and scenes[-1] == (None, False)
        await manager.close_session(remade.id, remade.token)
        assert ended == [remade.id] and remade.closed and remade.id not in manager.sessions
        await pc.close()
        await client.close()

        # the studio's draft, by id and token
        studio = Client()
        sdp = await studio.offer()
        answer, st = await manager.open_studio({"sdp": sdp, "type": "offer"})
        await studio.accept(answer)
        rig = await manager.studio_rig(st.id, st.token)
        assert rig is st.bundle.rig and rig.name == "digi"
        with pytest.raises(NotFound):
            await manager.studio_rig(st.id, "wrong")
        with pytest.raises(NotFound):
            await manager.studio_draft(st.id, None, None)
        with pytest.raises(NotFound):  # a puppet session is no studio
            await manager.studio_rig(remade.id, remade.token)
        clip = parse_clip(DRAFT, rig, "draft")
        await manager.studio_draft(st.id, st.token, clip)
        assert st.studio is not None and st.studio.draft is clip
        await manager.studio_draft(st.id, st.token, None)
        assert st.studio.draft is None
        assert manager.sessions_for_plugins() == [st]
        await studio.close()

    run_with_manager(test, timeout=120)


def test_ice_servers_are_none_unless_configured() -> None:
    assert SessionManager().rtc_configuration().iceServers == local_only().iceServers == []
    stun = RTCIceServer("stun:stun.example.org:3478")
    turn = RTCIceServer("turn:turn.example.org:3478", username="u", credential="p")
    config = SessionManager(ice_servers=[stun, turn]).rtc_configuration()
    assert config.iceServers == [stun, turn]


@pytest.mark.parametrize("seconds", [0.0, 1.9, 121.0, float("nan"), float("inf")])
def test_a_connect_timeout_out_of_bounds_is_refused_by_name(seconds: float) -> None:
    with pytest.raises(ValueError, match="connect timeout"):
        SessionManager(connect_within=seconds)
