"""Lines the daemon sends, as typed messages, and the parser that reads them.

The parser is pure and total: every line maps to a message (`OtherLine` for text it does not
know), and only malformed JSON in a DECISION or a malformed result raise `ProtocolError`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from tolaria.protocol.errors import ProtocolError

# Decision types whose DECISION line is never answered (Forge reads nothing after them).
UNANSWERED_DECISION_TYPES = frozenset({"reveal"})


@dataclass(frozen=True)
class GameStart:
    names: tuple[str, str]


@dataclass(frozen=True)
class SeedLine:
    seed: int


@dataclass(frozen=True)
class DecisionMessage:
    """One `DECISION:{json}` line; `payload` is the decoded JSON object."""

    payload: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.payload.get("decision_type", ""))

    @property
    def decision_id(self) -> int | None:
        return self.payload.get("decision_id")

    @property
    def player(self) -> str | None:
        return self.payload.get("player")

    @property
    def seat(self) -> int | None:
        """1 or 2, from the deciding player's name."""
        return seat_of(self.player)

    @property
    def ai_choice(self) -> str | None:
        """The built-in AI's reply in observe mode (`-o`), as reply text; such decisions are not
        answered. None without a choice, and for a Forge choice that named no offered option
        (the client has mapped Forge's choices onto reply text: `tolaria.protocol.forge`)."""
        choice = self.payload.get("ai_choice")
        return choice if choice is None or isinstance(choice, str) else None

    @property
    def expects_reply(self) -> bool:
        return self.type not in UNANSWERED_DECISION_TYPES and "ai_choice" not in self.payload


@dataclass(frozen=True)
class GameTimeout:
    message: str


@dataclass(frozen=True)
class GameError:
    message: str


@dataclass(frozen=True)
class ErrorLine:
    """`ERROR: <message>`: a refused command, or an inline note about an unusable reply."""

    message: str

    @property
    def is_busy(self) -> bool:
        return self.message.lower().startswith("busy")


@dataclass(frozen=True)
class GameResult:
    """`GAME_RESULT: <winner> won in <ms>ms` / `GAME_RESULT: Draw in <ms>ms`, plus extension
    `key=value` fields (`turns`, `reason`, ...)."""

    winner: str | None
    ms: int
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def is_draw(self) -> bool:
        return self.winner is None

    @property
    def turns(self) -> int | None:
        value = self.fields.get("turns")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def reason(self) -> str | None:
        return self.fields.get("reason")

    @property
    def winner_seat(self) -> int | None:
        """1 or 2 when the winner's name carries the seat number (`Agent(1)-...`), else None."""
        return seat_of(self.winner)


@dataclass(frozen=True)
class StatusEnd:
    """`END`: the last line of a STATUS answer on a persistent connection."""


@dataclass(frozen=True)
class HelloAnswer:
    """`HELLO <server> <protocol-version> <capabilities...>`."""

    server: str
    version: int
    capabilities: frozenset[str]


@dataclass(frozen=True)
class OkLine:
    """`OK: <message>` (our answer to SHUTDOWN)."""

    message: str


@dataclass(frozen=True)
class OtherLine:
    text: str


Message = (
    GameStart
    | SeedLine
    | DecisionMessage
    | GameTimeout
    | GameError
    | ErrorLine
    | GameResult
    | StatusEnd
    | HelloAnswer
    | OkLine
    | OtherLine
)

_SEAT_IN_NAME = re.compile(r"^[A-Za-z]+\(([12])\)-")
_RESULT = re.compile(r"^(?:(?P<winner>.+) won|(?P<draw>Draw)) in (?P<ms>\d+)ms(?P<rest>.*)$")
_SECOND_SEAT = re.compile(r" vs (?=[A-Za-z]+\(2\)-)")


def seat_of(player_name: str | None) -> int | None:
    """1 or 2 from a daemon player name such as `Agent(2)-red_aggro`, else None."""
    match = _SEAT_IN_NAME.match(player_name or "")
    return int(match.group(1)) if match else None


def parse_line(line: str) -> Message:
    """Parse one line from the daemon (with or without its trailing newline)."""
    line = line.rstrip("\r\n")
    head, sep, rest = line.partition(":")
    if sep:
        rest = rest[1:] if rest.startswith(" ") else rest
        if head == "DECISION":
            return DecisionMessage(_decode_decision(rest))
        if head == "GAME_RESULT":
            return _parse_result(rest)
        if head == "GAME_START":
            return GameStart(_split_names(rest))
        if head == "SEED":
            try:
                return SeedLine(int(rest.strip()))
            except ValueError:
                raise ProtocolError(f"malformed SEED line: {line[:200]!r}") from None
        if head == "GAME_TIMEOUT":
            return GameTimeout(rest)
        if head == "GAME_ERROR":
            return GameError(rest)
        if head == "ERROR":
            return ErrorLine(rest)
        if head == "OK":
            return OkLine(rest)
    if line == "END":
        return StatusEnd()
    if line.startswith("HELLO "):
        return _parse_hello(line)
    return OtherLine(line)


def _decode_decision(text: str) -> dict[str, Any]:
    # orjson: parsing is most of what a client spends per decision outside the policy (3x json's speed)
    try:
        payload = orjson.loads(text)
    except ValueError as e:
        # Forge escapes only backslash, quote, newline, carriage return and tab: any other control
        # character arrives raw inside a string, which strict JSON (orjson) refuses.
        try:
            payload = json.loads(text, strict=False)
        except ValueError:
            raise ProtocolError(f"DECISION line with malformed JSON: {e}") from None
    if not isinstance(payload, dict):
        raise ProtocolError("DECISION payload is not a JSON object")
    return payload


def _parse_result(text: str) -> GameResult:
    match = _RESULT.match(text)
    if match is None:
        raise ProtocolError(f"malformed GAME_RESULT line: {text[:200]!r}")
    fields: dict[str, str] = {}
    for token in match.group("rest").split():
        key, sep, value = token.partition("=")
        if sep and key:
            fields[key] = value
    winner = None if match.group("draw") else match.group("winner")
    return GameResult(winner=winner, ms=int(match.group("ms")), fields=fields)


def _split_names(text: str) -> tuple[str, str]:
    parts = _SECOND_SEAT.split(text, maxsplit=1)
    if len(parts) != 2:
        parts = text.split(" vs ", 1)
    if len(parts) != 2:
        raise ProtocolError(f"malformed GAME_START line: {text[:200]!r}")
    return parts[0], parts[1]


def _parse_hello(line: str) -> HelloAnswer:
    words = line.split()
    if len(words) < 3 or not words[2].isdigit():
        raise ProtocolError(f"malformed HELLO answer: {line[:200]!r}")
    return HelloAnswer(server=words[1], version=int(words[2]), capabilities=frozenset(words[3:]))


def format_result(winner: str | None, ms: int, fields: dict[str, object] | None = None) -> str:
    """The GAME_RESULT line (without newline); extension fields keep their order."""
    head = "Draw" if winner is None else f"{winner} won"
    extra = "".join(f" {key}={value}" for key, value in (fields or {}).items())
    return f"GAME_RESULT: {head} in {ms}ms{extra}"
