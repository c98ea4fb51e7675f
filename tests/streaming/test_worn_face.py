"""A live session wearing a generated avatar, with two real peers in-process: the offer
names the avatar, the received stream shows its styled face (its colours compared with
renders of Digi wearing it and of Digi bare), bad avatar ids are answered clearly, and the face's GL view
is released when its last session ends."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from engine.assets import AvatarBundle
from engine.render import AvatarRenderer, create_context
from engine.session import AvatarSession
from streaming.live import BACKGROUND
from tests.photos import astronaut
from tests.streaming.peers import Client, PhotoCamera, serve
from tests.worn import colour_overlap, generated, worn
from webapi.app import MANAGER
from webapi.avatars import AvatarStore


@pytest.fixture(scope="module")
def face_frames() -> list[np.ndarray]:
    canvas = np.full((480, 640, 3), 80, np.uint8)
    canvas[:, 64:576] = astronaut()[16:496]
    return [canvas]


def reference(bundle: AvatarBundle) -> tuple[np.ndarray, tuple[slice, slice]]:
    """The bundle at rest as the puppet stream frames it (512, opaque), and the box round
    the worn face's head in it."""
    ctx = create_context()
    try:
        r = AvatarRenderer(ctx, bundle.rig, bundle.pictures(), (512, 512))
        s = AvatarSession(bundle)
        s.step(0.0)
        img = r.render(s.pose, "full").astype(float)
        rect = r.framing("full")
        r.release()
    finally:
        ctx.release()
    rgb = img[..., :3] + np.array(BACKGROUND, float) * (1 - img[..., 3:] / 255)
    head = worn()
    slot = head.rig.slot_index["face_back"]
    x0, y0, x1, y1 = rect
    corners = next(i for i in AvatarSession(head)._draw_list() if i.slot == slot).vertices
    xs = (corners[:, 0] - x0) / (x1 - x0) * 512
    ys = (y1 - corners[:, 1]) / (y1 - y0) * 512
    box = (slice(max(int(ys.min()), 0), int(ys.max())), slice(max(int(xs.min()), 0), int(xs.max())))
    return rgb, box


def test_a_session_wears_a_generated_avatar(tmp_path: Path, face_frames, digi) -> None:
    saved = AvatarStore(tmp_path).save(generated())
    worn_ref, box = reference(worn())
    bare_ref, _ = reference(digi)

    async def test(http: TestClient) -> None:
        client = Client(PhotoCamera(face_frames))
        sdp = await client.offer()
        resp = await http.post("/api/sessions", json={"sdp": sdp, "type": "offer", "avatar": saved.id})
        body = await resp.json()
        assert resp.status == 200, body
        await client.accept(body["sdp"])
        await client.wait_for(lambda: client.received >= 60, 30, "60 avatar frames")
        await asyncio.sleep(1.0)  # the tracker settles on the photo's face
        got = client.frames[-1].to_ndarray(format="rgb24")
        manager = http.app[MANAGER]
        assert manager.worker.renderers == 2  # Digi's warm view, and the worn face's
        wearing, bare = colour_overlap(got[box], worn_ref[box]), colour_overlap(got[box], bare_ref[box])
        assert wearing > 0.6 and wearing > bare + 0.2, (wearing, bare)
        await client.close()
        await client.wait_for(
            lambda: manager.worker.renderers == 1, 10, "the worn face's view to be released"
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
            resp = await http.post("/api/sessions", json={"sdp": sdp, "type": "offer", "avatar": avatar})
            body = await resp.json()
            assert resp.status == status and words in body["error"], (avatar, body)
            await client.close()
        assert not http.app[MANAGER].sessions  # nothing half-open

    serve(test, avatar_root=tmp_path)
