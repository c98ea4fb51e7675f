"""VTube Studio's plugin API, in process: a real WebSocket on an aiohttp test server, a real
live session (ticked by the test, no WebRTC), the real SQLite store. Every request type we
serve, the protocol's errors for the rest, the approval on the puppet page, the 1-second
hold of injected values, events, revocation and the limits."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from engine.assets import AvatarBundle, load_bundle
from streaming.live import CommandError, LiveSession
from streaming.vts import plugins
from webapi import vts
from webapi.library.backgrounds import Backgrounds
from webapi.store import Store


@pytest.fixture(scope="module")
def bundle() -> AvatarBundle:
    return load_bundle("digi")


class Clock:
    """The sessions' and the hub's clock, moved by the test."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Manager:
    """What the hub reads of the SessionManager: its live sessions by id."""

    def __init__(self) -> None:
        self.sessions: dict[str, LiveSession] = {}

    def sessions_for_plugins(self) -> list[LiveSession]:
        return list(self.sessions.values())


class Plugin:
    """One plugin's socket: requests by type, answers by requestID, events kept."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.n = 0
        self.answers: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for m in self.ws:
            msg = json.loads(m.data)
            if msg["messageType"].endswith("Event"):
                self.events.append(msg)
            else:
                self.answers[msg["requestID"]] = msg

    async def send_raw(self, raw: str, rid: str) -> dict[str, Any]:
        await self.ws.send_str(raw)
        return await self.wait(rid)

    async def wait(self, rid: str, timeout: float = 10.0) -> dict[str, Any]:
        for _ in range(int(timeout / 0.01)):
            if rid in self.answers:
                return self.answers.pop(rid)
            await asyncio.sleep(0.01)
        raise AssertionError(f"no answer to {rid}")

    async def call(
        self, kind: str, data: dict[str, Any] | None = None, **over: Any
    ) -> dict[str, Any]:
        self.n += 1
        rid = f"r{self.n}"
        msg = {"apiName": "VTubeStudioPublicAPI", "apiVersion": "1.0", "requestID": rid,
               "messageType": kind + "Request"} | ({"data": data} if data is not None else {}) | over  # fmt: skip
        return await self.send_raw(json.dumps(msg), over.get("requestID", rid))

    async def ok(self, kind: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = await self.call(kind, data)
        assert answer["messageType"] == kind + "Response", answer
        assert answer["apiName"] == "VTubeStudioPublicAPI" and isinstance(answer["timestamp"], int)
        return answer["data"]

    async def refused(self, kind: str, data: dict[str, Any] | None = None, **over: Any) -> int:
        answer = await self.call(kind, data, **over)
        assert answer["messageType"] == "APIError", answer
        assert answer["data"]["message"]
        return answer["data"]["errorID"]

    async def event(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        for _ in range(int(timeout / 0.02)):
            for e in self.events:
                if e["messageType"] == kind:
                    self.events.remove(e)
                    return e["data"]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {kind}")


class World:
    def __init__(
        self, http: TestClient, manager: Manager, clock: Clock, bundle: AvatarBundle
    ) -> None:
        self.http = http
        self.manager = manager
        self.clock = clock
        self.bundle = bundle
        self.hub: plugins.PluginHub = http.server.app[vts.HUB]

    def session(self, ident: tuple[str, str] = ("session-one", "tok")) -> LiveSession:
        s = LiveSession(self.bundle, clock=self.clock, ident=ident, tracking="browser")
        self.manager.sessions[s.id] = s
        self.hub.live()  # the link the ticker would attach within a tenth of a second
        return s

    async def plugin(self) -> Plugin:
        return Plugin(await self.http.ws_connect("/api/vts"))

    async def prompt(self, session: LiveSession) -> dict[str, Any]:
        for _ in range(500):
            prompts = session.status()["vts"]["prompts"]
            if prompts:
                return prompts[0]
            await asyncio.sleep(0.01)
        raise AssertionError("no prompt on the page")

    async def approved(self, p: Plugin, session: LiveSession, name: str = "Deck Plugin") -> str:
        """A token request allowed on `session`'s page, then authenticated: the token."""
        p.n += 1
        rid = f"t{p.n}"
        await p.ws.send_str(json.dumps({
            "apiName": "VTubeStudioPublicAPI", "apiVersion": "1.0", "requestID": rid,
            "messageType": "AuthenticationTokenRequest",
            "data": {"pluginName": name, "pluginDeveloper": "Tester"},
        }))  # fmt: skip
        prompt = await self.prompt(session)
        assert (prompt["name"], prompt["developer"]) == (name, "Tester")
        session.command({"type": "vts_answer", "prompt": prompt["id"], "allow": True})
        answer = await p.wait(rid)
        token = answer["data"]["authenticationToken"]
        assert 32 <= len(token) <= 64
        auth = await p.ok(
            "Authentication",
            {"pluginName": name, "pluginDeveloper": "Tester", "authenticationToken": token},
        )
        assert auth["authenticated"] is True
        return token

    def tick(self, session: LiveSession, dt: float = 1 / 60) -> None:
        self.clock.t += dt
        session.tick(self.clock.t)


