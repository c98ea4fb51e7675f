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
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from engine.assets import AvatarBundle, load_bundle
from engine.face import FaceArt, FaceArtError, wear_face
from streaming import codec, landmarks
from streaming.encoder import SharedEncoder, forward_keyframe_requests
from streaming.live import CommandError, LiveSession, Output
from streaming.render_worker import RenderWorker
from streaming.tracks import AvatarTrack, PacketSlot, consume_camera

log = logging.getLogger(__name__)

SILENT_AFTER = 3.0  # seconds without webcam frames, landmarks or RTCP from a connected peer
DISCONNECTED_GRACE = 2.0
MAX_WORN = 8  # rigs wearing generated faces kept built (each ~2 s of CPU to make)
CONNECT_WITHIN = 15.0  # a peer that never connects is dropped after this


class BadOffer(ValueError):
    """The offer (or its request) is malformed; the message says how."""


class Busy(RuntimeError):
    """The server holds as many live sessions as it may."""


class NotFound(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


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


class SessionManager:
    def __init__(
        self,
        rig: str = "digi",
        *,
        max_sessions: int = 3,
        max_previews: int = 8,
        size: int = 512,
        bundle_loader: Callable[[str], AvatarBundle] = load_bundle,
        faces: Callable[[str], FaceArt] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`faces` finds a generated avatar's art by id (raising LookupError when there is
        none), so a session can wear it: the offer's `"avatar"`."""
        self.rig = rig
        self._faces = faces
        self._worn: OrderedDict[str, AvatarBundle] = OrderedDict()
        self.max_sessions = max_sessions
        self.max_previews = max_previews
        self.size = size
        self.clock = clock
        self._loader = bundle_loader
        self.bundle: AvatarBundle | None = None
        self.worker = RenderWorker(clock)
        self.sessions: dict[str, LiveSession] = {}
        self.peers: dict[str, Peer] = {}
        # one shared encoder per (session, layout, size), however many peers watch it
        self.outputs: dict[tuple[LiveSession, str, int], Output] = {}
        self.previews: dict[str, LiveSession] = {}  # by their options (`_preview_key`)
        self._preview_lock = asyncio.Lock()  # two requests for one preview make one session
        self._closing: set[asyncio.Task] = set()

    async def start(self) -> None:
        """Everything the first browser would otherwise wait for, before serving: the rig,
        the GL views, and MediaPipe (importing it and building a graph holds the GIL for
        seconds, which would stall the event loop mid-session)."""
        codec.configure()
        loop = asyncio.get_running_loop()
        self.bundle = await loop.run_in_executor(None, self._loader, self.rig)
        warm = ((self.bundle, self.size, "opaque"), (self.bundle, self.size, "packed"))
        await loop.run_in_executor(None, lambda: self.worker.start(warm=warm))
        if self.bundle.tracking is not None:
            await loop.run_in_executor(None, _warm_tracking)

    # --- opening ------------------------------------------------------------------------------

    async def open_puppet(self, offer: Any) -> tuple[str, LiveSession]:
        """A webcam-driven session for a browser's offer: (answer SDP, session)."""
        desc = _offer(offer)
        try:
            tracking = landmarks.offer_tracking(offer)  # "browser": landmarks, no video up
        except ValueError as e:
            raise BadOffer(str(e)) from None
        ident = await self._resume(offer)
        if self._count("puppet") >= self.max_sessions:
            raise Busy(
                f"busy: {self.max_sessions} live sessions already (the limit); try again soon"
            )
        bundle = await self._avatar(offer)
        session = LiveSession(
            bundle, kind="puppet", clock=self.clock, ident=ident, tracking=tracking
        )
        peer = await self._connect(desc, session, "puppet", "opaque", self.size)
        self.sessions[session.id] = session
        return codec.camera_bitrate(peer.pc.localDescription.sdp), session

    async def _resume(self, offer: Any) -> tuple[str, str] | None:
        """A reloaded puppet page asks for its old session id back (with its token), so the
        OBS source's URL keeps working; a live session under that id (the same user's old
        tab) ends first."""
        if not isinstance(offer, dict) or offer.get("session") is None:
            return None
        sid, token = offer.get("session"), offer.get("token")
        if (
            not isinstance(sid, str)
            or not isinstance(token, str)
            or not (8 <= len(sid) <= 64)
            or not token
        ):
            raise BadOffer('"session" and "token" must be the strings a previous answer gave')
        if not all(c.isalnum() or c in "-_" for c in sid):
            raise BadOffer('"session" may hold letters, digits, "-" and "_" only')
        old = self.sessions.get(sid)
        if old is not None:
            if not secrets.compare_digest(token, old.token):
                raise PermissionError("that session id belongs to someone else")
            await self._end_session(old)
        return sid, token

    async def open_preview(self, offer: Any, options: dict[str, Any]) -> tuple[str, LiveSession]:
        """A receive-only preview playing a named animation with chosen sprites. The same
        options asked for again (another viewer of one shop item) join the running preview:
        one session, one render and one encode for all of them."""
        desc = _offer(offer)
        bundle = await self._avatar(options)
        fps = _int(options, "fps", 30, 1, 60)
        size = _int(options, "size", 384, 64, 1024)
        if size % 2:
            raise BadOffer('"size" must be even')
        key = _preview_key(options, fps, size)
        async with self._preview_lock:
            shared = self.previews.get(key)
            if shared is not None and not shared.closed:
                peer = await self._connect(desc, shared, "preview", "opaque", size, start=False)
                return peer.pc.localDescription.sdp, shared
            session, sdp = await self._new_preview(desc, bundle, options, fps, size)
            self.previews[key] = session
            return sdp, session

    async def _new_preview(
        self,
        desc: RTCSessionDescription,
        bundle: AvatarBundle,
        options: dict[str, Any],
        fps: int,
        size: int,
    ) -> tuple[LiveSession, str]:
        session = LiveSession(bundle, kind="preview", fps=fps, clock=self.clock)
        if self._count("preview") >= self.max_previews:
            raise Busy(f"busy: {self.max_previews} previews already (the limit); try again soon")
        try:
            session.play(str(options.get("animation") or "idle"))
            for key, category in (
                ("outfit", "outfit"),
                ("accessory", "accessories"),
                ("body", "body"),
            ):
                label = options.get(key)
                if label is not None:
                    session.command({"type": "swap", "category": category, "label": label})
        except CommandError as e:
            raise BadOffer(str(e)) from None
        peer = await self._connect(desc, session, "preview", "opaque", size)
        self.sessions[session.id] = session
        return session, peer.pc.localDescription.sdp

    async def open_viewer(
        self, session_id: str, token: str | None, offer: Any, layout: str
    ) -> tuple[str, str]:
        """WHEP: another receive-only view of a live session: (answer SDP, resource id)."""
        session = self.authorize(session_id, token)
        desc = _offer(offer)
        if layout not in ("opaque", "packed"):
            raise BadOffer(f'unknown layout "{layout}" (expected opaque or packed)')
        peer = await self._connect(desc, session, "viewer", layout, self.size)
        return peer.pc.localDescription.sdp, peer.id

    def authorize(self, session_id: str, token: str | None) -> LiveSession:
        session = self.sessions.get(session_id)
        if session is None or session.closed:
            raise NotFound(f'no live session "{session_id}"')
        if not token or not secrets.compare_digest(token, session.token):
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
    ) -> Peer:
        """A peer connection that sends `session`'s (layout, size) stream, joining its shared
        encoder (made if it is the first). `start`: the peer brings the session to life
        (default: every kind but "viewer")."""
        start = kind != "viewer" if start is None else start
        pc = RTCPeerConnection(local_only())
        out = self._output(session, layout, size)
        peer_id = secrets.token_urlsafe(8)
        encoder: SharedEncoder = out.slot  # type: ignore[assignment]
        track = AvatarTrack(PacketSlot(encoder))
        peer = Peer(peer_id, kind, pc, session, out, track, last_camera=self.clock())
        if kind == "puppet":
            # before the remote description: aiortc announces the webcam track during it
            pc.on("track", lambda t: self._on_track(peer, t))
            pc.on("datachannel", lambda ch: self._on_channel(peer, ch))
        try:
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
        except BaseException:
            track.stop()
            self._release_output(session, out)
            await pc.close()
            raise
        if start:
            session.start()
            self.worker.add(session)
        self.peers[peer_id] = peer
        pc.on("connectionstatechange", lambda: self._on_state(peer))
        peer.tasks.append(asyncio.create_task(self._watch(peer)))
        return peer

    def _output(self, session: LiveSession, layout: str, size: int) -> Output:
        """The session's (layout, size) stream, with its shared encoder: the one its other
        viewers watch, or a new one (rendered from the next tick on)."""
        out = self.outputs.get((session, layout, size))
        if out is not None and not out.slot.closed:  # type: ignore[attr-defined]
            return out
        width = 2 * size if layout == "packed" else size  # packed: colour | alpha side by side
        encoder = SharedEncoder(
            asyncio.get_running_loop(), width, size, session.fps, name=f"{session.id}-{layout}-{size}"
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
        if channel.label == landmarks.CHANNEL:
            landmarks.attach(peer.session, channel, lambda t: setattr(peer, "last_camera", t))
            return
        if channel.label != "control":
            return
        session = peer.session

        def send(msg: dict) -> None:
            if channel.readyState == "open":
                channel.send(json.dumps(msg))

        @channel.on("message")
        def on_message(raw: Any) -> None:
            try:
                msg = json.loads(raw) if isinstance(raw, str) else None
                if msg is None:
                    raise CommandError("control messages are JSON text")
                session.command(msg)
            except (ValueError, CommandError) as e:
                send({"type": "error", "message": str(e)})

        send(session.hello())

        async def status() -> None:
            while channel.readyState in ("connecting", "open") and not session.closed:
                send(session.status())
                await asyncio.sleep(0.5)

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
            # keyframe: silence counts from then, and until then CONNECT_WITHIN bounds it
            if streaming is None and peer.track.sent > 0:
                streaming = now
            if peer.pc.connectionState != "connected" or streaming is None:
                if now - started > CONNECT_WITHIN:
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
        session = peer.session
        peer.track.stop()  # leaves its stream's fan-out
        self._release_output(session, peer.output)
        current = asyncio.current_task()
        for t in peer.tasks:
            if t is not current:
                t.cancel()
        await peer.pc.close()
        await _joined([peer.output.slot])
        # a puppet's session ends with it; a preview's with its last viewer (the first
        # viewer is not special: the options, not the peer, made it)
        ending = self.sessions.get(session.id) is not session  # already on its way out
        last = not any(p.session is session for p in self.peers.values())
        if not ending and (peer.kind == "puppet" or (peer.kind == "preview" and last)):
            await self._end_session(session)

    async def close_session(self, session_id: str, token: str | None) -> None:
        session = self.authorize(session_id, token)
        await self._end_session(session)

    async def _end_session(self, session: LiveSession) -> None:
        if self.sessions.get(session.id) is session:
            del self.sessions[session.id]
        for key in [k for k, s in self.previews.items() if s is session]:
            del self.previews[key]
        for p in [p for p in self.peers.values() if p.session is session]:
            await self.close_peer(p.id)
        for key in [k for k in self.outputs if k[0] is session]:
            del self.outputs[key]  # session.close() closes their encoders
        encoders = [o.slot for o in session.current_outputs()]
        self.worker.remove(session)
        await asyncio.get_running_loop().run_in_executor(None, session.close)
        await _joined(encoders)

    async def shutdown(self) -> None:
        for pid in list(self.peers):
            await self.close_peer(pid)
        for session in list(self.sessions.values()):
            await self._end_session(session)
        await asyncio.get_running_loop().run_in_executor(None, self.worker.stop)

    # --- helpers --------------------------------------------------------------------------------

    async def _avatar(self, request: Any) -> AvatarBundle:
        """The rig a session shows: the bare one, or wearing the generated avatar the
        request's `"avatar"` names (built off the event loop once, then kept)."""
        avatar = request.get("avatar") if isinstance(request, dict) else None
        if avatar is None:
            return self._bundle()
        if not isinstance(avatar, str) or not avatar.isalnum() or not 1 <= len(avatar) <= 64:
            raise BadOffer('"avatar" must be the id of a generated avatar (letters and digits)')
        if avatar in self._worn:
            self._worn.move_to_end(avatar)
            return self._worn[avatar]
        if self._faces is None:
            raise NotFound("this server keeps no generated avatars")
        faces = self._faces

        def build() -> AvatarBundle:
            return wear_face(faces(avatar), self.rig)

        try:
            bundle = await asyncio.get_running_loop().run_in_executor(None, build)
        except LookupError as e:
            raise NotFound(str(e.args[0]) if e.args else f'no avatar "{avatar}"') from None
        except FaceArtError as e:
            raise BadOffer(f'avatar "{avatar}" cannot be worn: {e}') from None
        self._worn[avatar] = bundle
        while len(self._worn) > MAX_WORN:
            self._worn.popitem(last=False)
        return bundle

    def _bundle(self) -> AvatarBundle:
        if self.bundle is None:
            raise RuntimeError("SessionManager.start() has not run")
        return self.bundle

    def _count(self, kind: str) -> int:
        return sum(1 for s in self.sessions.values() if s.kind == kind and not s.closed)

    def health(self) -> dict[str, Any]:
        return {
            "sessions": self._count("puppet"),
            "streaming": sum(1 for p in self.peers.values() if p.track.sent > 0),
            # threads sessions start (the asyncio executor's bounded pool is not counted)
            "threads": sum(1 for t in threading.enumerate() if not t.name.startswith("asyncio_")),
            "previews": self._count("preview"),
            "peers": len(self.peers),
            "encoders": len(self.outputs),  # shared: one per session output, not per peer
            "limit": self.max_sessions,
            "preview_limit": self.max_previews,
        }


async def _joined(encoders: list[Any]) -> None:
    """Wait (off the loop) for closed encoders' threads to end, so that a closed peer or
    session has left no thread behind when its close returns."""
    closed = [e for e in encoders if isinstance(e, SharedEncoder) and e.closed]
    if closed:
        await asyncio.get_running_loop().run_in_executor(None, lambda: [e.join() for e in closed])


def _warm_tracking() -> None:
    from engine.tracking.landmarker import shared_pool

    shared_pool().acquire().close()  # one graph built and waiting in the pool


def local_only() -> RTCConfiguration:
    """No ICE servers. aiortc's default asks Google's public STUN server for a reflexive
    address on every connection: traffic this server must never send, and a wait when the
    internet is out of reach. Host candidates are what a browser on this machine or the
    local network needs (a TURN/STUN set-up for remote viewers would be configured here)."""
    return RTCConfiguration(iceServers=[])


def _offer(body: Any) -> RTCSessionDescription:
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
    return RTCSessionDescription(sdp=sdp, type="offer")


def _preview_key(options: dict[str, Any], fps: int, size: int) -> str:
    """What makes two previews the same stream. JSON, so that odd values (lists, numbers)
    in a request compare without being hashable; they are refused when the first such
    preview is made, and so never find a running one."""
    picked = {k: options.get(k) for k in ("avatar", "outfit", "accessory", "body")}
    animation = str(options.get("animation") or "idle")
    return json.dumps([animation, picked, fps, size], sort_keys=True, default=repr)


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
