"""Plugins: who may drive which avatar, and each plugin connection's requests.

A plugin asks for a token (`AuthenticationTokenRequest`); the request is shown on every live
puppet page as "<plugin> by <developer> wants to control your avatar" with Allow / Deny, and
the page that answers first decides. Allowed, the plugin is bound to that page's session
(and to its account, when signed in): the token is remembered (its hash, in the store,
`PluginStore`), so the streamer approves a plugin once, across reloads and restarts. A
plugin then drives the session it is bound to whenever that session is live (or, for an
account's plugin, that account's live session); while none is, requests that need a model
answer as VTube Studio does with no model loaded. Revoking it on the puppet page ends its
access at once (its next request answers error 50, as VTube Studio's does).

`PluginHub`: the prompts, the approved plugins and every connection; `Connection`: one
WebSocket's requests (`handle`), answered with the protocol's messages; `SessionLink`: what
a live session carries for the hub (`session.vts`): the page's prompt and plugin list in
its status, the page's answers, the injected parameters and expressions.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.params.injection import InjectionError, ParameterInjection
from streaming.jsonlimits import JSONLimitError, parse
from streaming.live import CommandError
from streaming.ratelimit import TokenBucket
from streaming.vts.avatar import EXP_SUFFIX, INPUTS, AvatarView
from streaming.vts.protocol import (
    UNKNOWN_ID,
    VTS_VERSION,
    APIError,
    ErrorID,
    envelope,
    error,
    message,
    request_id_of,
)

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 160 * 1024  # a token request's 128x128 icon, base64, is the largest
MAX_DEPTH = 8
RATE = 120.0  # requests a second, sustained (a plugin injecting at 60 fps, with room)
BURST = 240.0
HOTKEY_RATE = 10.0  # hotkeys a second per connection (VTube Studio runs one every 5 frames)
HOTKEY_QUEUE = 32.0  # ... queued at most, as VTube Studio's queue
PROMPT_TTL = 120.0  # seconds a token request waits for the streamer's answer
MAX_PROMPTS = 8  # token requests waiting at once, all plugins together
MAX_PROMPTS_PER_ADDRESS = 2
MAX_INJECT = 100  # parameter values in one injection
MAX_CUSTOM_PER_PLUGIN = 100  # custom parameters (VTube Studio's limits)
MAX_CUSTOM = 300
ICON_SIZE = 128  # a plugin icon's exact size (pixels, square)
ICON_SHOWN = 48  # ... as re-encoded for the puppet page
NAME_LEN = (3, 32)
TICK_S = 0.1  # events are checked this often
NO_AUTH = frozenset({"APIStateRequest", "AuthenticationTokenRequest", "AuthenticationRequest"})


@dataclass(frozen=True)
class Plugin:
    """An approved plugin (a row of the store)."""

    id: str
    name: str
    developer: str
    session: str  # the session id it was approved on
    owner: str | None  # the account signed in there, if any
    created: str = ""


class PluginStore(Protocol):
    """Where approved plugins are kept (webapi/vts_tokens.py: the SQLite store)."""

    async def add(
        self, token_hash: str, name: str, developer: str, session: str, owner: str | None
    ) -> Plugin: ...

    async def find(self, token_hash: str) -> Plugin | None: ...

    async def of(self, session: str, owner: str | None) -> list[Plugin]: ...

    async def remove(self, plugin_id: str, session: str, owner: str | None) -> bool: ...

    async def count(self) -> int: ...


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(eq=False)
class Prompt:
    """A token request waiting for the streamer."""

    id: str
    name: str
    developer: str
    icon: str | None  # a small PNG data URL for the page
    address: str
    done: asyncio.Future  # -> the LiveSession that allowed it, or None (denied)
    created: float = field(default_factory=time.monotonic)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "developer": self.developer, "icon": self.icon}


class SessionLink:
    """The hub's part of one live session (`session.vts`): read and called on the event
    loop, except `injection.merge`, which the render thread calls each tick."""

    def __init__(self, hub: PluginHub, session: Any) -> None:
        self.hub = hub
        self.session = session
        self.view = AvatarView(session)
        self.injection = ParameterInjection(session.bundle.rig)
        self.expressions: set[str] = set()  # active face presets (files)
        self.plugins: list[Plugin] = []  # approved on this session (or its account)
        self.by_api = False  # a plugin's hotkey is being carried out
        session.puppet.overlay = self.injection.merge

    def command(self, msg: dict[str, Any]) -> None:
        """The page's `vts_answer` {prompt, allow} and `vts_revoke` {plugin}; CommandError
        with a plain message for a bad one (the page is told)."""
        kind = msg.get("type")
        if kind == "vts_answer":
            pid, allow = msg.get("prompt"), msg.get("allow")
            if not isinstance(pid, str) or not isinstance(allow, bool):
                raise CommandError(
                    '"vts_answer" needs "prompt" (its id) and "allow" (true or false)'
                )
            if not self.hub.answer(pid, self.session if allow else None):
                raise CommandError("that plugin request was already answered or has expired")
        elif kind == "vts_revoke":
            pid = msg.get("plugin")
            if not isinstance(pid, str) or not any(p.id == pid for p in self.plugins):
                raise CommandError("no such approved plugin on this avatar")
            self.hub.spawn(self.hub.revoke(self.session, pid))
        else:
            raise CommandError(f'unknown message type "{kind}"')

    def observed(self, msg: dict[str, Any]) -> None:
        """A control message the session carried out: a hotkey's, pressed on the page (not
        by a plugin: those report themselves), is a HotkeyTriggeredEvent."""
        if self.by_api or not self.hub.connections:
            return
        hotkey = next((h for h in self.view.hotkeys if h.command == msg), None)
        if hotkey is not None:
            self.hub.hotkey_fired(self.session, hotkey, by_api=False)

    def status(self) -> dict[str, Any]:
        connected = {c.plugin.id for c in self.hub.connections if c.plugin is not None}
        return {
            "prompts": [p.as_json() for p in self.hub.prompts.values()],
            "plugins": [
                {
                    "id": p.id,
                    "name": p.name,
                    "developer": p.developer,
                    "connected": p.id in connected,
                }
                for p in self.plugins
            ],
        }

    def found(self, now: float) -> bool:
        tracker = self.session.tracker
        tracked = tracker is not None and getattr(tracker, "state", "lost") == "tracking"
        return tracked or self.injection.face_found(now)


class PluginHub:
    """Every plugin connection, the prompts and the approved plugins of one server."""

    def __init__(
        self,
        sessions: Callable[[], Iterable[Any]],
        store: PluginStore,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`sessions`: the live sessions now (the manager's); `store`: approved plugins."""
        self.sessions = sessions
        self.store = store
        self.clock = clock
        self.started = clock()
        self.prompts: dict[str, Prompt] = {}
        self.connections: set[Connection] = set()
        self.allowed_count = 0
        self.custom: dict[
            str, tuple[str, float, float, float, str]
        ] = {}  # name -> (plugin, min, max, default, explanation)
        self.custom_values: dict[str, float] = {}
        # (session id:input name) -> (value a plugin set, until when it holds)
        self.input_values: dict[str, tuple[float, float]] = {}
        self._tasks: set[asyncio.Task] = set()
        self._ticker: asyncio.Task | None = None
        self._test_counter = 0

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self.allowed_count = await self.store.count()
        self._ticker = asyncio.create_task(self._tick_loop())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for p in list(self.prompts.values()):
            if not p.done.done():
                p.done.set_result(None)
        for t in list(self._tasks):
            t.cancel()

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    # --- sessions -------------------------------------------------------------------------------

    def live(self) -> list[Any]:
        """The live puppet sessions, each with its link (made on first sight)."""
        out = []
        for s in self.sessions():
            if getattr(s, "kind", None) != "puppet" or s.closed:
                continue
            if getattr(s, "vts", None) is None:
                s.vts = SessionLink(self, s)
                self.spawn(self._load_plugins(s))
            out.append(s)
        return out

    async def _load_plugins(self, session: Any) -> None:
        session.vts.plugins = await self.store.of(session.id, session.owner)

    def bound(self, plugin: Plugin) -> Any | None:
        """The live session a plugin drives now: the one it was approved on, else its
        account's live session."""
        live = self.live()
        for s in live:
            if s.id == plugin.session:
                return s
        if plugin.owner is not None:
            return next((s for s in live if s.owner == plugin.owner), None)
        return None

    # --- token requests -------------------------------------------------------------------------

    async def request_token(self, name: str, developer: str, icon: str | None, address: str) -> str:
        """Wait for the streamer's answer; the token on Allow, APIError 50 otherwise."""
        if (
            len(self.prompts) >= MAX_PROMPTS
            or sum(p.address == address for p in self.prompts.values()) >= MAX_PROMPTS_PER_ADDRESS
        ):
            raise APIError(ErrorID.TOKEN_REQUEST_CURRENTLY_ONGOING,
                           "too many plugins are waiting for the streamer's answer; try again later")  # fmt: skip
        prompt = Prompt(
            secrets.token_hex(8),
            name,
            developer,
            icon,
            address,
            asyncio.get_running_loop().create_future(),
        )
        self.prompts[prompt.id] = prompt
        self.live()  # links for the pages that will show it
        try:
            session = await asyncio.wait_for(asyncio.shield(prompt.done), PROMPT_TTL)
        except TimeoutError:
            raise APIError(ErrorID.TOKEN_REQUEST_DENIED,
                           f"The streamer did not answer within {PROMPT_TTL:.0f} seconds.") from None  # fmt: skip
        finally:
            self.prompts.pop(prompt.id, None)
        if session is None:
            raise APIError(
                ErrorID.TOKEN_REQUEST_DENIED, "User has denied API access for your plugin."
            )
        token = secrets.token_hex(32)  # 64 characters, VTube Studio's most
        plugin = await self.store.add(token_hash(token), name, developer, session.id, session.owner)
        self.allowed_count += 1
        if session.vts is not None:
            session.vts.plugins = [*session.vts.plugins, plugin]
        log.info("plugin %r by %r allowed on session %s", name, developer, session.id)
        return token

    def answer(self, prompt_id: str, session: Any | None) -> bool:
        """The page's answer: `session` allowed it, None denied it. False when it is gone."""
        prompt = self.prompts.get(prompt_id)
        if prompt is None or prompt.done.done():
            return False
        prompt.done.set_result(session)
        return True

    async def revoke(self, session: Any, plugin_id: str) -> None:
        if await self.store.remove(plugin_id, session.id, session.owner):
            self.allowed_count = max(0, self.allowed_count - 1)
        for s in self.live():
            s.vts.plugins = [p for p in s.vts.plugins if p.id != plugin_id]
        for c in list(self.connections):
            if c.plugin is not None and c.plugin.id == plugin_id:
                c.revoked()

    # --- events -----------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        last_test = self.clock()
        while True:
            await asyncio.sleep(TICK_S)
            try:
                now = self.clock()
                test = now - last_test >= 1.0
                if test:
                    last_test = now
                    self._test_counter = int(now - self.started)
                self.live()
                for c in list(self.connections):
                    c.tick(now, test)
            except Exception:  # our bug: logged, the loop (and every plugin) goes on
                log.exception("plugin events failed")

    def hotkey_fired(self, session: Any, hotkey: Any, by_api: bool) -> None:
        view = session.vts.view
        data = {
            "hotkeyID": hotkey.id,
            "hotkeyName": hotkey.name,
            "hotkeyAction": hotkey.type,
            "hotkeyFile": hotkey.file,
            "hotkeyTriggeredByAPI": by_api,
            "modelID": view.model_id,
            "modelName": view.model_name,
            "isLive2DItem": False,
        }
        for c in list(self.connections):
            c.hotkey_event(session, data, by_api)


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("plugin task failed", exc_info=task.exception())


