"""Where a new session goes in a cluster: the placement policy as plain data, no Ray.

The cluster's directory actor (webapi/cluster/directory.py) holds one `Placement`; the
simulation of a thousand boxes (tests/bench/sim_cluster.py) runs the very same object, so
what the simulation reports is what the cluster does.

A box is one render worker (`digigami worker`): `slots` sessions at most. A session is
placed in two steps, so that a slot is never counted twice nor lost while a worker sets the
session up (which awaits a peer connection): `reserve` picks a box and counts the slot as
pending at once; then `commit` (the worker answered) or `cancel` (it refused or failed).
`end` frees a committed slot; `leave` drops a box and every session on it (the box died or
was drained empty).

Policy: a resumed session id goes back to the box that holds it (sticky: its OBS and WHEP
viewers are there, and its page only moves peers); otherwise the box with the most free
slots, then the least reported load (0..1, the box's own CPU figure), then the fewest
sessions, then the id (stable, so tests and the simulation are deterministic). Boxes being
drained take no new sessions, sticky resumes included (those move on).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Box", "NoCapacity", "Placement", "Ticket"]


class NoCapacity(RuntimeError):
    """No box has a free slot (every box is full or draining)."""


@dataclass
class Box:
    id: str
    node: str  # the Ray node it runs on (a node can hold one box)
    slots: int
    used: int = 0  # committed sessions
    pending: int = 0  # reserved, not yet committed
    load: float = 0.0  # last reported CPU load, 0..1
    draining: bool = False
    sessions: set[str] = field(default_factory=set)

    @property
    def free(self) -> int:
        return self.slots - self.used - self.pending


@dataclass(frozen=True)
class Ticket:
    """A reserved slot: `box` holds it until `commit` or `cancel`. `sticky`: the session
    already lives on that box (a resume), so no new slot was counted."""

    box: str
    session: str
    sticky: bool = False


class Placement:
    def __init__(self) -> None:
        self.boxes: dict[str, Box] = {}
        self.where: dict[str, str] = {}  # session id -> box id (committed sessions only)

    # --- boxes ------------------------------------------------------------------------------

    def join(self, box: str, node: str, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"a box needs at least one slot (got {slots})")
        if box in self.boxes:
            raise ValueError(f'box "{box}" has joined already')
        self.boxes[box] = Box(box, node, slots)

    def leave(self, box: str) -> list[str]:
        """Drop a box; the ids of the sessions it held (they are gone with it)."""
        gone = self.boxes.pop(box, None)
        if gone is None:
            return []
        for sid in gone.sessions:
            self.where.pop(sid, None)
        return sorted(gone.sessions)

    def drain(self, box: str) -> None:
        self.boxes[box].draining = True

    def report(self, box: str, load: float) -> None:
        if box in self.boxes:
            self.boxes[box].load = min(1.0, max(0.0, float(load)))

    # --- sessions ---------------------------------------------------------------------------

    def reserve(self, session: str, *, resume: bool = False) -> Ticket:
        """A slot for `session`. `resume`: the caller holds this id already (its token was
        checked): the box that has it now, if that box is up and not draining."""
        if resume:
            held = self.where.get(session)
            box = self.boxes.get(held) if held is not None else None
            if box is not None and not box.draining:
                return Ticket(box.id, session, sticky=True)
        candidates = [b for b in self.boxes.values() if not b.draining and b.free > 0]
        if not candidates:
            raise NoCapacity(
                f"busy: every render worker is full ({self.capacity()} sessions); try again soon"
            )
        best = min(candidates, key=lambda b: (-b.free, b.load, b.used, b.id))
        best.pending += 1
        return Ticket(best.id, session)

    def commit(self, ticket: Ticket) -> None:
        """The worker runs the session now. A sticky ticket may have been opened anew on the
        same box (nothing to count); a session that lived elsewhere moves here."""
        box = self.boxes.get(ticket.box)
        if box is None:  # the box went while the session was set up: nothing to count
            return
        if not ticket.sticky:
            box.pending -= 1
        old = self.where.get(ticket.session)
        if old is not None and old != ticket.box:
            self._drop(old, ticket.session)
        # a sticky session that ended between its reserve and this commit is counted again:
        # it runs here now (a slot never goes uncounted, even if the box is briefly over)
        if ticket.session not in box.sessions:
            box.used += 1
            box.sessions.add(ticket.session)
        self.where[ticket.session] = ticket.box

    def adopt(self, box: str, session: str) -> None:
        """A session already running on `box` (the box re-joined a directory that had lost
        it): counted as committed there, even past the box's slots (it is the truth)."""
        held = self.boxes[box]
        old = self.where.get(session)
        if old is not None and old != box:
            self._drop(old, session)
        if session not in held.sessions:
            held.used += 1
            held.sessions.add(session)
        self.where[session] = box

    def cancel(self, ticket: Ticket) -> None:
        box = self.boxes.get(ticket.box)
        if box is not None and not ticket.sticky:
            box.pending -= 1

    def end(self, session: str) -> None:
        box = self.where.pop(session, None)
        if box is not None:
            self._drop(box, session)

    def _drop(self, box_id: str, session: str) -> None:
        box = self.boxes.get(box_id)
        if box is not None and session in box.sessions:
            box.sessions.discard(session)
            box.used -= 1
        if self.where.get(session) == box_id:
            del self.where[session]

    # --- figures ----------------------------------------------------------------------------

    def capacity(self) -> int:
        return sum(b.slots for b in self.boxes.values() if not b.draining)

    def used(self) -> int:
        return sum(b.used + b.pending for b in self.boxes.values())

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Each box's figures, for health pages and tests."""
        return {
            b.id: {
                "node": b.node,
                "slots": b.slots,
                "used": b.used,
                "pending": b.pending,
                "load": b.load,
                "draining": b.draining,
                "sessions": sorted(b.sessions),
            }
            for b in self.boxes.values()
        }
