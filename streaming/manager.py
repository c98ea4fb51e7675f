"""Sessions and their peer connections: signaling, limits and clean-up.

One `SessionManager` per server. Everything here runs on the event loop and only moves
messages: rendering is the render worker's, tracking the tracking workers', encoding the
shared encoders' (`streaming.encoder`: one per session output, i.e. layout and size, however
many peers watch it; a preview asked for again with the same options is another viewer of
the same session, which ends with its last viewer).

A peer that goes away (tab closed, browser killed, network gone) ends within 5 s: a closed
or failed connection ends at once, a "disconnected" one after 2 s, and a peer that stops
talking (no webcam frames or landmark messages, no RTCP receiver reports for 3 s) is closed
by the watchdog, so nothing waits for ICE consent to time out (30 s). Closing frees the session's tracking
thread, its render outputs and its peer connection; GL renderers are shared and stay.

Admission (issue 12): every request reserves its slot (`streaming.admission`) before its
first `await` (a puppet session, a new preview, a viewer of a session or preview), after
only cheap checks (the request's shape, the SDP's, the token), and before the costly ones
(a generated face built for wearing, a peer connection with its sockets). The slot is
released on every way out: a refused offer, an exception, a cancelled request, the peer's
close, the session's end. Session ids are the server's (`streaming.idents`).

One session, many tabs (issue 15): a second page resuming a session whose puppet page is
still connected is refused (`LiveElsewhere`, 409) unless it asks to take it over
(`"move": true`); then the session itself stays (its render, its outputs, its OBS and WHEP
viewers never notice) and only the puppet page's peer changes: the old page is told
`{"type": "moved"}` on its control channel and its peer is closed. A puppet page that goes
while OBS/WHEP viewers watch (a reload) leaves its session waiting LINGER seconds for it to
come back, so the stream on air goes on. Looks persist (`streaming.persist`): with a
`SessionMemory`, ids and looks outlive reloads and restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import hashlib
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from engine.anim.loader import parse_clip
from engine.anim.statemachine import StateData
from engine.assets import AvatarBundle, load_bundle
from engine.face import FaceArt, FaceArtError, wear_face
from engine.likeness.assemble import assemble
from engine.likeness.character import Character, CharacterError
from engine.likeness.hair import HairstyleError
from engine.render.looks import LOOK_NAMES
from engine.render.scene import Scene
from engine.rig.data import RigData
from engine.rig.errors import FormatError
from streaming import codec, landmarks, network, persist, voice
from streaming.admission import CONNECT_WITHIN, Busy, Reservation, Slots, check_connect_within
from streaming.control import (
    MAX_BYTES,
    MAX_DEPTH,
    STUDIO_MAX_BYTES,
    STUDIO_MAX_DEPTH,
    ControlChannel,
    sender,
)
from streaming.encoder import SharedEncoder, forward_keyframe_requests
from streaming.idents import IdentRegistry
from streaming.live import WEARS, CommandError, LiveSession, Look, Output
from streaming.market_items import (
    ItemError,
    MarketItem,
    Wardrobe,
    avatar_look,
    dress,
    with_colour_groups,
)
from streaming.render_worker import RenderWorker
from streaming.tracks import AvatarTrack, PacketSlot, consume_camera

log = logging.getLogger(__name__)

SILENT_AFTER = 3.0  # seconds without webcam frames, landmarks or RTCP from a connected peer
DISCONNECTED_GRACE = 2.0
MAX_WORN = 8  # rigs wearing generated faces kept built (each ~2 s of CPU to make)
MAX_DRESSED = 8  # bundles dressed in marketplace items kept built (pictures decoded, atlas)
MAX_MEDIA = 8  # m= sections an offer may have (each can cost a transport and its sockets)
SAVE_EVERY = 2.0  # seconds between looks at live sessions' looks (saved when changed)
# seconds the "moved" message may take to reach the old page before its peer closes: long
# enough for SCTP to send it again once (its retransmission timeout is at least 1 s) when
# the first packet was lost, which on a loaded server or a lossy network it can be
MOVED_FLUSH = 2.5
STATUS_EVERY = 0.5  # seconds between status messages to a puppet page
AFTER_COMMAND = 0.05  # a status this soon after a command (its tick has run by then)
# seconds a session whose puppet page went (a reload) stays for its OBS/WHEP viewers, waiting
# for the page to come back; a session nobody watches ends with its page at once
LINGER = 10.0

__all__ = [
    "BadOffer",
    "Busy",
    "LiveElsewhere",
    "Look",
    "NotFound",
    "Resolver",
    "SceneBackgrounds",
    "SessionManager",
    "check_avatar_id",
    "content_key",
    "fps_size",
    "local_only",
    "parse_offer",
    "preview_key",
    "resumed_ident",
]

# What the HTTP layer hands in to say what a session wears: awaited once the request's slot
# is reserved (a saved avatar is looked up in the store then); None: the request's own
# "avatar" (a generated avatar's id), if any
Resolver = Callable[[], Awaitable[Look | None]]
# The scene backgrounds an opener (an account or guest id; None: nobody's uploads) may use:
# (a picture's loader by id, id -> name), given to a new puppet session (LiveSession's
# `backgrounds` and `background_names`). Blocking (it lists files): run off the loop.
SceneBackgrounds = Callable[[str | None], tuple[Callable[[str], Any], dict[str, str]]]
EMOTE_LAYER = "emote"  # where custom animations play (else the highest-priority layer)


class BadOffer(ValueError):
    """The offer (or its request) is malformed; the message says how."""


class NotFound(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class LiveElsewhere(RuntimeError):
    """The session asked for is live in another tab (its puppet page is connected): the
    page asks its user whether to move it here (`"move": true`)."""


@dataclass(eq=False)
class Peer:
    """One peer connection and what it feeds or is fed by."""

    id: str
    kind: str  # "puppet" | "viewer" | "preview"
    pc: RTCPeerConnection
    session: LiveSession
    output: Output
    track: AvatarTrack
    tasks: list[asyncio.Task] = field(default_factory=list)
    last_camera: float = 0.0
    closed: bool = False
    seat: Reservation | None = None  # a viewer's place among its session's max_viewers
    control: Any = None  # a puppet page's control channel (told when its session moves)
    moved: bool = False  # a puppet page whose session moved to another tab: it stays on


@dataclass(eq=False)
class PreviewEntry:
    """One set of preview options: the viewer seats of its shared session (reserved before
    the session exists, so concurrent first requests are counted too), the lock that makes
    concurrent requests for it one session, and that session once made."""

    viewers: Slots
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    session: LiveSession | None = None


class SessionManager:
    def __init__(
        self,
        rig: str = "digi",
        *,
        max_sessions: int = 3,
        max_previews: int = 8,
        max_viewers: int = 8,
        media_host: str | None = None,
        size: int = 512,
        bundle_loader: Callable[[str], AvatarBundle] = load_bundle,
        faces: Callable[[str], FaceArt] | None = None,
        characters: Callable[[str], Character | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        memory: persist.SessionMemory | None = None,
        ice_servers: Sequence[RTCIceServer] = (),
        connect_within: float = CONNECT_WITHIN,
    ) -> None:
        """`faces` finds a generated avatar's art by id (raising LookupError when there is
        none), so a session can wear it: the offer's `"avatar"`. `max_viewers`: peers that
        may watch one session besides its puppet page (WHEP and OBS viewers), or one preview
        (everyone watching it). `media_host`: the one address media (ICE/UDP) sockets bind
        to, None for every interface (streaming/network.py). `memory`: where session ids
        and looks are kept across reloads and restarts (None: in this process only; it may
        also be set before `start`). `ice_servers`: the STUN/TURN servers every peer
        connection uses (deployments behind NAT); none by default (`local_only`).
        `connect_within`: seconds a new peer has to connect and start streaming before it
        is closed and its place freed (streaming/admission.py's bounds)."""
        self.connect_within = check_connect_within(connect_within)
        self.rig = rig
        self.ice_servers: tuple[RTCIceServer, ...] = tuple(ice_servers)
        # told of every session that ends (a cluster node frees its slot in the directory);
        # called on the event loop, its exceptions logged, never raised into the ending
        self.on_end: Callable[[LiveSession], None] | None = None
        # the backgrounds a new puppet session's opener may use (None: bundled ones only
        # through the market, nothing of the opener's): set by whoever knows the library
        self.scene_backgrounds: SceneBackgrounds | None = None
        self._faces = faces
        self._characters = characters
        self._worn: OrderedDict[str, AvatarBundle] = OrderedDict()
        self._building: dict[str, asyncio.Future[AvatarBundle]] = {}
        self.max_sessions = max_sessions
        self.max_previews = max_previews
        self.max_viewers = max_viewers
        self.media_host = network.media_host(media_host)
        self.size = size
        self.clock = clock
        self._loader = bundle_loader
        self.bundle: AvatarBundle | None = None
        self.worker = RenderWorker(clock)
        self.sessions: dict[str, LiveSession] = {}
        self.peers: dict[str, Peer] = {}
        # one shared encoder per (session, layout, size), however many peers watch it
        self.outputs: dict[tuple[LiveSession, str, int], Output] = {}
        self.previews: dict[str, PreviewEntry] = {}  # by their options (`preview_key`)
        self.idents = IdentRegistry()
        self._puppet_slots = Slots(max_sessions, "live sessions")
        self._preview_slots = Slots(max_previews, "previews")
        self._held: dict[LiveSession, Reservation] = {}  # each live session's own slot
        self._viewer_slots: dict[LiveSession, Slots] = {}  # each session's viewer seats
        self._opening: set[str] = set()  # ids being resumed right now
        self._replacing: set[LiveSession] = set()  # ended to be made anew under their id
        self._closing: set[asyncio.Task] = set()
        self.memory = memory
        self._saved: dict[str, str] = {}  # session id -> the state last handed to memory
        self._keeper: asyncio.Task | None = None
        self._lingering: dict[LiveSession, asyncio.Task] = {}  # pages gone, viewers on
        # (bundle key, items) -> (the bundle dressed, it dressed, what the items bring)
        self._dressed: OrderedDict[tuple, tuple[AvatarBundle, AvatarBundle, Wardrobe]]
        self._dressed = OrderedDict()

    async def start(self) -> None:
        """Everything the first browser would otherwise wait for, before serving: the rig,
        the GL views, and MediaPipe (importing it and building a graph holds the GIL for
        seconds, which would stall the event loop mid-session)."""
        codec.configure()
        network.install()
        loop = asyncio.get_running_loop()
        self.bundle = await loop.run_in_executor(None, self._loader, self.rig)
        warm = ((self.bundle, self.size, "opaque"), (self.bundle, self.size, "packed"))
        await loop.run_in_executor(None, lambda: self.worker.start(warm=warm))
        if self.bundle.tracking is not None:
            await loop.run_in_executor(None, _warm_tracking)
        if self.memory is not None:
            memory = self.memory
            kept = await loop.run_in_executor(None, lambda: list(memory.idents()))
            self.idents.load(kept)
            self.idents.saver = memory.keep_ident
            self._keeper = asyncio.create_task(self._keep_looks())

    # --- opening ------------------------------------------------------------------------------

    async def open_puppet(
        self,
        offer: Any,
        resolve: Resolver | None = None,
        owned: Sequence[MarketItem] = (),
        *,
        owner: str | None = None,
        scene_owner: str | None = None,
    ) -> tuple[str, LiveSession]:
        """A webcam-driven session for a browser's offer: (answer SDP, session). `resolve`:
        what it wears (a saved avatar), awaited once its slot is reserved. `owned`: the
        marketplace items its account holds (outfits and accessories as sprite labels,
        animations as emote states, backgrounds for its scene, effects for the `effect`
        message; streaming/market_items.py). `owner`: the opener's account (its API tokens
        may open the session's OBS/WHEP views); `scene_owner`: the account or guest whose
        uploaded backgrounds its scene may show (`scene_backgrounds`). An offer that
        resumes a session live in another tab: `LiveElsewhere`, unless it says
        `"move": true` (then the session moves to it, see the module's docstring)."""
        # cheap checks first, all before the first await: the request, the SDP, the token
        desc = parse_offer(offer)
        try:
            tracking = landmarks.offer_tracking(offer)  # "browser": landmarks, no video up
        except ValueError as e:
            raise BadOffer(str(e)) from None
        check_avatar_id(offer)
        move = offer.get("move", False) if isinstance(offer, dict) else False
        if not isinstance(move, bool):
            raise BadOffer('"move" must be true or false')
        ident, old = self._resume(offer)
        if old is not None and old in self._lingering:
            # its page went (a reload) while viewers watch: the page comes back into it,
            # and the viewers never notice
            if old.tracking_source == tracking and _wears_same(offer, old.look):
                return await self._move(desc, old, owner, scene_owner)
        elif old is not None and self._puppet_of(old) is not None:
            if not move:
                raise LiveElsewhere(
                    "this avatar is live in another tab: move it here "
                    '(send the offer again with "move": true) or start a separate avatar '
                    "(without its session id)"
                )
            if old.tracking_source == tracking and _wears_same(offer, old.look):
                return await self._move(desc, old, owner, scene_owner)
            # another tracking path needs another tracking worker, another avatar another
            # rig: the session is made anew below under the same id (its viewers
            # reconnect), and the old page is still told
        # a reload takes over its old session's slot (it ends below), else a new one
        slot = self._held.pop(old, None) if old is not None else None
        if slot is None:
            slot = self._puppet_slots.reserve()
        if old is not None and self.sessions.get(old.id) is old:
            del self.sessions[old.id]  # from here on it is on its way out
        resumed = isinstance(offer, dict) and offer.get("session") is not None
        self._opening.add(ident[0])
        opened = False
        try:
            with slot:
                if old is not None:
                    state = persist.snapshot(old)  # newer than anything saved
                    await self._tell_moved(self._puppet_of(old))  # none: nothing to tell
                    self._replacing.add(old)
                    await self._end_session(old)
                else:
                    state = await self._recall(ident[0]) if resumed else None
                given = await self._look(offer, resolve)
                keep_style = isinstance(offer, dict) and offer.get("style") is not None
                look = persist.restored_look(state, given, keep_style=keep_style)
                session = await self._new_puppet(look, given, ident, tracking, owned)
                restored = persist.restore(session, state)
                if restored:
                    log.info("session %s: restored its %s", session.id, ", ".join(restored))
                try:
                    await self._belong(session, owner, scene_owner)
                except BaseException:
                    await asyncio.get_running_loop().run_in_executor(None, session.close)
                    raise
                self._viewer_slots[session] = Slots(self.max_viewers, "viewers of this session")
                try:
                    peer = await self._connect(desc, session, "puppet", "opaque", self.size)
                except BaseException:
                    self._viewer_slots.pop(session, None)
                    await asyncio.get_running_loop().run_in_executor(None, session.close)
                    raise
                self.sessions[session.id] = session
                self.idents.keep(session.id, session.token)
                self._held[session] = slot.hand_over()
                opened = True
        finally:
            self._opening.discard(ident[0])
            if old is not None:
                self._replacing.discard(old)
                if old.closed and not opened:
                    self._tell_ended(old)  # its id ended after all: nothing took it over
        return codec.camera_bitrate(peer.pc.localDescription.sdp), session

    async def _belong(
        self, session: LiveSession, owner: str | None, scene_owner: str | None
    ) -> None:
        """Give a puppet session its opener: the account (`owner`) and the backgrounds its
        scene may show (`scene_owner`'s), before anyone can reach it."""
        session.owner = owner
        scene = self.scene_backgrounds
        if scene is None:
            return
        loop = asyncio.get_running_loop()
        resolver, names = await loop.run_in_executor(None, scene, scene_owner)
        session.backgrounds = resolver
        session.background_names = dict(names)

    async def _new_puppet(
        self,
        look: Look,
        fallback: Look,
        ident: tuple[str, str],
        tracking: str,
        owned: Sequence[MarketItem] = (),
    ) -> LiveSession:
        """A puppet session wearing `look`; when `look` (a restored one) cannot be worn,
        `fallback` (what the request asked for) with a logged warning."""
        for attempt in (look, fallback) if look is not fallback else (look,):
            bundle = await self.dressed(attempt)
            # owned items never keep a session off the air: a broken one is left out
            bundle, wardrobe = await self._market(bundle, owned, strict=False)
            try:
                session = LiveSession(
                    bundle,
                    kind="puppet",
                    clock=self.clock,
                    ident=ident,
                    tracking=tracking,
                    look=attempt,
                )
                _equip(session, wardrobe, owned)
                return session
            except CommandError as e:
                if attempt is fallback:
                    raise BadOffer(f"the avatar cannot be worn: {e}") from None
                log.warning("session %s: its saved look cannot be worn (%s); not restored",
                            ident[0], e)  # fmt: skip
        raise AssertionError("unreachable")

    async def _move(
        self,
        desc: RTCSessionDescription,
        session: LiveSession,
        owner: str | None,
        scene_owner: str | None,
    ) -> tuple[str, LiveSession]:
        """Move a live session to a new puppet page: a peer for it joins the running
        session (its outputs, render and viewers untouched), then the old page is told and
        its peer closed; the session is its new opener's (`_belong`). A failed connect
        leaves the old page as it was."""
        self._opening.add(session.id)
        try:
            peer = await self._connect(desc, session, "puppet", "opaque", self.size, start=False)
        finally:
            self._opening.discard(session.id)
        lingering = self._lingering.pop(session, None)
        if lingering is not None:
            lingering.cancel()
        for old in [p for p in self.peers.values() if p.session is session and p is not peer]:
            if old.kind == "puppet":
                await self._tell_moved(old)
        log.info("session %s moved to another tab", session.id)
        await self._belong(session, owner, scene_owner)
        return codec.camera_bitrate(peer.pc.localDescription.sdp), session

    async def _tell_moved(self, peer: Peer | None) -> None:
        """Tell a puppet page its session moved to another tab, then close its peer without
        ending the session. The message gets up to MOVED_FLUSH to arrive first: SCTP sends
        it after `send` returns and resends it if it was lost, and closing the connection
        would drop it, so the peer closes once the page has acknowledged it."""
        if peer is None or peer.closed:
            return
        peer.moved = True
        channel = peer.control
        if channel is not None:
            with contextlib.suppress(Exception):
                sender(channel)({"type": "moved"})
                end = self.clock() + MOVED_FLUSH
                while (
                    channel.bufferedAmount > 0 or _unacknowledged(peer.pc)
                ) and self.clock() < end:
                    await asyncio.sleep(0.02)
        await self.close_peer(peer.id)

    def _puppet_of(self, session: LiveSession) -> Peer | None:
        """The puppet page connected to `session` now, if any."""
        for p in self.peers.values():
            if p.session is session and p.kind == "puppet" and not p.closed and not p.moved:
                return p
        return None

    def _resume(self, offer: Any) -> tuple[tuple[str, str], LiveSession | None]:
        """The (id, token) a puppet session gets, and the live session of that id. A
        reloaded page asks for its old id back with its token, so the OBS source's URL keeps
        working; ids are issued by the server only, and only the token they were issued
        with gets one back. Synchronous: nothing can slip in between this check and the
        slot."""
        resumed = resumed_ident(offer)
        if resumed is None:
            return self.idents.issue(), None
        sid, token = resumed
        self.idents.check(sid, token)  # PermissionError: not issued here, or not yours
        if sid in self._opening:
            raise Busy("busy: that session is being reopened right now; try again soon")
        old = self.sessions.get(sid)
        return (sid, token), old if old is not None and not old.closed else None

    async def open_preview(
        self,
        offer: Any,
        options: dict[str, Any],
        resolve: Resolver | None = None,
        try_on: MarketItem | None = None,
    ) -> tuple[str, LiveSession]:
        """A receive-only preview playing a named animation with chosen sprites. The same
        options asked for again (another viewer of one shop item) join the running preview:
        one session, one render and one encode for all of them, at most `max_viewers`.
        `resolve`: what it wears and the custom animation it may play, awaited once a seat
        is reserved, for every request (a joiner is checked as the first one was).
        `try_on`: a marketplace item shown without owning it (an outfit or accessory worn,
        an animation played in a loop, a background behind, an effect applied)."""
        desc = parse_offer(offer)
        check_avatar_id(options)
        fps, size = fps_size(options, fps=(30, 1, 60), size=(384, 64, 1024))
        key = preview_key(options, fps, size)
        if try_on is not None:  # another item, another stream
            key += f"|try:{try_on.id}:{content_key(try_on)}"
        entry = self.previews.get(key)
        if entry is None:
            entry = self.previews[key] = PreviewEntry(
                Slots(self.max_viewers, "viewers of this preview")
            )
        try:
            with entry.viewers.reserve() as seat:
                look = await self._look(options, resolve)
                async with entry.lock:
                    shared = entry.session
                    if shared is not None and not shared.closed:
                        peer = await self._connect(
                            desc, shared, "preview", "opaque", size, start=False, seat=seat
                        )
                        return peer.pc.localDescription.sdp, shared
                    with self._preview_slots.reserve() as slot:
                        session, sdp = await self._new_preview(
                            desc, options, fps, size, entry, seat, look, try_on
                        )
                        self._held[session] = slot.hand_over()
                        return sdp, session
        finally:
            self._forget_preview(key, entry)

    def _forget_preview(self, key: str, entry: PreviewEntry) -> None:
        """Drop a preview's entry once nothing runs or waits for it."""
        idle = entry.session is None or entry.session.closed
        if idle and entry.viewers.used == 0 and self.previews.get(key) is entry:
            del self.previews[key]

    async def _new_preview(
        self,
        desc: RTCSessionDescription,
        options: dict[str, Any],
        fps: int,
        size: int,
        entry: PreviewEntry,
        seat: Reservation,
        look: Look,
        try_on: MarketItem | None = None,
    ) -> tuple[LiveSession, str]:
        whole = try_on is not None and try_on.type == "avatar"
        if whole:  # an avatar listing replaces the avatar: worn as its saved copy will be
            try:
                look = avatar_look(try_on, look, self.rig)
            except ItemError as e:
                raise BadOffer(str(e)) from None
        bundle = await self.dressed(look)
        if whole:
            look = with_colour_groups(look, bundle)
        items = (try_on,) if try_on is not None else ()
        bundle, wardrobe = await self._market(bundle, items, strict=True)
        try:
            session = LiveSession(bundle, kind="preview", fps=fps, clock=self.clock, look=look)
        except CommandError as e:
            raise BadOffer(f"the avatar cannot be worn: {e}") from None
        problems = []  # every bad choice at once: the form shows them all
        try:
            session.play(str(options.get("animation") or "idle"))
        except CommandError as e:
            problems.append(str(e))
        for key, category in (("outfit", "outfit"), ("accessory", "accessories"), ("body", "body")):
            label = options.get(key)
            try:
                if label is not None:
                    session.command({"type": "swap", "category": category, "label": label})
            except CommandError as e:
                problems.append(str(e))
        if try_on is not None and not problems:
            try:
                _try_on(session, wardrobe, try_on)
            except CommandError as e:
                problems.append(f'item "{try_on.id}" cannot be tried on: {e}')
        if problems:
            await asyncio.get_running_loop().run_in_executor(None, session.close)
            raise BadOffer("; ".join(problems))
        self._viewer_slots[session] = entry.viewers
        try:
            peer = await self._connect(desc, session, "preview", "opaque", size, seat=seat)
        except BaseException:
            self._viewer_slots.pop(session, None)
            await asyncio.get_running_loop().run_in_executor(None, session.close)
            raise
        self.sessions[session.id] = session
        entry.session = session
        return session, peer.pc.localDescription.sdp

    async def open_studio(
        self,
        offer: Any,
        resolve: Resolver | None = None,
        owned: Sequence[MarketItem] = (),
        *,
        owner: str | None = None,
    ) -> tuple[str, LiveSession]:
        """The creator studio's viewport (streaming/studio.py): a private session of kind
        "studio" for one page's offer (receive-only video and its `control` channel),
        counted against the live sessions' slots and ended with its page. `resolve`: the
        avatar it edits (None: the bare rig); `owned`: its opener's marketplace items (the
        animation list plays the owned ones); `owner`: the opener's account. The offer's
        `fps` (30..60, default 30) and `size` (256..768, even, default 512)."""
        desc = parse_offer(offer)
        given = offer if isinstance(offer, dict) else {}
        fps, size = fps_size(given, fps=(30, 30, 60), size=(512, 256, 768))
        with self._puppet_slots.reserve() as slot:
            # the avatar is the resolver's (a saved one) or the bare rig: the offer's
            # "avatar" names a saved avatar or "digi", never a generated face
            look = (await resolve() if resolve is not None else None) or Look()
            bundle = await self.dressed(look)
            bundle, wardrobe = await self._market(bundle, owned, strict=False)
            try:
                session = LiveSession(bundle, kind="studio", fps=fps, clock=self.clock, look=look)
            except CommandError as e:
                raise BadOffer(f"the avatar cannot be worn: {e}") from None
            _equip(session, wardrobe, owned)
            session.owner = owner
            try:
                peer = await self._connect(desc, session, "studio", "opaque", size)
            except BaseException:
                await asyncio.get_running_loop().run_in_executor(None, session.close)
                raise
            self.sessions[session.id] = session
            self._held[session] = slot.hand_over()
        return peer.pc.localDescription.sdp, session

    def studio_of(self, session_id: str, token: Any) -> LiveSession:
        """A live studio session, for the caller holding its token (the draft's PUT);
        NotFound for anything else (an unknown id, another kind, a wrong token)."""
        session = self.sessions.get(session_id) if isinstance(session_id, str) else None
        if (
            session is None
            or session.closed
            or session.kind != "studio"
            or not isinstance(token, str)
            or not _same(token, session.token)
        ):
            raise NotFound(f'no studio session "{session_id!s:.64}"')
        return session

    async def studio_rig(self, session_id: str, token: Any) -> RigData:
        """The rig a studio session's avatar is built on (what its draft is checked
        against: a worn character's rig is its own); NotFound as `studio_of`. Async as a
        cluster front's is (it asks the node holding the session)."""
        return self.studio_of(session_id, token).bundle.rig

    async def studio_draft(self, session_id: str, token: Any, clip: Any) -> None:
        """Set the clip a studio session's timeline plays (a parsed, checked clip), or
        clear it (None); NotFound as `studio_of`."""
        studio = self.studio_of(session_id, token).studio
        assert studio is not None  # every session of kind "studio" has one
        studio.set_draft(clip)

    def sessions_for_plugins(self) -> list[LiveSession]:
        """The live sessions VTube Studio plugins may reach (streaming/vts)."""
        return list(self.sessions.values())

    async def open_viewer(
        self,
        session_id: str,
        token: str | None,
        offer: Any,
        layout: str,
        *,
        user_id: str | None = None,
    ) -> tuple[str, str]:
        """WHEP: another receive-only view of a live session: (answer SDP, resource id).
        At most `max_viewers` per session (503 busy beyond). `user_id`: the account an API
        token in the request belongs to (`authorize`)."""
        session = self.authorize(session_id, token, user_id=user_id)
        if layout not in ("opaque", "packed"):
            raise BadOffer(f'unknown layout "{layout}" (expected opaque or packed)')
        desc = parse_offer(offer)
        seats = self._viewer_slots.get(session)
        if seats is None:  # a session on its way out
            raise NotFound(f'no live session "{session_id}"')
        with seats.reserve() as seat:
            peer = await self._connect(desc, session, "viewer", layout, self.size, seat=seat)
        return peer.pc.localDescription.sdp, peer.id

    async def close_viewer(
        self, session_id: str, resource_id: str, token: str | None, *, user_id: str | None = None
    ) -> None:
        """WHEP DELETE: end one viewer of a session. PermissionError on a wrong or missing
        token for a live session (checked first, so a stranger learns nothing about its
        viewers); NotFound when the session or that viewer of it does not exist."""
        session = self.authorize(session_id, token, user_id=user_id)
        peer = self.peers.get(resource_id)
        if peer is None or peer.session is not session or peer.kind != "viewer":
            raise NotFound(f'no WHEP resource "{resource_id:.64}" of session "{session_id:.64}"')
        await self.close_peer(peer.id)

    def authorize(
        self, session_id: str, token: str | None, *, user_id: str | None = None
    ) -> LiveSession:
        """The live session, for a caller with its token, or (`user_id`) the account that
        opened it, identified by the HTTP layer from one of its API tokens."""
        session = self.sessions.get(session_id)
        if session is None or session.closed or session.kind != "puppet":
            raise NotFound(f'no live session "{session_id:.64}"')
        if user_id is not None and session.owner is not None and user_id == session.owner:
            return session
        if not isinstance(token, str) or not _same(token, session.token):
            raise PermissionError("wrong or missing token for this session")
        return session

    async def _connect(
        self,
        desc: RTCSessionDescription,
        session: LiveSession,
        kind: str,
        layout: str,
        size: int,
        *,
        start: bool | None = None,
        seat: Reservation | None = None,
    ) -> Peer:
        """A peer connection that sends `session`'s (layout, size) stream, joining its shared
        encoder (made if it is the first). `start`: the peer brings the session to life
        (default: every kind but "viewer"). `seat`: the viewer slot the peer holds from now
        on (released when it closes)."""
        start = kind != "viewer" if start is None else start
        pc = RTCPeerConnection(self.rtc_configuration())
        out = self._output(session, layout, size)
        peer_id = secrets.token_urlsafe(16)
        encoder: SharedEncoder = out.slot  # type: ignore[assignment]
        track = AvatarTrack(PacketSlot(encoder))
        peer = Peer(peer_id, kind, pc, session, out, track, last_camera=self.clock())
        if kind in ("puppet", "studio"):
            # before the remote description: aiortc announces the webcam track during it
            pc.on("track", _guarded(lambda t: self._on_track(peer, t), "track"))
            pc.on("datachannel", lambda ch: self._on_channel(peer, ch))
        try:
            with network.bound_to(self.media_host):  # where its ICE sockets may bind
                await self._negotiate(pc, desc, track, encoder)
            if session.closed:  # it ended while we negotiated (its last viewer left)
                raise NotFound(f'session "{session.id}" ended meanwhile; try again')
        except BaseException:
            track.stop()
            self._release_output(session, out)
            await pc.close()
            raise
        if start:
            session.start()
            self.worker.add(session)
        self.peers[peer_id] = peer
        if seat is not None:
            peer.seat = seat.hand_over()
        pc.on("connectionstatechange", _guarded(lambda: self._on_state(peer), "state change"))
        peer.tasks.append(asyncio.create_task(self._watch(peer)))
        return peer

    async def _negotiate(
        self,
        pc: RTCPeerConnection,
        desc: RTCSessionDescription,
        track: AvatarTrack,
        encoder: SharedEncoder,
    ) -> None:
        """The offer in, our avatar track on the section that receives it, the answer out
        (its candidates gathered: no trickle ICE)."""
        try:
            await pc.setRemoteDescription(desc)
        except Exception as e:  # aiortc raises ValueError, KeyError... for bad SDP
            raise BadOffer(f"malformed SDP: {type(e).__name__}: {e}") from None
        video = [t for t in pc.getTransceivers() if t.kind == "video"]
        if not video:
            raise BadOffer("the offer has no video section to receive the avatar on")
        sender_t = _pick_transceiver(video)
        sender_t.sender.replaceTrack(track)
        forward_keyframe_requests(sender_t.sender, lambda: encoder.request_keyframe("pli"))
        sender_t.direction = _our_direction(sender_t)
        _prefer_vp8(sender_t)
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)

    def _output(self, session: LiveSession, layout: str, size: int) -> Output:
        """The session's (layout, size) stream, with its shared encoder: the one its other
        viewers watch, or a new one (rendered from the next tick on)."""
        out = self.outputs.get((session, layout, size))
        if out is not None and not out.slot.closed:  # type: ignore[attr-defined]
            return out
        width = 2 * size if layout == "packed" else size  # packed: colour | alpha side by side
        encoder = SharedEncoder(
            asyncio.get_running_loop(),
            width,
            size,
            session.fps,
            name=f"{session.id}-{layout}-{size}",
        )
        out = Output(layout, size, encoder)
        try:
            session.add_output(out)
        except BaseException:
            encoder.close()
            raise
        self.outputs[(session, layout, size)] = out
        return out

    def _release_output(self, session: LiveSession, out: Output) -> None:
        """Stop rendering and encoding a stream nobody watches any more."""
        if any(p.output is out for p in self.peers.values()):
            return
        for key in [k for k, o in self.outputs.items() if o is out]:
            del self.outputs[key]
        session.remove_output(out)  # closes its encoder (the Output's slot)

    # --- peer events ----------------------------------------------------------------------------

    def _on_track(self, peer: Peer, track) -> None:
        if track.kind != "video" or peer.session.worker is None:
            return
        worker = peer.session.worker

        def submit(frame, t: float) -> None:
            peer.last_camera = t
            worker.submit(frame, t)

        peer.tasks.append(asyncio.create_task(consume_camera(track, submit, self.clock)))

    def _on_channel(self, peer: Peer, channel) -> None:
        try:
            self._take_channel(peer, channel)
        except Exception:  # our bug: it must not reach aiortc's SCTP/DTLS transport
            log.exception("peer %s: setting up data channel %.40r failed", peer.id, channel.label)

    def _take_channel(self, peer: Peer, channel) -> None:
        if channel.label == landmarks.CHANNEL:
            landmarks.attach(peer.session, channel, lambda t: setattr(peer, "last_camera", t))
            return
        if channel.label == voice.CHANNEL:  # mic lip-sync: the page's analysis, no audio
            voice.attach(peer.session, channel)
            return
        if channel.label != "control":
            return
        session = peer.session
        studio = session.kind == "studio"  # larger messages: poses, expression lists
        peer.control = channel  # told {"type": "moved"} if its session moves to another tab
        send = sender(channel)
        # a command's effect (a queued move, a new state) shows in the status that follows
        # it at once, not up to half a second later: a jump's queue lasts about that long
        commanded = asyncio.Event()

        def apply(msg: Any) -> None:
            session.command(msg)
            commanded.set()

        control = ControlChannel(
            apply,
            send,
            name=peer.id,
            clock=self.clock,
            max_bytes=STUDIO_MAX_BYTES if studio else MAX_BYTES,
            max_depth=STUDIO_MAX_DEPTH if studio else MAX_DEPTH,
        )
        channel.on("message", control.on_message)  # never raises into aiortc (control.py)
        with contextlib.suppress(Exception):
            send(session.hello())

        async def status() -> None:
            while channel.readyState in ("connecting", "open") and not session.closed:
                with contextlib.suppress(Exception):
                    send(session.status())
                commanded.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(commanded.wait(), STATUS_EVERY)
                if commanded.is_set():
                    await asyncio.sleep(AFTER_COMMAND)  # the next tick carries it out

        peer.tasks.append(asyncio.create_task(status()))

    def _on_state(self, peer: Peer) -> None:
        state = peer.pc.connectionState
        if state in ("failed", "closed"):
            task = asyncio.create_task(self.close_peer(peer.id))
            self._closing.add(task)  # keep a reference until it is done
            task.add_done_callback(self._closing.discard)
        elif state == "disconnected":

            async def grace() -> None:
                await asyncio.sleep(DISCONNECTED_GRACE)
                if peer.pc.connectionState != "connected":
                    await self.close_peer(peer.id)

            peer.tasks.append(asyncio.create_task(grace()))

    async def _watch(self, peer: Peer) -> None:
        """Close a peer that never connects, or that goes silent."""
        started = self.clock()
        streaming: float | None = None  # when the first packet went out
        while not peer.closed:
            await asyncio.sleep(0.5)
            now = self.clock()
            # receiver reports only come once our video does, and the first packet may wait
            # for a new view's renderer (a second or more on a loaded software GL) and a
            # keyframe: silence counts from then, and until then connect_within bounds it
            if streaming is None and peer.track.sent > 0:
                streaming = now
            if peer.pc.connectionState != "connected" or streaming is None:
                if now - started > self.connect_within:
                    log.info("peer %s never connected (or never streamed); closing", peer.id)
                    await self.close_peer(peer.id)
                    return
                continue
            heard = await self._last_heard(peer)
            if now - max(heard, streaming) > SILENT_AFTER:
                log.info("peer %s went silent; closing", peer.id)
                await self.close_peer(peer.id)
                return

    async def _last_heard(self, peer: Peer) -> float:
        """When the peer last showed it is there: a webcam frame, or an RTCP receiver
        report for our video (on the monotonic clock)."""
        heard = peer.last_camera if peer.kind == "puppet" else 0.0
        sender = peer.track and next(
            (t.sender for t in peer.pc.getTransceivers() if t.sender.track is peer.track), None
        )
        if sender is not None:
            with contextlib.suppress(Exception):
                stats = await sender.getStats()
                for s in stats.values():
                    if s.type == "remote-inbound-rtp":
                        age = (datetime.datetime.now(datetime.UTC) - s.timestamp).total_seconds()
                        heard = max(heard, self.clock() - age)
        return heard

    # --- closing --------------------------------------------------------------------------------

    async def close_peer(self, peer_id: str) -> None:
        peer = self.peers.pop(peer_id, None)
        if peer is None or peer.closed:
            return
        peer.closed = True
        if peer.seat is not None:
            peer.seat.release()
        session = peer.session
        peer.track.stop()  # leaves its stream's fan-out
        self._release_output(session, peer.output)
        current = asyncio.current_task()
        for t in peer.tasks:
            if t is not current:
                t.cancel()
        # a page whose session moved to another tab leaves it to that tab
        puppet = peer.kind == "puppet" and not peer.moved
        # A watched puppet session lingers from now, not once the connection has closed:
        # on a busy server that takes a while, and a reloaded page's offer that comes
        # meanwhile must find the session waiting for it (a session it took for gone would
        # be made anew under its id, and OBS would lose its stream).
        if (
            puppet
            and self.sessions.get(session.id) is session
            and self._puppet_of(session) is None
            and self._watched(session)
        ):
            self._linger(session)
        await peer.pc.close()
        await _joined([peer.output.slot])
        if session in self._lingering:
            return
        # a puppet's session ends with it (unless a page moved into it meanwhile); a
        # preview's with its last viewer (the first viewer is not special: the options, not
        # the peer, made it)
        if self.sessions.get(session.id) is not session:  # already on its way out
            return
        last = not any(p.session is session for p in self.peers.values())
        if (
            (puppet and self._puppet_of(session) is None)
            or peer.kind == "studio"
            or (peer.kind == "preview" and last)
        ):
            await self._end_session(session)

    def _watched(self, session: LiveSession) -> bool:
        return any(p.session is session and p.kind == "viewer" for p in self.peers.values())

    def _linger(self, session: LiveSession) -> None:
        """Keep a session whose puppet page went for LINGER seconds while viewers watch it:
        a reloading page comes back into it, and OBS never shows a gap."""
        if session in self._lingering:
            return

        async def linger() -> None:
            await asyncio.sleep(LINGER)
            if self._puppet_of(session) is None:
                log.info("session %s: its page did not come back; ending", session.id)
                self._lingering.pop(session, None)
                await self._end_session(session)

        log.info("session %s: its page went; kept %g s for its viewers", session.id, LINGER)
        self._lingering[session] = asyncio.create_task(linger())

    async def close_session(
        self,
        session_id: str,
        token: str | None,
        *,
        user_id: str | None = None,
        linger: bool = False,
    ) -> None:
        """End a session. `linger`: its page is leaving (a reload, perhaps): with viewers
        watching, only its page's peer closes and the session waits LINGER seconds for the
        page to come back."""
        session = self.authorize(session_id, token, user_id=user_id)
        if linger and self._watched(session):
            for p in [p for p in self.peers.values() if p.session is session]:
                if p.kind == "puppet":
                    await self.close_peer(p.id)  # lingers (close_peer), no viewer sees it
            # ...or the page came back (or another tab took it) while that peer closed
            if session in self._lingering or session.closed or self._puppet_of(session) is not None:
                return
        await self._end_session(session)

    def rtc_configuration(self) -> RTCConfiguration:
        """What every peer connection is made with: the configured ICE servers, or none."""
        if not self.ice_servers:
            return local_only()
        return RTCConfiguration(iceServers=list(self.ice_servers))

    async def _end_session(self, session: LiveSession) -> None:
        ended = not session.closed  # told once, whichever way it ends
        lingering = self._lingering.pop(session, None)
        if lingering is not None and lingering is not asyncio.current_task():
            lingering.cancel()
        if session.kind == "puppet" and not session.closed:
            self._save(session)  # its last look, for the next page that resumes it
            self._saved.pop(session.id, None)
        if self.sessions.get(session.id) is session:
            del self.sessions[session.id]
        held = self._held.pop(session, None)
        if held is not None:
            held.release()
        if session.kind == "puppet" and session.id in self.idents:
            self.idents.keep(session.id, session.token)  # resumable for a ttl from its end
        self._viewer_slots.pop(session, None)
        for key, entry in list(self.previews.items()):
            if entry.session is session:
                entry.session = None
                self._forget_preview(key, entry)
        for p in [p for p in self.peers.values() if p.session is session]:
            await self.close_peer(p.id)
        for key in [k for k in self.outputs if k[0] is session]:
            del self.outputs[key]  # session.close() closes their encoders
        encoders = [o.slot for o in session.current_outputs()]
        self.worker.remove(session)
        await asyncio.get_running_loop().run_in_executor(None, session.close)
        await _joined(encoders)
        # a reload that takes its id over (open_puppet) is no end of the id: told there
        # if the new session fails to open
        if ended and session not in self._replacing:
            self._tell_ended(session)

    def _tell_ended(self, session: LiveSession) -> None:
        on_end = self.on_end
        if on_end is None:
            return
        try:
            on_end(session)
        except Exception:  # a listener's failure must never stop a session from ending
            log.exception("session %s: telling of its end failed", session.id)

    async def shutdown(self) -> None:
        for session in list(self.sessions.values()):
            if session.kind == "puppet":
                self._save(session)  # before its page's peer closes and ends it
        for pid in list(self.peers):
            await self.close_peer(pid)
        for session in list(self.sessions.values()):
            await self._end_session(session)
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        await asyncio.get_running_loop().run_in_executor(None, self.worker.stop)

    # --- looks that survive (streaming/persist.py) -------------------------------------------

    async def _keep_looks(self) -> None:
        """Every SAVE_EVERY seconds, hand each live puppet session's look to the memory if
        it changed: a slider dragged through fifty values is one write, and nothing is
        written from the render thread."""
        while True:
            await asyncio.sleep(SAVE_EVERY)
            for session in list(self.sessions.values()):
                if session.kind == "puppet" and not session.closed:
                    self._save(session)

    def save_again(self) -> None:
        """Hand every live puppet session's look to the memory again at the next save, even
        unchanged (the memory lost them: a cluster's directory that was restarted)."""
        self._saved.clear()

    def _save(self, session: LiveSession) -> None:
        memory = self.memory
        if memory is None:
            return
        try:
            state = persist.snapshot(session)
            text = json.dumps(state, sort_keys=True)
            if self._saved.get(session.id) == text:
                return
            memory.remember(session.id, state, session.owner)
            self._saved[session.id] = text
        except Exception:  # a look not saved must never end a session
            log.exception("session %s: saving its look failed", session.id)

    async def _recall(self, sid: str) -> dict[str, Any] | None:
        """The look saved for session `sid`, if any and usable (a bad one is logged)."""
        if self.memory is None:
            return None
        try:
            state = await self.memory.recall(sid)
        except Exception:
            log.warning("session %s: its saved look cannot be read", sid, exc_info=True)
            return None
        if state is None:
            return None
        return persist.usable(state)

    # --- helpers --------------------------------------------------------------------------------

    async def _look(self, request: Any, resolve: Resolver | None) -> Look:
        """What a session wears: what `resolve` says (a saved avatar), else the request's
        `"avatar"` (a generated avatar's face), else the bare rig."""
        look = await resolve() if resolve is not None else None
        if look is None:
            avatar = check_avatar_id(request)
            look = Look(face=avatar) if avatar is not None else Look()
        given = request if isinstance(request, dict) else {}
        wears, style = given.get("wears"), given.get("style")
        if wears is not None:
            if wears not in WEARS:
                raise BadOffer(f'"wears" must be one of {", ".join(WEARS)}')
            look = dataclasses.replace(look, wears=wears)
        if style is not None:
            if style not in LOOK_NAMES:
                raise BadOffer(f'"style" must be one of {", ".join(LOOK_NAMES)}')
            look = dataclasses.replace(look, style=style)
        return look

    async def _market(
        self, bundle: AvatarBundle, items: Sequence[MarketItem], strict: bool
    ) -> tuple[AvatarBundle, Wardrobe]:
        """`bundle` dressed in marketplace `items` (streaming/market_items.py `dress`), built
        off the event loop once and kept (MAX_DRESSED). ItemError -> BadOffer."""
        if not items:
            return bundle, Wardrobe()
        key = (bundle.key, strict, tuple((i.id, content_key(i)) for i in items))
        held = self._dressed.get(key)
        if held is not None and held[0] is bundle:
            self._dressed.move_to_end(key)
            return held[1], held[2]
        loop = asyncio.get_running_loop()
        try:
            dressed, wardrobe = await loop.run_in_executor(
                None, lambda: dress(bundle, items, strict=strict)
            )
            if wardrobe.clips:  # packaged animations: emote states named by listing id
                clips = wardrobe.clips
                dressed = await loop.run_in_executor(None, lambda: with_clips(dressed, clips))
            if wardrobe.dances:  # packaged dances: variants of `dance` named by listing id
                dances, d0 = wardrobe.dances, dressed
                dressed = await loop.run_in_executor(None, lambda: with_dances(d0, dances))
        except ItemError as e:
            raise BadOffer(str(e)) from None
        self._dressed[key] = (bundle, dressed, wardrobe)
        while len(self._dressed) > MAX_DRESSED:
            self._dressed.popitem(last=False)
        return dressed, wardrobe

    def forget(self, face: str) -> None:
        """Drop the built bundles of generated avatar `face` (its character was edited):
        the next session builds it afresh. Sessions wearing it now keep theirs."""
        for key in [k for k in self._worn if k.split("|", 1)[0] == face]:
            del self._worn[key]

    async def dressed(self, look: Look) -> AvatarBundle:
        """The bundle a look needs: the rig (wearing a generated face, with another sprite
        library: built off the event loop once, then kept), plus its custom animations."""
        if look.face is None and look.library == "base":
            bundle = self._bundle()
        else:
            bundle = await self._avatar(*look.bundle_key)
        if look.clips:
            clips = look.clips
            loop = asyncio.get_running_loop()
            bundle = await loop.run_in_executor(None, lambda: with_clips(bundle, clips))
        return bundle

    async def _avatar(
        self, face: str | None, library: str = "base", wears: str = "character"
    ) -> AvatarBundle:
        """The rig wearing the generated avatar `face` (as its character or its photo,
        `wears`) and/or sprite library `library` (built off the event loop once, then
        kept)."""
        key = f"{face or ''}|{library}|{wears if face else ''}"
        if key in self._worn:
            self._worn.move_to_end(key)
            return self._worn[key]
        if face is not None and self._faces is None:
            raise NotFound("this server keeps no generated avatars")
        # concurrent requests for one avatar share one build (each costs ~2 s of CPU and
        # tens of MB until the cache lets it go)
        building = self._building.get(key)
        if building is None:
            building = self._building[key] = asyncio.ensure_future(
                self._build(key, face, library, wears)
            )
            building.add_done_callback(lambda f: self._built(key, f))
        return await asyncio.shield(building)

    def _built(self, key: str, done: asyncio.Future[AvatarBundle]) -> None:
        self._building.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved here too: its waiters may all have been cancelled

    async def _build(self, key: str, face: str | None, library: str, wears: str) -> AvatarBundle:
        def build() -> AvatarBundle:
            return build_bundle(self.rig, face, library, wears, self._faces, self._characters)

        try:
            bundle = await asyncio.get_running_loop().run_in_executor(None, build)
        except LookupError as e:
            raise NotFound(str(e.args[0]) if e.args else f'no avatar "{face}"') from None
        except (FaceArtError, CharacterError, HairstyleError) as e:
            raise BadOffer(f'avatar "{face}" cannot be worn: {e}') from None
        except FormatError as e:
            raise BadOffer(f'sprite library "{library}" cannot be used: {e}') from None
        self._worn[key] = bundle
        while len(self._worn) > MAX_WORN:
            self._worn.popitem(last=False)
        return bundle

    def _bundle(self) -> AvatarBundle:
        if self.bundle is None:
            raise RuntimeError("SessionManager.start() has not run")
        return self.bundle

    def _count(self, kind: str) -> int:
        return sum(1 for s in self.sessions.values() if s.kind == kind and not s.closed)

    def quiet(self) -> bool:
        """No peer is connected: nothing streams from this process. Safe to call from any
        thread (webapi/heap.py's trimmer asks it on its own)."""
        return not self.peers

    def health(self) -> dict[str, Any]:
        return {
            "sessions": self._count("puppet"),
            "streaming": sum(1 for p in self.peers.values() if p.track.sent > 0),
            # threads sessions start (the asyncio executor's bounded pool is not counted)
            "threads": sum(1 for t in threading.enumerate() if not t.name.startswith("asyncio_")),
            "previews": self._count("preview"),
            "studios": self._count("studio"),
            "peers": len(self.peers),
            "encoders": len(self.outputs),  # shared: one per session output, not per peer
            "limit": self.max_sessions,
            "preview_limit": self.max_previews,
            # peers watching a session or preview they did not open (WHEP, OBS, joiners)
            "viewers": sum(1 for p in self.peers.values() if p.seat is not None),
            "viewer_limit": self.max_viewers,  # per session or preview
            # slots taken, requests still being set up included (what the limits count)
            "reserved": {
                "sessions": self._puppet_slots.used,
                "previews": self._preview_slots.used,
                "viewers": sum(e.viewers.used for e in self.previews.values())
                + sum(s.used for k, s in self._viewer_slots.items() if k.kind == "puppet"),
            },
        }


