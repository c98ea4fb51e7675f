"""Hostile messages on the `control` data channel (issue 12), with two real aiortc peers
in-process: a deep `[[[[...` used to raise RecursionError out of our handler into aiortc,
whose DTLS transport died with it (the session's video fell to 0 fps). Now every bad
message (too deep, too long, binary, a flood) is answered with an error on the channel,
logged as a WARNING now and then (never a traceback), and the video keeps flowing."""

from __future__ import annotations

import logging

import pytest
from aiohttp.test_utils import TestClient

from streaming import control
from tests.streaming.peers import Client, connect, serve


async def _streaming_client(http: TestClient) -> Client:
    client = Client()  # no webcam: the avatar received, the control channel
    await connect(http, client)
    await client.wait_for(lambda: client.of_type("hello"), 20, "hello")
    await client.wait_for(lambda: client.received > 10, 30, "avatar frames")
    return client


async def _error(client: Client, words: str) -> None:
    await client.wait_for(
        lambda: any(words in m["message"] for m in client.of_type("error")), 10, f'"{words}"'
    )


async def _still_streaming(client: Client) -> None:
    """More frames, and a good command still obeyed: the transport and session live on."""
    n = client.received
    await client.wait_for(lambda: client.received > n + 30, 15, "more avatar frames")
    client.send({"type": "transition", "state": "wave"})
    await client.wait_for(
        lambda: any(m["state"] == "wave" for m in client.of_type("status")), 10, "the wave"
    )


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == control.__name__]


def test_deep_json_is_refused_and_the_video_keeps_flowing(caplog) -> None:
    caplog.set_level(logging.WARNING)

    async def test(http: TestClient) -> None:
        client = await _streaming_client(http)
        client.channel.send("[" * 2000 + "]" * 2000)  # under the size limit, json recurses
        await _error(client, "nested too deep")
        await _still_streaming(client)
        await client.close()

    serve(test)
    records = _warnings(caplog)
    assert records and all(r.levelno == logging.WARNING and not r.exc_info for r in records)


def test_huge_and_binary_messages_are_refused_and_the_video_keeps_flowing(caplog) -> None:
    caplog.set_level(logging.WARNING)

    async def test(http: TestClient) -> None:
        client = await _streaming_client(http)
        client.channel.send('{"type": "stop", "region": "' + "x" * 60_000 + '"}')
        await _error(client, "too long")
        client.channel.send(b"\x00\x01binary")
        await _error(client, "not binary")
        await _still_streaming(client)
        await client.close()

    serve(test)
    assert all(not r.exc_info for r in _warnings(caplog))


def test_a_flood_is_rate_limited_and_logged_rarely(caplog) -> None:
    caplog.set_level(logging.WARNING)
    flood = 400  # far over a burst (control.BURST) and the rate

    async def test(http: TestClient) -> None:
        client = await _streaming_client(http)
        for _ in range(flood):
            client.send({"type": "framing", "value": "full"})
        await _error(client, "too many control messages")
        told = [m for m in client.of_type("error") if "too many" in m["message"]]
        assert len(told) <= 3, told  # not one answer per dropped message: a flood back
        await _still_streaming(client)  # (the bucket refills at the rate)
        await client.close()

    serve(test)
    records = _warnings(caplog)
    assert 1 <= len(records) <= 3, [r.getMessage() for r in records]
    assert all(not r.exc_info for r in records)
