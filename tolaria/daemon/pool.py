"""Counters that the worker processes of one daemon share, so that STATUS and the busy limit
describe the whole daemon rather than whichever worker the kernel handed the connection to.

With `--workers N` the workers share the port (SO_REUSEPORT) and a client cannot choose its
worker. The supervisor creates one small file of N slots; each worker maps it and writes only
its own slot, so no locks are needed, and reads all of them for the totals. A worker started
again after a crash keeps its slot's totals (games played, decisions, ...) and starts with no
active games. A single-process daemon keeps its one slot in memory.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import astuple, dataclass
from pathlib import Path

_SLOT = struct.Struct("<6q")


@dataclass(frozen=True)
class PoolCounts:
    active_games: int = 0
    games_played: int = 0
    decisions: int = 0
    games_timed_out: int = 0
    games_dropped: int = 0
    errors: int = 0

    def __add__(self, other: PoolCounts) -> PoolCounts:
        return PoolCounts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


def create_pool_file(path: Path, workers: int) -> None:
    """Called once by the supervisor, before it starts the workers."""
    path.write_bytes(bytes(_SLOT.size * workers))


class PoolCounters:
    def __init__(self, workers: int, index: int, path: Path | None = None):
        if not 0 <= index < workers:
            raise ValueError(f"worker index {index} outside 0..{workers - 1}")
        self.workers = workers
        self._offset = index * _SLOT.size
        if path is None:
            self._buffer: mmap.mmap | bytearray = bytearray(_SLOT.size * workers)
        else:
            with path.open("r+b") as f:
                self._buffer = mmap.mmap(f.fileno(), _SLOT.size * workers)
        # What a crashed predecessor in this slot had counted stays counted.
        self.carried = PoolCounts(0, *_SLOT.unpack_from(self._buffer, self._offset)[1:])

    def publish(self, counts: PoolCounts) -> None:
        """This worker's counts since it started; the carried totals are added here."""
        _SLOT.pack_into(self._buffer, self._offset, *astuple(counts + self.carried))

    def totals(self) -> PoolCounts:
        total = PoolCounts()
        for values in _SLOT.iter_unpack(self._buffer):
            total = total + PoolCounts(*values)
        return total