async def _joined(encoders: list[Any]) -> None:
    """Wait (off the loop) for closed encoders' threads to end, so that a closed peer or
    session has left no thread behind when its close returns."""
    closed = [e for e in encoders if isinstance(e, SharedEncoder) and e.closed]
    if closed:
        await asyncio.get_running_loop().run_in_executor(None, lambda: [e.join() for e in closed])


def _guarded(handler: Callable[..., None], what: str) -> Callable[..., None]:
    """`handler` for an aiortc event: aiortc calls it from inside its transports, where an
    exception would take the connection down, so ours are logged here instead."""

    def guarded(*args: Any) -> None:
        try:
            handler(*args)
        except Exception:
            log.exception("handling a peer's %s failed", what)

    return guarded


def _warm_tracking() -> None:
    from engine.tracking.landmarker import shared_pool

    shared_pool().acquire().close()  # one graph built and waiting in the pool


def _unacknowledged(pc: RTCPeerConnection) -> bool:
    """Whether `pc`'s data channels hold messages the far end has not acknowledged yet.
    aiortc keeps them in its SCTP association's queues until the far end's SACK; it has no
    public property for that (`bufferedAmount` falls as soon as a message is first sent),
    so a newer aiortc without those queues reads as "nothing outstanding"."""
    sctp = pc.sctp
    if sctp is None:
        return False
    queues = ("_data_channel_queue", "_outbound_queue", "_sent_queue")
    return any(len(getattr(sctp, name, ())) for name in queues)