def run(
    bundle: AvatarBundle, tmp_path: Path, test: Callable[[World], Awaitable[None]], **setup: Any
) -> None:
    async def main() -> None:
        clock, manager = Clock(), Manager()
        store = Store(tmp_path / "t.db")
        app = web.Application()
        vts.setup(app, manager, store, clock=clock, **setup)

        async def start(app: web.Application) -> None:
            await store.start()

        app.on_startup.insert(0, start)
        async with TestClient(TestServer(app)) as http:
            try:
                await test(World(http, manager, clock, bundle))
            finally:
                for s in manager.sessions.values():
                    s.close()
        await store.aclose()

    asyncio.run(asyncio.wait_for(main(), 120))


def test_the_envelope_is_checked_and_answered_in_the_protocols_own_error_shape(
    bundle, tmp_path
) -> None:
    async def test(w: World) -> None:
        p = await w.plugin()
        state = await p.ok("APIState")
        assert state == {"active": True, "vTubeStudioVersion": state["vTubeStudioVersion"],
                         "currentSessionAuthenticated": False}  # fmt: skip
        # no requestID: one is made up and returned
        await p.ws.send_str(
            json.dumps(
                {
                    "apiName": "VTubeStudioPublicAPI",
                    "apiVersion": "1.0",
                    "messageType": "APIStateRequest",
                }
            )
        )
        for _ in range(300):
            if p.answers:
                break
            await asyncio.sleep(0.01)
        ((made, answer),) = p.answers.items()
        p.answers.clear()
        assert answer["messageType"] == "APIStateResponse" and len(made) >= 16
        bad = await p.send_raw("{not json", "unknown")
        assert bad["data"]["errorID"] == 2
        deep = await p.send_raw('{"requestID": "d", "a": ' + "[" * 50 + "]" * 50 + "}", "unknown")
        assert deep["data"]["errorID"] == 2
        assert await p.refused("APIState", apiName="VTubeStudio") == 3
        assert await p.refused("APIState", apiVersion="2.0") == 4
        assert await p.refused("APIState", messageType="") == 6
        assert await p.refused("Frobnicate") == 7
        assert await p.refused("APIState", data=[1]) == 2
        too_long = await p.send_raw(json.dumps({"apiName": "VTubeStudioPublicAPI", "apiVersion": "1.0",
                                                "requestID": "x" * 65, "messageType": "APIStateRequest"}), "unknown")  # fmt: skip
        assert too_long["data"]["errorID"] == 5
        assert await p.refused("CurrentModel") == 8  # not authenticated
        unsupported = await p.call("ItemList")
        assert (
            unsupported["data"]["errorID"] == 7
            and "does not support" in unsupported["data"]["message"]
        )
        # the connection is alive after all that
        assert (await p.ok("APIState"))["active"] is True

    run(bundle, tmp_path, test)


