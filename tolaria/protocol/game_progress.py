"""Sans-IO state of one game as seen by a client: feeds daemon lines, yields decisions.

Both the asyncio and the blocking client drive a `GameProgress`, so the rules of what may
follow what live in one place. In Forge's dialect every DECISION payload is normalized into
Tolaria's shapes (`tolaria.protocol.forge`) before anyone sees it.
"""

from __future__ import annotations

from tolaria.protocol.commands import NewGame
from tolaria.protocol.errors import DaemonDisconnected, NoReply, ProtocolError, refusal
from tolaria.protocol.forge import Dialect, normalize_decision
from tolaria.protocol.messages import (
    DecisionMessage,
    ErrorLine,
    GameError,
    GameResult,
    GameStart,
    GameTimeout,
    OtherLine,
    SeedLine,
    parse_line,
)


class GameProgress:
    def __init__(self, command: NewGame, dialect: Dialect = Dialect.TOLARIA, address: str = ""):
        self.command = command
        self.dialect = dialect
        self.address = address
        self.names: tuple[str, str] | None = None
        self.seed: int | None = None
        self.decisions = 0
        self.inline_errors: list[str] = []  # `ERROR: ...` notes about unusable replies
        self.timeout: str | None = None  # GAME_TIMEOUT message
        self.game_error: str | None = None  # GAME_ERROR message
        self.other_lines: list[str] = []
        self.result: GameResult | None = None
        self.pending: DecisionMessage | None = None  # a decision that still needs a reply
        self.bytes_received = 0  # UTF-8 bytes of this game's lines, newlines included
        self.decision_bytes = 0  # the part of them in DECISION lines
        self._lines = 0

    @property
    def finished(self) -> bool:
        return self.result is not None

    @property
    def ended_abnormally(self) -> bool:
        """A game ended by a timeout or an error: the daemon closes such connections."""
        return self.timeout is not None or self.game_error is not None

    def feed(self, line: str) -> DecisionMessage | GameResult | None:
        """Take one line; return a decision or the result when the line is one, else None."""
        if self.result is not None:
            raise ProtocolError(f"line after GAME_RESULT: {line[:200]!r}")
        message = parse_line(line)
        first = self._lines == 0
        self._lines += 1
        size = len(line.encode()) + 1 if not line.isascii() else len(line) + 1
        self.bytes_received += size
        if isinstance(message, ErrorLine):
            if first:
                raise refusal(message.message, self.command.line(), self.address)
            self.inline_errors.append(message.message)
            return None
        if isinstance(message, DecisionMessage):
            if self.dialect is Dialect.FORGE:
                normalize_decision(message.payload)
            self.decisions += 1
            self.decision_bytes += size
            self.pending = message if message.expects_reply else None
            return message
        if isinstance(message, GameResult):
            self.pending = None
            self.result = message
            return message
        if isinstance(message, GameStart):
            self.names = message.names
        elif isinstance(message, SeedLine):
            self.seed = message.seed
        elif isinstance(message, GameTimeout):
            self.timeout = message.message
        elif isinstance(message, GameError):
            self.game_error = message.message
        elif isinstance(message, OtherLine):
            self.other_lines.append(message.text)
        else:
            raise ProtocolError(f"unexpected line during a game: {line[:200]!r}")
        return None

    def closed(self) -> DaemonDisconnected:
        """The error for a connection the daemon closed before the game's result."""
        where = f"{self.address}: " if self.address else ""
        if self._lines == 0:
            hint = (
                " (a Forge daemon does this when a -c, -t or -s value is not a number)"
                if self.dialect is Dialect.FORGE
                else ""
            )
            return NoReply(
                f"{where}the daemon closed the connection without answering {self.command.line()!r}{hint}"
            )
        return DaemonDisconnected(f"{where}connection closed mid-game after {self.decisions} decisions")

    def check_reply(self) -> None:
        """Raise unless a decision is waiting for a reply."""
        if self.pending is None:
            raise ProtocolError("no decision is waiting for a reply")
        self.pending = None

    def check_next(self) -> None:
        """Raise if the caller asks for the next decision without answering the current one."""
        if self.pending is not None:
            raise ProtocolError(
                f"decision {self.pending.decision_id} ({self.pending.type}) needs a reply first"
            )