def local_only() -> RTCConfiguration:
    """No ICE servers. aiortc's default asks Google's public STUN server for a reflexive
    address on every connection: traffic this server must never send, and a wait when the
    internet is out of reach. Host candidates are what a browser on this machine or the
    local network needs (a TURN/STUN set-up for remote viewers would be configured here)."""
    return RTCConfiguration(iceServers=[])


def resumed_ident(offer: Any) -> tuple[str, str] | None:
    """The (id, token) an offer asks to resume, checked for shape only (whoever issued the
    id checks the pair); None for a new session. BadOffer for a malformed pair."""
    if not isinstance(offer, dict) or offer.get("session") is None:
        return None
    sid, token = offer.get("session"), offer.get("token")
    if (
        not isinstance(sid, str)
        or not isinstance(token, str)
        or not (8 <= len(sid) <= 64)
        or not token
        or len(token) > 256
    ):
        raise BadOffer('"session" and "token" must be the strings a previous answer gave')
    if not all(c.isalnum() or c in "-_" for c in sid):
        raise BadOffer('"session" may hold letters, digits, "-" and "_" only')
    return sid, token


def parse_offer(body: Any) -> RTCSessionDescription:
    if isinstance(body, str):
        sdp, kind = body, "offer"
    elif isinstance(body, dict):
        sdp, kind = body.get("sdp"), body.get("type", "offer")
    else:
        raise BadOffer('expected a JSON object with "sdp" and "type"')
    if kind != "offer":
        raise BadOffer(f'expected an SDP offer, got type "{kind}"')
    if not isinstance(sdp, str) or not sdp.strip():
        raise BadOffer('"sdp" must be the offer\'s SDP text')
    if not sdp.lstrip().startswith("v=0"):
        raise BadOffer('malformed SDP: it must start with "v=0"')
    if "m=video" not in sdp:
        raise BadOffer("malformed SDP: the offer has no video section (m=video)")
    _check_sdp(sdp)
    return RTCSessionDescription(sdp=sdp, type="offer")