def test_a_plugin_is_approved_once_on_the_page_and_its_token_survives_a_restart(
    bundle, tmp_path
) -> None:
    tokens: list[str] = []

    async def first(w: World) -> None:
        s = w.session()
        p = await w.plugin()
        assert s.status()["vts"] == {"prompts": [], "plugins": []}
        tokens.append(await w.approved(p, s))
        assert (await p.ok("APIState"))["currentSessionAuthenticated"] is True
        for _ in range(100):
            if s.status()["vts"]["plugins"]:
                break
            await asyncio.sleep(0.01)
        listed = s.status()["vts"]["plugins"]
        assert [(x["name"], x["developer"], x["connected"]) for x in listed] == [
            ("Deck Plugin", "Tester", True)
        ]
        assert s.status()["vts"]["prompts"] == []  # answered: gone from the page
        stats = await p.ok("Statistics")
        assert stats["allowedPlugins"] == 1 and stats["connectedPlugins"] == 1
        # a wrong token, or the right one for another plugin name: not authenticated
        q = await w.plugin()
        wrong = await q.ok(
            "Authentication",
            {
                "pluginName": "Deck Plugin",
                "pluginDeveloper": "Tester",
                "authenticationToken": "f" * 64,
            },
        )
        assert wrong["authenticated"] is False
        other = await q.ok(
            "Authentication",
            {
                "pluginName": "Other Plugin",
                "pluginDeveloper": "Tester",
                "authenticationToken": tokens[0],
            },
        )
        assert other["authenticated"] is False
        assert (
            await q.refused(
                "Authentication", {"pluginName": "Deck Plugin", "pluginDeveloper": "Tester"}
            )
            == 100
        )
        assert (
            await q.refused(
                "Authentication", {"pluginDeveloper": "Tester", "authenticationToken": "x"}
            )
            == 101
        )
        assert (
            await q.refused(
                "Authentication", {"pluginName": "Deck Plugin", "authenticationToken": "x"}
            )
            == 102
        )

    async def after_restart(w: World) -> None:
        s = w.session()
        p = await w.plugin()
        auth = await p.ok(
            "Authentication",
            {
                "pluginName": "Deck Plugin",
                "pluginDeveloper": "Tester",
                "authenticationToken": tokens[0],
            },
        )
        assert auth["authenticated"] is True
        model = await p.ok("CurrentModel")
        assert model["modelLoaded"] is True and len(model["modelID"]) == 32
        assert model["numberOfLive2DParameters"] == len(s.bundle.rig.parameters)

    run(bundle, tmp_path, first)
    run(bundle, tmp_path, after_restart)  # the same database file, a new server


def test_deny_bad_names_bad_icons_and_a_second_request_are_refused(bundle, tmp_path) -> None:
    async def test(w: World) -> None:
        s = w.session()
        p = await w.plugin()
        req = {"pluginName": "Chat Bot", "pluginDeveloper": "Someone"}
        assert await p.refused("AuthenticationToken", {**req, "pluginName": "ab"}) == 52
        assert await p.refused("AuthenticationToken", {**req, "pluginDeveloper": "x" * 33}) == 53
        assert await p.refused("AuthenticationToken", {**req, "pluginIcon": "not base64!"}) == 54
        small = io.BytesIO()
        Image.new("RGB", (64, 64), "red").save(small, "PNG")
        assert (
            await p.refused(
                "AuthenticationToken",
                {**req, "pluginIcon": base64.b64encode(small.getvalue()).decode()},
            )
            == 54
        )
        icon = io.BytesIO()
        Image.new("RGB", (128, 128), "red").save(icon, "PNG")
        await p.ws.send_str(json.dumps({"apiName": "VTubeStudioPublicAPI", "apiVersion": "1.0", "requestID": "tok",
                                        "messageType": "AuthenticationTokenRequest",
                                        "data": {**req, "pluginIcon": base64.b64encode(icon.getvalue()).decode()}}))  # fmt: skip
        prompt = await w.prompt(s)
        assert prompt["icon"].startswith("data:image/png;base64,")
        assert await p.refused("AuthenticationToken", req) == 51  # one at a time
        with pytest.raises(CommandError):
            s.command({"type": "vts_answer", "prompt": "nope", "allow": True})
        with pytest.raises(CommandError):
            s.command({"type": "vts_answer", "prompt": prompt["id"], "allow": "yes"})
        s.command({"type": "vts_answer", "prompt": prompt["id"], "allow": False})
        denied = await p.wait("tok")
        assert denied["messageType"] == "APIError" and denied["data"]["errorID"] == 50
        assert s.status()["vts"]["plugins"] == []

    run(bundle, tmp_path, test)


