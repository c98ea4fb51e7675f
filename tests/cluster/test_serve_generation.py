"""Avatar generation on Ray Serve (webapi/cluster/generation.py): a real front app (the
marketplace's test server: its own database and folders) whose `Generator` sends the
engine's work to the Serve deployment on a local Ray cluster, while the protocol, the
queue and its positions, the limits and the saving stay on the front.

Proof that a job ran on Serve: the result's `metadata.servedBy` names a live Serve replica
actor (the front never runs the engine in these tests). Bad input must be answered exactly
as a single box answers it, whether the front refuses it (not an image) or the replica
does (a truncated photo, no face)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

pytest.importorskip("engine.style", reason="generation needs the style engine (torch)")
ray = pytest.importorskip("ray", reason="cluster mode needs ray[serve]")

from ray import serve  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from tests.market.test_api_catalog import Server, call, published, user  # noqa: E402
from tests.market.test_style_items import creator, pack_zip  # noqa: E402
from tests.webapi.images import astronaut_jpeg, data_url, grey_png, truncated_jpeg  # noqa: E402
from webapi.app import create_app  # noqa: E402
from webapi.cluster import generation  # noqa: E402
from webapi.generate import GENERATOR  # noqa: E402

REPLICA_PREFIX = f"SERVE_REPLICA::{generation.APP}#{generation.DEPLOYMENT}#"
PHOTO = data_url(astronaut_jpeg(), "image/jpeg")


@pytest.fixture(scope="module")
def deployment(request: pytest.FixtureRequest) -> Iterator[generation.ServeGeneration]:
    """The deployment (one CPU replica) on the cluster shared by the cluster tests when
    tests/cluster/conftest.py has one (`ray_cluster`), else on a cluster of our own."""
    own = None
    try:
        shared = request.getfixturevalue("ray_cluster")
    except pytest.FixtureLookupError:
        own = shared = Cluster(
            initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False}
        )
    if not ray.is_initialized():
        ray.init(address=shared.address, namespace="digigami")
    try:
        yield generation.deploy(1, 1, replica_cpus=1)
    finally:
        serve.shutdown()
        if own is not None:
            ray.shutdown()
            own.shutdown()


@pytest.fixture(scope="module")
def front(
    tmp_path_factory: pytest.TempPathFactory, deployment: generation.ServeGeneration
) -> Iterator[Server]:
    """A front app generating on Serve."""
    s = Server(tmp_path_factory.mktemp("front"))
    s.app[GENERATOR].remote = deployment
    try:
        yield s
    finally:
        s.close()


def generate_msg(sid: str, image: str = PHOTO, **options: Any) -> dict[str, Any]:
    return {"type": "generate_avatar", "sessionId": sid, "image": image,
            "style": "kingdom-hearts", "options": {"outputSize": 256, **options}}  # fmt: skip


async def until_results(ws: Any, *sids: str) -> list[tuple[list[dict[str, Any]], dict[str, Any]]]:
    """Each of `sids`' (progress messages, result), read off one socket."""
    progress: dict[str, list[dict[str, Any]]] = {sid: [] for sid in sids}
    results: dict[str, dict[str, Any]] = {}
    while len(results) < len(sids):
        m = await ws.receive(timeout=120)
        assert m.type == aiohttp.WSMsgType.TEXT, (m.type, m.data)
        msg = json.loads(m.data)
        sid = msg.get("sessionId")
        if sid not in progress:
            continue
        if msg["type"] == "progress":
            progress[sid].append(msg)
        elif msg["type"] == "result":
            results[sid] = msg
    return [(progress[sid], results[sid]) for sid in sids]