def check_icon(icon: Any) -> str | None:
    """A plugin icon (base64 PNG or JPEG, exactly 128x128) as a small PNG data URL for the
    page; APIError 54 for anything else."""
    if icon is None or icon == "":
        return None
    from PIL import Image

    bad = APIError(ErrorID.TOKEN_REQUEST_PLUGIN_ICON_INVALID,
                   f"pluginIcon must be a base64 PNG or JPEG of exactly {ICON_SIZE}x{ICON_SIZE} pixels")  # fmt: skip
    if not isinstance(icon, str) or len(icon) > MAX_MESSAGE_BYTES:
        raise bad
    try:
        raw = base64.b64decode(icon, validate=True)
        with Image.open(io.BytesIO(raw)) as im:
            if im.format not in ("PNG", "JPEG") or im.size != (ICON_SIZE, ICON_SIZE):
                raise bad
            small = im.convert("RGBA").resize((ICON_SHOWN, ICON_SHOWN))
    except APIError:
        raise
    except Exception:
        raise bad from None
    out = io.BytesIO()
    small.save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def _name(data: dict[str, Any], key: str, error_id: int) -> str:
    v = data.get(key)
    lo, hi = NAME_LEN
    if not isinstance(v, str) or not lo <= len(v.strip()) <= hi or not v.isprintable():
        raise APIError(error_id, f'"{key}" must be {lo} to {hi} printable characters')
    return v.strip()


