"""A real `digigami serve` subprocess for the security tests: its own port, avatar folder
and log, with what an attack test needs to look at (RSS now and at peak, threads, open fds,
the log) and a way to kill it hard."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.e2e.conftest import digigami, free_port, log_tail

START_S = 90.0


class Server:
    def __init__(
        self,
        folder: Path,
        *args: str,
        env: dict[str, str] | None = None,
        log_level: str | None = "info",
    ) -> None:
        """`log_level`: the server's `--log-level` (info keeps a failing test's log useful);
        None starts it with its default."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder = folder
        self.avatars = folder / "avatars"
        self.log = folder / "serve.log"
        self.args = args
        self.db = folder / "digigami.db"
        self.env = {
            **os.environ,
            "DIGIGAMI_AVATAR_DIR": str(self.avatars),
            "DIGIGAMI_DB": str(self.db),
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.level = ["--log-level", log_level] if log_level else []

    def start(self) -> Server:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [*digigami(), "serve", "--host", "127.0.0.1", "--port", str(self.port), *self.level, *self.args],
                stdout=out, stderr=subprocess.STDOUT, env=self.env,
            )  # fmt: skip
        deadline = time.monotonic() + START_S
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"digigami serve exited ({self.proc.returncode}):\n{self.tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/api/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"digigami serve did not start:\n{self.tail()}")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _status(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def rss_mb(self) -> float:
        return self._status("VmRSS") / 1024

    def peak_rss_mb(self) -> float:
        return self._status("VmHWM") / 1024

    def threads(self) -> int:
        return self._status("Threads")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def health(self, timeout: float = 5.0) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/api/health", timeout=timeout) as r:
            return json.loads(r.read())

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of one request; an HTTP error status is returned, not raised."""
        req = urllib.request.Request(
            self.url + path, data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def tail(self, lines: int = 60) -> str:
        return log_tail(self.log, lines)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=15)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
