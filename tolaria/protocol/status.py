"""The STATUS answer: Forge's five lines, then our `key: value` extras."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from tolaria.protocol.errors import ProtocolError

STATUS_HEADER = "FORGE DAEMON STATUS"
_MEMORY = re.compile(r"^(\d+)\s*/\s*(\d+)\s*MB$")


@dataclass(frozen=True)
class DaemonStatus:
    active_games: int
    games_played: int
    memory_used_mb: int
    memory_max_mb: int
    max_concurrent: int
    extras: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The answer's lines, without the persistent connection's closing `END`."""
        return [
            STATUS_HEADER,
            f"Active games: {self.active_games}",
            f"Games played: {self.games_played}",
            f"Memory: {self.memory_used_mb}/{self.memory_max_mb} MB",
            f"Max concurrent: {self.max_concurrent}",
            *(f"{key}: {value}" for key, value in self.extras.items()),
        ]


def parse_status(lines: Iterable[str]) -> DaemonStatus:
    """Parse a STATUS answer (its lines, with or without a closing `END`)."""
    lines = [line.rstrip("\r\n") for line in lines]
    if lines and lines[-1] == "END":
        lines.pop()
    if not lines or lines[0] != STATUS_HEADER:
        raise ProtocolError(f"STATUS answer does not start with {STATUS_HEADER!r}: {lines[:1]!r}")
    values: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"malformed STATUS line: {line[:200]!r}")
        values[key.strip()] = value.strip()
    try:
        memory = _MEMORY.match(values.pop("Memory", ""))
        if memory is None:
            raise ValueError("Memory")
        status = DaemonStatus(
            active_games=int(values.pop("Active games")),
            games_played=int(values.pop("Games played")),
            memory_used_mb=int(memory.group(1)),
            memory_max_mb=int(memory.group(2)),
            max_concurrent=int(values.pop("Max concurrent")),
            extras=values,
        )
    except (KeyError, ValueError) as e:
        raise ProtocolError(f"STATUS answer lacks or garbles Forge's field {e}") from None
    return status
