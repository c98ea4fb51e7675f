"""What a benchmark ran on, in one line: the CPU model, its count and Python's version (the
figures in docs/PERFORMANCE.md are only comparable with the machine beside them)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}"
    )
