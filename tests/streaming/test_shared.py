"""Shared encodes, with real aiortc peers in-process: every viewer of one stream gets the
same encoder's packets (render once, encode once, packetize per viewer), a viewer that
joins late gets a keyframe first, a PLI forces one, and previews with the same options are
one session that ends with its last viewer. Functional checks only: no timings."""

from __future__ import annotations

import asyncio
import threading

from aiohttp.test_utils import TestClient

from streaming.encoder import SharedEncoder
from streaming.manager import SessionManager
from tests.streaming.peers import Client, PhotoCamera, connect, serve
from webapi.app import MANAGER

SDP = {"Content-Type": "application/sdp"}


async def _whep(http: TestClient, body: dict, layout: str) -> tuple[Client, str]:
    viewer = Client()
    offer = await viewer.offer(channel=False)
    url = f"/whep/{body['session']}?token={body['token']}&layout={layout}"
    resp = await http.post(url, data=offer, headers=SDP)
    assert resp.status == 201, await resp.text()
    await viewer.accept(await resp.text())
    return viewer, resp.headers["Location"]


async def _preview(http: TestClient, **options) -> tuple[Client, str]:
    client = Client()
    offer = await client.offer(channel=False)
    resp = await http.post("/api/previews", json={"sdp": offer, "type": "offer", **options})
    body = await resp.json()
    assert resp.status == 200, body
    await client.accept(body["sdp"])
    return client, body["preview"]


def _encoders(manager: SessionManager) -> dict[tuple[str, str, int], SharedEncoder]:
    return {(s.id, layout, size): out.slot for (s, layout, size), out in manager.outputs.items()}


def _encoder_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("encoder-"))


def _slot(manager: SessionManager, resource: str):
    return manager.peers[resource.rsplit("/", 1)[-1]].track.slot  # a WHEP Location or an id


def test_every_viewer_of_a_session_gets_one_encoders_packets(face_frames) -> None:
    """The puppet's page, a WHEP player and a second one on the opaque stream, and an OBS
    page on the packed one: two encoders in all, each feeding all its viewers."""

    async def test(http: TestClient) -> None:
        manager = http.server.app[MANAGER]
        puppet = Client(PhotoCamera(face_frames))
        body = await connect(http, puppet)
        sid = body["session"]
        whep, w1 = await _whep(http, body, "opaque")
        whep2, w2 = await _whep(http, body, "opaque")
        obs, w3 = await _whep(http, body, "packed")
        for c in (puppet, whep, whep2, obs):
            await c.wait_for(lambda c=c: c.received >= 20, 30, "frames on every viewer")
        encoders = _encoders(manager)
        assert set(encoders) == {(sid, "opaque", 512), (sid, "packed", 512)}
        assert len(_encoder_threads()) == 2, _encoder_threads()
        opaque, packed = encoders[(sid, "opaque", 512)], encoders[(sid, "packed", 512)]
        assert {id(v) for v in opaque.viewers} == {id(_slot(manager, r)) for r in (w1, w2)} | {
            id(next(p for p in manager.peers.values() if p.kind == "puppet").track.slot)
        }
        assert [id(v) for v in packed.viewers] == [id(_slot(manager, w3))]
        assert (obs.frames[-1].width, obs.frames[-1].height) == (1024, 512)
        assert (whep.frames[-1].width, whep.frames[-1].height) == (512, 512)
        # one encode for three viewers: the opaque stream's packets number no more than
        # the frames rendered for it, though three viewers took them
        taken = sum(_slot(manager, r).put_count for r in (w1, w2))
        assert opaque.encoded <= opaque.frames_in and taken > opaque.encoded
        health = await (await http.get("/api/health")).json()
        assert health["encoders"] == 2 and health["peers"] == 4
        # a viewer leaving leaves the stream to the others; the last one ends it
        assert (await http.delete(f"{w3}?token={body['token']}")).status == 200
        await puppet.wait_for(
            lambda: (sid, "packed", 512) not in _encoders(manager), 10, "the packed stream to end"
        )
        n = whep.received
        await whep.wait_for(lambda: whep.received > n + 10, 20, "the opaque stream to go on")
        for c in (puppet, whep, whep2, obs):
            await c.close()

    serve(test)