def _check_sdp(sdp: str) -> None:
    """What aiortc's setRemoteDescription checks first, without a peer connection: it
    parses, every section has ICE credentials and video sections mux RTCP. Cheap (a
    millisecond), so a garbage offer is refused before anything costly is made for it."""
    try:
        parsed = aiortc_sdp.SessionDescription.parse(sdp)
    except Exception as e:  # the parser raises ValueError, KeyError, IndexError...
        raise BadOffer(f"malformed SDP: {type(e).__name__}: {e}"[:300]) from None
    if len(parsed.media) > MAX_MEDIA:
        raise BadOffer(f"malformed SDP: {len(parsed.media)} media sections (at most {MAX_MEDIA})")
    if not any(m.kind == "video" for m in parsed.media):
        raise BadOffer("malformed SDP: the offer has no video section (m=video)")
    for media in parsed.media:
        if not media.ice.usernameFragment or not media.ice.password:
            raise BadOffer("malformed SDP: ICE username fragment or password is missing")
        if media.kind in ("audio", "video") and not media.rtcp_mux:
            raise BadOffer("malformed SDP: RTCP mux is not enabled")


def check_avatar_id(request: Any) -> str | None:
    """The request's `"avatar"`, checked for shape only (the cheap part of `_avatar`)."""
    avatar = request.get("avatar") if isinstance(request, dict) else None
    if avatar is None:
        return None
    if not isinstance(avatar, str) or not avatar.isalnum() or not 1 <= len(avatar) <= 64:
        raise BadOffer('"avatar" must be the id of a generated avatar (letters and digits)')
    return avatar


