"""Hostile HTTP input (issue 12) against a real `digigami serve`: invalid UTF-8, JSON nested
100,000 deep, bodies of the wrong type or size, malformed HTTP. Each is the client's fault:
a 4xx that says what is wrong, one WARNING line in the log, never a 500 or a traceback."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator

import pytest

from tests.security.server import Server

JSON = {"Content-Type": "application/json"}
SDP = {"Content-Type": "application/sdp"}
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("input"))
    running.start()
    yield running
    running.stop()


def error_of(body: bytes) -> str:
    return json.loads(body)["error"]


@pytest.mark.parametrize("path", ["/api/sessions", "/api/previews"])
def test_invalid_utf8_json_is_a_400_that_names_it(live: Server, path: str) -> None:
    status, _, body = live.request("POST", path, b'{"sdp": "v=0 \xff\xfe", "type": "offer"}', JSON)
    assert status == 400 and "UTF-8" in error_of(body), (status, body)


def test_invalid_utf8_sdp_on_whep_is_a_400_that_names_it(live: Server) -> None:
    status, _, body = live.request("POST", "/whep/nosuch?token=t", b"v=0\r\n\xc3\x28\r\n", SDP)
    assert status == 400 and "UTF-8" in error_of(body), (status, body)


@pytest.mark.parametrize("path", ["/api/sessions", "/api/previews"])
@pytest.mark.parametrize("deep", [DEEP, b'{"a":' * 40_000 + b"1" + b"}" * 40_000])
def test_deeply_nested_json_is_a_400(live: Server, path: str, deep: bytes) -> None:
    status, _, body = live.request("POST", path, deep, JSON)
    assert status == 400 and "nested too deep" in error_of(body), (status, body[:200])


@pytest.mark.parametrize("path", ["/api/sessions", "/api/previews", "/api/generate"])
@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/x-www-form-urlencoded", "text/plain; charset=utf-8", None]
)
def test_json_endpoints_refuse_other_content_types(
    live: Server, path: str, ctype: str | None
) -> None:
    """What a cross-site form or `fetch` without a preflight can send never reaches them."""
    headers = {"Content-Type": ctype} if ctype else {}
    status, _, body = live.request("POST", path, b'{"sdp": "v=0", "type": "offer"}', headers)
    assert status == 415, (status, body)
    assert "application/json" in error_of(body)


def test_multipart_is_only_for_generate(live: Server) -> None:
    form = b'--b\r\nContent-Disposition: form-data; name="style"\r\n\r\nghibli\r\n--b--\r\n'
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    status, _, body = live.request("POST", "/api/sessions", form, headers)
    assert status == 415, (status, body)
    status, _, body = live.request("POST", "/api/generate", form, headers)
    assert status == 400 and "image" in error_of(body), (status, body)  # reached the handler


def test_whep_offers_are_sdp(live: Server) -> None:
    status, _, body = live.request("POST", "/whep/nosuch?token=t", b"v=0\r\n", JSON)
    assert status == 415 and "application/sdp" in error_of(body), (status, body)


@pytest.mark.parametrize("path", ["/api/sessions", "/whep/nosuch?token=t"])
def test_an_oversized_body_is_a_clear_413(live: Server, path: str) -> None:
    headers = SDP if path.startswith("/whep") else JSON
    status, _, body = live.request("POST", path, b" " * (300 * 1024), headers)
    assert status == 413 and "too large" in error_of(body), (status, body[:200])


def raw_request(live: Server, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as s:
        s.sendall(data)
        return s.recv(4096)


def test_client_errors_leave_warnings_not_tracebacks(live: Server) -> None:
    live.request("POST", "/api/sessions", DEEP, JSON)
    live.request("POST", "/whep/nosuch?token=t", b"\xff", SDP)
    # malformed HTTP, refused by aiohttp's parser before any handler
    answer = raw_request(live, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon here\r\n\r\n")
    assert re.match(rb"HTTP/1\.[01] 400 ", answer), answer[:100]
    answer = raw_request(live, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert re.match(rb"HTTP/1\.[01] 4\d\d ", answer), answer[:100]
    # a body that cannot be decoded: bad chunks, a "gzip" body that is not gzip
    post = b"POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    answer = raw_request(live, post + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")
    assert re.match(rb"HTTP/1\.[01] 400 ", answer), answer[:100]
    answer = raw_request(live, post + b"Content-Encoding: gzip\r\nContent-Length: 4\r\n\r\n{}{}")
    assert re.match(rb"HTTP/1\.[01] 415 ", answer), answer[:100]
    assert live.health()["sessions"] == 0  # still serving
    log = live.text()
    assert "Traceback" not in log, live.tail()
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert errors == [], errors
    assert "nested too deep" in log and "not valid UTF-8" in log  # said once, as a WARNING
    assert "bad HTTP (400)" in log


def test_an_error_after_a_websocket_opened_writes_no_http_answer_into_it(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    """The error middleware must not answer in HTTP on a connection that speaks WebSocket:
    the socket is closed instead, and a bug of ours is logged once."""
    import asyncio

    import aiohttp
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from streaming.manager import BadOffer
    from webapi.app import create_app

    async def broken(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("hello")
        await ws.receive()
        raise BadOffer("late") if request.query.get("kind") == "client" else RuntimeError("bug")

    async def main() -> list[list[aiohttp.WSMsgType]]:
        app = create_app(avatar_root=tmp_path)
        app.router.add_get("/broken", broken)
        seen = []
        async with TestClient(TestServer(app)) as http:
            for kind in ("client", "ours"):
                async with http.ws_connect(f"/broken?kind={kind}") as ws:
                    assert (await ws.receive(timeout=10)).data == "hello"
                    await ws.send_str("go")
                    types = []
                    while (m := await ws.receive(timeout=10)).type not in (
                        aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.ERROR,
                    ):
                        types.append(m.type)
                    types.append(m.type)
                    seen.append(types)
            assert (await http.get("/api/health")).status == 200
        return seen

    seen = asyncio.run(asyncio.wait_for(main(), 120))
    for types in seen:  # a close, not an HTTP answer parsed as a broken frame
        assert aiohttp.WSMsgType.ERROR not in types, seen
        assert aiohttp.WSMsgType.TEXT not in types, seen
    assert "Response is sent already" not in caplog.text
    with_traceback = [r.getMessage() for r in caplog.records if r.exc_info]
    assert with_traceback == ["GET /broken failed"], with_traceback  # ours, once
    late = [r for r in caplog.records if "late" in r.getMessage()]
    assert [r.levelname for r in late] == ["WARNING"], caplog.text  # the client's: one line
