"""A signed-in streamer's OBS and WHEP links may carry one of their API tokens instead of the
session's own token (issue 13: "API tokens ... for scripts and the OBS/WHEP links of a
signed-in user"); anyone else's token, or a revoked one, is refused. Real peers in-process."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient

from tests.api.test_avatars_api import serve, sign_up
from tests.api.test_wear_saved import open_puppet
from tests.streaming.peers import Client


async def whep(http: TestClient, session: str, headers: dict[str, str]) -> tuple[int, str, Client]:
    viewer = Client()
    sdp = await viewer.offer(channel=False)
    r = await http.post(
        f"/whep/{session}", data=sdp, headers={"Content-Type": "application/sdp", **headers}
    )
    return r.status, r.headers.get("Location", ""), viewer


def test_the_owners_api_token_opens_the_obs_and_whep_views(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        ann = await sign_up(http, "ann")
        bob = await sign_up(http, "bob")
        puppet, status, answer = await open_puppet(http, ann)
        assert status == 200, answer
        sid = answer["session"]
        try:
            status, location, viewer = await whep(http, sid, ann)
            assert status == 201, status
            await viewer.close()
            # as OBS's URL carries it: ?token=<API token>
            token = ann["Authorization"].removeprefix("Bearer ")
            r = await http.delete(f"{location}?token={token}")
            assert r.status == 200, await r.text()
            # someone else's API token, or none, opens nothing
            for headers in (bob, {}):
                status, _, viewer = await whep(http, sid, headers)
                await viewer.close()
                assert status == 403, (headers, status)
        finally:
            await puppet.close()

    serve(tmp_path, test, streaming=True)


def test_a_guests_session_takes_only_its_own_token(tmp_path: Path) -> None:
    async def test(http: TestClient) -> None:
        bob = await sign_up(http, "bob")
        puppet, status, answer = await open_puppet(http, None)  # a guest
        assert status == 200, answer
        try:
            status, _, viewer = await whep(http, answer["session"], bob)
            await viewer.close()
            assert status == 403, status
            own = {"Authorization": f"Bearer {answer['token']}"}
            status, _, viewer = await whep(http, answer["session"], own)
            await viewer.close()
            assert status == 201, status
        finally:
            await puppet.close()

    serve(tmp_path, test, streaming=True)