def _wears_same(offer: Any, look: Look) -> bool:
    """Whether a moving page asks for the avatar the live session wears (its `"avatar"`,
    a saved or generated one's id, and how it is worn): then the session itself moves."""
    avatar = offer.get("avatar") if isinstance(offer, dict) else None
    if avatar is None:
        return look.face is None and look.saved is None
    wears = offer.get("wears")
    return avatar in (look.saved, look.face) and (wears is None or wears == look.wears)


def _same(a: str, b: str) -> bool:
    """Constant-time string comparison (compare_digest refuses non-ASCII str)."""
    return secrets.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


def build_bundle(
    rig: str,
    face: str | None,
    library: str = "base",
    wears: str = "character",
    faces: Callable[[str], FaceArt] | None = None,
    characters: Callable[[str], Character | None] | None = None,
) -> AvatarBundle:
    """The rig wearing generated avatar `face` (its Digi-style character, or its styled photo
    as the face: `wears`) and sprite library `library`; blocking (about 2 s for a face).
    `faces`/`characters` find a generated avatar's art and character by id (LookupError
    when there is none). Used by live sessions and by exports."""
    if face is None:
        return load_bundle(rig, sprites=library)
    if faces is None:
        raise LookupError("this server keeps no generated avatars")
    if wears == "character" and characters is not None and rig == "digi":
        character = characters(face)
        if character is not None:
            # named by its look too: renderers are shared per name, and an edited
            # character must not be drawn with the pictures of its last version
            name = f"{face}-{character.digest}"
            return assemble(character, name=name, sprites=library)
    return wear_face(faces(face), rig, sprites=library)