def test_hotkeys_list_our_controls_and_trigger_them_with_an_event(bundle, tmp_path) -> None:
    async def test(w: World) -> None:
        s = w.session()
        # the scene's backgrounds, as webapi attaches them to a session it opens
        pictures = Backgrounds(tmp_path / "backgrounds")
        s.backgrounds = pictures.resolver(None)
        s.background_names = {b["id"]: b["name"] for b in pictures.list(None)}
        p = await w.plugin()
        await w.approved(p, s)
        listed = await p.ok("HotkeysInCurrentModel")
        assert listed["modelLoaded"] is True
        by_name = {h["name"]: h for h in listed["availableHotkeys"]}
        assert {
            "Wave",
            "Dance",
            "Dance 3",
            "Idle",
            "Sit",
            "Outfit: armor",
            "Smile",
            "Framing: bust",
            "Scene: transparent",
            "Scene: Sunset",
        } <= set(by_name)
        assert by_name["Scene: Sunset"]["type"] == "ChangeBackground"
        await p.ok("HotkeyTrigger", {"hotkeyID": by_name["Scene: Sunset"]["hotkeyID"]})
        assert (s.scene.background, s.scene.image) == ("image", "sunset")
        assert by_name["Wave"]["type"] == "TriggerAnimation"
        assert by_name["Outfit: armor"]["type"] == "ToggleExpression"
        assert len({h["hotkeyID"] for h in listed["availableHotkeys"]}) == len(
            listed["availableHotkeys"]
        )
        # stable: the same ids from another session of the same avatar
        again = await p.ok("HotkeysInCurrentModel")
        assert again["availableHotkeys"] == listed["availableHotkeys"]

        await p.ok(
            "EventSubscription",
            {"eventName": "HotkeyTriggeredEvent", "subscribe": True, "config": {}},
        )
        wave = by_name["Wave"]["hotkeyID"]
        assert (await p.ok("HotkeyTrigger", {"hotkeyID": wave}))["hotkeyID"] == wave
        w.tick(s)
        assert s.puppet.state("emote") == "wave"
        fired = await p.event("HotkeyTriggeredEvent")
        assert fired["hotkeyName"] == "Wave" and fired["hotkeyTriggeredByAPI"] is True
        s.command({"type": "transition", "state": "sit"})  # pressed on the page
        fired = await p.event("HotkeyTriggeredEvent")
        assert fired["hotkeyName"] == "Sit" and fired["hotkeyTriggeredByAPI"] is False
        assert not p.events  # each once
        # by name, case-insensitive: the armour outfit (an expression toggle)
        await p.ok("HotkeyTrigger", {"hotkeyID": "outfit: ARMOR"})
        w.tick(s)
        assert s.puppet.wearing["outfit"] == "armor"
        assert await p.refused("HotkeyTrigger", {"hotkeyID": "no such hotkey"}) == 202
        assert await p.refused("HotkeyTrigger", {"hotkeyID": wave, "itemInstanceID": "x"}) == 207
        # a dance hotkey toggles: again while dancing stops it
        await p.ok("HotkeyTrigger", {"hotkeyID": by_name["Dance"]["hotkeyID"]})
        for _ in range(30):
            w.tick(s)
        assert "dance" in (s.puppet.state("emote"), s.puppet.state("body"))
        await p.ok("HotkeyTrigger", {"hotkeyID": by_name["Dance"]["hotkeyID"]})
        for _ in range(60):
            w.tick(s)
        assert "dance" not in (s.puppet.state("emote"), s.puppet.state("body"))
        # a flood: the queue fills and says so
        answers = [await p.call("HotkeyTrigger", {"hotkeyID": "Framing: face"}) for _ in range(40)]
        refused = [a["data"]["errorID"] for a in answers if a["messageType"] == "APIError"]
        assert refused and set(refused) == {200}  # the test's clock stands still: no refill
        assert len(answers) - len(refused) <= plugins.HOTKEY_QUEUE

    run(bundle, tmp_path, test)


