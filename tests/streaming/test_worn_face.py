"""A live session wearing a generated avatar, with two real peers in-process: the offer
names the avatar, the received stream shows its styled face (its colours compared with
renders of Digi wearing it and of Digi bare), bad avatar ids are answered clearly, and the face's GL view
is released when its last session ends."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp.test_utils import TestClient

from tests.streaming.peers import Client, PhotoCamera, serve
from tests.worn import colour_overlap, generated, render_at_rest, slot_box, worn
from webapi.app import MANAGER
from webapi.library.files import AvatarStore


def test_a_session_wears_a_generated_avatar(tmp_path: Path, face_frames, digi) -> None:
    saved = AvatarStore(tmp_path).save(generated())
    worn_ref, rect = render_at_rest(worn())
    bare_ref, _ = render_at_rest(digi)
    box = slot_box(worn(), rect, "face_back")

    async def test(http: TestClient) -> None:
        client = Client(PhotoCamera(face_frames))
        sdp = await client.offer()
        resp = await http.post(
            "/api/sessions", json={"sdp": sdp, "type": "offer", "avatar": saved.id}
        )
        body = await resp.json()
        assert resp.status == 200, body
        await client.accept(body["sdp"])
        await client.wait_for(lambda: client.received >= 60, 30, "60 avatar frames")
        await asyncio.sleep(1.0)  # the tracker settles on the photo's face
        got = client.frames[-1].to_ndarray(format="rgb24")
        manager = http.app[MANAGER]
        assert manager.worker.renderers == 2  # Digi's warm view, and the worn face's
        wearing, bare = (
            colour_overlap(got[box], worn_ref[box]),
            colour_overlap(got[box], bare_ref[box]),
        )
        assert wearing > 0.6 and wearing > bare + 0.2, (wearing, bare)
        # a preview can wear it too (an outfit on your own face), sharing the built rig
        preview = Client()
        offer = await preview.offer(channel=False)
        resp = await http.post("/api/previews", json={
            "sdp": offer, "type": "offer", "animation": "wave", "outfit": "armor", "avatar": saved.id,
        })  # fmt: skip
        assert resp.status == 200, await resp.json()
        await preview.accept((await resp.json())["sdp"])
        await preview.wait_for(lambda: preview.received > 10, 30, "preview frames")
        sessions = list(manager.sessions.values())
        assert len({id(s.bundle) for s in sessions}) == 1 and sessions[0].bundle.face == saved.id
        await client.close()
        await preview.close()
        await client.wait_for(
            lambda: manager.worker.renderers == 1, 10, "the worn face's views to be released"
        )

    serve(test, avatar_root=tmp_path)


def test_bad_avatars_are_answered_clearly(tmp_path: Path) -> None:
    store = AvatarStore(tmp_path)
    saved = store.save(generated())
    record = json.loads((tmp_path / saved.id / "metadata.json").read_text())
    record["landmarks"] = None
    broken = store.save(generated())
    (tmp_path / broken.id / "metadata.json").write_text(json.dumps({**record, "id": broken.id}))

    async def test(http: TestClient) -> None:
        for avatar, status, words in (
            ("0123456789abcdef", 404, 'no avatar "0123456789abcdef"'),
            ("../etc", 400, '"avatar" must be the id of a generated avatar'),
            (7, 400, '"avatar" must be the id of a generated avatar'),
            (broken.id, 400, "saved without its 478 face landmarks"),
        ):
            client = Client()
            sdp = await client.offer(channel=False)
            resp = await http.post(
                "/api/sessions", json={"sdp": sdp, "type": "offer", "avatar": avatar}
            )
            body = await resp.json()
            assert resp.status == status and words in body["error"], (avatar, body)
            await client.close()
        assert not http.app[MANAGER].sessions  # nothing half-open

    serve(test, avatar_root=tmp_path)
