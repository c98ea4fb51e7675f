"""Issue 16, exports through the API: `POST /api/avatars/{id}/export` checks the whole
request first (a bad one is a 400 naming what is wrong, and no job), runs a job whose
progress is pushed over `/ws`, and hands over the file; a saved avatar is exported with its
customizations, someone else's private one is a 404, and a job is its owner's only."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp.test_utils import TestClient
from PIL import Image

from tests.api.test_avatars_api import call, created, serve, sign_up
from webapi.handlers.exports import EXPORTS


async def _watch(http: TestClient, job: str, who: dict[str, str] | None) -> list[dict[str, Any]]:
    """Every message about `job` on /ws until it ends."""
    seen = []
    async with http.ws_connect("/ws", headers=who or {}) as ws:
        await ws.send_json({"type": "export:watch", "job": job})
        while True:
            msg = await asyncio.wait_for(ws.receive_json(), 120)
            seen.append(msg)
            if msg["type"] in ("export:done", "export:failed", "error"):
                return seen


async def _download(http: TestClient, url: str, who: dict[str, str] | None) -> bytes:
    async with http.get(url, headers=who or {}) as r:
        assert r.status == 200, await r.text()
        assert r.headers["Content-Disposition"].startswith("attachment; filename=")
        return await r.read()


def test_an_export_is_a_job_watched_over_the_socket_then_downloaded(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        alice, bob = await sign_up(http, "alice"), await sign_up(http, "bob")
        body = {"formats": ["png", "gif"], "animations": ["wave"], "size": 48, "fps": 6,
                "pose": {"state": "idle", "parameters": {"ParamMouthOpenY": 1}}}  # fmt: skip
        status, job = await call(http, "POST", "/api/avatars/digi/export", alice, body)
        assert status == 202, job
        assert job["state"] in ("queued", "running") and job["formats"] == ["png", "gif"]
        seen = await _watch(http, job["job"], alice)
        assert seen[-1]["type"] == "export:done", seen
        steps = [m["progress"] for m in seen if m["type"] == "export:progress"]
        assert steps == sorted(steps) and steps, seen  # it only moves forward
        status, state = await call(http, "GET", job["url"], alice)
        assert state["state"] == "done" and state["progress"] == 100
        data = await _download(http, state["download"], alice)
        assert len(data) == state["bytes"]
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            assert sorted(z.namelist()) == ["gif/wave.gif", "png/digi.png"]
            png = Image.open(io.BytesIO(z.read("png/digi.png")))
            assert png.size == (48, 48)
        # the job is alice's: bob, and nobody, get a 404 as for a job that never was
        for who in (bob, None):
            status, answer = await call(http, "GET", job["url"], who)
            assert status == 404 and answer == {"error": f'no export "{job["job"]}"'}
            async with http.get(state["download"], headers=who or {}) as r:
                assert r.status == 404
        watched = await _watch(http, job["job"], bob)
        assert watched == [{"type": "export:failed", "job": job["job"],
                            "error": f'no export "{job["job"]}"'}]  # fmt: skip

    serve(tmp_path, test)


def test_bad_requests_name_what_is_wrong_and_start_nothing(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        alice = await sign_up(http, "alice")
        url = "/api/avatars/digi/export"
        cases = [
            ({}, "name at least one format"),
            ({"formats": ["bmp"]}, 'unknown format "bmp"'),
            ({"formats": "png"}, '"formats" must be a list'),
            ({"formats": ["png"], "size": 4096}, "size must be a whole number of pixels from 16 to 2048"),
            ({"formats": ["png"], "size": 64.5}, '"size" must be a whole number'),
            ({"formats": ["gif"], "animations": ["moonwalk"]}, 'unknown animation "moonwalk"'),
            ({"formats": ["gif"], "fps": "fast"}, '"fps" must be a number'),
            ({"formats": ["png"], "colour": "red"}, 'unknown field "colour"'),
            ({"formats": ["png"], "pose": {"parameters": {"ParamNose": 1}}}, 'unknown parameter "ParamNose"'),
            ({"formats": ["png"], "pose": {"state": "../x"}}, '"pose.state" must be'),
            # 90 frames of idle at 2048 px would hold 1.5 GB: refused before anything renders
            ({"formats": ["gif"], "size": 2048}, '"idle" would be 90 frames of 2048x2048 px, over this server\'s limit of 512 MB'),
        ]  # fmt: skip
        for body, message in cases:
            status, answer = await call(http, "POST", url, alice, body)
            assert status == 400 and message in answer["error"], (body, answer)
        status, answer = await call(
            http, "POST", "/api/avatars/nobody/export", alice, {"formats": ["png"]}
        )
        assert status == 404 and answer == {"error": 'no avatar "nobody"'}
        async with http.post(
            url, data=b"x" * 9000, headers={"Content-Type": "application/json"}
        ) as r:
            assert r.status == 413
        assert http.app[EXPORTS].jobs == {}

    serve(tmp_path, test)


def test_a_saved_avatar_is_exported_with_its_customizations(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        alice, bob = await sign_up(http, "alice"), await sign_up(http, "bob")
        blue = {"colors": {"avatar": {"hue": 180}}}
        mine = await created(http, alice, name="Blue", customizations=blue)
        body = {"formats": ["png"], "size": 64}
        # bob cannot export alice's private avatar: a 404 exactly as for a missing one
        status, answer = await call(http, "POST", f"/api/avatars/{mine['id']}/export", bob, body)
        assert status == 404 and answer == {"error": f'no avatar "{mine["id"]}"'}
        pictures = []
        for aid in ("digi", mine["id"]):
            status, job = await call(http, "POST", f"/api/avatars/{aid}/export", alice, body)
            assert status == 202, job
            seen = await _watch(http, job["job"], alice)
            assert seen[-1]["type"] == "export:done", seen
            data = await _download(http, seen[-1]["download"], alice)
            pictures.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGBA")).astype(int))
        plain, blue_px = pictures
        assert seen[-1]["filename"] == f"avatar-{mine['id'][:8]}.png" or seen[-1][
            "filename"
        ].endswith(".png")
        # the same shape, other colours: the hue filter went into the export
        assert (plain[..., 3] == blue_px[..., 3]).mean() > 0.99
        opaque = (plain[..., 3] == 255) & (blue_px[..., 3] == 255)
        assert np.abs(plain[..., :3] - blue_px[..., :3])[opaque].mean() > 20

    serve(tmp_path, test)


def test_a_custom_animation_is_exported_by_id_and_named_for_its_name(tmp_path: Path) -> None:
    """The animation a creator made (POST /api/animations) exports like a built-in one, its
    files named for it; someone else's is a 404 as a missing one; the `digigami export`
    command reads it from the database too."""
    from tests.api.test_animations_api import flap
    from webapi.cli import main

    made: dict[str, Any] = {}

    async def test(http: TestClient) -> None:
        ann, bob = await sign_up(http, "ann"), await sign_up(http, "bob")
        body = {"rig": "digi", "name": "Big Flap!", "definition": flap()}
        status, clip = await call(http, "POST", "/api/animations", ann, body)
        assert status == 201, clip
        made["id"] = clip["id"]
        # the export dialog offers it to its maker only
        for who, offered in ((ann, [{"id": clip["id"], "name": "Big Flap!"}]), (bob, [])):
            status, opts = await call(http, "GET", "/api/exports/options", who)
            assert status == 200 and opts["custom_animations"] == offered, opts
        req = {
            "formats": ["gif", "spine"],
            "animations": [clip["id"], "wave"],
            "size": 48,
            "fps": 10,
        }
        status, answer = await call(http, "POST", "/api/avatars/digi/export", bob, req)
        assert status == 404 and answer == {"error": f'no animation "{clip["id"]}"'}
        status, job = await call(http, "POST", "/api/avatars/digi/export", ann, req)
        assert status == 202, job
        seen = await _watch(http, job["job"], ann)
        assert seen[-1]["type"] == "export:done", seen
        data = await _download(http, seen[-1]["download"], ann)
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
            assert {"gif/big-flap.gif", "gif/wave.gif", "spine/digi.json"} <= names, names
            gif = Image.open(io.BytesIO(z.read("gif/big-flap.gif")))
            assert gif.n_frames == 10  # the flap lasts 1 s: 10 frames at 10 fps
            spine = json.loads(z.read("spine/digi.json"))
            assert set(spine["animations"]) == {"big-flap", "wave"}

    serve(tmp_path, test)
    out = tmp_path / "flap.gif"
    args = ["export", "--db", str(tmp_path / "t.db"), "--format", "gif", "--size", "40",
            "--fps", "5", "--animation", made["id"], "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert Image.open(out).n_frames == 5
    missing = "0" * 32
    assert main([*args[:-3], missing, "--out", str(tmp_path / "x.gif")]) == 2
    assert not (tmp_path / "x.gif").exists()


def test_hostile_requests_are_refused_and_the_server_keeps_serving(tmp_path: Path) -> None:
    """Too many names, too deep, not JSON, a flood of exports, and junk on the socket: each
    refused in words; nothing is queued by a refused request and other callers are served."""

    async def test(http: TestClient) -> None:
        ann, bob = await sign_up(http, "ann"), await sign_up(http, "bob")
        url = "/api/avatars/digi/export"
        cases = [
            ({"formats": ["png"] * 41}, '"formats" must be a list of at most 40 names'),
            ({"formats": ["png"], "animations": ["x" * 65]}, "animations[0] must be a name"),
            ({"formats": ["png"], "pose": {"parameters": {"a": {"b": {"c": {"d": 1}}}}}}, "nested"),
            ({"formats": ["png"], "pose": {"parameters": {f"P{i}": 0 for i in range(65)}}},
             '"pose.parameters" must be an object of at most 64 values'),
            ({"formats": ["png"], "pose": {"time": "soon"}}, '"pose.time" must be a number'),
            (["png"], "must be a JSON object"),
        ]  # fmt: skip
        for body, message in cases:
            status, answer = await call(http, "POST", url, ann, body)
            assert status == 400 and message in answer["error"], (body, answer)
        async with http.post(
            url, data=b"{not json", headers={"Content-Type": "application/json"}
        ) as r:
            assert r.status == 400
        assert http.app[EXPORTS].jobs == {}

        # a flood: two of one caller's exports wait or run at once, the third is a 429
        heavy = {"formats": ["webm"], "animations": ["idle"], "size": 512}
        answers = [await call(http, "POST", url, ann, heavy) for _ in range(3)]
        assert [s for s, _ in answers] == [202, 202, 429], answers
        assert "at most 2 exports of yours at a time" in answers[2][1]["error"]
        status, job = await call(http, "POST", url, bob, {"formats": ["png"], "size": 32})
        assert status == 202  # someone else is still served

        async with http.ws_connect("/ws", headers=bob) as ws:
            await ws.send_json({"type": "export:watch", "job": 123})
            msg = await asyncio.wait_for(ws.receive_json(), 10)
            assert msg["type"] == "error" and '"job"' in msg["message"], msg
            await ws.send_json({"type": "export:watch", "job": "x" * 100_000})
            msg = await asyncio.wait_for(ws.receive_json(), 10)
            assert msg == {
                "type": "export:failed",
                "job": "x" * 64,
                "error": f'no export "{"x" * 64}"',
            }
            await ws.send_json({"type": "export:watch", "job": answers[0][1]["job"]})
            msg = await asyncio.wait_for(ws.receive_json(), 10)
            assert msg["type"] == "export:failed" and "no export" in msg["error"]  # ann's job
            await ws.send_json({"type": "export:watch", "job": job["job"]})
            while (msg := await asyncio.wait_for(ws.receive_json(), 120))[
                "type"
            ] == "export:progress":
                pass
            assert msg["type"] == "export:done", msg

    serve(tmp_path, test, timeout=240)