def test_injected_parameters_hold_for_a_second_then_tracking_has_them_again(
    bundle, tmp_path
) -> None:
    async def test(w: World) -> None:
        s = w.session()
        p = await w.plugin()
        await w.approved(p, s)
        params = s.puppet.session.params
        w.tick(s)
        assert params.get("ParamMouthOpenY") == pytest.approx(0.0)
        await p.ok(
            "InjectParameterData", {"parameterValues": [{"id": "ParamMouthOpenY", "value": 0.8}]}
        )
        w.tick(s)
        assert params.get("ParamMouthOpenY") == pytest.approx(0.8)
        # VTube Studio's own input names map onto the rig: MouthSmile 1 is a full smile
        await p.ok(
            "InjectParameterData",
            {
                "faceFound": True,
                "parameterValues": [
                    {"id": "MouthSmile", "value": 1.0},
                    {"id": "FaceAngleX", "value": 15, "weight": 0.5},
                ],
            },
        )
        w.tick(s)
        assert params.get("ParamMouthForm") == pytest.approx(1.0)
        assert params.get("ParamAngleX") == pytest.approx(7.5, abs=0.5)  # half of 15 over ~0
        assert (await p.ok("FaceFound"))["found"] is True
        value = await p.ok("ParameterValue", {"name": "MouthSmile"})
        assert value["value"] == pytest.approx(1.0) and value["min"] == 0 and value["max"] == 1
        # 1.1 s without a refresh: let go, back to the default
        w.tick(s, 1.1)
        w.tick(s)
        assert params.get("ParamMouthOpenY") == pytest.approx(0.0, abs=1e-6)
        assert params.get("ParamMouthForm") == pytest.approx(0.0, abs=0.05)
        # add mode: on top of the base, never accumulating tick to tick
        await p.ok(
            "InjectParameterData",
            {"mode": "add", "parameterValues": [{"id": "ParamMouthOpenY", "value": 0.3}]},
        )
        w.tick(s)
        w.tick(s)
        w.tick(s)
        assert params.get("ParamMouthOpenY") == pytest.approx(0.3)
        # another plugin may not set what this one sets, but may add
        q = await w.plugin()
        await w.approved(q, s, "Second Plugin")
        await p.ok(
            "InjectParameterData", {"parameterValues": [{"id": "ParamEyeLOpen", "value": 0.0}]}
        )
        assert (
            await q.refused(
                "InjectParameterData", {"parameterValues": [{"id": "ParamEyeLOpen", "value": 1.0}]}
            )
            == 454
        )
        await q.ok(
            "InjectParameterData",
            {"mode": "add", "parameterValues": [{"id": "ParamEyeLOpen", "value": 0.5}]},
        )

        def inject(values: list[Any], **kw: Any) -> Awaitable[int]:
            return p.refused("InjectParameterData", {"parameterValues": values, **kw})

        assert await inject([]) == 450
        assert await inject([{"id": "ParamNope", "value": 1}]) == 453
        assert await inject([{"id": "MouthOpen", "value": "open"}]) == 451
        assert await inject([{"id": "MouthOpen", "value": 2e6}]) == 451
        assert await inject([{"id": "MouthOpen", "value": 1, "weight": 2}]) == 452
        assert await inject([{"id": "MouthOpen", "value": 1}], mode="multiply") == 455
        # the lists
        inputs = await p.ok("InputParameterList")
        names = {x["name"] for x in inputs["defaultParameters"]}
        assert {"FaceAngleX", "MouthOpen", "EyeOpenLeft", "MouthSmile", "BrowLeftY"} <= names
        live2d = await p.ok("Live2DParameterList")
        assert {x["name"] for x in live2d["parameters"]} == {q.id for q in s.bundle.rig.parameters}
        assert await p.refused("ParameterValue", {"name": "Nope"}) == 500
        # custom parameters: made, fed, read, deleted
        await p.ok(
            "ParameterCreation",
            {
                "parameterName": "HeartRate",
                "explanation": "bpm",
                "min": 40,
                "max": 200,
                "defaultValue": 60,
            },
        )
        await p.ok("InjectParameterData", {"parameterValues": [{"id": "HeartRate", "value": 90}]})
        assert (await p.ok("ParameterValue", {"name": "HeartRate"}))["value"] == 90
        assert await q.refused("ParameterDeletion", {"parameterName": "HeartRate"}) == 402
        assert (
            await p.refused(
                "ParameterCreation",
                {"parameterName": "FaceAngleX", "min": 0, "max": 1, "defaultValue": 0},
            )
            == 354
        )
        await p.ok("ParameterDeletion", {"parameterName": "HeartRate"})
        # disconnecting lets go at once
        await p.ws.close()
        await asyncio.sleep(0.2)
        w.tick(s)
        assert params.get("ParamMouthOpenY") == pytest.approx(0.0, abs=1e-6)

    run(bundle, tmp_path, test)


