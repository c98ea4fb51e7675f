"""Benchmark: one engine tick on the test rig (state machine + sampling + mixing + parameters
+ IK + world transforms + CPU skinning), pinned to one core.

    .venv/bin/python -m tests.bench.bench_tick

Prints figures; asserts nothing (timings belong in docs/PERFORMANCE.md, not in the suite).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from engine.assets import load_bundle
from engine.session import AvatarSession, Inputs

DT = 1 / 60


def _scenarios() -> dict[str, dict[int, Inputs]]:
    busy = {0: Inputs(controls={"speed": 2.0}, transitions=["walk", "toolnone"])}
    for k in range(60, 100_000, 45):  # keep every layer busy and a cross-fade running
        busy[k] = Inputs(
            controls={"speed": 1.0 + (k // 45) % 3},
            parameters={"ParamAngleX": float((k % 61) - 30), "ParamBreath": (k % 60) / 60},
            transitions=[["wave", "toolslash", "cheer", "toollunge"][(k // 45) % 4]],
        )
    return {
        "idle": {},
        "walk+emote+tool, cross-fading every 0.75 s": busy,
    }


def bench(ticks: int, warmup: int, rig: str) -> None:
    bundle = load_bundle(rig)
    rig = bundle.rig
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}, "
          f"{os.cpu_count()} cpus; pinned to cpu {sorted(os.sched_getaffinity(0))}")  # fmt: skip
    print(
        f"rig {rig.name}: {len(rig.bones)} bones, {rig.vertex_count} skinned vertices, {len(rig.ik)} IK chains"
    )
    for name, script in _scenarios().items():
        s = AvatarSession(bundle, seed=1)
        times = []
        for k in range(warmup + ticks):
            inp = script.get(k)
            t0 = time.perf_counter_ns()
            s.step(DT, inp)
            times.append(time.perf_counter_ns() - t0)
        ms = np.array(times[warmup:]) / 1e6
        print(f"tick [{name}]: median {np.median(ms):.3f} ms, mean {ms.mean():.3f} ms, "
              f"p90 {np.percentile(ms, 90):.3f} ms, p99 {np.percentile(ms, 99):.3f} ms over {ticks} ticks")  # fmt: skip
    _stages(bundle, ticks)


def _stages(bundle, ticks: int) -> None:
    """Where the time goes, stage by stage, in the busy scenario."""
    s = AvatarSession(bundle, seed=1)
    script = _scenarios()["walk+emote+tool, cross-fading every 0.75 s"]
    acc: dict[str, list[float]] = {
        k: []
        for k in (
            "state machine",
            "mix/apply",
            "parameters",
            "IK+world",
            "springs",
            "skin+draw list",
        )
    }
    for k in range(300 + ticks):
        inp = script.get(k)
        if inp is not None:
            s.apply_inputs(inp)
        t0 = time.perf_counter_ns()
        s.controller.update(DT)
        t1 = time.perf_counter_ns()
        s.pose.reset()
        s.controller.apply(s.pose)
        t2 = time.perf_counter_ns()
        s.params.apply(s.pose)
        t3 = time.perf_counter_ns()
        s.pose.update_world()
        t4 = time.perf_counter_ns()
        s.springs.step(s.pose, DT)
        t5 = time.perf_counter_ns()
        s.draw_list()
        t6 = time.perf_counter_ns()
        if k >= 300:
            for key, dt in zip(
                acc, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5), strict=True
            ):
                acc[key].append(dt / 1e6)
    print(
        "stages (median ms): "
        + ", ".join(f"{k} {statistics.median(v):.3f}" for k, v in acc.items())
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ticks", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--rig", default="testrig", help="testrig (the goal's rig) or digi")
    args = ap.parse_args()
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    bench(args.ticks, args.warmup, args.rig)


if __name__ == "__main__":
    main()
