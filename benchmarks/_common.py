"""What the benchmark scripts share: the machine and version lines they print, and the demo market they run on.
(Not a benchmark itself: ``make bench`` runs only the scripts whose names do not start with ``_``.)"""

from __future__ import annotations

import platform
import time
from importlib import metadata
from pathlib import Path


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def versions(*names: str) -> str:
    """``name version`` of each installed distribution, ``name -`` for a missing one."""
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} -")
    return ", ".join(found)


def build_demo(root: Path) -> float:
    """Write the seeded demo market (BTC and ETH, 12 months of 5m bars) into ``root``; returns the seconds taken."""
    from stratlab.data import MarketStore
    from stratlab.data.demo import write_demo_market

    started = time.perf_counter()
    write_demo_market(MarketStore(root))
    return time.perf_counter() - started