def test_expressions_outfits_and_face_presets(bundle, tmp_path) -> None:
    async def test(w: World) -> None:
        s = w.session()
        p = await w.plugin()
        await w.approved(p, s)
        state = await p.ok("ExpressionState", {"details": True})
        files = {e["file"]: e for e in state["expressions"]}
        assert files["outfit_casual.exp3.json"]["active"] is True
        assert files["outfit_armor.exp3.json"]["active"] is False
        assert files["smile.exp3.json"]["parameters"] == [{"name": "ParamMouthForm", "value": 1.0}]
        await p.ok("ExpressionActivation", {"expressionFile": "smile.exp3.json", "active": True})
        await p.ok(
            "ExpressionActivation", {"expressionFile": "accessories_hat.exp3.json", "active": True}
        )
        for _ in range(3):
            w.tick(s, 1.0)  # held: no expiry
        assert s.puppet.session.params.get("ParamMouthForm") == pytest.approx(1.0)
        assert s.puppet.wearing["accessories"] == "hat"
        one = await p.ok("ExpressionState", {"details": False, "expressionFile": "smile.exp3.json"})
        assert [e["active"] for e in one["expressions"]] == [True]
        await p.ok("ExpressionActivation", {"expressionFile": "smile.exp3.json", "active": False})
        await p.ok(
            "ExpressionActivation", {"expressionFile": "accessories_hat.exp3.json", "active": False}
        )
        w.tick(s)
        w.tick(s)
        assert s.puppet.session.params.get("ParamMouthForm") == pytest.approx(0.0, abs=0.05)
        assert s.puppet.wearing["accessories"] == "none"
        assert await p.refused("ExpressionState", {"expressionFile": "smile.json"}) == 600
        assert await p.refused("ExpressionState", {"expressionFile": "nope.exp3.json"}) == 601
        assert (
            await p.refused("ExpressionActivation", {"expressionFile": "smile", "active": True})
            == 650
        )
        assert (
            await p.refused(
                "ExpressionActivation", {"expressionFile": "nope.exp3.json", "active": True}
            )
            == 651
        )
        # moving the model is the scene's position and size
        await p.ok(
            "MoveModel",
            {"timeInSeconds": 0, "valuesAreRelativeToModel": False, "positionX": 0.5, "size": 50},
        )
        assert s.scene.x == pytest.approx(0.5) and s.scene.scale > 1.5
        assert (
            await p.refused("MoveModel", {"timeInSeconds": 5, "valuesAreRelativeToModel": False})
            == 302
        )
        assert await p.refused("MoveModel", {"positionX": 0.5}) == 301

    run(bundle, tmp_path, test)


