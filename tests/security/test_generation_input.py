"""Issue 12, hostile input to generation: deep JSON over the socket and over REST, a message
flood, broken multipart forms, invalid UTF-8. Each is answered on its own channel in words
(a 4xx, or an error message with the socket still open), logged at WARNING without a
traceback, and the server keeps serving."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from tests.security.test_generation_queue import FakeEngine, Served, receive, request
from webapi import generate
from webapi.app import create_app

DEEP = "[" * 100_000 + "]" * 100_000
DEEPISH = "[" * 1000 + "]" * 1000  # deep, yet short enough for a form field


@pytest.fixture
def fake(monkeypatch) -> FakeEngine:
    engine = FakeEngine()
    engine.everything.set()  # nothing is held: every job finishes at once
    monkeypatch.setattr(generate, "_engine", lambda: engine)
    return engine


def run(test: Callable[[Served, aiohttp.ClientSession], Awaitable[None]], root: Path) -> None:
    async def main() -> None:
        async with Served(create_app(avatar_root=root)) as server, aiohttp.ClientSession() as http:
            await test(server, http)

    asyncio.run(asyncio.wait_for(main(), 120))


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


async def result_of(ws, sid: str) -> dict:
    while True:
        msg = await receive(ws)
        if msg["type"] == "result" and msg["sessionId"] == sid:
            return msg


# ---- the socket -----------------------------------------------------------------------------


def test_deep_json_on_the_socket_is_answered_and_the_socket_lives(tmp_path, fake, caplog) -> None:
    caplog.set_level(logging.WARNING)

    async def test(server: Served, http: aiohttp.ClientSession) -> None:
        async with http.ws_connect(server.make_url("/ws")) as ws:
            await ws.send_str(DEEP)
            msg = await receive(ws)
            assert msg["type"] == "error" and "nested too deep" in msg["message"], msg
            deep_options = json.dumps({**request(5), "options": None})[:-1] + ', "x": ' + DEEP + "}"
            await ws.send_str(deep_options)
            assert "nested too deep" in (await receive(ws))["message"]
            await ws.send_json({"type": "make_coffee"})
            assert 'unknown message type "make_coffee"' in (await receive(ws))["message"]
            await ws.send_json(request(7, "after"))
            assert (await result_of(ws, "after"))["success"] is True
            assert not ws.closed
        assert (await http.get(server.make_url("/api/health"))).status == 200

    run(test, tmp_path)
    assert any("nested too deep" in r.getMessage() for r in caplog.records)  # logged, WARNING
    no_tracebacks(caplog)


def test_a_failure_inside_the_socket_never_becomes_an_http_500(
    tmp_path, fake, monkeypatch, caplog
) -> None:
    real = generate._dispatch
    calls = [0]

    def broken_once(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("a bug in one message")
        return real(*args, **kwargs)

    monkeypatch.setattr(generate, "_dispatch", broken_once)

    async def test(server: Served, http: aiohttp.ClientSession) -> None:
        async with http.ws_connect(server.make_url("/ws")) as ws:
            await ws.send_json(request(1, "first"))
            msg = await receive(ws)
            assert msg == {"type": "error", "message": "internal error (logged on the server)"}
            await ws.send_json(request(2, "second"))
            assert (await result_of(ws, "second"))["success"] is True

    run(test, tmp_path)


def test_a_message_flood_is_refused_then_the_socket_closed(tmp_path, fake) -> None:
    async def test(server: Served, http: aiohttp.ClientSession) -> None:
        async with http.ws_connect(server.make_url("/ws")) as ws:
            for _ in range(60):
                await ws.send_json({"type": "nope"})
            await ws.send_json({"type": "generate:cancel", "sessionId": "marker"})
            answers = []
            while True:  # the marker may be dropped too; the socket then answers nothing more
                try:
                    msg = await receive(ws, timeout=3)
                except TimeoutError:
                    break
                answers.append(msg["message"])
            too_many = [a for a in answers if a.startswith("too many messages")]
            assert len(too_many) == 1, answers  # said once, not once per message
            assert "at most 5 a second (20 at once)" in too_many[0]
            assert len(answers) < 61 and not ws.closed
            await asyncio.sleep(0.5)  # the bucket refills: a calmer client is served again
            await ws.send_json({"type": "nope"})
            assert "unknown message type" in (await receive(ws))["message"]

            for _ in range(300):  # sustained abuse: the socket is closed for policy
                if ws.closed:
                    break
                try:
                    await ws.send_json({"type": "nope"})
                except ConnectionError:  # the server has closed it under us
                    break
            while (m := await ws.receive(timeout=10)).type == aiohttp.WSMsgType.TEXT:
                pass
            assert ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION, (m, ws.close_code)
        assert (await http.get(server.make_url("/api/health"))).status == 200

    run(test, tmp_path)


# ---- REST -----------------------------------------------------------------------------------


def form(**fields: bytes | str) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for name, value in fields.items():
        if name == "image":
            data.add_field(name, value, filename="me.png", content_type="image/png")
        elif isinstance(
            value, bytes
        ):  # raw bytes travel as a file part; the server reads it by name
            data.add_field(name, value, filename=name, content_type="text/plain")
        else:
            data.add_field(name, value)
    return data


def test_rest_bad_bodies_are_4xx_in_words(tmp_path, fake, caplog) -> None:
    caplog.set_level(logging.WARNING)
    from tests.security.test_generation_queue import png

    async def test(server: Served, http: aiohttp.ClientSession) -> None:
        url = server.make_url("/api/generate")
        cases = [
            (dict(data=DEEP, headers={"Content-Type": "application/json"}), "nested too deep"),
            (dict(data=b'{"style": "\xff\xfe"}', headers={"Content-Type": "application/json"}),
             "not valid UTF-8"),
            (dict(data=form(image=png(3), style="ghibli", options="{not json")),
             'form field "options" is not valid JSON'),
            (dict(data=form(image=png(3), style="ghibli", options=DEEPISH)),
             'form field "options" is nested too deep'),
            (dict(data=form(image=png(3), style=b"\xffghibli")), 'form field "style" is not valid UTF-8'),
            (dict(data=form(image=png(3), style="ghibli", sessionId=b"\xc3\x28")),
             'form field "sessionId" is not valid UTF-8'),
        ]  # fmt: skip
        for kwargs, words in cases:
            resp = await http.post(url, **kwargs)
            body = await resp.json()
            assert resp.status == 400 and words in body["error"], (words, resp.status, body)
        resp = await http.post(
            url, data=form(image=png(3), style="ghibli", options='{"outputSize": 256}')
        )
        assert (
            resp.status == 200 and (await resp.json())["success"] is True
        )  # a good form still works

    run(test, tmp_path)
    assert sum(r.levelno == logging.WARNING for r in caplog.records) >= 6
    no_tracebacks(caplog)


async def post_junk(
    port: int, total: int, field: str, size: int, *, declare: bool
) -> tuple[int, str, int]:
    """POST a multipart body of `total` bytes of junk fields (`field`, `size` bytes each) that
    never closes, as the attack did; (status, body, bytes sent before the answer came)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        "POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: multipart/form-data; boundary=JUNK\r\n"
        + (f"Content-Length: {total}\r\n" if declare else "Transfer-Encoding: chunked\r\n")
        + "\r\n"
    )
    writer.write(head.encode())
    answer = asyncio.create_task(reader.readuntil(b"\r\n\r\n"))
    sent = n = 0
    try:
        while sent < total and not answer.done():
            n += 1
            piece = f'--JUNK\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n'.encode()
            piece += b"x" * size + b"\r\n"
            writer.write(piece if declare else f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await writer.drain()
            sent += len(piece)
            await asyncio.sleep(0)
    except ConnectionError:
        pass
    head_bytes = await asyncio.wait_for(answer, 30)
    status = int(head_bytes.split()[1])
    length = next(int(line.split(b":")[1]) for line in head_bytes.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))  # fmt: skip
    body = (await reader.readexactly(length)).decode()
    writer.close()
    return status, body, sent


