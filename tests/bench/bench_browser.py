"""Benchmark: the puppet page in real Chromium on each tracking path, against a real
`digigami serve`, the fake webcam playing the rolling face of tests/e2e/facevideo.py.

    .venv/bin/python -m tests.bench.bench_browser [--seconds 20] [--paths browser,server]

For each path ("browser": FaceMesh in the page, landmarks up, no video up; "server": the
webcam's video up, MediaPipe on the server), after the page tracks the face and settles:

- a plain window of `--seconds`: received fps (the page's getStats, frames decoded over the
  window; the goal is 58+), the server process's CPU and Chromium's (all its processes), in
  cores (CPU time over wall time), the face rate reaching the server (landmarks/s, or
  camera frames/s) and the tracker's time a frame (FaceMesh in the page, or MediaPipe on
  the server);
- then a grab window (at most 10 s; grabbing costs the page CPU, so it is kept apart): the
  roll correlation of Digi's head with the face's, as tests/e2e/test_puppet_stream.py
  measures it, and the lag it is best at.

Both processes run on this machine, so on a small one they compete for the same cores (a
real user's browser runs on their own machine). Prints figures; asserts nothing timed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from tests.e2e.conftest import CHROMIUM, chromium_args, digigami, free_port
from tests.e2e.facevideo import FaceVideo, write_face_video
from tests.e2e.test_puppet_stream import CAPTURE_JS, decode_png, head_roll, roll_correlation

PATHS = {"browser": "", "server": "?tracking=server"}
TICK = os.sysconf("SC_CLK_TCK")
GRAB_S = 10.0


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a live process, from /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "(comm)": state is field 3
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _tree_cpu(root: int) -> float:
    """CPU seconds of `root` and every live process below it."""
    procs = {}
    for d in os.listdir("/proc"):
        if d.isdigit() and (st := _stat(int(d))) is not None:
            procs[int(d)] = st
    below, total = {root}, 0.0
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in procs.items():
            if ppid in below and pid not in below:
                below.add(pid)
                changed = True
    for pid in below:
        if pid in procs:
            total += procs[pid][1]
    return total


def _chromium_pids() -> list[int]:
    """Chromium's processes started by this benchmark (below this process, not the server)."""
    mine = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            exe = os.readlink(f"/proc/{d}/exe")
        except OSError:
            continue
        if "chromium" in exe:
            pid = int(d)
            p = pid
            while p > 1:  # is it ours?
                st = _stat(p)
                if st is None:
                    break
                p = st[0]
                if p == os.getpid():
                    mine.append(pid)
                    break
    return mine


def _chromium_cpu() -> float:
    return sum((_stat(p) or (0, 0.0))[1] for p in _chromium_pids())


def serve() -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="bench_browser_")) / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*digigami(), "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "info"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"digigami serve exited ({proc.returncode}); see {log}")
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=2):
                return proc, url, log
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"digigami serve did not answer in 120 s; see {log}")


def _view(status: dict[str, Any]) -> dict[str, int]:
    """The page's own view in a status: frames drawn, encoded and dropped so far."""
    return next(o for o in status["outputs"] if o["layout"] == "opaque")