def test_a_late_viewer_gets_a_keyframe_first_and_decodes_at_once(face_frames) -> None:
    async def test(http: TestClient) -> None:
        manager = http.server.app[MANAGER]
        puppet = Client(PhotoCamera(face_frames))
        body = await connect(http, puppet)
        # long past the stream's first keyframe (the encoder makes none by itself for
        # 3000 frames: without the one forced at the join, the viewer would see nothing)
        await puppet.wait_for(lambda: puppet.received >= 90, 30, "the puppet's stream")
        encoder = _encoders(manager)[(body["session"], "opaque", 512)]
        keys = encoder.keyframes
        viewer, resource = await _whep(http, body, "opaque")
        await viewer.wait_for(lambda: viewer.received >= 5, 20, "the late viewer's first frames")
        slot = _slot(manager, resource)
        assert slot.taken[0] is True, slot.taken  # nothing before the keyframe was sent
        # and it decoded from the first packet: aiortc's receiver answers a frame it cannot
        # decode with a PLI, and none came
        assert encoder.requests["pli"] == 0, encoder.requests
        assert encoder.requests["join"] >= 1 and encoder.keyframes > keys
        assert len(_encoders(manager)) == 1  # still one encoder for both
        for c in (puppet, viewer):
            await c.close()

    serve(test)


def test_a_pli_from_a_viewer_forces_a_keyframe_in_the_shared_encoder() -> None:
    async def test(http: TestClient) -> None:
        manager = http.server.app[MANAGER]
        client, _ = await _preview(http, animation="wave", size=128)
        await client.wait_for(lambda: client.received >= 10, 30, "preview frames")
        (encoder,) = _encoders(manager).values()
        (peer,) = manager.peers.values()
        sender = next(t.sender for t in peer.pc.getTransceivers() if t.sender.track is peer.track)
        keys = peer.track.slot.keys_taken
        receiver = next(t.receiver for t in client.pc.getTransceivers() if t.kind == "video")
        await receiver._send_rtcp_pli(sender._ssrc)  # what a browser sends on picture loss
        await client.wait_for(
            lambda: encoder.requests["pli"] >= 1, 10, "the PLI to reach the encoder"
        )
        await client.wait_for(
            lambda: peer.track.slot.keys_taken > keys, 10, "a keyframe after the PLI"
        )
        n = client.received
        await client.wait_for(lambda: client.received > n + 5, 10, "the stream to go on")
        await client.close()

    serve(test)


def test_previews_with_the_same_options_share_one_session_and_encoder() -> None:
    async def test(http: TestClient) -> None:
        manager = http.server.app[MANAGER]
        opts = {"animation": "dance_3", "outfit": "armor", "size": 128, "fps": 30}
        a, id_a = await _preview(http, **opts)
        b, id_b = await _preview(http, **opts)
        assert id_a == id_b
        for c in (a, b):
            await c.wait_for(lambda c=c: c.received >= 10, 30, "frames on both viewers")
        assert len(manager.sessions) == 1 and len(_encoders(manager)) == 1
        (encoder,) = _encoders(manager).values()
        assert len(encoder.viewers) == 2
        # another animation, another frame rate: streams of their own
        c, id_c = await _preview(http, **{**opts, "animation": "dance_2"})
        d, id_d = await _preview(http, **{**opts, "fps": 15})
        assert len({id_a, id_c, id_d}) == 3
        for x in (c, d):
            await x.wait_for(lambda x=x: x.received >= 5, 30, "frames on the other previews")
        assert len(manager.sessions) == 3 and len(_encoders(manager)) == 3
        health = await (await http.get("/api/health")).json()
        assert health["previews"] == 3 and health["peers"] == 4 and health["encoders"] == 3
        for x in (a, b, c, d):
            await x.close()

    serve(test)


async def _gone(http: TestClient, cond, what: str, seconds: float = 10.0) -> dict:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while True:
        health = await (await http.get("/api/health")).json()
        if cond(health):
            return health
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}: {health}, {_encoder_threads()}")
        await asyncio.sleep(0.1)


def test_a_preview_ends_with_its_last_viewer_and_leaves_nothing() -> None:
    """The first viewer leaving does not end the preview; the last one does, and its
    session, encoder (and thread) and peers go; threads and GL renderers do not grow."""

    async def test(http: TestClient) -> None:
        manager = http.server.app[MANAGER]
        before = sorted(t.name for t in threading.enumerate() if not t.name.startswith("asyncio_"))
        renderers = []
        for _ in range(2):
            first, pid = await _preview(http, animation="idle", size=128)
            second, pid2 = await _preview(http, animation="idle", size=128)
            assert pid == pid2
            await second.wait_for(lambda s=second: s.received >= 5, 30, "frames")
            await first.close()  # the first viewer goes: the preview stays for the second
            await _gone(http, lambda h: h["peers"] == 1, "the first viewer to be closed")
            n = second.received
            await second.wait_for(
                lambda s=second, n=n: s.received > n + 10, 20, "the stream to go on"
            )
            assert pid in manager.sessions
            await second.close()
            await _gone(
                http, lambda h: h["previews"] == h["peers"] == h["encoders"] == 0 and not _encoder_threads(),
                "the preview to end",
            )  # fmt: skip
            assert not manager.previews and not manager.outputs
            renderers.append(manager.worker.renderers)
        after = sorted(t.name for t in threading.enumerate() if not t.name.startswith("asyncio_"))
        assert after == before
        assert renderers[0] == renderers[1]

    serve(test)
