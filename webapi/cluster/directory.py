"""The session directory: one detached Ray actor that knows every render box, every live
session's box, the issued session ids and the looks that survive a move.

Fronts are stateless: they ask the directory where a new session goes (`reserve`, then
`commit` or `cancel`), where a live one is (`where`: OBS pages, WHEP players, the studio's
draft), and hand it the looks boxes report (`remember`/`recall`). The placement policy is
`webapi/cluster/placement.py`'s, unchanged.

It is an async actor: every method without an `await` in it runs whole, so a slot is
checked and counted in one step however many fronts ask at once (the cluster's version of
streaming/admission.py). A health loop pings every box; a box whose actor is dead leaves
(its sessions' entries go with it, their ids and looks stay, so each page resumes on
another box under the same id and the OBS URL keeps working).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from typing import Any

import ray
from ray.actor import ActorHandle

from streaming.admission import Busy
from streaming.idents import IdentRegistry
from webapi.cluster.connect import NAMESPACE
from webapi.cluster.placement import NoCapacity, Placement, Ticket

log = logging.getLogger(__name__)

NAME = "digigami-directory"
PING_EVERY = 0.5  # seconds between the health loop's rounds
PING_TIMEOUT = 1.0  # a box that does not answer a ping within this is not counted alive
# rounds a live-but-silent box may miss before it is dropped (a box whose actor is dead is
# dropped at once; a loaded one may miss a few)
MISSES = 10
MAX_LOOKS = 50_000  # looks remembered (a few KB each); least recently used go first
MAX_LOOK_BYTES = 64 * 1024  # one look's state at most (a box's own data: a bound anyway)
# seconds a reserved slot may wait for its commit or cancel: past it, its front is taken for
# dead (a front's calls to a box time out after 60 s) and the slot is given back
OPEN_WITHIN = 150.0
KINDS = ("puppet", "studio")  # what takes a slot; previews are counted by their box

__all__ = ["NAME", "Directory", "directory", "node_gone"]


def node_gone(e: BaseException) -> bool:
    """Whether `e` says a box's actor (or its node) is gone, rather than that it refused."""
    gone = (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError)
    return isinstance(e, gone) and not isinstance(e, ray.exceptions.RayTaskError)


