"""A render box in the cluster: the `RenderNode` Ray actor, one per box (`digigami worker`).

It owns what a single-box server's `SessionManager` owns (the GL context and render thread,
the encoders, the aiortc peers, tracking) for at most `slots` live sessions, and wraps one:
a front hands it an offer (already checked for size and shape, its look already resolved
from the database) and gets the answer back; the media then flows between the browser and
this box. Everything the front needs to reach a session later (its id, its box) is in the
directory (webapi/cluster/directory.py), told here when a session ends.

Ids come from the directory: before an open under an id, the manager's registry is told the
pair, so `SessionManager._resume` accepts it as its own. Looks go to the directory every
couple of seconds (`DirectoryMemory`), so a session that moves to another box (its box died)
comes back wearing what it wore. Nodes never open the database; files (generated faces,
backgrounds, market content) are read from the shared data directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import ray
from aiortc import RTCIceServer
from ray.actor import ActorHandle
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from streaming.live import LiveSession, Look
from streaming.manager import SessionManager
from streaming.market_items import MarketItem
from webapi import heap
from webapi.cluster.connect import NAMESPACE
from webapi.cluster.directory import directory, node_gone
from webapi.handlers.backgrounds import scene_backgrounds
from webapi.library.backgrounds import Backgrounds
from webapi.library.files import AvatarStore

log = logging.getLogger(__name__)

REPORT_EVERY = 1.0  # seconds between load reports to the directory
START_WITHIN = 300.0  # seconds a box may take to start (rig, GL, MediaPipe warmed)
MAX_CONCURRENCY = 1000  # calls in flight on one box (signaling, pings, reports)

__all__ = ["DirectoryMemory", "RenderNode", "node_name", "start_node", "stop_node"]


def node_name(box: str) -> str:
    return f"digigami-node-{box}"


class DirectoryMemory:
    """streaming.persist.SessionMemory on the directory: looks there (they outlive this
    box), ids kept by the directory itself (it issues them)."""

    def __init__(self, directory: ActorHandle) -> None:
        self.directory = directory

    def idents(self) -> Iterable[tuple[str, bytes, float]]:
        return ()  # the directory checks ids before an open reaches this box

    def keep_ident(self, sid: str, digest: bytes, expires: float) -> None:
        pass  # the directory keeps them

    async def recall(self, sid: str) -> dict[str, Any] | None:
        return await self.directory.recall.remote(sid)

    def remember(self, sid: str, state: dict[str, Any], owner: str | None) -> None:
        self.directory.remember.remote(sid, state)  # fire and forget: never blocks a tick


class RenderNode:
    """See the module docstring. Made by `start_node` (a Ray actor pinned to its node)."""

    def __init__(
        self,
        box: str,
        slots: int,
        data_root: str,
        media_host: str | None = None,
        ice_servers: Sequence[RTCIceServer] = (),
        rig: str = "digi",
        size: int = 512,
    ) -> None:
        if slots < 1:
            raise ValueError(f"a render worker needs at least one slot (got {slots})")
        self.box = box
        self.slots = slots
        self.data_root = Path(data_root)
        self.directory = directory()
        files = AvatarStore(self.data_root / "avatars")
        self.manager = SessionManager(
            rig,
            max_sessions=slots,
            size=size,
            faces=files.face_art,
            characters=files.character,
            media_host=media_host,
            memory=DirectoryMemory(self.directory),
            ice_servers=ice_servers,
        )
        # the opener's uploaded backgrounds, from the shared data directory
        backgrounds = Backgrounds(self.data_root / "backgrounds")
        self.manager.scene_backgrounds = scene_backgrounds(backgrounds)
        self.manager.on_end = self._ended
        self.draining = False
        self._opening: set[str] = set()  # ids being opened here (an end of theirs waits)
        # ... and ended meanwhile (the serial of the one that ended)
        self._ended_opening: dict[str, int | None] = {}
        # each session opened here gets a serial, which its end carries to the directory:
        # an old session of a resumed id that ends late must not end the new one there
        self._serials: dict[LiveSession, int] = {}
        self._serial = 0
        self._reporter: asyncio.Task | None = None
        self._load = 0.0
        self._known = False  # the directory has known this box (so a loss of it is news)
        self._telling: set[asyncio.Future] = set()  # ends told to the directory, not yet taken
        # the C heap's free pages handed back while no peer is connected (webapi/heap.py)
        self._trimmer = heap.Trimmer(idle=self.manager.quiet)

    async def start(self) -> str:
        await self.manager.start()
        heap.settle()  # this actor's process is ours alone (webapi/heap.py)
        self._trimmer.start()
        self._reporter = asyncio.get_running_loop().create_task(self._report())
        return self.box

    # --- sessions: the facade's calls, with the front's resolved values ---------------------

    async def open_puppet(
        self,
        offer: dict[str, Any],
        ident: tuple[str, str],
        look: Look | None,
        owned: Sequence[MarketItem] = (),
        owner: str | None = None,
        scene_owner: str | None = None,
    ) -> tuple[str, str, str, int]:
        """(answer SDP, session id, token, serial) of a puppet session under the directory's
        `ident`."""
        sid, token = ident
        self.manager.idents.keep(sid, token)  # issued by the directory: ours to resume
        offer = {**offer, "session": sid, "token": token}
        self._opening.add(sid)
        opened = False
        try:
            answer, session = await self.manager.open_puppet(
                offer, _given(look), owned, owner=owner, scene_owner=scene_owner
            )
            opened = True
        finally:
            self._opening.discard(sid)
            ended = sid in self._ended_opening
            old = self._ended_opening.pop(sid, None)
            # an old session of this id ended during the open: the new one took its place,
            # unless the open failed (then its slot is free)
            if ended and not opened and sid not in self.manager.sessions:
                self._tell_ended(sid, old)
        return answer, session.id, session.token, self._number(session)

    async def open_preview(
        self,
        offer: dict[str, Any],
        options: dict[str, Any],
        look: Look | None,
        try_on: MarketItem | None = None,
    ) -> tuple[str, str]:
        answer, session = await self.manager.open_preview(offer, options, _given(look), try_on)
        return answer, session.id

    async def open_studio(
        self,
        offer: dict[str, Any],
        look: Look | None,
        owned: Sequence[MarketItem] = (),
        owner: str | None = None,
    ) -> tuple[str, str, str, int]:
        answer, session = await self.manager.open_studio(offer, _given(look), owned, owner=owner)
        return answer, session.id, session.token, self._number(session)

    async def open_viewer(
        self, session_id: str, token: str | None, offer: Any, layout: str, user_id: str | None
    ) -> tuple[str, str]:
        return await self.manager.open_viewer(session_id, token, offer, layout, user_id=user_id)

    async def close_viewer(
        self, session_id: str, resource_id: str, token: str | None, user_id: str | None
    ) -> None:
        await self.manager.close_viewer(session_id, resource_id, token, user_id=user_id)

    async def close_session(
        self, session_id: str, token: str | None, user_id: str | None, linger: bool
    ) -> None:
        await self.manager.close_session(session_id, token, user_id=user_id, linger=linger)
        await self._told()  # its closer then finds the slot free in the directory

    async def studio_draft(self, session_id: str, token: Any, clip: Any) -> None:
        await self.manager.studio_draft(session_id, token, clip)

    async def studio_rig(self, session_id: str, token: Any) -> Any:
        return await self.manager.studio_rig(session_id, token)

    async def forget(self, face: str) -> None:
        self.manager.forget(face)

    # --- the box itself ---------------------------------------------------------------------

    async def ping(self) -> str:
        return self.box

    async def health(self) -> dict[str, Any]:
        return {
            **self.manager.health(),
            "box": self.box,
            "load": self._load,
            "draining": self.draining,
        }

    async def load(self) -> float:
        return self._load

    async def drain(self, timeout: float = 0.0) -> int:
        """Take no new sessions (a resumed one moves to another box); wait up to `timeout`
        s for the live ones to end. Returns how many are still live (`stop` ends them)."""
        self.draining = True
        await self.directory.drain.remote(self.box)
        end = time.monotonic() + max(0.0, timeout)
        while self.manager.sessions and time.monotonic() < end:
            await asyncio.sleep(0.5)
        return len(self.manager.sessions)

    async def stop(self) -> None:
        """End every session (each page sees its peer close and resumes elsewhere), leave
        the directory, stop the render thread: the box is going."""
        if self._reporter is not None:
            self._reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reporter
            self._reporter = None
        await self.manager.shutdown()
        self._trimmer.stop()
        await self._told()  # the ends first, so `leave` finds nothing of this box
        with contextlib.suppress(Exception):
            await self.directory.leave.remote(self.box)

    def _ended(self, session: LiveSession) -> None:
        """SessionManager.on_end: tell the directory its slot is free (not for a session
        whose id is being reopened here: the new one takes its place)."""
        serial = self._serials.pop(session, None)
        if session.id in self._opening:
            self._ended_opening[session.id] = serial
            return
        self._tell_ended(session.id, serial)

    def _number(self, session: LiveSession) -> int:
        """A new serial for a session opened here (numbered before anything can end it)."""
        self._serial += 1
        if not session.closed:
            self._serials[session] = self._serial
        return self._serial

    def _tell_ended(self, sid: str, serial: int | None) -> None:
        told = asyncio.wrap_future(self.directory.ended.remote(sid, self.box, serial).future())
        self._telling.add(told)
        told.add_done_callback(self._telling.discard)

    async def _told(self) -> None:
        """Wait until the directory took every end told so far."""
        if self._telling:
            await asyncio.gather(*list(self._telling), return_exceptions=True)

    async def _report(self) -> None:
        """This process's CPU use over the last second (0..1 of the machine), to the
        directory: placement's tie-break between boxes with as many free slots."""
        cpus = os.cpu_count() or 1
        wall, cpu = time.monotonic(), time.process_time()
        while True:
            await asyncio.sleep(REPORT_EVERY)
            now, used = time.monotonic(), time.process_time()
            self._load = min(1.0, (used - cpu) / max(now - wall, 1e-3) / cpus)
            wall, cpu = now, used
            try:
                known = await asyncio.wait_for(
                    self.directory.report.remote(self.box, self._load), REPORT_EVERY * 5
                )
            except Exception as e:  # a slow directory is waited for; a dead one replaced
                if node_gone(e) and self._known:
                    await self._rejoin()
                continue
            if known:
                self._known = True
            elif self._known:  # it knew this box before, and lost it
                await self._rejoin()

    async def _rejoin(self) -> None:
        """Join the directory again with the sessions running here (it was restarted, or
        dropped this box while it was alive), so they stay reachable and resumable."""
        try:
            self.directory = directory()  # the live one, or a new one made on the head
            memory = self.manager.memory
            if isinstance(memory, DirectoryMemory):
                memory.directory = self.directory
            live = [
                (s.id, s.token, s.kind)
                for s in list(self.manager.sessions.values())
                if s.kind in ("puppet", "studio") and not s.closed
            ]
            context = ray.get_runtime_context()
            await self.directory.rejoin.remote(
                self.box, context.get_node_id(), self.slots, context.current_actor, live,
                self.draining,
            )  # fmt: skip
            self.manager.save_again()  # a new directory has none of their looks
            log.warning("box %s: re-joined the directory with %d sessions", self.box, len(live))
        except Exception:
            log.warning("box %s: re-joining the directory failed; trying again", self.box,
                        exc_info=True)  # fmt: skip