def with_clips(bundle: AvatarBundle, clips: Any) -> AvatarBundle:
    """`bundle` with custom animations (state name -> clip definition) added as states of
    its emote layer, each played once and then back to rest (a wave is one): the engine's
    own clip loader checks each against the rig. Renderers stay shared: the rig and its
    pictures are the bundle's own."""
    machine = bundle.machine
    layer = next((la for la in machine.layers if la.name == EMOTE_LAYER), machine.layers[-1])
    added_clips, added_states = dict(bundle.clips), dict(machine.states)
    for state, definition in clips.items():
        try:
            clip = parse_clip(definition, bundle.rig, f"animation {state}")
        except FormatError as e:
            raise BadOffer(f'animation "{state}" cannot be played on this avatar: {e}') from None
        added_clips[state] = clip
        added_states[state] = StateData(
            name=state,
            layer=layer,
            variants=((clip, 1.0),),
            blend=None,
            loop=None,
            speed=1.0,
            duration=None,
            next=None,
            returns=True,
            reroll=False,
            mix=None,
            when=(),
        )
    machine = dataclasses.replace(machine, states=added_states)
    return dataclasses.replace(bundle, clips=added_clips, machine=machine)


def with_dances(bundle: AvatarBundle, dances: dict[str, Any]) -> AvatarBundle:
    """`bundle` with packaged dances (variant name -> clip definition) added as variants of
    its looping `dance` state, weighted as one of its own: `{"type": "dance", "variant"}`
    picks one, and hello's `dances` (Puppet.variants) lists it. Only its owners' bundles
    hold it, so no one else's random dance roll can pick it. The clip is named by its
    variant (the listing id), so two packages' clips never share a name."""
    machine = bundle.machine
    dance = machine.states.get("dance")
    if dance is None:
        raise BadOffer("this avatar has no dances: a dance from the market cannot be added")
    added_clips, variants = dict(bundle.clips), list(dance.variants)
    weight = sum(w for _, w in variants) / max(len(variants), 1) or 1.0
    for variant, definition in dances.items():
        named = {**definition, "name": variant} if isinstance(definition, dict) else definition
        try:
            clip = parse_clip(named, bundle.rig, f"dance {variant}")
        except FormatError as e:
            raise BadOffer(f'dance "{variant}" cannot be played on this avatar: {e}') from None
        added_clips[variant] = clip
        variants = [v for v in variants if v[0].name != variant] + [(clip, weight)]
    states = {**machine.states, "dance": dataclasses.replace(dance, variants=tuple(variants))}
    machine = dataclasses.replace(machine, states=states)
    return dataclasses.replace(bundle, clips=added_clips, machine=machine)


