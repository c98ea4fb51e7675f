"""JSON from strangers, with limits: size, nesting depth, valid UTF-8.

Python's `json.loads` recurses once per nesting level, so a 100k-deep `[[[[...` raises
RecursionError from deep inside the parser, an error nobody catches as bad input (it killed
sockets and aiortc's DTLS transport). Every message a client sends (HTTP bodies, WebSocket
frames, data channel messages) goes through `parse` instead: the depth is measured first
with one regular-expression pass, so a hostile message costs linear time and is refused
with a `JSONLimitError` that names the limit.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32  # our deepest real message (a generation request's options) is 3 deep
MAX_BYTES = 64 * 1024  # a control message or an SDP offer; callers with bigger needs say so

# a JSON string (escapes included) or one bracket: strings are skipped as a whole, so a
# bracket inside a string never counts
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class JSONLimitError(ValueError):
    """The text is not JSON within our limits; the message says which limit or why."""


def depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text` (0 for a scalar). Counts only
    brackets outside strings; never recurses."""
    level = deepest = 0
    for m in _TOKENS.finditer(text):
        c = m.group()
        if c in "[{":
            level += 1
            if level > deepest:
                deepest = level
        elif c in "]}":
            level -= 1
    return deepest


def parse(
    raw: str | bytes | bytearray,
    *,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    what: str = "the message",
) -> Any:
    """`raw` parsed as JSON, or JSONLimitError: too long (over `max_bytes`), not UTF-8,
    nested deeper than `max_depth`, or malformed (with json's own position)."""
    size = len(raw) if isinstance(raw, (bytes, bytearray)) else len(raw.encode("utf-8", "replace"))
    if size > max_bytes:
        raise JSONLimitError(f"{what} is too long: {size} bytes (at most {max_bytes})")
    if isinstance(raw, (bytes, bytearray)):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as e:
            raise JSONLimitError(f"{what} is not valid UTF-8 (byte {e.start})") from None
    else:
        text = raw
    d = depth(text)
    if d > max_depth:
        raise JSONLimitError(f"{what} is nested too deep: {d} levels (at most {max_depth})")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise JSONLimitError(f"{what} is not valid JSON: {e}") from None
    except RecursionError:  # cannot happen below max_depth; kept as a last line of defence
        raise JSONLimitError(f"{what} is nested too deep") from None
