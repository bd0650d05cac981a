"""Memory figures for STATUS's `Memory: used/max MB` line."""

from __future__ import annotations

import os
from pathlib import Path

_MB = 1024 * 1024


def memory_used_mb() -> int:
    """Resident set size of this process."""
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return resident_pages * os.sysconf("SC_PAGE_SIZE") // _MB


def memory_max_mb() -> int:
    """The cgroup memory limit when there is one (a pod's limit), else physical memory."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            return int(limit) // _MB
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // _MB
