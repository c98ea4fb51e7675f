"""Scenes over a real stream (streaming/live.py `scene` messages, streaming/render_worker.py):
the received frames show the chosen colour or picture behind the avatar, the avatar where
the scene puts it, both in the page's view and in OBS's packed one; bad scene messages are
answered by name and never disturb the stream; another owner's picture cannot be used."""

from __future__ import annotations

import io

import numpy as np
from aiohttp.test_utils import TestClient
from PIL import Image

from tests.streaming.peers import Client, connect, serve
from webapi.app import MANAGER


def _rgb(client: Client) -> np.ndarray:
    return client.frames[-1].to_ndarray(format="rgb24").astype(int)


def _differs(px: np.ndarray, colour, by: int = 40) -> np.ndarray:
    """Pixels far from `colour`: the avatar's (the codec blurs edges by a little)."""
    return np.abs(px - np.array(colour)).sum(axis=2) > by


async def _frames_after(client: Client, n: int = 30) -> None:
    start = client.received
    await client.wait_for(lambda: client.received > start + n, 30, f"{n} more frames")


def test_scene_colour_position_and_picture_reach_every_view() -> None:
    async def test(http: TestClient) -> None:
        puppet = Client()
        body = await connect(http, puppet)
        await puppet.wait_for(lambda: puppet.of_type("hello"), 20, "hello")
        hello = puppet.of_type("hello")[0]
        assert hello["scene"]["background"] == "transparent"
        assert hello["sizes"]["720p"] == [1280, 720]
        # OBS's packed view, watching throughout
        obs = Client()
        offer = await obs.offer(channel=False)
        resp = await http.post(
            f"/whep/{body['session']}?layout=packed&token={body['token']}", data=offer,
            headers={"Content-Type": "application/sdp"},
        )  # fmt: skip
        assert resp.status == 201
        await obs.accept(await resp.text())
        await obs.wait_for(lambda: obs.received > 10, 30, "OBS frames")
        alpha = _rgb(obs)[:, 512:, 0]
        assert alpha[:20, :20].max() < 30  # transparent around the avatar

        orange = (255, 128, 0)
        puppet.send({"type": "scene", "background": "colour", "colour": "#ff8000",
                     "x": 0.5, "scale": 0.6})  # fmt: skip
        await puppet.wait_for(
            lambda: any(m["scene"].get("colour") == "#ff8000" for m in puppet.of_type("status")),
            10, "the scene in the status",
        )  # fmt: skip
        await _frames_after(puppet)
        await _frames_after(obs)
        for px in (_rgb(puppet), _rgb(obs)[:, :512]):
            corners = np.concatenate([px[:16, :16], px[:16, -16:], px[-16:, :16]]).reshape(-1, 3)
            assert np.abs(corners.mean(axis=0) - orange).max() < 20, corners.mean(axis=0)
            _, xs = np.nonzero(_differs(px, orange))
            assert len(xs) > 2000 and xs.mean() > 300, (len(xs), xs.mean())  # right of centre
        # the packed alpha half is opaque everywhere now: the colour covers the frame
        assert _rgb(obs)[:, 512:, 0].min() > 225

        puppet.send({"type": "scene", "background": "image", "image": "night-sky", "x": 0.0})
        await _frames_after(puppet, 40)
        top = _rgb(puppet)[:40].reshape(-1, 3).mean(axis=0)
        assert top[2] > top[0] + 10 and top.sum() < 200, top  # the night's deep blue

        # bad messages: every bad field named, the scene unchanged, the stream going on
        puppet.send({"type": "scene", "x": 9, "size": "8k", "mirror": "yes"})
        await puppet.wait_for(
            lambda: any('"x"' in m["message"] and '"size"' in m["message"]
                        and '"mirror"' in m["message"] for m in puppet.of_type("error")),
            10, "the error naming x, size and mirror",
        )  # fmt: skip
        puppet.send({"type": "scene", "background": "image", "image": "u0123456789abcdef0123"})
        await puppet.wait_for(
            lambda: any("no background" in m["message"] for m in puppet.of_type("error")),
            10, "the unknown picture refused",
        )  # fmt: skip
        await _frames_after(puppet)
        assert puppet.of_type("status")[-1]["scene"]["image"] == "night-sky"
        for c in (puppet, obs):
            await c.close()

    serve(test, timeout=150)


def test_an_uploaded_picture_is_usable_by_its_owner_only(tmp_path) -> None:
    async def test(http: TestClient) -> None:
        buf = io.BytesIO()
        Image.new("RGB", (320, 200), (20, 200, 90)).save(buf, "PNG")
        origin = {"Origin": str(http.make_url("")).rstrip("/")}
        resp = await http.post(
            "/api/backgrounds", data=buf.getvalue(),
            headers={**origin, "Content-Type": "image/png"},
        )  # fmt: skip
        assert resp.status == 201, await resp.text()
        bid = (await resp.json())["id"]
        mine = Client()
        await connect(http, mine)  # the same guest cookie: the upload is this session's
        await mine.wait_for(lambda: mine.of_type("hello"), 20, "hello")
        mine.send({"type": "scene", "background": "image", "image": bid})
        await _frames_after(mine, 40)
        corner = _rgb(mine)[:20, :20].reshape(-1, 3).mean(axis=0)
        assert np.abs(corner - (20, 200, 90)).max() < 20, corner
        http.session.cookie_jar.clear()  # someone else
        theirs = Client()
        await connect(http, theirs)
        await theirs.wait_for(lambda: theirs.of_type("hello"), 20, "hello")
        theirs.send({"type": "scene", "background": "image", "image": bid})
        await theirs.wait_for(
            lambda: any(f'no background "{bid}"' in m["message"] for m in theirs.of_type("error")),
            10, "another guest's picture refused as unknown",
        )  # fmt: skip
        for c in (mine, theirs):
            await c.close()

    serve(test, timeout=150, avatar_root=tmp_path / "avatars", db=tmp_path / "t.db")


def test_an_output_size_preset_changes_the_frames() -> None:
    async def test(http: TestClient) -> None:
        puppet = Client()
        await connect(http, puppet)
        await puppet.wait_for(lambda: puppet.received > 5, 30, "frames")
        assert (puppet.frames[-1].width, puppet.frames[-1].height) == (512, 512)
        puppet.send({"type": "scene", "size": "720p", "background": "colour", "colour": "#102030"})
        await puppet.wait_for(lambda: puppet.frames[-1].width == 1280, 30, "1280 x 720 frames")
        frame = puppet.frames[-1]
        assert frame.height == 720
        px = frame.to_ndarray(format="rgb24").astype(int)
        ys, xs = np.nonzero(_differs(px, (16, 32, 48)))
        assert abs(xs.mean() - 640) < 120 and ys.min() > 0  # centred, not stretched out
        # a CPU renderer draws 720p at 30 fps (engine/render/scene.py SOFTWARE_FPS)
        want = 30 if http.app[MANAGER].worker.software else 60
        await puppet.wait_for(
            lambda: any(m.get("output_fps") == want for m in puppet.of_type("status")),
            10, f"output_fps {want} in the status",
        )  # fmt: skip

        def wide() -> list[int]:
            return [f.pts for f in list(puppet.frames) if f.width == 1280][1:]

        await puppet.wait_for(lambda: len(wide()) >= 8, 60, "8 frames at 720p")
        steps = np.diff(wide())
        # no frame closer than the rate, but for a face's pull (up to half a 60 Hz tick)
        assert (steps >= 90_000 // want - 750 - 2).all(), steps
        await puppet.close()

    serve(test, timeout=150)