def test_events_revocation_and_a_session_that_is_not_live(bundle, tmp_path) -> None:
    async def test(w: World) -> None:
        s = w.session()
        p = await w.plugin()
        await w.approved(p, s)
        sub = await p.ok(
            "EventSubscription",
            {"eventName": "TestEvent", "subscribe": True, "config": {"testMessageForEvent": "hi"}},
        )
        assert sub == {"subscribedEventCount": 1, "subscribedEvents": ["TestEvent"]}
        w.clock.t += 1.5  # once a second, on the sessions' clock
        assert (await p.event("TestEvent", 3.0))["yourTestMessage"] == "hi"
        await p.ok(
            "EventSubscription", {"eventName": "ModelLoadedEvent", "subscribe": True, "config": {}}
        )
        await p.ok(
            "EventSubscription", {"eventName": "TrackingStatusChangedEvent", "subscribe": True}
        )
        assert (
            await p.refused(
                "EventSubscription",
                {
                    "eventName": "TestEvent",
                    "subscribe": True,
                    "config": {"testMessageForEvent": "x" * 40},
                },
            )
            == 100000
        )
        assert (
            await p.refused(
                "EventSubscription",
                {
                    "eventName": "ModelLoadedEvent",
                    "subscribe": True,
                    "config": {"modelID": ["nope"]},
                },
            )
            == 100050
        )
        assert (
            await p.refused("EventSubscription", {"eventName": "ItemEvent", "subscribe": True})
            == 950
        )
        # faceFound from a plugin: tracking found
        await p.ok(
            "InjectParameterData",
            {"faceFound": True, "parameterValues": [{"id": "MouthOpen", "value": 0.5}]},
        )
        assert (await p.event("TrackingStatusChangedEvent"))["faceFound"] is True
        # the page closes: the model unloads, requests that need it say so
        del w.manager.sessions[s.id]
        assert (await p.event("ModelLoadedEvent"))["modelLoaded"] is False
        assert (await p.ok("CurrentModel"))["modelLoaded"] is False
        assert await p.refused("HotkeyTrigger", {"hotkeyID": "Wave"}) == 201
        assert (
            await p.refused(
                "ExpressionActivation", {"expressionFile": "smile.exp3.json", "active": True}
            )
            == 652
        )
        # ... and comes back (a reload keeps its id): loaded again
        w.manager.sessions[s.id] = s
        assert (await p.event("ModelLoadedEvent"))["modelLoaded"] is True
        off = await p.ok("EventSubscription", {"subscribe": False})
        assert off["subscribedEventCount"] == 0
        # revoked on the page: the next request is refused, the token is void
        plugin_id = s.status()["vts"]["plugins"][0]["id"]
        with pytest.raises(CommandError):
            s.command({"type": "vts_revoke", "plugin": "someone else's"})
        s.command({"type": "vts_revoke", "plugin": plugin_id})
        for _ in range(200):
            if not s.status()["vts"]["plugins"]:
                break
            await asyncio.sleep(0.01)
        assert await p.refused("CurrentModel") == 50
        assert s.status()["vts"]["plugins"] == []

    run(bundle, tmp_path, test)


def test_limits_size_rate_and_connections(bundle, tmp_path) -> None:
    async def test(w: World) -> None:
        p = await w.plugin()
        big = json.dumps({"apiName": "VTubeStudioPublicAPI", "apiVersion": "1.0", "requestID": "big",
                          "messageType": "APIStateRequest", "data": {"pad": "x" * (plugins.MAX_MESSAGE_BYTES + 10)}})  # fmt: skip
        answer = await p.send_raw(big, "unknown")
        assert answer["data"]["errorID"] == 2 and "bytes" in answer["data"]["message"]
        flood = json.dumps(
            {
                "apiName": "VTubeStudioPublicAPI",
                "apiVersion": "1.0",
                "requestID": "f",
                "messageType": "APIStateRequest",
            }
        )
        for _ in range(int(plugins.BURST) + 60):
            await p.ws.send_str(flood)
        answers: list[dict[str, Any]] = []
        for _ in range(500):
            await asyncio.sleep(0.01)
            if "f" in p.answers:
                answers.append(p.answers.pop("f"))
        codes = {a["messageType"] for a in answers}
        assert "APIError" in codes  # some were dropped, and said so
        w.clock.t += 2.0  # the bucket refills on the hub's clock
        assert (await p.ok("APIState"))["active"] is True  # and then it serves again
        extra = [await w.plugin() for _ in range(vts.MAX_PER_ADDRESS - 1)]
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await w.plugin()
        assert refused.value.status == 429
        for x in extra:
            await x.ws.close()

    run(bundle, tmp_path, test)


def test_the_vts_port_serves_the_same_api(bundle, tmp_path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def test(w: World) -> None:
        async with aiohttp.ClientSession() as client:
            async with client.ws_connect(
                f"ws://127.0.0.1:{port}", headers={"Origin": "https://bot.example"}
            ) as ws:
                p = Plugin(ws)
                assert (await p.ok("APIState"))["active"] is True
                await ws.close()
            async with client.get(f"http://127.0.0.1:{port}/") as plain:
                assert plain.status == 400
                assert "WebSocket" in (await plain.json())["error"]

    run(bundle, tmp_path, test, port=port)