def _given(look: Look | None):
    """The manager's resolver for a look the front resolved already (None: the offer's)."""
    if look is None:
        return None

    async def resolve() -> Look:
        return look

    return resolve


def start_node(
    node_id: str,
    slots: int,
    *,
    data_root: Path | str = "out",
    media_host: str | None = None,
    ice_servers: Sequence[RTCIceServer] = (),
    rig: str = "digi",
    box: str | None = None,
    size: int = 512,
) -> ActorHandle:
    """Start a RenderNode with `slots` session slots on Ray node `node_id` (hex), wait until
    it is ready (rig loaded, GL up), and register it with the directory. `box`: its id
    (default: from the node id; one box per node). Blocking; the caller owns the actor (it
    dies with the caller's process: `digigami worker`)."""
    box = box or node_id[:16]
    actor = ray.remote(RenderNode).options(
        name=node_name(box),
        namespace=NAMESPACE,
        num_cpus=0,
        max_concurrency=MAX_CONCURRENCY,
        max_restarts=0,  # a dead box stays dead: its sessions move, nothing half-restarts
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
    )
    handle = actor.remote(box, slots, str(data_root), media_host, tuple(ice_servers), rig, size)
    try:
        ray.get(handle.start.remote(), timeout=START_WITHIN)
        ray.get(directory().join.remote(box, node_id, slots, handle), timeout=30)
    except BaseException:
        ray.kill(handle, no_restart=True)
        raise
    return handle


def stop_node(handle: ActorHandle, *, drain_timeout: float = 0.0) -> None:
    """Drain a box (no new sessions; its live ones get `drain_timeout` s to end), leave the
    directory, and end its actor. Blocking."""
    try:
        ray.get(handle.drain.remote(drain_timeout), timeout=drain_timeout + 60)
        ray.get(handle.stop.remote(), timeout=60)
    finally:
        ray.kill(handle, no_restart=True)


def why_lost(handle: ActorHandle, timeout: float = 10.0) -> str | None:
    """None while the box answers a ping; else why it does not (its node was removed, its
    process died). Blocking: `digigami worker`'s watch over its own box."""
    try:
        ray.get(handle.ping.remote(), timeout=timeout)
    except Exception as e:
        return str(e) or type(e).__name__
    return None
