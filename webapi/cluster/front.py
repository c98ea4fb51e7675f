"""The front's sessions in cluster mode: `ClusterSessions`, what the handlers call in place of
a `SessionManager` (the same methods; docs/SCALE.md).

A front holds no session. It checks a request as a single box would, cheapest first (the
request's shape and SDP, a resumed id's shape) before anything costs, asks the directory
for a slot (`reserve`: placement by capacity, sticky for a resumed id; tokens checked
there), resolves what needs the database itself (a saved avatar into a `Look`), then hands
the offer to the chosen box's RenderNode and returns its answer. Media never passes here.

Errors a box raises come back as the same classes (BadOffer, NotFound, PermissionError,
Busy, LiveElsewhere), so the app's error middleware answers 400/404/403/503/409 exactly
as on a single box. A box that is gone is dropped from the directory; an open is retried
once on another box (nothing was set up for it yet), anything else answers NotFound.

What a session is, for the handlers, is a `SessionRef` (its id and token); the session
itself lives on its box.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import ray
from ray.actor import ActorHandle

from engine.assets import AvatarBundle, load_bundle
from streaming import landmarks
from streaming.admission import Busy
from streaming.live import Look
from streaming.manager import (
    BadOffer,
    NotFound,
    Resolver,
    check_avatar_id,
    content_key,
    fps_size,
    parse_offer,
    preview_key,
    resumed_ident,
)
from streaming.market_items import MarketItem
from streaming.stills import StillWorker
from webapi.cluster import connect
from webapi.cluster.directory import directory, node_gone

log = logging.getLogger(__name__)

HEALTH_EVERY = 1.0  # seconds between refreshes of the cluster figures `health` shows
CALL_TIMEOUT = 60.0  # seconds a box may take to answer a signaling call
MAX_ID = 64  # a session id's length at most (ids are 22 characters)

T = TypeVar("T")

__all__ = ["ClusterSessions", "SessionRef"]


@dataclass(frozen=True)
class SessionRef:
    """A session as the front knows it: handlers use `.id` and `.token`."""

    id: str
    token: str
    kind: str  # "puppet" | "preview" | "studio"
    owner: str | None
    box: str


class BoxGone(RuntimeError):
    """The box a call went to is gone (its node died, or it stopped)."""

    def __init__(self, box: str) -> None:
        super().__init__(f'render worker "{box}" is gone')
        self.box = box


async def ask(ref: Awaitable[T], box: str = "directory") -> T:
    """Await a Ray call; an error raised inside comes back as its own class (so the error
    middleware maps it as on a single box); a box that is gone raises BoxGone."""
    try:
        return await asyncio.wait_for(ref, CALL_TIMEOUT)
    except ray.exceptions.RayTaskError as e:
        cause = e.cause
        if isinstance(cause, Exception):
            raise cause from None
        raise
    except TimeoutError:
        raise Busy(f"busy: render worker {box} did not answer in time; try again soon") from None
    except Exception as e:
        if node_gone(e) and box == "directory":
            raise Busy("busy: the cluster's directory is restarting; try again soon") from None
        if node_gone(e):
            raise BoxGone(box) from None
        raise


class ClusterSessions:
    """The facade of `SessionManager` over the cluster (see the module docstring)."""

    def __init__(
        self,
        rig: str = "digi",
        *,
        address: str | None = None,
        bundle_loader: Callable[[str], AvatarBundle] = load_bundle,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`address`: the cluster to join at `start` (None: this process is connected
        already, as in tests)."""
        self.rig = rig
        self.address = address
        self._loader = bundle_loader
        self.bundle: AvatarBundle | None = None
        # the front's own stills (the character page's picture, the studio's thumbnails):
        # a thread and GL context started on the first, since most fronts never draw one
        self.worker = StillWorker()
        self.memory: Any = None  # looks live in the directory; unused on a front
        self.directory: ActorHandle | None = None
        self._figures: dict[str, Any] = {}
        self._refresher: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()

    # --- life -------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.address is not None:
            address = self.address
            await loop.run_in_executor(None, lambda: connect.join(address))
        self.directory = directory()
        self.bundle = await loop.run_in_executor(None, self._loader, self.rig)
        await self._refresh()
        self._refresher = loop.create_task(self._keep_figures())

    async def shutdown(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        await asyncio.get_running_loop().run_in_executor(None, self.worker.stop)

    def _dir(self) -> ActorHandle:
        if self.directory is None:
            raise RuntimeError("ClusterSessions.start() has not run")
        return self.directory

    # --- opening ------------------------------------------------------------------------------

    async def open_puppet(
        self,
        offer: Any,
        resolve: Resolver | None = None,
        owned: Sequence[MarketItem] = (),
        *,
        owner: str | None = None,
        scene_owner: str | None = None,
    ) -> tuple[str, SessionRef]:
        """A puppet session on the box placement picks (or, resuming an id, the box that
        holds it, or another when that box is gone): (answer SDP, its SessionRef)."""
        parse_offer(offer)  # cheap checks first: the request, the SDP, a resumed id's shape
        if not isinstance(offer, dict):
            raise BadOffer('expected a JSON object with "sdp" and "type"')
        try:
            landmarks.offer_tracking(offer)
        except ValueError as e:
            raise BadOffer(str(e)) from None
        check_avatar_id(offer)
        if not isinstance(offer.get("move", False), bool):
            raise BadOffer('"move" must be true or false')
        sid, token = resumed_ident(offer) or (None, None)
        ticket, (answer, opened, issued, serial) = await self._placed(
            lambda: self._dir().reserve.remote(sid, token=token, resume=sid is not None),
            lambda node, ident, look: node.open_puppet.remote(
                offer, ident, look, tuple(owned), owner, scene_owner
            ),
            resolve,
        )
        await ask(self._dir().commit.remote(ticket, "puppet", None, serial))
        return answer, SessionRef(opened, issued, "puppet", owner, ticket.box)

    async def open_preview(
        self,
        offer: Any,
        options: dict[str, Any],
        resolve: Resolver | None = None,
        try_on: MarketItem | None = None,
    ) -> tuple[str, SessionRef]:
        """A preview on the box that runs the same one already (its viewers share one
        stream), else on the freest box."""
        parse_offer(offer)
        check_avatar_id(options)
        fps, size = fps_size(options, fps=(30, 1, 60), size=(384, 64, 1024))
        key = preview_key(options, fps, size)
        if try_on is not None:
            key += f"|try:{try_on.id}:{content_key(try_on)}"
        # the directory keeps a digest: options are a stranger's text, of any length
        key = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        look = await resolve() if resolve is not None else None
        for attempt in (1, 2):
            box, node = await ask(self._dir().preview_box.remote(key))
            try:
                answer, sid = await ask(node.open_preview.remote(offer, options, look, try_on), box)
            except BoxGone as e:
                await self._lost(e.box)
                if attempt == 2:
                    raise Busy(f"busy: {e}; try again soon") from None
                continue
            except BaseException:
                await _quietly(self._dir().preview_failed.remote(key, box))
                raise
            await ask(self._dir().preview_opened.remote(key, box, sid))
            return answer, SessionRef(sid, "", "preview", None, box)
        raise AssertionError("unreachable")

    async def open_studio(
        self,
        offer: Any,
        resolve: Resolver | None = None,
        owned: Sequence[MarketItem] = (),
        *,
        owner: str | None = None,
    ) -> tuple[str, SessionRef]:
        """The creator studio's private session, on a slot like a puppet's."""
        parse_offer(offer)
        fps_size(offer, fps=(30, 30, 60), size=(512, 256, 768))
        ticket, (answer, sid, token, serial) = await self._placed(
            lambda: self._dir().reserve.remote(None),
            lambda node, _ident, look: node.open_studio.remote(offer, look, tuple(owned), owner),
            resolve,
        )
        await ask(self._dir().commit.remote(ticket, "studio", sid, serial))
        return answer, SessionRef(sid, token, "studio", owner, ticket.box)

    async def _placed(
        self,
        reserve: Callable[[], Awaitable[tuple[Any, ActorHandle, Any]]],
        open_on: Callable[[ActorHandle, Any, Look | None], Awaitable[T]],
        resolve: Resolver | None,
    ) -> tuple[Any, T]:
        """A slot reserved in the directory, then the open on its box: (ticket, what the box
        answered); the caller commits. What the session wears is resolved once, after the
        slot (as on a single box), even when a box that is gone makes the open go again on
        another; a second lost box answers busy. Any other failure gives the slot back."""
        given: list[Look | None] = []
        for attempt in (1, 2):
            ticket, node, ident = await ask(reserve())
            try:
                if not given:
                    given.append(await resolve() if resolve is not None else None)
                return ticket, await ask(open_on(node, ident, given[0]), ticket.box)
            except BoxGone as e:
                await self._cancel(ticket)
                await self._lost(e.box)
                if attempt == 2:
                    raise Busy(f"busy: {e}; try again soon") from None
            except BaseException:
                await self._cancel(ticket)
                raise
        raise AssertionError("unreachable")

    # --- reaching a live session: the box that holds it ------------------------------------

    async def open_viewer(
        self,
        session_id: str,
        token: str | None,
        offer: Any,
        layout: str,
        *,
        user_id: str | None = None,
    ) -> tuple[str, str]:
        """WHEP (and OBS pages): a viewer of a live session, on the box that holds it."""
        box, node = await self._holder(session_id, f'no live session "{session_id:.64}"')
        return await self._on(
            box, node.open_viewer.remote(session_id, token, offer, layout, user_id), session_id
        )

    async def close_viewer(
        self, session_id: str, resource_id: str, token: str | None, *, user_id: str | None = None
    ) -> None:
        box, node = await self._holder(session_id, f'no live session "{session_id:.64}"')
        await self._on(
            box, node.close_viewer.remote(session_id, resource_id, token, user_id), session_id
        )

    async def close_session(
        self,
        session_id: str,
        token: str | None,
        *,
        user_id: str | None = None,
        linger: bool = False,
    ) -> None:
        box, node = await self._holder(session_id, f'no live session "{session_id:.64}"')
        await self._on(
            box, node.close_session.remote(session_id, token, user_id, linger), session_id
        )

    async def studio_draft(self, session_id: str, token: Any, clip: Any) -> None:
        box, node = await self._holder(session_id, f'no studio session "{session_id!s:.64}"')
        await self._on(box, node.studio_draft.remote(session_id, token, clip), session_id)

    async def studio_rig(self, session_id: str, token: Any) -> Any:
        box, node = await self._holder(session_id, f'no studio session "{session_id!s:.64}"')
        return await self._on(box, node.studio_rig.remote(session_id, token), session_id)

    def forget(self, face: str) -> None:
        """Every box drops its built bundles of generated avatar `face` (fire and forget)."""
        task = asyncio.get_running_loop().create_task(self._forget(face))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forget(self, face: str) -> None:
        with contextlib.suppress(Exception):
            for handle in (await ask(self._dir().handles.remote())).values():
                handle.forget.remote(face)

    def sessions_for_plugins(self) -> list[Any]:
        """None: VTube Studio plugins connect to a single-box server (their sessions are
        on the boxes; /api/vts answers 501 in cluster mode)."""
        return []

    async def _holder(self, session_id: Any, missing: str) -> tuple[str, ActorHandle]:
        if not isinstance(session_id, str) or not 1 <= len(session_id) <= MAX_ID:
            raise NotFound(missing)
        held = await ask(self._dir().where.remote(session_id))
        if held is None:
            raise NotFound(missing)
        return held

    async def _on(self, box: str, ref: Awaitable[T], session_id: str) -> T:
        """A call to the box holding a session; its box gone: the session is too."""
        try:
            return await ask(ref, box)
        except BoxGone:
            await self._lost(box)
            raise NotFound(
                f'session "{session_id:.64}" was on a render worker that is gone; '
                "its page reconnects it to another"
            ) from None

    async def _cancel(self, ticket: Any) -> None:
        await _quietly(self._dir().cancel.remote(ticket))

    async def _lost(self, box: str) -> None:
        await _quietly(self._dir().lost_box.remote(box))

    # --- figures ----------------------------------------------------------------------------

    async def snapshot(self) -> dict[str, Any]:
        """The directory's figures now (boxes, sessions, slots used)."""
        return await ask(self._dir().snapshot.remote())

    def health(self) -> dict[str, Any]:
        """The cluster's figures as of the last refresh (at most HEALTH_EVERY s old)."""
        return dict(self._figures)

    async def _refresh(self) -> None:
        try:
            cluster = await self.snapshot()
        except Exception as e:  # the directory is restarting: say so, keep serving
            self._figures = {**self._figures, "cluster_error": str(e)[:200]}
            self.directory = directory()  # the live one, or a new one made on the head
            return
        boxes = cluster["boxes"]
        self._figures = {
            "sessions": cluster["sessions"],
            "limit": cluster["capacity"],
            "reserved": {"sessions": cluster["used"]},
            "boxes": len(boxes),
            "cluster": cluster,
        }

    async def _keep_figures(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_EVERY)
            await self._refresh()


async def _quietly(ref: Awaitable[Any]) -> None:
    """A bookkeeping call whose failure must not hide the error being raised."""
    try:
        await asyncio.shield(asyncio.ensure_future(ask(ref)))
    except Exception:
        log.warning("a directory call failed", exc_info=True)