async def until_result(ws: Any, sid: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return (await until_results(ws, sid))[0]


def assert_served_by_a_replica(result: dict[str, Any]) -> str:
    assert result["success"] is True, result
    served_by = result["metadata"]["servedBy"]
    assert served_by.startswith(REPLICA_PREFIX), served_by
    ray.get_actor(served_by, namespace="serve")  # a live Serve replica's actor, by that name
    return served_by


def test_a_photo_is_generated_on_a_replica_with_its_progress(front: Server) -> None:
    async def test() -> None:
        http = front.http
        async with http.ws_connect("/ws") as ws:
            await ws.send_json(generate_msg("one"))
            progress, result = await until_result(ws, "one")
        served_by = assert_served_by_a_replica(result)
        stages = [p["stage"] for p in progress]
        # our stages around the engine's own, streamed back from the replica
        assert stages[0] == "decoding" and "starting" in stages and "face" in stages, stages
        assert stages[-2:] == ["saving", "done"], stages
        percents = [p["percent"] for p in progress]
        assert percents == sorted(percents) and percents[-1] == 100, percents
        # saved by the front, where its pages find it
        for url in result["outputs"].values():
            resp = await http.get(url)
            assert resp.status == 200 and resp.content_type == "image/png", url
        resp = await http.get(result["avatarUrl"])
        with Image.open(io.BytesIO(await resp.read())) as im:
            assert im.size == (256, 256)
        record = await (await http.get(f"/avatars/{result['avatarId']}")).json()
        assert record["metadata"]["servedBy"] == served_by
        assert result["features"] and result["character"]  # the likeness, measured there too
        assert (front.root.parent / "avatars" / result["avatarId"]).is_dir()

    front.run(test(), timeout=300)


def test_rest_generation_is_served_and_saved_to_the_library(front: Server) -> None:
    async def test() -> None:
        who = await user(front.http, "gen")
        status, body = await call(front.http, "POST", "/api/generate", who,
                                  {"image": PHOTO, "style": "ghibli", "options": {"outputSize": 128}})  # fmt: skip
        assert status == 200, body
        assert_served_by_a_replica(body)
        assert body["libraryId"], body  # the maker's "My avatars", on the front's database
        status, mine = await call(front.http, "GET", "/api/avatars", who)
        assert status == 200 and body["libraryId"] in json.dumps(mine), mine

    front.run(test(), timeout=300)


def test_a_job_past_the_replicas_waits_in_line_with_its_position(front: Server) -> None:
    assert front.app[GENERATOR].limits.max_running == 1  # one replica, one job each

    async def test() -> None:
        async with front.http.ws_connect("/ws") as ws:
            await ws.send_json(generate_msg("first"))
            await ws.send_json(generate_msg("second"))
            runs = await until_results(ws, "first", "second")
        queued = [[p for p in progress if p["stage"] == "queued"] for progress, _ in runs]
        assert sum(1 for q in queued if q) == 1, queued  # exactly one of the two waited
        assert all("Waiting in line" in p["message"] for q in queued for p in q)
        for _, result in runs:
            assert_served_by_a_replica(result)

    front.run(test(), timeout=300)


def test_a_cancel_stops_the_job_on_its_replica(
    front: Server, deployment: generation.ServeGeneration
) -> None:
    def stopped() -> int:  # one replica: every call reaches it
        return deployment.handle.stats.remote().result(timeout_s=60)["stopped"]

    before = stopped()

    async def test() -> None:
        async with front.http.ws_connect("/ws") as ws:
            # a large output: the engine's stages take long enough to be cancelled between
            await ws.send_json(generate_msg("stop", outputSize=2048, enhanceDetails=True))
            while True:
                m = json.loads((await ws.receive(timeout=120)).data)
                if m["type"] == "progress" and m["stage"] == "starting":  # on the replica
                    break
            await ws.send_json({"type": "generate:cancel", "sessionId": "stop"})
            _, result = await until_result(ws, "stop")
            assert result["success"] is False and result["error"] == "generation cancelled", result
            # the replica is free again and the front's slot was given back
            await ws.send_json(generate_msg("after"))
            _, result = await until_result(ws, "after")
            assert_served_by_a_replica(result)
        assert front.app[GENERATOR].queue.running == 0

    front.run(test(), timeout=300)
    assert stopped() == before + 1  # the engine was stopped there, not only the answer


def test_a_market_style_pack_generates_on_a_replica(front: Server) -> None:
    async def test() -> None:
        http = front.http
        maker, buyer = await creator(http), await user(http, "buyer")
        lid = (await published(http, maker, pack_zip("servewash", "Serve wash")))["id"]
        status, got = await call(
            http, "POST", "/api/marketplace/purchase", buyer, {"asset_id": lid}
        )
        assert status == 200 and got["status"] == "owned", got
        status, body = await call(http, "POST", "/api/generate", buyer,
                                  {"image": PHOTO, "style": lid, "options": {"outputSize": 128}})  # fmt: skip
        assert status == 200, body
        assert_served_by_a_replica(body)
        # the replica ran the pack's own parameters (the engine names the pack pipeline)
        assert body["metadata"]["model"] == "digigami-pack-pipeline-1", body["metadata"]

    front.run(test(), timeout=300)


BAD = [
    (
        "not an image",
        {"image": data_url(b"just some text, no picture", "image/png"), "style": "ghibli"},
    ),
    ("truncated photo", {"image": data_url(truncated_jpeg(), "image/jpeg"), "style": "ghibli"}),
    ("no face", {"image": data_url(grey_png()), "style": "ghibli"}),
    ("unknown style", {"image": PHOTO, "style": "picasso"}),
]


def test_bad_input_is_answered_as_on_a_single_box(front: Server, tmp_path: Path) -> None:
    async def answers(http: TestClient) -> list[tuple[int, str]]:
        out = []
        for _, body in BAD:
            async with http.post("/api/generate", json=body) as resp:
                out.append((resp.status, (await resp.json())["error"]))
        return out

    async def single_box() -> list[tuple[int, str]]:
        async with TestClient(TestServer(create_app(avatar_root=tmp_path / "avatars"))) as http:
            return await answers(http)

    alone = asyncio.run(asyncio.wait_for(single_box(), 300))
    on_serve = front.run(answers(front.http), timeout=300)
    assert [a[0] for a in alone] == [400, 400, 422, 400], alone
    for (name, _), a, b in zip(BAD, alone, on_serve, strict=True):
        assert a == b, (name, a, b)


def test_create_app_sends_generation_to_serve(
    tmp_path: Path, deployment: generation.ServeGeneration
) -> None:
    app = create_app(avatar_root=tmp_path / "avatars", remote_generation=deployment)
    assert app[GENERATOR].remote is deployment
    assert app[GENERATOR].limits.max_running == deployment.capacity  # its line, not Serve's

    async def test() -> dict[str, Any]:
        async with TestClient(TestServer(app)) as http:
            body = {"image": PHOTO, "style": "dark-cloud", "options": {"outputSize": 128}}
            async with http.post("/api/generate", json=body) as resp:
                assert resp.status == 200, await resp.text()
                return await resp.json()

    assert_served_by_a_replica(asyncio.run(asyncio.wait_for(test(), 300)))


def test_a_second_front_finds_the_deployment(front: Server) -> None:
    found = generation.connect_generation()  # synchronous: as a front's CLI calls it
    assert found.capacity == 1

    async def test() -> generation.Generated:
        task = generation.GenerationTask(
            astronaut_jpeg(), "cel-shade", {"output_size": 128}, 512 * 512
        )
        return await found.generate(task, lambda *_: None, asyncio.Event())

    made = front.run(test(), timeout=300)
    assert made.served_by.startswith(REPLICA_PREFIX) and made.avatar.outputs["full"].shape == (
        128,
        128,
        3,
    )


def test_a_lost_replica_is_answered_and_serve_starts_another(
    front: Server, deployment: generation.ServeGeneration
) -> None:
    """Last of the cluster tests: it kills the replica."""
    victim = deployment.handle.stats.remote().result(timeout_s=60)["replica"]

    async def test() -> None:
        async with front.http.ws_connect("/ws") as ws:
            await ws.send_json(generate_msg("lost", outputSize=2048, enhanceDetails=True))
            while True:
                m = json.loads((await ws.receive(timeout=120)).data)
                if m["type"] == "progress" and m["stage"] == "starting":  # on the replica
                    break
            ray.kill(ray.get_actor(victim, namespace="serve"), no_restart=True)
            _, result = await until_result(ws, "lost")
            assert result["success"] is False and "replica was lost" in result["error"], result
            await ws.send_json(generate_msg("again"))
            _, result = await until_result(ws, "again")
        assert assert_served_by_a_replica(result) != victim
        assert front.app[GENERATOR].queue.running == 0

    front.run(test(), timeout=300)


@pytest.mark.parametrize(
    ("text", "words"),
    [("4", None), ("0:3", None), ("3:1", "at most the maximum"), ("1:0", "at most the maximum"),
     ("0:0", "maximum must be 1"), ("1:99999", "maximum must be 1 to 1024"), ("a:b", "MIN:MAX"),
     ("1:2:3", "MIN:MAX"), ("-1:2", "MIN:MAX"), ("", "MIN:MAX")],
)  # fmt: skip
def test_replica_bounds_are_checked(text: str, words: str | None) -> None:
    if words is None:
        low, high = generation.parse_replicas(text)
        assert 0 <= low <= high
    else:
        with pytest.raises(ValueError, match=words):
            generation.parse_replicas(text)


def test_deploy_refuses_bad_bounds_before_touching_the_cluster() -> None:
    for kwargs, words in [({"min_replicas": 2, "max_replicas": 1}, "at most the maximum"),
                          ({"max_ongoing": 0}, "max_ongoing"), ({"replica_cpus": 0}, "replica_cpus")]:  # fmt: skip
        with pytest.raises(ValueError, match=words):
            generation.deploy(**kwargs)
