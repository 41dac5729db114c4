"""The machine a benchmark ran on, recorded beside every result."""

from __future__ import annotations

import platform


def cpu_name() -> str:
    """Return the CPU model from /proc/cpuinfo, or what the platform module reports where that file is missing."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
