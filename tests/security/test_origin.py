"""Who may talk to `digigami serve` (issue 12): a page from another site may neither open the
generation WebSocket nor change state (a browser sends its Origin; curl, OBS and WHEP
players send none and are let through); the operator can allow more origins; WHEP is
token-authenticated and answers any origin with CORS, and ending a viewer needs the token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import aiohttp
import numpy as np
import pytest

from tests.security.server import Server
from tests.streaming.peers import Client, PhotoCamera

STUDIO = "https://studio.example"
EVIL = "http://evil.example"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("origin"), "--allow-origin", STUDIO)
    running.start()
    yield running
    running.stop()


async def ws_status(live: Server, origin: str | None) -> int:
    """101 when /ws opened (and answered a message), else the refusal's status."""
    headers = {"Origin": origin} if origin else {}
    async with aiohttp.ClientSession() as http:
        try:
            async with http.ws_connect(f"{live.url}/ws", headers=headers) as ws:
                await ws.send_str('{"type": "nothing"}')
                answer = json.loads((await ws.receive(timeout=10)).data)
                assert answer["type"] == "error", answer
                return 101
        except aiohttp.WSServerHandshakeError as e:
            return e.status


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        (None, 101),  # not a browser
        ("same", 101),
        (STUDIO, 101),  # --allow-origin
        (EVIL, 403),
        ("null", 403),  # a sandboxed frame or a file: page
        ("http://127.0.0.1.evil.example", 403),
        ("http://127.0.0.1", 403),  # same host, another port
    ],
)
def test_websocket_upgrades_need_our_origin(
    live: Server, origin: str | None, expected: int
) -> None:
    if origin == "same":
        origin = live.url
    assert asyncio.run(ws_status(live, origin)) == expected


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [
        ("POST", "/api/sessions", b"{}", JSON),
        ("POST", "/api/previews", b"{}", JSON),
        ("POST", "/api/generate", b"{}", JSON),
        ("DELETE", "/api/sessions/nosuch?token=t", None, {}),
    ],
)
def test_state_changing_requests_from_other_sites_are_refused(
    live: Server, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> None:
    status, _, answer = live.request(method, path, body, {**headers, "Origin": EVIL})
    assert status == 403 and "--allow-origin" in json.loads(answer)["error"], (status, answer)
    for ok in (None, live.url, STUDIO):  # reaches the handler: its own 4xx
        extra = {"Origin": ok} if ok else {}
        status, _, answer = live.request(method, path, body, {**headers, **extra})
        assert status in (400, 404), (ok, status, answer)


def test_reading_is_not_origin_checked(live: Server) -> None:
    status, _, _ = live.request("GET", "/api/health", headers={"Origin": EVIL})
    assert status == 200


def test_whep_answers_any_origin_with_cors(live: Server) -> None:
    status, headers, _ = live.request(
        "OPTIONS",
        "/whep/nosuch",
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "DELETE" in headers["Access-Control-Allow-Methods"]
    assert "authorization" in headers["Access-Control-Allow-Headers"].lower()
    status, headers, _ = live.request("OPTIONS", "/whep/nosuch/res", headers={"Origin": EVIL})
    assert status == 204 and "DELETE" in headers["Access-Control-Allow-Methods"]
    status, headers, _ = live.request(
        "POST",
        "/whep/nosuch?token=t",
        b"v=0\r\n",
        {"Content-Type": "application/sdp", "Origin": EVIL},
    )
    assert status == 404, status  # not refused for its origin: no such session
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Location" in headers["Access-Control-Expose-Headers"]


async def _whep_delete_needs_the_token(live: Server) -> list[tuple[str, int]]:
    frames = [np.full((240, 320, 3), 90, np.uint8)]
    puppet, viewer = Client(PhotoCamera(frames)), Client()
    seen = []
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{live.url}/api/sessions", json={"sdp": await puppet.offer(), "type": "offer"}
            ) as r:
                body = await r.json()
                assert r.status == 200, body
            await puppet.accept(body["sdp"])
            sid, token = body["session"], body["token"]
            async with http.post(
                f"{live.url}/whep/{sid}?token={token}",
                data=await viewer.offer(channel=False),
                headers={"Content-Type": "application/sdp"},
            ) as r:
                assert r.status == 201, await r.text()
                location = r.headers["Location"]
                await viewer.accept(await r.text())
            attempts = [
                ("no token", {}, ""),
                ("wrong token", {}, "?token=" + "x" * len(token)),
                ("wrong bearer", {"Authorization": "Bearer nope"}, ""),
                ("bearer", {"Authorization": f"Bearer {token}"}, ""),
                ("again", {"Authorization": f"Bearer {token}"}, ""),
            ]
            for name, headers, query in attempts:
                async with http.delete(f"{live.url}{location}{query}", headers=headers) as r:
                    seen.append((name, r.status))
            async with http.delete(f"{live.url}/api/sessions/{sid}?token={token}") as r:
                assert r.status == 200
    finally:
        await viewer.close()
        await puppet.close()
    return seen


def test_ending_a_whep_viewer_needs_the_token(live: Server) -> None:
    seen = dict(asyncio.run(asyncio.wait_for(_whep_delete_needs_the_token(live), 90)))
    assert seen["no token"] in (401, 403), seen
    assert seen["wrong token"] in (401, 403), seen
    assert seen["wrong bearer"] in (401, 403), seen
    assert seen["bearer"] == 200, seen
    assert seen["again"] == 404, seen  # gone


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("evil.example", 421),  # a rebinding site's name, resolved to 127.0.0.1
        ("127.0.0.1.evil.example", 421),
        ("localhost", 200),
        ("app.localhost", 200),
        ("127.0.0.1", 200),
        ("127.0.0.2", 200),
        ("studio.example", 200),  # the host of an --allow-origin
    ],
)
def test_a_loopback_server_answers_only_to_loopback_names(
    live: Server, host: str, expected: int
) -> None:
    """DNS rebinding: a page whose name points at 127.0.0.1 is same-origin to a loopback
    server; its requests carry that name as Host, and are refused whatever they ask."""
    for path in ("/", "/api/health"):
        status, _, body = live.request(
            "GET", path, headers={"Host": f"{host}:{live.port}", "Origin": f"http://{host}"}
        )
        assert status == expected, (path, body[:200])
        if expected == 421:
            assert host in body.decode(), body
