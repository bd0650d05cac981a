"""The STATUS answer, in both dialects.

Forge prints (`../shared/forge/status-*.txt`, byte for byte):

    FORGE DAEMON STATUS
      Active games: 0
      Total games played: 17
      Memory: 800MB / 2048MB
      Max concurrent: 10

Tolaria's daemon prints the same five facts unindented (`Games played`, `Memory: 800/2048 MB`)
and then its `key: value` extras. The parser reads both (and either spelling of each field);
`lines()` writes ours and `forge_lines()` Forge's, for the daemon's Forge dialect.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from tolaria.protocol.errors import ProtocolError

STATUS_HEADER = "FORGE DAEMON STATUS"
# `800/2048 MB` (ours), `800MB / 2048MB` (Forge's)
_MEMORY = re.compile(r"^(\d+)\s*(?:MB)?\s*/\s*(\d+)\s*MB$")
# The field names each dialect uses for the count of finished games.
_GAMES_PLAYED = ("Games played", "Total games played")


@dataclass(frozen=True)
class DaemonStatus:
    active_games: int
    games_played: int
    memory_used_mb: int
    memory_max_mb: int
    max_concurrent: int
    extras: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """Our answer's lines, without the persistent connection's closing `END`."""
        return [
            STATUS_HEADER,
            f"Active games: {self.active_games}",
            f"Games played: {self.games_played}",
            f"Memory: {self.memory_used_mb}/{self.memory_max_mb} MB",
            f"Max concurrent: {self.max_concurrent}",
            *(f"{key}: {value}" for key, value in self.extras.items()),
        ]

    def forge_lines(self) -> list[str]:
        """Forge's answer: indented, its own field names, no extras."""
        return [
            STATUS_HEADER,
            f"  Active games: {self.active_games}",
            f"  Total games played: {self.games_played}",
            f"  Memory: {self.memory_used_mb}MB / {self.memory_max_mb}MB",
            f"  Max concurrent: {self.max_concurrent}",
        ]


def parse_status(lines: Iterable[str]) -> DaemonStatus:
    """Parse a STATUS answer in either dialect (its lines, with or without a closing `END`)."""
    lines = [line.rstrip("\r\n") for line in lines]
    while lines and not lines[-1].strip():
        lines.pop()
    if lines and lines[-1] == "END":
        lines.pop()
    if not lines or lines[0].strip() != STATUS_HEADER:
        raise ProtocolError(f"STATUS answer does not start with {STATUS_HEADER!r}: {lines[:1]!r}")
    values: dict[str, str] = {}
    for line in lines[1:]:
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"malformed STATUS line: {line[:200]!r}")
        values[key.strip()] = value.strip()
    games_key = next((key for key in _GAMES_PLAYED if key in values), _GAMES_PLAYED[0])
    try:
        memory = _MEMORY.match(values.pop("Memory", ""))
        if memory is None:
            raise ValueError("Memory")
        status = DaemonStatus(
            active_games=int(values.pop("Active games")),
            games_played=int(values.pop(games_key)),
            memory_used_mb=int(memory.group(1)),
            memory_max_mb=int(memory.group(2)),
            max_concurrent=int(values.pop("Max concurrent")),
            extras=values,
        )
    except (KeyError, ValueError) as e:
        raise ProtocolError(f"STATUS answer lacks or garbles the field {e}: {lines!r}"[:400]) from None
    return status
