"""Security tests: attacks on a real `digigami serve` (tests/security/server.py) or on the
app in-process. Each reproduces a finding of the attack run in issue 12."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.security.server import Server


@pytest.fixture
def serve(tmp_path) -> Iterator[Callable[..., Server]]:
    """`serve(*args, env=...)` starts `digigami serve` with extra arguments; every server it
    started is stopped after the test."""
    started: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Server:
        folder = tmp_path / f"server{len(started)}"
        folder.mkdir()
        server = Server(folder, *args, env=env)
        started.append(server)
        return server.start()

    yield start
    for s in started:
        s.stop()
