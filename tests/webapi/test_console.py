"""The server's console at its default level: a streamer's terminal shows the address and
then only problems, not the WebRTC libraries' per-candidate chatter or MediaPipe's start-up
lines (issue 15: "the server console is flooded with ICE and MediaPipe lines")."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from tests.security.server import Server
from webapi.logs import _configure, log_level


def test_the_level_comes_from_the_flag_then_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("DIGIGAMI_LOG_LEVEL", raising=False)
    assert log_level(None) == "warning"
    monkeypatch.setenv("DIGIGAMI_LOG_LEVEL", "INFO")
    assert log_level(None) == "info"
    assert log_level("debug") == "debug"
    monkeypatch.setenv("DIGIGAMI_LOG_LEVEL", "loud")
    with pytest.raises(ValueError, match="DIGIGAMI_LOG_LEVEL='loud'"):
        log_level(None)


def test_chatty_libraries_speak_only_at_debug() -> None:
    # (the native filter is left out here: it would take over pytest's own stderr)
    try:
        _configure("info")
        assert logging.getLogger("streaming.manager").isEnabledFor(logging.INFO)
        assert not logging.getLogger("aioice.ice").isEnabledFor(logging.INFO)
        _configure("debug")
        assert logging.getLogger("aioice.ice").isEnabledFor(logging.DEBUG)
    finally:
        _configure("warning")


def test_a_live_session_leaves_the_default_console_quiet(tmp_path) -> None:
    server = Server(tmp_path, log_level=None).start()
    try:
        # a server-tracked session: ICE, DTLS, the VP8 decoder and MediaPipe all start
        far_end = subprocess.run(
            [sys.executable, "-m", "tests.bench.stream_client", server.url, "puppet", "4"],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert far_end.returncode == 0, far_end.stderr[-2000:]
        received = json.loads(far_end.stdout.strip().splitlines()[-1])
        assert received["fps"] > 0, received  # the session really streamed
    finally:
        server.stop()
    lines = [line for line in server.log.read_text(errors="replace").splitlines() if line]
    assert lines[0].startswith("digigami: serving"), lines[:3]
    chatter = [line for line in lines if " INFO " in line or "INFO:" in line or "aioice" in line]
    assert not chatter, "\n".join(chatter[:20])
    assert len(lines) <= 3, "\n".join(lines)


def test_native_errors_still_reach_the_console(tmp_path) -> None:
    """The filter drops MediaPipe's info and warning lines, not everything: a native error
    line and Python's own output pass."""
    script = (
        "import os, sys, time; from webapi.logs import quiet_native_output; "
        "quiet_native_output(); "
        "os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n'); "
        "os.write(2, b'W0000 00:00:1796295433.054734     498 a_b.cc:114] chatter\\n'); "
        "os.write(2, b'E0000 00:00:1796295433.054734     498 a_b.cc:114] broken\\n'); "
        "print('python says hi', file=sys.stderr); time.sleep(0.3)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    err = out.stderr.decode()
    assert "broken" in err and "python says hi" in err, err
    assert "chatter" not in err and "XNNPACK" not in err, err