@pytest.mark.parametrize(
    ("field", "size", "status", "words"),
    [
        (
            "image",
            4 * 2**20,
            413,
            "the request body is too large: at most 11.0 MB for the whole form",
        ),
        ("junk", 60_000, 400, "the form has too many fields (at most 16"),
    ],
    ids=["big-fields", "many-fields"],
)
def test_200_mb_of_multipart_junk_is_refused_early(
    tmp_path, fake, caplog, field, size, status, words
) -> None:
    caplog.set_level(logging.WARNING)

    async def test(server: Served, http: aiohttp.ClientSession) -> None:
        for declare in (False, True):  # chunked (nothing declared), then a declared length
            got, body, sent = await post_junk(
                server.port, 200 * 2**20, field, size, declare=declare
            )
            if declare:  # refused from the header, unread
                assert got == 413 and "at most 11.0 MB for the whole form" in body, (got, body)
            else:
                assert got == status and words in body, (got, body)
            assert sent < 64 * 2**20, f"{sent / 2**20:.0f} MB read before the refusal"
        assert (await http.get(server.make_url("/api/health"))).status == 200

    run(test, tmp_path)
    no_tracebacks(caplog)


def test_a_form_cut_short_is_a_400(tmp_path, fake, caplog) -> None:
    async def test(server: Served, http: aiohttp.ClientSession) -> None:
        body = b'--B\r\nContent-Disposition: form-data; name="style"\r\n\r\nghibli\r\n--B\r\nContent-Disp'
        resp = await http.post(server.make_url("/api/generate"), data=body,
                               headers={"Content-Type": "multipart/form-data; boundary=B"})  # fmt: skip
        text = await resp.text()
        assert resp.status == 400, text
        assert "the multipart form could not be read" in json.loads(text)["error"]

    run(test, tmp_path)
    no_tracebacks(caplog)