class Directory:
    """See the module docstring. Constructed by `directory()`, never by hand."""

    def __init__(self) -> None:
        self.placement = Placement()
        self.nodes: dict[str, ActorHandle] = {}  # box id -> its RenderNode actor
        self.idents = IdentRegistry()
        self.looks: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.kinds: dict[str, str] = {}  # live session id -> "puppet" | "studio"
        self.previews: dict[str, tuple[str, str | None]] = {}  # preview key -> (box, sid)
        # sessions being set up: id -> (ticket, token), and those told ended meanwhile
        self.opening: dict[str, tuple[Ticket, str | None]] = {}
        self.opening_since: dict[str, float] = {}
        # ... with the box's serial of the session that ended (None: the box did not say)
        self.ended_opening: dict[str, int | None] = {}
        # live session id -> its box's serial for it: an end told for an earlier session of
        # the same id (a page that reloaded and resumed) must not free the new one's slot
        self.serials: dict[str, int] = {}
        self.misses: dict[str, int] = {}
        self.lost: list[str] = []  # boxes dropped as dead (newest last), for health pages
        self._loop: asyncio.Task | None = None

    # --- boxes ------------------------------------------------------------------------------

    async def join(self, box: str, node_id: str, slots: int, handle: ActorHandle) -> None:
        """A render box is up: new sessions may go to it."""
        if box in self.nodes:  # the same box restarted (a new actor): the old one is gone
            self._drop(box, "rejoined")
        self.placement.join(box, node_id, slots)
        self.nodes[box] = handle
        self.misses[box] = 0
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._health())
        log.info("box %s joined with %d slots (node %s)", box, slots, node_id[:12])

    async def leave(self, box: str) -> list[str]:
        """Drop a box (drained, or stopped): the ids of the sessions it held."""
        return self._drop(box, "left")

    async def drain(self, box: str) -> None:
        """No new sessions for `box` (its live ones go on until they end)."""
        if box in self.placement.boxes:
            self.placement.drain(box)

    async def report(self, box: str, load: float) -> bool:
        """A box's load; False when the directory does not know the box (it was dropped
        while alive, or this directory is a new one): the box re-joins (`rejoin`)."""
        self.placement.report(box, load)
        return box in self.nodes

    async def rejoin(
        self,
        box: str,
        node_id: str,
        slots: int,
        handle: ActorHandle,
        sessions: list[tuple[str, str, str]],
        draining: bool = False,
    ) -> None:
        """A live box joins again with the sessions it runs, as (id, token, kind): after
        this directory was restarted (it starts empty) or dropped the box while it was
        alive. Its sessions are found again (OBS pages, WHEP) and resumable with their
        tokens; their looks come back with the box's next save."""
        await self.join(box, node_id, slots, handle)
        for sid, token, kind in sessions:
            self.placement.adopt(box, sid)
            self.kinds[sid] = kind
            if kind == "puppet":
                self.idents.keep(sid, token)
        if draining:
            self.placement.drain(box)
        log.warning("box %s re-joined with %d sessions", box, len(sessions))

    async def lost_box(self, box: str) -> list[str]:
        """A front found `box`'s actor dead: drop it now rather than at the next round."""
        if box not in self.nodes:
            return []
        if await self._alive(box):  # one refused call is not a death: check
            return []
        return self._drop(box, "lost")

    def _drop(self, box: str, why: str) -> list[str]:
        gone = self.placement.leave(box)
        self.nodes.pop(box, None)
        self.misses.pop(box, None)
        for sid in gone:
            self.kinds.pop(sid, None)  # ids and looks stay: the pages resume elsewhere
        for key in [k for k, (b, _) in self.previews.items() if b == box]:
            del self.previews[key]
        for sid, (ticket, _) in list(self.opening.items()):
            if ticket.box == box:  # its front's node call fails too, and cancels
                self.ended_opening.pop(sid, None)
        if why == "lost":
            self.lost = [*self.lost[-15:], box]
        log.warning("box %s %s; its sessions: %s", box, why, ", ".join(gone) or "none")
        return gone

    async def _alive(self, box: str) -> bool:
        handle = self.nodes.get(box)
        if handle is None:
            return False
        try:
            await asyncio.wait_for(handle.ping.remote(), PING_TIMEOUT)
            return True
        except TimeoutError:
            return False
        except Exception as e:
            if not node_gone(e):
                log.warning("box %s: ping failed: %s", box, e)
            return False

    async def _health(self) -> None:
        """Ping every box each round; a dead actor is dropped at once, a silent one after
        MISSES rounds."""
        while True:
            await asyncio.sleep(PING_EVERY)
            boxes = list(self.nodes.items())
            results = await asyncio.gather(
                *(self._ping(handle) for _, handle in boxes), return_exceptions=True
            )
            self._expire_openings()
            for (box, handle), state in zip(boxes, results, strict=True):
                if self.nodes.get(box) is not handle:
                    continue  # it left or rejoined meanwhile
                if state == "dead":
                    self._drop(box, "lost")
                elif state == "slow":
                    self.misses[box] = self.misses.get(box, 0) + 1
                    if self.misses[box] >= MISSES:
                        self._drop(box, "lost")
                else:
                    self.misses[box] = 0

    def _expire_openings(self) -> None:
        """Give back the slots of opens whose front never came back to commit or cancel
        (it died mid-open): no slot leaks with a lost front."""
        now = time.monotonic()
        for sid, since in list(self.opening_since.items()):
            if now - since > OPEN_WITHIN and sid in self.opening:
                ticket, _ = self.opening.pop(sid)
                del self.opening_since[sid]
                self.ended_opening.pop(sid, None)
                self.placement.cancel(ticket)
                log.warning("session %s: its front never finished opening it; slot freed", sid)

    async def _ping(self, handle: ActorHandle) -> str:
        try:
            await asyncio.wait_for(handle.ping.remote(), PING_TIMEOUT)
            return "ok"
        except TimeoutError:
            return "slow"
        except Exception as e:
            return "dead" if node_gone(e) else "slow"

    # --- sessions ---------------------------------------------------------------------------

    async def reserve(
        self, sid: str | None, *, token: str | None = None, resume: bool = False
    ) -> tuple[Ticket, ActorHandle, tuple[str, str | None]]:
        """A slot for a session: (ticket, its box's actor, (id, token)). `sid` None: a new
        puppet session, with an id and token issued here; else a resume, checked against
        the token it was issued with (PermissionError as on a single box). Busy when every
        box is full."""
        if sid is None:
            sid, token = self.idents.issue()
        else:
            if not isinstance(token, str):
                raise PermissionError("wrong or missing token for this session")
            self.idents.check(sid, token)  # PermissionError: not issued, or not yours
            held = self.placement.where.get(sid)
            if held is not None and not await self._alive(held):
                self._drop(held, "lost")  # its page is back before the health loop saw it
        if sid in self.opening:
            raise Busy("busy: that session is being reopened right now; try again soon")
        try:
            ticket = self.placement.reserve(sid, resume=resume)
        except NoCapacity as e:
            raise Busy(str(e)) from None
        self.opening[sid] = (ticket, token)
        self.opening_since[sid] = time.monotonic()
        return ticket, self.nodes[ticket.box], (sid, token)

    async def commit(
        self, ticket: Ticket, kind: str, opened: str | None = None, serial: int | None = None
    ) -> None:
        """The box runs the session now. `opened`: its id when the box made it (a studio's
        ticket was reserved under a placeholder); `serial`: the box's number for this
        session, which its end will carry."""
        _, token = self.opening.pop(ticket.session, (ticket, None))
        self.opening_since.pop(ticket.session, None)
        if opened is not None and opened != ticket.session:
            ticket = Ticket(ticket.box, opened, ticket.sticky)
        self.placement.commit(ticket)
        if ticket.box not in self.placement.boxes:  # the box went meanwhile
            return
        self.kinds[ticket.session] = kind
        if serial is not None:
            self.serials[ticket.session] = serial
        if kind == "puppet" and token is not None:
            self.idents.keep(ticket.session, token)  # resumable from now on
        if ticket.session in self.ended_opening:  # an end came while it was being opened
            told = self.ended_opening.pop(ticket.session)
            # its own end (it ended before this commit came), not the end of the session
            # this one resumed, told before the box began opening it
            if told is None or serial is None or told == serial:
                self._end(ticket.session)

    async def cancel(self, ticket: Ticket) -> None:
        self.opening.pop(ticket.session, None)
        self.opening_since.pop(ticket.session, None)
        self.ended_opening.pop(ticket.session, None)
        self.placement.cancel(ticket)

    async def ended(self, sid: str, box: str, serial: int | None = None) -> None:
        """Box `box` ended session `sid` (page closed, peer lost): its slot is free. An end
        from a box that no longer holds it (the session moved) frees nothing, nor does the
        end of an earlier session of the id (`serial`, the box's number for the one that
        ended, not the one committed since: a page that reloaded and resumed)."""
        if sid in self.opening:
            self.ended_opening[sid] = serial
            return
        held = self.serials.get(sid)
        if self.placement.where.get(sid) == box and (serial is None or held in (None, serial)):
            self._end(sid)
        for key in [k for k, (b, s) in self.previews.items() if s == sid and b == box]:
            del self.previews[key]

    def _end(self, sid: str) -> None:
        self.placement.end(sid)
        self.kinds.pop(sid, None)
        self.serials.pop(sid, None)

    async def where(self, sid: str) -> tuple[str, ActorHandle] | None:
        """The box holding live session `sid` and its actor (None: no such session)."""
        box = self.placement.where.get(sid) if isinstance(sid, str) else None
        if box is None or box not in self.nodes:
            return None
        return box, self.nodes[box]

    async def handles(self) -> dict[str, ActorHandle]:
        return dict(self.nodes)

    # --- previews: shared per options on one box, counted by that box ----------------------

    async def preview_box(self, key: str) -> tuple[str, ActorHandle]:
        """The box running the preview `key` (its viewers share one stream), else the box
        with the most free slots and the least load. Busy when there is no box."""
        held = self.previews.get(key)
        if held is not None and held[0] in self.nodes:
            return held[0], self.nodes[held[0]]
        boxes = [b for b in self.placement.boxes.values() if not b.draining]
        if not boxes:
            raise Busy("busy: no render worker is up; try again soon")
        best = min(boxes, key=lambda b: (-b.free, b.load, b.used, b.id))
        self.previews[key] = (best.id, None)
        return best.id, self.nodes[best.id]

    async def preview_opened(self, key: str, box: str, sid: str) -> None:
        if box in self.nodes:
            self.previews[key] = (box, sid)

    async def preview_failed(self, key: str, box: str) -> None:
        held = self.previews.get(key)
        if held is not None and held == (box, None):
            del self.previews[key]

    # --- looks that survive a move ----------------------------------------------------------

    async def remember(self, sid: str, state: dict[str, Any]) -> None:
        if not isinstance(sid, str) or not isinstance(state, dict):
            return
        if len(repr(state)) > MAX_LOOK_BYTES:
            log.warning("session %s: its look (%d bytes) is not kept", sid, len(repr(state)))
            return
        self.looks[sid] = state
        self.looks.move_to_end(sid)
        while len(self.looks) > MAX_LOOKS:
            self.looks.popitem(last=False)

    async def recall(self, sid: str) -> dict[str, Any] | None:
        return self.looks.get(sid)

    # --- figures ----------------------------------------------------------------------------

    async def snapshot(self) -> dict[str, Any]:
        boxes = self.placement.snapshot()
        return {
            "boxes": boxes,
            "sessions": len(self.placement.where),
            "used": self.placement.used(),
            "capacity": self.placement.capacity(),
            "opening": len(self.opening),
            "previews": len(self.previews),
            "idents": len(self.idents),
            "lost": list(self.lost),
            "at": time.time(),
        }

    async def ping(self) -> str:
        return "directory"

    async def stop(self) -> None:
        """End the health loop (before the actor is killed: tests, a cluster shut down)."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None


def directory() -> ActorHandle:
    """The cluster's one directory actor, made on the head node if it is not there yet
    (detached: it outlives the front or worker that made it)."""
    actor = ray.remote(Directory).options(
        name=NAME,
        namespace=NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
        num_cpus=0,
        max_concurrency=1000,
        resources={"node:__internal_head__": 0.001},
    )
    return actor.remote()
