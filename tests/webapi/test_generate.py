"""The generation protocol (docs/GENERATION.md) in-process: the seed's WebSocket messages at
`/ws`, the REST fallback, the stored avatars. Every bad input is answered to its sender in
words while the socket stays open and the server keeps serving.

Tests that generate need `engine.style`; the bad-input tests that fail before generation do
not."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from tests.webapi.images import (
    astronaut_jpeg,
    bomb_png,
    data_url,
    grey_png,
    tiny_png,
    truncated_jpeg,
)
from webapi.app import create_app
from webapi.library.images import MAX_BYTES

SIZES = {"full": (512, 512), "transparent": (512, 512), "thumbnail": (128, 128), "profile": (256, 256),
         "hd": (1024, 1024)}


def serve(test: Callable[[TestClient], Awaitable[None]], root: Path, timeout: float = 180) -> None:
    async def main() -> None:
        async with TestClient(TestServer(create_app(avatar_root=root))) as http:
            await test(http)

    asyncio.run(asyncio.wait_for(main(), timeout))


def generate_msg(image: str, sid: str = "s1", style: str = "kingdom-hearts", **options: Any) -> dict[str, Any]:
    return {"type": "generate_avatar", "sessionId": sid, "image": image, "style": style,
            "options": {"preserveExpression": True, "enhanceDetails": False, "outputSize": 512, **options}}


async def receive(ws: aiohttp.ClientWebSocketResponse, timeout: float = 60) -> dict[str, Any]:
    m = await ws.receive(timeout=timeout)
    assert m.type == aiohttp.WSMsgType.TEXT, f"socket answered {m.type} {m.data!r} {m.extra!r}"
    return json.loads(m.data)


async def until_result(ws, sid: str, timeout: float = 120) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    progress = []
    while True:
        msg = await receive(ws, timeout)
        if msg["type"] == "progress" and msg["sessionId"] == sid:
            progress.append(msg)
        elif msg["type"] == "result" and msg["sessionId"] == sid:
            return progress, msg


async def still_serving(http: TestClient, ws) -> None:
    assert not ws.closed
    resp = await http.get("/api/health")
    assert resp.status == 200


# ---- bad input, refused before the engine is needed --------------------------------------

BAD_IMAGES = [
    ("not-an-image", data_url(b"this is not an image at all, just text", "image/png"), "not an image"),
    ("truncated-jpeg", data_url(truncated_jpeg(), "image/jpeg"), "truncated"),
    ("bomb-20000x20000", data_url(bomb_png()), "image too large: 20000x20000 pixels"),
    ("1x1", data_url(tiny_png()), "image too small: 1x1 pixels"),
    ("over-10MB", "data:image/png;base64," + "A" * (4 * (MAX_BYTES // 3) + 4096), "image too large"),
    ("not-a-data-url", "https://example.com/me.jpg", "data URL"),
    ("text-data-url", "data:text/plain;base64,aGVsbG8=", "must hold an image"),
]


def test_bad_images_are_answered_and_the_socket_stays_open(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        async with http.ws_connect("/ws") as ws:
            for name, image, words in BAD_IMAGES:
                await ws.send_json(generate_msg(image, sid=name))
                _, result = await until_result(ws, name, timeout=30)
                assert result["success"] is False, name
                assert words in result["error"], (name, result["error"])
                assert "avatarData" not in result
                await still_serving(http, ws)
        assert list(tmp_path.iterdir()) == []  # nothing stored

    serve(test, tmp_path)


def test_bad_messages_are_answered_and_the_socket_stays_open(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        async with http.ws_connect("/ws") as ws:
            cases = [
                ("{not json", "error", "malformed JSON"),
                ("[1, 2]", "error", "JSON object"),
                (json.dumps({"type": "make_coffee"}), "error", 'unknown message type "make_coffee"'),
                (json.dumps({"sessionId": "x"}), "error", "unknown message type null"),
                (json.dumps({"type": "generate:cancel", "sessionId": "nope"}), "error", "no generation is running"),
                (json.dumps({"type": "generate_avatar", "sessionId": "a"}), "result", 'no "image"'),
                (json.dumps({"type": "generate_avatar", "sessionId": "b", "image": data_url(grey_png())}),
                 "result", 'no "style"'),
                (json.dumps(generate_msg(data_url(grey_png()), "c", outputSize="huge")), "result", "outputSize"),
                (json.dumps(generate_msg(data_url(grey_png()), "d", preserveExpression=3)), "result",
                 "preserveExpression"),
                (json.dumps(generate_msg(data_url(grey_png()), 7)), "result", "sessionId"),
            ]
            for raw, kind, words in cases:
                await ws.send_str(raw)
                msg = await receive(ws, 30)
                assert msg["type"] == kind, (raw[:60], msg)
                text = msg.get("message") if kind == "error" else msg["error"]
                assert words in text, (raw[:60], text)
                if kind == "result":
                    assert msg["success"] is False
                await still_serving(http, ws)
            await ws.send_bytes(b"\x00\x01")
            assert "JSON text" in (await receive(ws))["message"]
            await still_serving(http, ws)

    serve(test, tmp_path)


def test_rest_bad_input(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        resp = await http.post("/api/generate", json=generate_msg(data_url(truncated_jpeg(), "image/jpeg")))
        assert resp.status == 400 and "truncated" in (await resp.json())["error"]
        resp = await http.post("/api/generate", data=b"{nope", headers={"Content-Type": "application/json"})
        assert resp.status == 400 and "not valid JSON" in (await resp.json())["error"]
        form = aiohttp.FormData()
        form.add_field("image", bomb_png(), filename="bomb.png", content_type="image/png")
        form.add_field("style", "ghibli")
        resp = await http.post("/api/generate", data=form)
        assert resp.status == 400 and "20000x20000" in (await resp.json())["error"]
        big = "data:image/png;base64," + "A" * (4 * (MAX_BYTES // 3) + 4096)
        resp = await http.post("/api/generate", json=generate_msg(big))
        assert resp.status == 400 and "image too large" in (await resp.json())["error"]
        resp = await http.get("/avatars/0123456789abcdef/full.png")
        assert resp.status == 404 and "no output" in (await resp.json())["error"]
        resp = await http.get("/avatars/nope")
        assert resp.status == 404
        resp = await http.get("/create")
        assert resp.status == 200 and "/static/create.js" in await resp.text()

    serve(test, tmp_path)


# ---- through the engine ------------------------------------------------------------------


def _needs_engine() -> None:
    pytest.importorskip("engine.style", reason="engine.style (the style transfer engine) is not installed yet")


def test_no_face_and_unknown_style_then_a_real_avatar(tmp_path: Path) -> None:
    _needs_engine()

    async def test(http: TestClient) -> None:
        async with http.ws_connect("/ws") as ws:
            await ws.send_json(generate_msg(data_url(grey_png()), "grey"))
            _, result = await until_result(ws, "grey")
            assert result["success"] is False and "face" in result["error"].lower(), result
            await ws.send_json(generate_msg(data_url(astronaut_jpeg(), "image/jpeg"), "style", style="picasso"))
            _, result = await until_result(ws, "style")
            assert result["success"] is False and 'unknown style "picasso"' in result["error"], result
            assert "kingdom-hearts" in result["error"]  # it names the real ones
            await still_serving(http, ws)

            await ws.send_json(generate_msg(data_url(astronaut_jpeg(), "image/jpeg"), "ok"))
            progress, result = await until_result(ws, "ok")
            assert result["success"] is True, result
            percents = [p["percent"] for p in progress]
            assert len(percents) >= 4 and percents == sorted(percents) and percents[-1] == 100, percents
            assert all(p["stage"] and p["message"] for p in progress)
            assert result["metadata"]["style"] == "kingdom-hearts"
            assert isinstance(result["metadata"]["processingTime"], (int, float))
            assert "model" in result["metadata"]
            assert result["avatarUrl"] == f"/avatars/{result['avatarId']}/full.png"
            assert result["avatarData"].startswith("data:image/png;base64,")
            assert set(result["outputs"]) == set(SIZES)
            for name, url in result["outputs"].items():
                resp = await http.get(url)
                assert resp.status == 200 and resp.content_type == "image/png"
                with Image.open(io.BytesIO(await resp.read())) as im:
                    assert im.size == SIZES[name], name
                    assert im.mode == ("RGBA" if name == "transparent" else "RGB"), name
            record = await (await http.get(f"/avatars/{result['avatarId']}")).json()
            assert record["metadata"]["style"] == "kingdom-hearts" and len(record["landmarks"]) == 478

    serve(test, tmp_path)


def test_rest_generates_json_and_multipart(tmp_path: Path) -> None:
    _needs_engine()

    async def test(http: TestClient) -> None:
        resp = await http.post("/api/generate", json=generate_msg(data_url(astronaut_jpeg(), "image/jpeg"),
                                                                  style="ghibli"))
        body = await resp.json()
        assert resp.status == 200, body
        assert body["success"] is True and body["metadata"]["style"] == "ghibli"
        with Image.open(io.BytesIO(await (await http.get(body["avatarUrl"])).read())) as im:
            assert im.size == (512, 512)

        form = aiohttp.FormData()
        form.add_field("image", astronaut_jpeg(), filename="me.jpg", content_type="image/jpeg")
        form.add_field("style", "cel-shade")
        form.add_field("enhanceDetails", "true")
        resp = await http.post("/api/generate", data=form)
        body = await resp.json()
        assert resp.status == 200, body
        assert body["metadata"]["style"] == "cel-shade"

        resp = await http.post("/api/generate", json=generate_msg(data_url(grey_png())))
        assert resp.status == 422 and "face" in (await resp.json())["error"].lower()

    serve(test, tmp_path)


def test_cancel(tmp_path: Path) -> None:
    _needs_engine()

    async def test(http: TestClient) -> None:
        async with http.ws_connect("/ws") as ws:
            await ws.send_json(generate_msg(data_url(astronaut_jpeg(), "image/jpeg"), "c1"))
            await ws.send_json({"type": "generate:cancel", "sessionId": "c1"})
            _, result = await until_result(ws, "c1")
            assert result["success"] is False and "cancelled" in result["error"], result
            await still_serving(http, ws)
        assert list(tmp_path.iterdir()) == []

    serve(test, tmp_path)


def test_at_most_two_at_once_and_the_third_is_told_it_waits(tmp_path: Path, monkeypatch) -> None:
    _needs_engine()
    import engine.style

    real = engine.style.generate
    gate = threading.Event()
    lock = threading.Lock()
    running = [0, 0]  # now, most at once

    def held(*args, **kwargs):  # the real engine, held until the test has seen the queue
        with lock:
            running[0] += 1
            running[1] = max(running)
        try:
            assert gate.wait(60)
            return real(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(engine.style, "generate", held)

    async def test(http: TestClient) -> None:
        try:
            await queue(http)
        finally:
            gate.set()  # never leave a worker waiting

    async def queue(http: TestClient) -> None:
        async with http.ws_connect("/ws") as ws:
            image = data_url(astronaut_jpeg(), "image/jpeg")
            for sid in ("q1", "q2", "q3"):
                await ws.send_json(generate_msg(image, sid, style="dark-cloud"))
            seen: dict[str, list[str]] = {"q1": [], "q2": [], "q3": []}
            results = {}
            while len(results) < 3:
                msg = await receive(ws, 120)
                if msg["type"] == "result":
                    results[msg["sessionId"]] = msg
                else:
                    seen[msg["sessionId"]].append(msg["stage"])
                    if msg["stage"] == "queued":
                        for _ in range(200):  # the two others reach the engine
                            if running[0] == 2:
                                break
                            await asyncio.sleep(0.05)
                        assert running[0] == 2, running
                        gate.set()
            assert all(r["success"] for r in results.values()), results
            queued = [sid for sid, stages in seen.items() if "queued" in stages]
            assert len(queued) == 1 and running[1] == 2, (seen, running)
            assert seen[queued[0]].index("queued") < seen[queued[0]].index("starting")

    serve(test, tmp_path)


def test_cancel_while_the_engine_runs(tmp_path: Path) -> None:
    _needs_engine()

    async def test(http: TestClient) -> None:
        async with http.ws_connect("/ws") as ws:
            await ws.send_json(generate_msg(data_url(astronaut_jpeg(), "image/jpeg"), "c2"))
            while True:
                msg = await receive(ws)
                assert msg["type"] == "progress", msg
                if msg["percent"] > 5:  # the engine's first stage (face finding) has begun
                    break
            await ws.send_json({"type": "generate:cancel", "sessionId": "c2"})
            _, result = await until_result(ws, "c2")
            assert result["success"] is False and "cancelled" in result["error"], result
            await ws.send_json(generate_msg(data_url(astronaut_jpeg(), "image/jpeg"), "after"))
            _, result = await until_result(ws, "after")
            assert result["success"] is True, result
        assert len(list(tmp_path.iterdir())) == 1  # only the one that finished

    serve(test, tmp_path)


def test_a_message_past_the_socket_limit_closes_only_that_socket(tmp_path: Path) -> None:
    from webapi.generate import WS_MAX_MSG

    async def test(http: TestClient) -> None:
        async with http.ws_connect("/ws") as other, http.ws_connect("/ws") as ws:
            with contextlib.suppress(ConnectionError):  # the server may close while it arrives
                await ws.send_str("x" * (WS_MAX_MSG + 1))
            m = await ws.receive(timeout=30)
            assert m.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING), m
            # 1009 when the close frame gets through, 1006 when the connection drops first
            assert ws.close_code in (aiohttp.WSCloseCode.MESSAGE_TOO_BIG, aiohttp.WSCloseCode.ABNORMAL_CLOSURE)
            await other.send_str("{oops")
            assert "malformed JSON" in (await receive(other))["message"]
            await still_serving(http, other)

    serve(test, tmp_path)