def _flag(data: dict[str, Any], key: str, default: bool) -> bool:
    v = data.get(key, default)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise APIError(ErrorID.JSON_INVALID, f'"{key}" must be true or false')
    return v


def _number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)


class Connection:
    """One plugin's WebSocket: `handle(text)` answers a request (the answer is sent with
    `send`; a token request's answer comes later, when the streamer has answered)."""

    def __init__(
        self,
        hub: PluginHub,
        send: Callable[[dict[str, Any]], Awaitable[None]],
        address: str = "?",
    ) -> None:
        self.hub = hub
        self.send = send
        self.address = address
        self.plugin: Plugin | None = None
        self.was_revoked = False
        self.waiting_token = False
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.last_model: tuple[bool, str] | None = None
        self.last_found: bool | None = None
        self.refused = 0
        self._bucket = TokenBucket(RATE, BURST)
        self._hotkeys = TokenBucket(HOTKEY_RATE, HOTKEY_QUEUE)
        hub.connections.add(self)

    def close(self) -> None:
        self.hub.connections.discard(self)
        for s in self.hub.live():
            s.vts.injection.release(self._owner)

    @property
    def _owner(self) -> str:
        return f"conn:{id(self)}"

    def revoked(self) -> None:
        if self.plugin is not None:
            for s in self.hub.live():
                s.vts.injection.release(self._owner)
        self.plugin = None
        self.was_revoked = True
        self.subscriptions.clear()

    # --- requests -------------------------------------------------------------------------------

    async def handle(self, raw: str | bytes) -> None:
        """One message from the plugin: never raises (a bad one gets an APIError answer)."""
        rid = UNKNOWN_ID
        try:
            if isinstance(raw, bytes):
                try:
                    raw = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise APIError(
                        ErrorID.JSON_INVALID, "binary messages must be UTF-8 JSON"
                    ) from None
            try:
                msg = parse(raw, max_bytes=MAX_MESSAGE_BYTES, max_depth=MAX_DEPTH, what="a request")
            except JSONLimitError as e:
                raise APIError(ErrorID.JSON_INVALID, str(e)) from None
            rid = request_id_of(msg)
            if not self._bucket.take(self.hub.clock()):
                raise APIError(ErrorID.INTERNAL_SERVER_ERROR,
                               f"too many requests (at most {RATE:.0f} a second); this one was dropped")  # fmt: skip
            rid, kind, data = envelope(msg)
            if kind == "AuthenticationTokenRequest":
                self._token_request(rid, data)
                return
            answer = await self._request(kind, data)
            await self.send(message(kind.removesuffix("Request") + "Response", rid, answer))
        except APIError as e:
            self.refused += 1
            with contextlib.suppress(Exception):
                await self.send(error(rid, e.error_id, e.message))
        except Exception:  # our bug: logged, answered, the connection and stream go on
            log.exception("plugin request failed")
            with contextlib.suppress(Exception):
                await self.send(
                    error(
                        rid, ErrorID.INTERNAL_SERVER_ERROR, "internal error (logged on the server)"
                    )
                )

    def _token_request(self, rid: str, data: dict[str, Any]) -> None:
        name = _name(data, "pluginName", ErrorID.TOKEN_REQUEST_PLUGIN_NAME_INVALID)
        developer = _name(data, "pluginDeveloper", ErrorID.TOKEN_REQUEST_DEVELOPER_NAME_INVALID)
        icon = check_icon(data.get("pluginIcon"))
        if self.waiting_token:
            raise APIError(ErrorID.TOKEN_REQUEST_CURRENTLY_ONGOING,
                           "a token request of this connection is already waiting for the streamer")  # fmt: skip
        self.waiting_token = True

        async def wait() -> None:
            try:
                token = await self.hub.request_token(name, developer, icon, self.address)
                await self.send(
                    message("AuthenticationTokenResponse", rid, {"authenticationToken": token})
                )
            except APIError as e:
                with contextlib.suppress(Exception):
                    await self.send(error(rid, e.error_id, e.message))
            finally:
                self.waiting_token = False

        self.hub.spawn(wait())

    async def _request(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        if kind == "APIStateRequest":
            return {"active": True, "vTubeStudioVersion": VTS_VERSION,
                    "currentSessionAuthenticated": self.plugin is not None}  # fmt: skip
        if kind == "AuthenticationRequest":
            return await self._authenticate(data)
        handler = HANDLERS.get(kind)
        if handler is None:
            why = (f"Digigami does not support {kind} (docs/CONTROL.md lists what it does)"
                   if kind in UNSUPPORTED else f'unknown request type "{kind[:80]}"')  # fmt: skip
            raise APIError(ErrorID.REQUEST_TYPE_UNKNOWN, why)
        if self.plugin is None:
            if self.was_revoked:
                raise APIError(
                    ErrorID.TOKEN_REQUEST_DENIED, "User has denied API access for your plugin."
                )
            raise APIError(
                ErrorID.REQUEST_REQUIRES_AUTHENTICATION,
                "this request needs an authenticated plugin",
            )
        return handler(self, data)

    async def _authenticate(self, data: dict[str, Any]) -> dict[str, Any]:
        token = data.get("authenticationToken")
        if not isinstance(token, str) or not token:
            raise APIError(ErrorID.AUTHENTICATION_TOKEN_MISSING, '"authenticationToken" is missing')
        if not isinstance(data.get("pluginName"), str) or not data["pluginName"]:
            raise APIError(ErrorID.AUTHENTICATION_PLUGIN_NAME_MISSING, '"pluginName" is missing')
        if not isinstance(data.get("pluginDeveloper"), str) or not data["pluginDeveloper"]:
            raise APIError(
                ErrorID.AUTHENTICATION_PLUGIN_DEVELOPER_MISSING, '"pluginDeveloper" is missing'
            )
        plugin = await self.hub.store.find(token_hash(token)) if len(token) <= 256 else None
        if plugin is None or (plugin.name, plugin.developer) != (
            data["pluginName"].strip(),
            data["pluginDeveloper"].strip(),
        ):
            return {
                "authenticated": False,
                "reason": "Token invalid, revoked, or for another plugin.",
            }
        self.plugin = plugin
        self.was_revoked = False
        return {"authenticated": True,
                "reason": "Token valid. The plugin is authenticated for the duration of this session."}  # fmt: skip

    # --- the session a request acts on ---------------------------------------------------------

    def session(self) -> Any | None:
        return self.hub.bound(self.plugin) if self.plugin is not None else None

    def need_session(self, error_id: int, what: str = "no avatar is live") -> Any:
        s = self.session()
        if s is None:
            raise APIError(error_id, f"{what}: open the puppet page this plugin was allowed on")
        return s

    # --- events ---------------------------------------------------------------------------------

    def tick(self, now: float, test: bool) -> None:
        if self.plugin is None or not self.subscriptions:
            return
        s = self.session()
        if test and "TestEvent" in self.subscriptions:
            self._event("TestEvent", {"yourTestMessage": self.subscriptions["TestEvent"].get("testMessageForEvent", ""),
                                      "counter": self.hub._test_counter})  # fmt: skip
        if "ModelLoadedEvent" in self.subscriptions:
            model = (True, s.vts.view.model_id) if s is not None else (False, "")
            if self.last_model is not None and model != self.last_model:
                wanted = self.subscriptions["ModelLoadedEvent"].get("modelID") or []
                changed = model[1] or self.last_model[1]
                if not wanted or changed in wanted:
                    view = s.vts.view if s is not None else None
                    self._event("ModelLoadedEvent", {
                        "modelLoaded": model[0],
                        "modelName": view.model_name if view else "",
                        "modelID": changed,
                    })  # fmt: skip
            self.last_model = model
        if "TrackingStatusChangedEvent" in self.subscriptions:
            found = s.vts.found(now) if s is not None else False
            if self.last_found is not None and found != self.last_found:
                self._event("TrackingStatusChangedEvent",
                            {"faceFound": found, "leftHandFound": False, "rightHandFound": False})  # fmt: skip
            self.last_found = found

    def hotkey_event(self, session: Any, data: dict[str, Any], by_api: bool) -> None:
        config = self.subscriptions.get("HotkeyTriggeredEvent")
        if config is None or self.plugin is None or self.session() is not session:
            return
        if config.get("ignoreHotkeysTriggeredByAPI") and by_api:
            return
        only = config.get("onlyForAction")
        if only and only != data["hotkeyAction"]:
            return
        self._event("HotkeyTriggeredEvent", data)

    def _event(self, kind: str, data: dict[str, Any]) -> None:
        async def send() -> None:
            with contextlib.suppress(Exception):
                await self.send(message(kind, kind, data))

        self.hub.spawn(send())


# --- request handlers (authenticated) ----------------------------------------------------------


def _model(c: Connection) -> dict[str, Any]:
    s = c.session()
    if s is None:
        return {"modelLoaded": False, "modelName": "", "modelID": ""}
    v = s.vts.view
    return {"modelLoaded": True, "modelName": v.model_name, "modelID": v.model_id}


def _statistics(c: Connection, data: dict[str, Any]) -> dict[str, Any]:
    s = c.session()
    w, h = s.scene.dimensions if s is not None else (0, 0)
    return {
        "uptime": int((c.hub.clock() - c.hub.started) * 1000),
        "framerate": round(s.stats.fps) if s is not None else 0,
        "vTubeStudioVersion": VTS_VERSION,
        "allowedPlugins": c.hub.allowed_count,
        "connectedPlugins": sum(1 for x in c.hub.connections if x.plugin is not None),
        "startedWithSteam": False,
        "windowWidth": w,
        "windowHeight": h,
        "windowIsFullscreen": False,
    }


SIZE_RANGE = (-100.0, 100.0)


def _size_of(scale: float) -> float:
    """Our scene scale (0.25..3, 1 = the framing's size) as VTube Studio's size (-100..100,
    0 = ours 1): log-linear either side."""
    if scale >= 1:
        return 100.0 * math.log(scale) / math.log(3.0)
    return 100.0 * math.log(scale) / math.log(4.0)


def _scale_of(size: float) -> float:
    return 3.0 ** (size / 100.0) if size >= 0 else 4.0 ** (size / 100.0)


def _current_model(c: Connection, data: dict[str, Any]) -> dict[str, Any]:
    s = c.session()
    out = _model(c) | {
        "vtsModelName": "", "vtsModelIconName": "", "live2DModelName": "", "modelLoadTime": 0,
        "timeSinceModelLoaded": 0, "numberOfLive2DParameters": 0, "numberOfLive2DArtmeshes": 0,
        "hasPhysicsFile": False, "numberOfTextures": 0, "textureResolution": 0,
        "modelPosition": {"positionX": 0, "positionY": 0, "rotation": 0, "size": 0},
    }  # fmt: skip
    if s is None:
        return out
    rig = s.bundle.rig
    scene = s.scene
    return out | {
        "vtsModelName": f"{rig.name}.vtube.json",
        "live2DModelName": f"{rig.name}.model3.json",
        "timeSinceModelLoaded": int((s.clock() - s.created) * 1000),
        "numberOfLive2DParameters": len(rig.parameters),
        "numberOfLive2DArtmeshes": len(rig.slots),
        "hasPhysicsFile": bool(getattr(rig, "springs", None)),
        "numberOfTextures": 1,
        "modelPosition": {
            "positionX": scene.x,
            "positionY": scene.y,
            "rotation": 0,
            "size": round(_size_of(scene.scale), 3),
        },
    }


def _available_models(c: Connection, data: dict[str, Any]) -> dict[str, Any]:
    s = c.session()
    if s is None:
        return {"numberOfModels": 0, "availableModels": []}
    rig = s.bundle.rig
    m = _model(c) | {"vtsModelName": f"{rig.name}.vtube.json", "vtsModelIconName": ""}
    return {"numberOfModels": 1, "availableModels": [m]}


def _model_load(c: Connection, data: dict[str, Any]) -> dict[str, Any]:
    mid = data.get("modelID")
    if not isinstance(mid, str):
        raise APIError(ErrorID.MODEL_ID_MISSING, '"modelID" is missing')
    s = c.session()
    if s is not None and mid == s.vts.view.model_id:
        return {"modelID": mid}  # already loaded
    if mid == "":
        raise APIError(ErrorID.CANNOT_CURRENTLY_CHANGE_MODEL,
                       "the avatar is unloaded by closing its puppet page, not by a plugin")  # fmt: skip
    raise APIError(ErrorID.MODEL_ID_NOT_FOUND,
                   "no model with that ID: change the avatar on the puppet page (My avatars)")  # fmt: skip


def _move_model(c: Connection, data: dict[str, Any]) -> dict[str, Any]:
    s = c.need_session(ErrorID.MOVE_MODEL_REQUEST_NO_MODEL_LOADED, "no model loaded")
    t, relative = data.get("timeInSeconds"), data.get("valuesAreRelativeToModel")
    if not _number(t) or not isinstance(relative, bool):
        raise APIError(ErrorID.MOVE_MODEL_REQUEST_MISSING_FIELDS,
                       '"timeInSeconds" (0 to 2) and "valuesAreRelativeToModel" are required')  # fmt: skip
    checks = {"timeInSeconds": (0, 2), "positionX": (-1000, 1000), "positionY": (-1000, 1000),
              "rotation": (-360, 360), "size": (-100, 100)}  # fmt: skip
    for key, (lo, hi) in checks.items():
        v = data.get(key)
        if v is not None and (
            not _number(v)
            or not lo <= v <= (hi if not relative or key == "timeInSeconds" else 2 * hi)
        ):
            raise APIError(
                ErrorID.MOVE_MODEL_REQUEST_VALUES_OUT_OF_RANGE,
                f'"{key}" must be a number from {lo} to {hi}',
            )
    scene = s.scene
    x = data.get("positionX")
    y = data.get("positionY")
    size = data.get("size")
    values: dict[str, Any] = {"type": "scene"}
    if x is not None:
        values["x"] = min(1.0, max(-1.0, (scene.x + x) if relative else x))
    if y is not None:
        values["y"] = min(1.0, max(-1.0, (scene.y + y) if relative else y))
    if size is not None:
        base = _size_of(scene.scale) if relative else 0.0
        values["scale"] = min(3.0, max(0.25, _scale_of(min(100.0, max(-100.0, base + size)))))
    if len(values) > 1:
        try:
            s.command(values)
        except ValueError as e:
            raise APIError(ErrorID.MOVE_MODEL_REQUEST_VALUES_OUT_OF_RANGE, str(e)) from None
    return {}


def _hotkeys(c: Connection, data: dict[str, Any]) -> dict[str, Any]:
    mid = data.get("modelID")
    s = c.session()
    if mid not in (None, "") and (s is None or mid != s.vts.view.model_id):
        raise APIError(ErrorID.MODEL_ID_NOT_FOUND, "no model with that ID")
    if data.get("live2DItemFileName") and not mid:
        return {"modelLoaded": False, "modelName": "", "modelID": "", "availableHotkeys": []}
    hotkeys = [h.as_json() for h in s.vts.view.hotkeys] if s is not None else []
    return _model(c) | {"availableHotkeys": hotkeys}


def _hotkey_trigger(c: Connection, data: dict[str, Any]) -> dict[str, Any]:
    key = data.get("hotkeyID")
    if not isinstance(key, str) or not key:
        raise APIError(
            ErrorID.HOTKEY_ID_NOT_FOUND_IN_MODEL, '"hotkeyID" (its ID or name) is missing'
        )
    if data.get("itemInstanceID"):
        raise APIError(ErrorID.HOTKEY_EXECUTION_FAILED_BECAUSE_LIVE2D_ITEM_NOT_FOUND,
                       "Digigami has no Live2D items")  # fmt: skip
    s = c.need_session(ErrorID.HOTKEY_EXECUTION_FAILED_BECAUSE_NO_MODEL_LOADED, "no model loaded")
    hotkey = s.vts.view.hotkey(key)
    if hotkey is None:
        raise APIError(
            ErrorID.HOTKEY_ID_NOT_FOUND_IN_MODEL, f'no hotkey "{key[:80]}" in this model'
        )
    if not c._hotkeys.take(c.hub.clock()):
        raise APIError(ErrorID.HOTKEY_QUEUE_FULL,
                       f"too many hotkeys (at most {HOTKEY_RATE:.0f} a second); wait a moment")  # fmt: skip
    try:
        if hotkey.type == "RemoveAllExpressions":
            for f in list(s.vts.expressions):
                _set_expression(s, s.vts.view.expression(f), False)
        elif hotkey.expression is not None:
            exp = s.vts.view.expression(hotkey.expression)
            _set_expression(s, exp, not _expression_active(s, exp))
        else:
            s.vts.by_api = True
            try:
                s.command(_toggled(s, hotkey.command))
            finally:
                s.vts.by_api = False
    except ValueError as e:
        raise APIError(ErrorID.HOTKEY_EXECUTION_FAILED_BECAUSE_BAD_STATE, str(e)) from None
    c.hub.hotkey_fired(s, hotkey, by_api=True)
    return {"hotkeyID": hotkey.id}


def _toggled(s: Any, command: dict[str, Any]) -> dict[str, Any]:
    """An animation hotkey for a looping state with many animations (a dance) that plays
    now stops it, as VTube Studio's animation hotkeys toggle."""
    if command.get("type") not in ("transition", "dance"):
        return command
    state = command.get("state", "dance")
    st = s.bundle.machine.states.get(state)
    if st is None or not st.loop or len(st.variants) < 2:
        return command
    region = st.layer.region
    playing = getattr(s.puppet, "playing", None)
    current = playing.layers.get(region) if playing is not None else s.puppet.state(region)
    if current != state:
        return command
    animation = playing.animations.get(region) if playing is not None else None
    if (
        command.get("type") == "dance"
        and animation is not None
        and animation != command.get("variant")
    ):
        return command  # another dance: switch to it
    return {"type": "stop", "region": region}


def _expression_active(s: Any, exp: Any) -> bool:
    if exp.wear is not None:
        return s.puppet.wearing.get(exp.wear[0]) == exp.wear[1]
    return exp.file in s.vts.expressions


def _set_expression(s: Any, exp: Any, active: bool) -> None:
    if exp.wear is not None:
        category, label = exp.wear
        if active:
            s.command({"type": "swap", "category": category, "label": label})
        elif s.puppet.wearing.get(category) == label:
            default = s.bundle.sprites.defaults.get(category)
            fallback = "none" if "none" in s.puppet.labels.get(category, []) else default
            if fallback and fallback != label:
                s.command({"type": "swap", "category": category, "label": fallback})
        return
    if active:
        s.vts.injection.hold(exp.file, exp.parameters)
        s.vts.expressions.add(exp.file)
    else:
        s.vts.injection.unhold(exp.file)
        s.vts.expressions.discard(exp.file)


def _expression_file(data: dict[str, Any], required: bool, invalid: int) -> str | None:
    f = data.get("expressionFile")
    if f in (None, "") and not required:
        return None
    if not isinstance(f, str) or not f.endswith(EXP_SUFFIX) or len(f) > 128:
        raise APIError(invalid, f'"expressionFile" must be a file name ending in "{EXP_SUFFIX}"')
    return f


def _expression_state(c: Connection, data: dict[str, Any]) -> dict[str, Any]:
    details = _flag(data, "details", False)
    file = _expression_file(data, False, ErrorID.EXPRESSION_STATE_REQUEST_INVALID_FILENAME)
    s = c.session()
    if s is None:
        return _model(c) | {"expressions": []}
    view = s.vts.view
    chosen = view.expressions
    if file is not None:
        chosen = [e for e in chosen if e.file == file]
        if not chosen:
            raise APIError(
                ErrorID.EXPRESSION_STATE_REQUEST_FILE_NOT_FOUND,
                f'no expression "{file}" in this model',
            )
    hotkeys = {h.expression: h for h in view.hotkeys if h.expression}
    out = []
    for e in chosen:
        h = hotkeys.get(e.file)
        out.append({
            "name": e.file.removesuffix(EXP_SUFFIX),
            "file": e.file,
            "active": _expression_active(s, e),
            "deactivateWhenKeyIsLetGo": False,
            "autoDeactivateAfterSeconds": False,
            "secondsRemaining": 0,
            "usedInHotkeys": [{"name": h.name, "id": h.id}] if details and h else [],
            "parameters": [{"name": k, "value": v} for k, v in e.parameters.items()] if details else [],
        })  # fmt: skip
    return _model(c) | {"expressions": out}


def _expression_activation(c: Connection, data: dict[str, Any]) -> dict[str, Any]:
    file = _expression_file(data, True, ErrorID.EXPRESSION_ACTIVATION_REQUEST_INVALID_FILENAME)
    active = data.get("active")
    if not isinstance(active, bool):
        raise APIError(ErrorID.JSON_INVALID, '"active" must be true or false')
    s = c.need_session(ErrorID.EXPRESSION_ACTIVATION_REQUEST_NO_MODEL_LOADED, "no model loaded")
    exp = s.vts.view.expression(file)
    if exp is None:
        raise APIError(
            ErrorID.EXPRESSION_ACTIVATION_REQUEST_FILE_NOT_FOUND,
            f'no expression "{file}" in this model',
        )
    try:
        _set_expression(s, exp, active)
    except ValueError as e:
        raise APIError(ErrorID.EXPRESSION_ACTIVATION_REQUEST_FILE_NOT_FOUND, str(e)) from None
    return {}


def _art_meshes(c: Connection, data: dict[str, Any]) -> dict[str, Any]:
    s = c.session()
    names = [slot.name for slot in s.bundle.rig.slots] if s is not None else []
    return {"modelLoaded": s is not None, "numberOfArtMeshNames": len(names),
            "numberOfArtMeshTags": 0, "artMeshNames": names, "artMeshTags": []}  # fmt: skip


def _face_found(c: Connection, data: dict[str, Any]) -> dict[str, Any]:
    s = c.session()
    return {"found": bool(s is not None and s.vts.found(c.hub.clock()))}


def _param_json(
    name: str, added_by: str, value: float, lo: float, hi: float, default: float
) -> dict[str, Any]:
    return {"name": name, "addedBy": added_by, "value": round(float(value), 5),
            "min": lo, "max": hi, "defaultValue": default}  # fmt: skip


def _input_value(c: Connection, s: Any, name: str) -> float:
    view = s.vts.view
    injected = c.hub.input_values.get(f"{s.id}:{name}")
    if injected is not None and injected[1] > c.hub.clock():  # still held
        return injected[0]
    return view.from_rig(name)


def _input_parameters(c: Connection, data: dict[str, Any]) -> dict[str, Any]:
    s = c.session()
    custom = [
        _param_json(n, plugin, c.hub.custom_values.get(f"custom:{n}", d), lo, hi, d)
        for n, (plugin, lo, hi, d, _) in c.hub.custom.items()
    ]
    if s is None:
        return _model(c) | {"customParameters": custom, "defaultParameters": []}
    view = s.vts.view
    defaults = [
        _param_json(n, "VTube Studio", _input_value(c, s, n), lo, hi, d)
        for n, (lo, hi, d, _) in view.inputs.items()
    ]
    return _model(c) | {"customParameters": custom, "defaultParameters": defaults}


def _parameter_value(c: Connection, data: dict[str, Any]) -> dict[str, Any]:
    name = data.get("name")
    if not isinstance(name, str):
        raise APIError(ErrorID.PARAMETER_VALUE_REQUEST_PARAMETER_NOT_FOUND, '"name" is missing')
    if name in c.hub.custom:
        plugin, lo, hi, d, _ = c.hub.custom[name]
        return _param_json(name, plugin, c.hub.custom_values.get(f"custom:{name}", d), lo, hi, d)
    s = c.session()
    if s is not None:
        view = s.vts.view
        if name in view.inputs:
            lo, hi, d, _ = view.inputs[name]
            return _param_json(name, "VTube Studio", _input_value(c, s, name), lo, hi, d)
        if name in view.parameters:
            p = view.parameters[name]
            return _param_json(name, "Live2D", view.rig_value(name), p.min, p.max, p.default)
    raise APIError(
        ErrorID.PARAMETER_VALUE_REQUEST_PARAMETER_NOT_FOUND, f'no parameter "{name[:80]}"'
    )


def _live2d_parameters(c: Connection, data: dict[str, Any]) -> dict[str, Any]:
    s = c.session()
    if s is None:
        return _model(c) | {"parameters": []}
    view = s.vts.view
    params = [
        {
            "name": p.id,
            "value": round(view.rig_value(p.id), 5),
            "min": p.min,
            "max": p.max,
            "defaultValue": p.default,
        }
        for p in view.parameters.values()
    ]
    return _model(c) | {"parameters": params}


def _inject(c: Connection, data: dict[str, Any]) -> dict[str, Any]:
    values = data.get("parameterValues")
    if not isinstance(values, list) or not values:
        raise APIError(
            ErrorID.INJECT_DATA_NO_DATA_PROVIDED, '"parameterValues" must be a non-empty list'
        )
    if len(values) > MAX_INJECT:
        raise APIError(
            ErrorID.INJECT_DATA_NO_DATA_PROVIDED, f"at most {MAX_INJECT} parameter values at once"
        )
    mode = data.get("mode") or "set"
    if mode not in ("set", "add"):
        raise APIError(
            ErrorID.INJECT_DATA_MODE_UNKNOWN,
            f'unknown mode "{str(mode)[:20]}" (expected "set" or "add")',
        )
    face_found = _flag(data, "faceFound", False)
    s = c.session()
    view = s.vts.view if s is not None else None
    rig: dict[str, tuple[float, float]] = {}
    custom: dict[str, float] = {}
    inputs: dict[str, float] = {}
    for item in values:
        if not isinstance(item, dict):
            raise APIError(
                ErrorID.INJECT_DATA_NO_DATA_PROVIDED,
                "each parameter value is an object {id, value, weight}",
            )
        pid, value, weight = item.get("id"), item.get("value"), item.get("weight", 1.0)
        if not isinstance(pid, str) or not pid:
            raise APIError(
                ErrorID.INJECT_DATA_PARAM_NAME_NOT_FOUND, 'a parameter value has no "id"'
            )
        if not _number(value) or abs(value) > 1_000_000:
            raise APIError(
                ErrorID.INJECT_DATA_VALUE_INVALID,
                f'the value for "{pid[:80]}" must be a number from -1000000 to 1000000',
            )
        if weight is None:
            weight = 1.0
        if not _number(weight) or not 0 <= weight <= 1:
            raise APIError(
                ErrorID.INJECT_DATA_WEIGHT_INVALID,
                f'the weight for "{pid[:80]}" must be a number from 0 to 1',
            )
        if pid in c.hub.custom:
            custom[pid] = float(value)
        elif view is not None and (pid in view.inputs or pid in view.parameters):
            if pid in view.inputs:
                inputs[pid] = float(value)
            mapped = (
                view.to_rig(pid, float(value))
                if mode == "set"
                else view.delta_to_rig(pid, float(value))
            )
            for target, v in mapped.items():
                rig[target] = (v, float(weight))
        elif view is None and (pid in _ALL_INPUT_NAMES or pid.startswith("Param")):
            continue  # no model loaded: VTube Studio takes the data and nothing moves
        else:
            raise APIError(ErrorID.INJECT_DATA_PARAM_NAME_NOT_FOUND, f'no parameter "{pid[:80]}"')
    if s is not None and (rig or face_found):
        if face_found and view.presence is not None and view.presence not in rig and mode == "set":
            rig[view.presence] = (1.0, 1.0)
        try:
            s.vts.injection.inject(c._owner, rig, c.hub.clock(), mode=mode, face_found=face_found)
        except InjectionError as e:
            if e.field == "owner":
                raise APIError(
                    ErrorID.INJECT_DATA_PARAM_CONTROLLED_BY_OTHER_PLUGIN, str(e)
                ) from None
            raise APIError(ErrorID.INJECT_DATA_VALUE_INVALID, str(e)) from None
        until = c.hub.clock() + s.vts.injection.hold_s
        for n, v in inputs.items():
            c.hub.input_values[f"{s.id}:{n}"] = (v, until)
    for n, v in custom.items():
        c.hub.custom_values[f"custom:{n}"] = v
    return {}


def _parameter_creation(c: Connection, data: dict[str, Any]) -> dict[str, Any]:
    name = data.get("parameterName")
    if (
        not isinstance(name, str)
        or not 4 <= len(name) <= 32
        or not name.isalnum()
        or not name.isascii()
    ):
        raise APIError(
            ErrorID.CUSTOM_PARAM_NAME_INVALID, "parameter names are 4 to 32 letters and digits"
        )
    if name in _ALL_INPUT_NAMES or name.startswith("Param"):
        raise APIError(
            ErrorID.CUSTOM_PARAM_DEFAULT_PARAM_NAME_NOT_ALLOWED,
            f'"{name}" is a default parameter name',
        )
    lo, hi, d = data.get("min"), data.get("max"), data.get("defaultValue")
    if not all(_number(v) and abs(v) <= 1_000_000 for v in (lo, hi, d)):
        raise APIError(
            ErrorID.CUSTOM_PARAM_VALUES_INVALID,
            '"min", "max" and "defaultValue" must be numbers from -1000000 to 1000000',
        )
    explanation = data.get("explanation") or ""
    if not isinstance(explanation, str) or len(explanation) >= 256:
        raise APIError(
            ErrorID.CUSTOM_PARAM_EXPLANATION_TOO_LONG, '"explanation" must be under 256 characters'
        )
    assert c.plugin is not None
    owner = c.plugin.name
    existing = c.hub.custom.get(name)
    if existing is not None and existing[0] != owner:
        raise APIError(
            ErrorID.CUSTOM_PARAM_ALREADY_CREATED_BY_OTHER_PLUGIN,
            f'"{name}" was created by another plugin',
        )
    if existing is None:
        if sum(1 for v in c.hub.custom.values() if v[0] == owner) >= MAX_CUSTOM_PER_PLUGIN:
            raise APIError(
                ErrorID.CUSTOM_PARAM_LIMIT_PER_PLUGIN_EXCEEDED,
                f"at most {MAX_CUSTOM_PER_PLUGIN} custom parameters per plugin",
            )
        if len(c.hub.custom) >= MAX_CUSTOM:
            raise APIError(
                ErrorID.CUSTOM_PARAM_LIMIT_TOTAL_EXCEEDED,
                f"at most {MAX_CUSTOM} custom parameters in all",
            )
    c.hub.custom[name] = (owner, float(lo), float(hi), float(d), explanation)
    return {"parameterName": name}


def _parameter_deletion(c: Connection, data: dict[str, Any]) -> dict[str, Any]:
    name = data.get("parameterName")
    if not isinstance(name, str) or not name:
        raise APIError(ErrorID.CUSTOM_PARAM_DELETION_NAME_INVALID, '"parameterName" is missing')
    if name in _ALL_INPUT_NAMES:
        raise APIError(
            ErrorID.CUSTOM_PARAM_DELETION_CANNOT_DELETE_DEFAULT_PARAM,
            f'"{name}" is a default parameter',
        )
    existing = c.hub.custom.get(name)
    if existing is None:
        raise APIError(
            ErrorID.CUSTOM_PARAM_DELETION_NOT_FOUND, f'no custom parameter "{name[:80]}"'
        )
    assert c.plugin is not None
    if existing[0] != c.plugin.name:
        raise APIError(
            ErrorID.CUSTOM_PARAM_DELETION_CREATED_BY_OTHER_PLUGIN,
            f'"{name}" was created by another plugin',
        )
    del c.hub.custom[name]
    c.hub.custom_values.pop(f"custom:{name}", None)
    return {"parameterName": name}


EVENTS = ("TestEvent", "ModelLoadedEvent", "TrackingStatusChangedEvent", "HotkeyTriggeredEvent")
HOTKEY_ACTIONS = (
    "Unset", "TriggerAnimation", "ChangeIdleAnimation", "ToggleExpression", "RemoveAllExpressions",
    "MoveModel", "ChangeBackground", "ReloadMicrophone", "ReloadTextures", "CalibrateCam",
    "ChangeVTSModel", "TakeScreenshot", "ScreenColorOverlay", "RemoveAllItems", "ToggleItemScene",
    "DownloadRandomWorkshopItem", "ExecuteItemAction", "ArtMeshColorPreset", "ToggleTracker",
    "ToggleTwitchFeature", "LoadEffectPreset", "ToggleLive2DEditorAPI", "WebItemAction",
    "ToggleModelSound",
)  # fmt: skip
KNOWN_EVENTS = (
    *EVENTS, "BackgroundChangedEvent", "ModelConfigChangedEvent", "ModelMovedEvent",
    "ModelOutlineEvent", "ModelAnimationEvent", "ItemEvent", "ModelClickedEvent",
    "PostProcessingEvent", "Live2DCubismEditorConnectedEvent",
)  # fmt: skip


def _event_subscription(c: Connection, data: dict[str, Any]) -> dict[str, Any]:
    name = data.get("eventName")
    subscribe = data.get("subscribe")
    if not isinstance(subscribe, bool):
        raise APIError(ErrorID.JSON_INVALID, '"subscribe" must be true or false')
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise APIError(ErrorID.JSON_INVALID, '"config" must be an object')
    if not subscribe and name in (None, ""):
        c.subscriptions.clear()
    elif name not in EVENTS:
        why = "Digigami does not send this event" if name in KNOWN_EVENTS else "unknown event"
        raise APIError(
            ErrorID.EVENT_SUBSCRIPTION_REQUEST_EVENT_TYPE_UNKNOWN, f'{why}: "{str(name)[:60]}"'
        )
    elif not subscribe:
        c.subscriptions.pop(name, None)
    else:
        c.subscriptions[name] = _event_config(name, config)
        if name == "ModelLoadedEvent":
            c.last_model = None
            s = c.session()
            c.last_model = (True, s.vts.view.model_id) if s is not None else (False, "")
        if name == "TrackingStatusChangedEvent":
            s = c.session()
            c.last_found = s.vts.found(c.hub.clock()) if s is not None else False
    events = sorted(c.subscriptions)
    return {"subscribedEventCount": len(events), "subscribedEvents": events}


def _event_config(name: str, config: dict[str, Any]) -> dict[str, Any]:
    if name == "TestEvent":
        msg = config.get("testMessageForEvent", "")
        if not isinstance(msg, str) or len(msg) > 32:
            raise APIError(
                ErrorID.EVENT_TEST_EVENT_TEST_MESSAGE_TOO_LONG,
                '"testMessageForEvent" must be at most 32 characters',
            )
        return {"testMessageForEvent": msg}
    if name == "ModelLoadedEvent":
        ids = config.get("modelID") or []
        if (
            not isinstance(ids, list)
            or len(ids) > 64
            or not all(
                isinstance(i, str)
                and len(i) == 32
                and all(ch in "0123456789abcdefABCDEF" for ch in i)
                for i in ids
            )
        ):
            raise APIError(
                ErrorID.EVENT_MODEL_LOADED_EVENT_MODEL_ID_INVALID,
                '"modelID" must be a list of 32-hex-digit model IDs',
            )
        return {"modelID": [i.lower() for i in ids]}
    if name == "HotkeyTriggeredEvent":
        only = config.get("onlyForAction")
        if only not in (None, "") and only not in HOTKEY_ACTIONS:
            raise APIError(
                ErrorID.EVENT_HOTKEY_TRIGGERED_EVENT_HOTKEY_ACTION_INVALID,
                f'unknown hotkey action "{str(only)[:40]}"',
            )
        ignore = config.get("ignoreHotkeysTriggeredByAPI", False)
        return {"onlyForAction": only or None, "ignoreHotkeysTriggeredByAPI": ignore is True}
    return {}


_ALL_INPUT_NAMES = frozenset(INPUTS) | frozenset(
    {"FacePositionX", "FacePositionY", "FacePositionZ", "MouthX", "CheekPuff", "FaceAngry",
     "TongueOut", "MousePositionX", "MousePositionY", "VoiceFrequency", "EyeOpenLeft"}
)  # fmt: skip

HANDLERS: dict[str, Callable[[Connection, dict[str, Any]], dict[str, Any]]] = {
    "StatisticsRequest": _statistics,
    "CurrentModelRequest": _current_model,
    "AvailableModelsRequest": _available_models,
    "ModelLoadRequest": _model_load,
    "MoveModelRequest": _move_model,
    "HotkeysInCurrentModelRequest": _hotkeys,
    "HotkeyTriggerRequest": _hotkey_trigger,
    "ExpressionStateRequest": _expression_state,
    "ExpressionActivationRequest": _expression_activation,
    "ArtMeshListRequest": _art_meshes,
    "FaceFoundRequest": _face_found,
    "InputParameterListRequest": _input_parameters,
    "ParameterValueRequest": _parameter_value,
    "Live2DParameterListRequest": _live2d_parameters,
    "InjectParameterDataRequest": _inject,
    "ParameterCreationRequest": _parameter_creation,
    "ParameterDeletionRequest": _parameter_deletion,
    "EventSubscriptionRequest": _event_subscription,
}
# VTube Studio requests we know and do not serve (answered: error 7, naming the request)
UNSUPPORTED = frozenset({
    "VTSFolderInfoRequest", "ColorTintRequest", "SceneColorOverlayInfoRequest",
    "GetCurrentModelPhysicsRequest", "SetCurrentModelPhysicsRequest", "NDIConfigRequest",
    "ItemListRequest", "ItemLoadRequest", "ItemUnloadRequest", "ItemAnimationControlRequest",
    "ItemMoveRequest", "ItemSortRequest", "ArtMeshSelectionRequest", "ItemPinRequest",
    "PostProcessingListRequest", "PostProcessingUpdateRequest", "PermissionRequest",
    "ArtMeshListAtPositionRequest",
})  # fmt: skip