def content_key(item: MarketItem) -> str:
    """What an item's content is, in short: a draft edited is another item to build."""
    text = json.dumps(item.content, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _equip(session: LiveSession, wardrobe: Wardrobe, items: Sequence[MarketItem]) -> None:
    """Hand a session what its owned items bring, and tell its page (hello `market`)."""
    session.effects = dict(wardrobe.effects)
    session.market_backgrounds = dict(wardrobe.backgrounds)
    names = {i.id: i.name or i.id for i in items}
    session.market = {
        "labels": [
            {"id": iid, "category": c, "label": lab, "name": names.get(iid, iid)}
            for iid, (c, lab) in wardrobe.labels.items()
        ],
        "emotes": [
            {"id": iid, "state": st, "name": wardrobe.names.get(iid) or names.get(iid, iid)}
            for iid, st in wardrobe.animations.items()
            if iid not in wardrobe.dances
        ],
        # owned dances: variants of `dance` (hello `dances` lists them too), named here
        "dances": [
            {"id": iid, "variant": iid, "name": wardrobe.names.get(iid) or names.get(iid, iid)}
            for iid in wardrobe.dances
        ],
        "backgrounds": [{"id": iid, "name": names.get(iid, iid)} for iid in wardrobe.backgrounds],
        "effects": [{"id": iid, "name": names.get(iid, iid)} for iid in wardrobe.effects],
    }


def _try_on(session: LiveSession, wardrobe: Wardrobe, item: MarketItem) -> None:
    """Show `item` on a preview session: worn, played in a loop, behind, or applied."""
    _equip(session, wardrobe, (item,))
    if item.id in wardrobe.labels:
        category, label = wardrobe.labels[item.id]
        session.command({"type": "swap", "category": category, "label": label})
    elif item.id in wardrobe.animations:
        session.play(wardrobe.animations[item.id])
    elif item.id in wardrobe.backgrounds:
        session.backdrop = Scene(background="image", image=item.id)
    elif item.id in wardrobe.effects:
        session.set_effect(item.id)
    # an avatar listing: nothing more, the session was made wearing it (`avatar_look`)


def preview_key(options: dict[str, Any], fps: int, size: int) -> str:
    """What makes two previews the same stream. JSON, so that odd values (lists, numbers)
    in a request compare without being hashable; they are refused when the first such
    preview is made, and so never find a running one."""
    picked = {k: options.get(k) for k in ("avatar", "outfit", "accessory", "body")}
    animation = str(options.get("animation") or "idle")
    return json.dumps([animation, picked, fps, size], sort_keys=True, default=repr)


def _even(value: int, key: str) -> int:
    if value % 2:
        raise BadOffer(f'"{key}" must be even')
    return value


def fps_size(
    options: dict[str, Any], fps: tuple[int, int, int], size: tuple[int, int, int]
) -> tuple[int, int]:
    """An offer's frame rate and (even) size, each (default, lowest, highest); BadOffer
    naming every bad value at once, not the first."""
    problems: list[str] = []
    out = [0, 0]
    try:
        out[0] = _int(options, "fps", *fps)
    except BadOffer as e:
        problems.append(str(e))
    try:
        out[1] = _even(_int(options, "size", *size), "size")
    except BadOffer as e:
        problems.append(str(e))
    if problems:
        raise BadOffer("; ".join(problems))
    return out[0], out[1]


def _int(options: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    v = options.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise BadOffer(f'"{key}" must be a whole number from {lo} to {hi}')
    return v


def _our_direction(t: RTCRtpTransceiver) -> str:
    """What the offer lets us do on this section: aiortc keeps the remote's direction
    reversed (a browser's "recvonly" section reads "sendonly", ours to send on)."""
    return getattr(t, "_offerDirection", None) or "sendrecv"


def _pick_transceiver(video: list[RTCRtpTransceiver]) -> RTCRtpTransceiver:
    """The section the browser opened to receive the avatar on: a receive-only one if it
    sent one (its webcam then has its own section), else the first two-way section."""
    for wanted in ("sendonly", "sendrecv"):
        for t in video:
            if _our_direction(t) == wanted:
                return t
    raise BadOffer("the offer has no video section that can receive the avatar (all send-only)")


def _prefer_vp8(t: RTCRtpTransceiver) -> None:
    caps = RTCRtpSender.getCapabilities("video").codecs
    vp8 = [c for c in caps if c.mimeType.lower() in ("video/vp8", "video/rtx")]
    with contextlib.suppress(Exception):
        t.setCodecPreferences(vp8)