def measure(
    browser: Any, url: str, server_pid: int, path: str, seconds: float, video: FaceVideo
) -> dict[str, Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    out: dict[str, Any] = {"path": path}
    try:
        page.goto(f"{url}/{PATHS[path]}")
        page.wait_for_function(
            "() => window.digigami && ['connected', 'busy', 'error', 'failed'].includes(window.digigami.state)",
            timeout=60_000,
        )
        out["active"] = page.evaluate("window.digigami.tracking.active")
        if page.evaluate("window.digigami.state") != "connected":
            out["error"] = page.locator("#banners").inner_text()
            return out
        page.wait_for_function(
            "() => window.digigami.lastStatus?.tracking === 'tracking'", timeout=60_000
        )
        time.sleep(3.0)  # filters settled, FaceMesh warm

        s0 = page.evaluate("window.digigami.stats()")
        t0, srv0, chr0 = time.monotonic(), _tree_cpu(server_pid), _chromium_cpu()
        view0 = _view(page.evaluate("window.digigami.lastStatus"))
        rates, ms, served = [], [], []
        while time.monotonic() - t0 < seconds:
            time.sleep(1.0)
            st = page.evaluate("window.digigami.lastStatus")
            served.append(st.get("fps"))
            face = page.evaluate("window.digigami.tracking.figures(window.digigami.lastStatus)")
            rates.append(face["rate"])
            ms.append(face["ms"])
        wall = time.monotonic() - t0
        s1 = page.evaluate("window.digigami.stats()")
        out["fps"] = (s1["framesDecoded"] - s0["framesDecoded"]) / wall
        # where frames go missing: the server's own rate (its status), and what the page's
        # receiver got and dropped before decoding
        out["server_fps"] = float(np.median([f for f in served if f is not None] or [np.nan]))
        out["received_fps"] = (s1.get("framesReceived", 0) - s0.get("framesReceived", 0)) / wall
        out["dropped_per_s"] = (s1.get("framesDropped", 0) - s0.get("framesDropped", 0)) / wall
        # ... and what the server's encoder coded, and lost to being busy (its status)
        view1 = _view(st)
        out["encoded_fps"] = (view1["encoded"] - view0["encoded"]) / wall
        out["encoder_dropped_per_s"] = (view1["dropped"] - view0["dropped"]) / wall
        out["size"] = f"{s1['width']}x{s1['height']}"
        out["server_cores"] = (_tree_cpu(server_pid) - srv0) / wall
        out["chromium_cores"] = (_chromium_cpu() - chr0) / wall
        out["face_per_s"] = float(np.median([r for r in rates if r is not None] or [np.nan]))
        out["tracker_ms"] = float(np.median([m for m in ms if m is not None] or [np.nan]))
        out["status"] = st

        grab = page.evaluate(CAPTURE_JS, {"seconds": min(GRAB_S, seconds), "every": 100})
        frames = [decode_png(g["png"]) for g in grab["grabs"]]
        cams = np.array([-1 if g["cam"] is None else g["cam"] for g in grab["grabs"]])
        rolls = np.array([head_roll(f) for f in frames])
        corr = roll_correlation(rolls, cams, video)
        best = max(corr, key=corr.get)
        out["roll_correlation"] = corr[best]
        out["roll_lag_ms"] = 1000 * best / video.fps
        first, last = grab["stats"][0], grab["stats"][-1]
        out["fps_while_grabbing"] = (last["framesDecoded"] - first["framesDecoded"]) / (
            (last["t"] - first["t"]) / 1000
        )
    finally:
        ctx.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="the plain window per path")
    ap.add_argument("--paths", default="browser,server", help="comma-separated: browser, server")
    args = ap.parse_args()
    paths = [p for p in args.paths.split(",") if p]
    for p in paths:
        if p not in PATHS:
            raise SystemExit(f'unknown path "{p}" (known: {", ".join(PATHS)})')
    if not CHROMIUM.exists():
        raise SystemExit(f"needs Debian's chromium at {CHROMIUM} (run .ci/setup)")
    from playwright.sync_api import sync_playwright

    video = write_face_video(Path(tempfile.mkdtemp(prefix="bench_camera_")) / "face.y4m")
    proc, url, log = serve()
    print(f"# bench_browser: {platform.node()}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}; "
          f"server at {url} (log {log}); {args.seconds:g} s windows", flush=True)  # fmt: skip
    results = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=chromium_args(video.path)
            )
            try:
                for path in paths:
                    r = measure(browser, url, proc.pid, path, args.seconds, video)
                    results.append(r)
                    if "error" in r:
                        print(f"{path:8s} did not connect: {r['error']}", flush=True)
                        continue
                    unit = "landmarks/s" if r["active"] == "browser" else "camera frames/s"
                    where = (
                        "FaceMesh in the page"
                        if r["active"] == "browser"
                        else "MediaPipe on the server"
                    )
                    print(
                        f"{path:8s} (active: {r['active']}): received {r['fps']:.1f} fps at {r['size']} "
                        f"({r['fps_while_grabbing']:.1f} while grabbing; the server drew "
                        f"{r['server_fps']:.1f} and encoded {r['encoded_fps']:.1f} (lost "
                        f"{r['encoder_dropped_per_s']:.1f}/s to a busy encoder), the page received "
                        f"{r['received_fps']:.1f} and dropped {r['dropped_per_s']:.1f}/s); server {r['server_cores']:.2f} cores, "
                        f"chromium {r['chromium_cores']:.2f} cores; {r['face_per_s']:.0f} {unit} reach the "
                        f"server; {where} {r['tracker_ms']:.1f} ms a frame; roll correlation "
                        f"{r['roll_correlation']:.2f} at {r['roll_lag_ms']:.0f} ms",
                        flush=True,
                    )
            finally:
                browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(json.dumps([{k: v for k, v in r.items() if k != "status"} for r in results]), flush=True)


if __name__ == "__main__":
    sys.exit(main())
