"""Session ids are the server's (issue 12): before, a client named its own id, so once a
session ended anyone could open a new one under that id with their own token, and the
owner's resume and OBS/WHEP URL got 403. Now ids are issued by the server, a resume needs
the token its id was issued with, and an id is never given to anyone else."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.security.server import Server
from tests.streaming.peers import bare_offer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("ids"), "--max-sessions", "10").start()
    yield s
    s.stop()


def _open(server: Server, **extra: Any) -> tuple[int, dict[str, Any]]:
    """POST a real puppet offer (from a peer that never connects) with `extra` fields."""

    async def offer() -> dict[str, Any]:
        pc, body = await bare_offer("puppet")
        await pc.close()
        return body

    body = {**asyncio.run(offer()), **extra}
    status, _, data = server.request(
        "POST",
        "/api/sessions",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    return status, json.loads(data)


def _end(server: Server, answer: dict[str, Any]) -> None:
    path = f"/api/sessions/{answer['session']}?token={answer['token']}"
    assert server.request("DELETE", path)[0] == 200


def test_ids_are_issued_by_the_server_and_unguessable(server: Server) -> None:
    status, a = _open(server)
    assert status == 200, a
    status, b = _open(server)
    assert status == 200, b
    assert a["session"] != b["session"] and a["token"] != b["token"]
    assert len(a["session"]) >= 22 and len(a["token"]) >= 22  # 128 random bits each
    _end(server, a)
    _end(server, b)


def test_a_client_invented_id_is_refused(server: Server) -> None:
    status, body = _open(server, session="my-own-session-id", token="x" * 22)
    assert status == 403, body
    assert "not issued by this server" in body["error"]
    assert server.health()["sessions"] == 0


def test_an_ended_sessions_id_cannot_be_taken_over(server: Server) -> None:
    status, owner = _open(server)
    assert status == 200, owner
    _end(server, owner)
    status, thief = _open(server, session=owner["session"], token="t" * 22)
    assert status == 403, thief
    # the owner's OBS/WHEP URL and resume still belong to the owner
    status, again = _open(server, session=owner["session"], token=owner["token"])
    assert status == 200, again
    assert again["session"] == owner["session"] and again["obs_url"] == owner["obs_url"]
    _end(server, again)


def test_the_owner_resumes_a_live_or_ended_session_with_its_token(server: Server) -> None:
    status, first = _open(server)
    assert status == 200, first
    ident = {"session": first["session"], "token": first["token"]}
    # another page while the old one's session is live: asked first (issue 15), then moved
    status, asked = _open(server, **ident)
    assert status == 409 and asked["live_elsewhere"] is True, asked
    status, reloaded = _open(server, **ident, move=True)
    assert status == 200, reloaded
    assert reloaded["session"] == first["session"] and reloaded["whep_url"] == first["whep_url"]
    assert server.health()["sessions"] == 1
    # a wrong token for a live id is refused, and leaves the owner's session alone
    status, thief = _open(server, session=first["session"], token="w" * 22)
    assert status == 403, thief
    assert server.health()["sessions"] == 1
    _end(server, reloaded)
    status, resumed = _open(server, **ident)
    assert status == 200 and resumed["session"] == first["session"], resumed
    _end(server, resumed)
