"""The server console: quiet by default, louder on request (`digigami serve --log-level`).

A streamer runs the server in a terminal beside OBS: at the default level it prints its
address and then only what needs them (warnings, errors). The WebRTC libraries log every
ICE candidate pair and DTLS step at INFO; they speak only at `debug`.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading

LOG_LEVELS = ("error", "warning", "info", "debug")
DEFAULT = "warning"
ENV = "DIGIGAMI_LOG_LEVEL"
# their INFO lines are connection chatter, a few dozen per viewer
CHATTY = ("aioice", "aiortc", "aiohttp.access", "aiohttp.server", "asyncio")


def log_level(chosen: str | None) -> str:
    """The level asked for: `--log-level`, else $DIGIGAMI_LOG_LEVEL, else warning. A bad
    environment value is a ValueError naming it (the flag's choices are argparse's)."""
    level = (chosen or os.environ.get(ENV) or DEFAULT).strip().lower()
    if level not in LOG_LEVELS:
        raise ValueError(f"{ENV}={level!r}: expected one of {', '.join(LOG_LEVELS)}")
    return level


def configure_logging(level: str) -> None:
    """Our own loggers at `level`; the chatty libraries at WARNING unless `debug`; below
    `info`, the native libraries' chatter is dropped too (quiet_native_output)."""
    if level in ("warning", "error"):
        quiet_native_output()
    _configure(level)


def _configure(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "debug" else logging.WARNING)


# What MediaPipe's native code (TensorFlow Lite, absl logging) writes straight to file
# descriptor 2 at start-up and on a graph's first frames: no Python logger to turn down,
# and GLOG_minloglevel does not reach absl's log. Its errors (E..., F...) still show.
NATIVE_CHATTER = re.compile(
    rb"^(INFO: Created TensorFlow Lite|WARNING: All log messages before absl::InitializeLog"
    rb"|[IW]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] )"
)


def quiet_native_output() -> None:
    """Drop the native libraries' info and warning lines from the console, once per
    process: file descriptor 2 becomes a pipe read by a thread that forwards every other
    line, and Python's own output (sys.stderr: logging, tracebacks) goes straight to the
    terminal through a copy of the old descriptor, filter or no filter."""
    global _quieted
    if _quieted:
        return
    _quieted = True
    terminal = os.dup(2)
    sys.stderr = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)
    threading.Thread(
        target=_forward, args=(read, terminal), name="native-stderr", daemon=True
    ).start()


_quieted = False


def _forward(read: int, terminal: int) -> None:
    with os.fdopen(read, "rb", buffering=0) as lines:
        for line in iter(lines.readline, b""):
            if not NATIVE_CHATTER.match(line):
                os.write(terminal, line)
