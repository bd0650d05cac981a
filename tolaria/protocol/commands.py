"""Commands a client sends (STATUS, SHUTDOWN, HELLO, NEWGAME): typed, formatted and parsed.

The daemon parses with `parse_command`; clients format with `NewGame.line()` and friends, so
both sides share one definition of every flag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tolaria.protocol.errors import CommandError

SEAT_CONTROLLERS = ("agent", "ai", "random")
COMPACT_MODES = ("compact",)
SEED_RANGE = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class GameOptions:
    """NEWGAME flags; None means the flag is left out and the daemon's default applies."""

    interactive: bool = False  # -i
    observe: bool = False  # -o
    quiet: bool = False  # -q
    game_timeout: float | None = None  # -c seconds
    ai_timeout: float | None = None  # -t seconds
    seed: int | None = None  # -s
    p1: str | None = None  # -p1 agent|ai|random (extension)
    p2: str | None = None  # -p2 (extension)
    compact: bool = False  # -x compact (extension)
    max_turns: int | None = None  # -l turns: a length limit, the game a draw past it (extension)

    def __post_init__(self) -> None:
        for name in ("p1", "p2"):
            value = getattr(self, name)
            if value is not None and value not in SEAT_CONTROLLERS:
                raise CommandError(f"-{name} must be one of {', '.join(SEAT_CONTROLLERS)}, not {value!r}")
        for name in ("game_timeout", "ai_timeout"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise CommandError(f"{name} must be a positive number of seconds, not {value!r}")
        if self.max_turns is not None and (isinstance(self.max_turns, bool) or self.max_turns < 1):
            raise CommandError(f"max_turns (-l) must be a positive number of turns, not {self.max_turns!r}")
        if self.interactive and self.observe:
            raise CommandError("-i and -o exclude each other")
        if self.seed is not None and not SEED_RANGE[0] <= self.seed <= SEED_RANGE[1]:
            raise CommandError(f"seed {self.seed} is outside the signed 64-bit range")

    def required_capabilities(self) -> set[str]:
        """The HELLO capabilities a daemon needs to honour these flags (none for Forge's)."""
        needed = set()
        if self.p1 is not None or self.p2 is not None:
            needed.add("seats")
        if self.compact:
            needed.add("compact")
        if self.max_turns is not None:
            needed.add("turn-limit")
        return needed

    def check_supported(self, capabilities: frozenset[str] | None, address: str) -> None:
        """CommandError when the daemon (None: no HELLO, a Forge daemon) lacks a flag's extension."""
        missing = self.required_capabilities() - (capabilities or frozenset())
        if missing:
            raise CommandError(
                f"{address} does not support {', '.join(sorted(missing))} (-p1/-p2/-x/-l flags)"
            )

    def flags(self) -> list[str]:
        words: list[str] = []
        if self.interactive:
            words.append("-i")
        if self.observe:
            words.append("-o")
        if self.quiet:
            words.append("-q")
        if self.game_timeout is not None:
            words += ["-c", _number(self.game_timeout)]
        if self.ai_timeout is not None:
            words += ["-t", _number(self.ai_timeout)]
        if self.seed is not None:
            words += ["-s", str(self.seed)]
        if self.p1 is not None:
            words += ["-p1", self.p1]
        if self.p2 is not None:
            words += ["-p2", self.p2]
        if self.compact:
            words += ["-x", "compact"]
        if self.max_turns is not None:
            words += ["-l", str(self.max_turns)]
        return words


@dataclass(frozen=True)
class NewGame:
    deck1: str
    deck2: str
    options: GameOptions = GameOptions()

    def __post_init__(self) -> None:
        for deck in (self.deck1, self.deck2):
            if not deck or any(c.isspace() for c in deck):
                raise CommandError(f"deck name {deck!r} is empty or contains whitespace")

    def line(self) -> str:
        return " ".join(["NEWGAME", self.deck1, self.deck2, *self.options.flags()])


@dataclass(frozen=True)
class Status:
    def line(self) -> str:
        return "STATUS"


@dataclass(frozen=True)
class Shutdown:
    def line(self) -> str:
        return "SHUTDOWN"


@dataclass(frozen=True)
class Hello:
    client: str

    def line(self) -> str:
        return f"HELLO {self.client}"


Command = NewGame | Status | Shutdown | Hello


def parse_command(line: str) -> Command:
    """Parse one command line; raise CommandError with the text of the `ERROR: ...` answer."""
    words = line.split()
    if not words:
        raise CommandError("Empty command")
    name = words[0]
    if name == "STATUS" and len(words) == 1:
        return Status()
    if name == "SHUTDOWN" and len(words) == 1:
        return Shutdown()
    if name == "HELLO":
        return Hello(client=" ".join(words[1:]) or "unknown")
    if name == "NEWGAME":
        return _parse_newgame(words[1:])
    raise CommandError(f"Unknown command: {_shorten(line.strip())}")


def _parse_newgame(words: list[str]) -> NewGame:
    if len(words) < 2 or words[0].startswith("-") or words[1].startswith("-"):
        raise CommandError("Usage: NEWGAME <deck1> <deck2> [flags]")
    deck1, deck2, rest = words[0], words[1], words[2:]
    values: dict[str, object] = {}
    position = 0

    def argument(flag: str) -> str:
        nonlocal position
        if position >= len(rest):
            raise CommandError(f"flag {flag} needs a value")
        position += 1
        return rest[position - 1]

    while position < len(rest):
        flag = rest[position]
        position += 1
        if flag == "-i":
            values["interactive"] = True
        elif flag == "-o":
            values["observe"] = True
        elif flag == "-q":
            values["quiet"] = True
        elif flag in ("-c", "-t"):
            text = argument(flag)
            try:
                seconds = float(text)
            except ValueError:
                raise CommandError(f"flag {flag} needs a number of seconds, not {_shorten(text)!r}") from None
            values["game_timeout" if flag == "-c" else "ai_timeout"] = seconds
        elif flag == "-s":
            text = argument(flag)
            try:
                values["seed"] = int(text)
            except ValueError:
                raise CommandError(f"flag -s needs an integer seed, not {_shorten(text)!r}") from None
        elif flag in ("-p1", "-p2"):
            values[flag[1:]] = argument(flag)
        elif flag == "-l":
            text = argument(flag)
            try:
                values["max_turns"] = int(text)
            except ValueError:
                raise CommandError(f"flag -l needs a whole number of turns, not {_shorten(text)!r}") from None
        elif flag == "-x":
            mode = argument(flag)
            if mode not in COMPACT_MODES:
                raise CommandError(f"flag -x knows only {', '.join(COMPACT_MODES)}, not {_shorten(mode)!r}")
            values["compact"] = True
        else:
            raise CommandError(f"Unknown flag: {_shorten(flag)}")
    return NewGame(deck1, deck2, GameOptions(**values))  # type: ignore[arg-type]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
