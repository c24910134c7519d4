"""The machine a figure was measured on.

Every time this project prints names its CPU, because the same run takes 551 s on one 2-core machine and 917 s on
another; bfloat16 and AMX flags are listed because they decide whether mixed precision pays.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def _cpuinfo_field(name: str) -> str | None:
    """The first `name : value` line of /proc/cpuinfo (Linux), else None."""
    try:
        for line in CPUINFO.read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() == name:
                return value.strip()
    except OSError:
        pass
    return None


def cpu_name() -> str:
    """The CPU's marketing name ("AMD EPYC 7B13"), or what the platform module knows where /proc/cpuinfo is missing."""
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo is missing)."""
    return set((_cpuinfo_field("flags") or "").split())


def describe() -> dict:
    """CPU, cores, the flags that matter for bfloat16, platform, Python and load: the context of a measurement."""
    flags = cpu_flags()
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "avx512f": "avx512f" in flags,
            "avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags,
            "platform": platform.platform(), "python": platform.python_version(),
            "load_avg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None}


def summary(info: dict | None = None) -> str:
    """One line for a benchmark's header: "AMD EPYC, 2 cores (AVX512-BF16 no, AMX no), load 0.4"."""
    info = info or describe()
    yes_no = {True: "yes", False: "no"}
    load = f", load {info['load_avg'][0]:.1f}" if info.get("load_avg") else ""
    return (f"{info['cpu']}, {info['cores']} cores (AVX512-BF16 {yes_no[info['avx512_bf16']]}, "
            f"AMX {yes_no[info['amx_bf16']]}){load}")
