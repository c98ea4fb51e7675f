"""The `control` data channel: JSON commands from the puppet page, with limits.

Every message comes from the peer, and whatever our handler raises would unwind through
aiortc's SCTP and DTLS code and kill the peer's transport (a deep `[[[[...` did, through
json's RecursionError: the session's video fell to 0 fps, issue 12). So each message is
checked before it is parsed (`streaming.jsonlimits`: size, depth), the channel is rate
limited (a token bucket), a bad message is answered with `{"type": "error", "message"}`
and a WARNING at most every few seconds per peer (never a traceback), and nothing that
goes wrong in here, our own bugs included, leaves `on_message`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from streaming.jsonlimits import JSONLimitError, parse
from streaming.live import CommandError
from streaming.ratelimit import TokenBucket

log = logging.getLogger(__name__)

MAX_BYTES = 4096  # our largest command (a "controls" object) is under 200 bytes
MAX_DEPTH = 4  # {"type": "controls", "values": {...}} is 2 deep
# a studio page's (streaming/studio.py): a pose or a list of expressions is larger and deeper
# ({"type": "pose", "edits": {"offsets": {"hat": {"x": 1}}}} is 4 deep)
STUDIO_MAX_BYTES = 16 * 1024
STUDIO_MAX_DEPTH = 6
RATE = 30.0  # messages a second, sustained; the page sends one per click or slider step
BURST = 60.0  # what a burst may hold (two seconds' worth)
WARN_EVERY = 5.0  # seconds between log lines about one peer's bad messages
TELL_EVERY = 1.0  # seconds between "too many messages" answers (an answer per message
# of a flood would be a flood back)


class ControlChannel:
    """One peer's control channel: checks, rate-limits and hands commands to `apply`
    (the session's `command`), answering errors through `send`."""

    def __init__(
        self,
        apply: Callable[[Any], None],
        send: Callable[[dict[str, Any]], None],
        name: str = "?",
        clock: Callable[[], float] = time.monotonic,
        *,
        max_bytes: int = MAX_BYTES,
        max_depth: int = MAX_DEPTH,
    ) -> None:
        """`max_bytes`, `max_depth`: what one message may be (a studio's are larger)."""
        self.apply = apply
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.send = send
        self.name = name
        self.clock = clock
        self.received = 0
        self.refused = 0
        self.rate_limited = 0
        self._bucket = TokenBucket(RATE, BURST)
        self._warned_at = -math.inf
        self._unwarned = 0
        self._told_at = -math.inf

    def on_message(self, raw: Any) -> None:
        """The channel's "message" handler: never raises."""
        try:
            self._receive(raw)
        except Exception as e:  # our bug: log it (rarely), keep the transport alive
            self._warn(f"internal error: {type(e).__name__}: {e}")
            self._answer("internal error handling that message (logged on the server)")

    def _receive(self, raw: Any) -> None:
        now = self.clock()
        self.received += 1
        if not self._bucket.take(now):
            self.rate_limited += 1
            self.refused += 1
            self._warn(f"more than {RATE:.0f} control messages a second")
            if now - self._told_at >= TELL_EVERY:
                self._told_at = now
                self._answer(
                    f"too many control messages (at most {RATE:.0f} a second); some were dropped"
                )
            return
        try:
            if not isinstance(raw, str):
                raise CommandError("control messages are JSON text, not binary")
            msg = parse(
                raw, max_bytes=self.max_bytes, max_depth=self.max_depth, what="a control message"
            )
            self.apply(msg)
        except (JSONLimitError, CommandError) as e:
            self.refused += 1
            self._warn(str(e))
            self._answer(str(e))

    def _answer(self, message: str) -> None:
        with contextlib.suppress(Exception):  # the channel closed under us: nobody to tell
            self.send({"type": "error", "message": message})

    def _warn(self, why: str) -> None:
        now = self.clock()
        if now - self._warned_at >= WARN_EVERY:
            more = f" (and {self._unwarned} more since the last warning)" if self._unwarned else ""
            log.warning("peer %s: control message refused: %.200s%s", self.name, why, more)
            self._warned_at = now
            self._unwarned = 0
        else:
            self._unwarned += 1


def sender(channel: Any) -> Callable[[dict[str, Any]], None]:
    """`send(msg)` on `channel` while it is open; a no-op after."""

    def send(msg: dict[str, Any]) -> None:
        if channel.readyState == "open":
            channel.send(json.dumps(msg))

    return send
