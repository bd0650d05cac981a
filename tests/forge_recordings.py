"""The recorded output of a real Forge RL daemon, in the project's shared recordings
(`../shared/forge/` beside the repository, as in CI; its README says how they were made). Tests
read them as they are: the truth about Forge's dialect."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any, NamedTuple

RECORDINGS = Path(__file__).resolve().parents[2] / "shared" / "forge"
OBSERVED_GAMES = (
    "observe-red_aggro-white_weenie-seed7.txt.gz",
    "observe-green_midrange-blue_control-seed3.txt.gz",
)
# Each recording is the whole answer to one connection's single command.
COMMANDS = {
    "STATUS": "status-fresh.txt",
    "HELLO tolaria": "hello.txt",
    "NEWGAME nosuchdeck red_aggro -o": "error-unknown-deck.txt",
    "NEWGAME red_aggro": "error-one-deck.txt",
    "NEWGAME white_weenie red_aggro -q -s 5": "silent-white_weenie-red_aggro-seed5.txt",
    "NEWGAME red_aggro white_weenie -s 5": "default-red_aggro-white_weenie-seed5.txt",
    "NEWGAME red_aggro white_weenie -o -s 7": OBSERVED_GAMES[0],
    "NEWGAME green_midrange blue_control -o -s 3": OBSERVED_GAMES[1],
}


def recording_bytes(name: str) -> bytes:
    path = RECORDINGS / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the Forge recordings live in ../shared/forge beside the repository"
        )
    data = path.read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


def recording_lines(name: str) -> list[str]:
    """The recording's lines, without their newlines (every recorded line ends with one)."""
    text = recording_bytes(name).decode("utf-8")
    assert text.endswith("\n"), name
    return text[:-1].split("\n")


def recorded_decisions(name: str) -> list[dict[str, Any]]:
    """The DECISION payloads of a recorded game, decoded as they are (Forge's shapes)."""
    return [
        json.loads(line[len("DECISION:") :]) for line in recording_lines(name) if line.startswith("DECISION:")
    ]


# ---------------------------------------------------------------------------------------
# Shapes: what an emulation of Forge must reproduce (tests/daemon/test_forge_dialect.py)

_HEADS = ("DECISION", "GAME_RESULT", "GAME_START", "SEED", "GAME_TIMEOUT", "GAME_ERROR", "ERROR")


def line_kind(line: str) -> str:
    head = line.partition(":")[0]
    return head if head in _HEADS else "TEXT"


def line_kinds(lines: list[str]) -> list[str]:
    """The kinds of the lines, a run of DECISION lines as one `DECISION+`."""
    kinds: list[str] = []
    for line in lines:
        kind = line_kind(line)
        if kind == "DECISION":
            kind = "DECISION+"
        if not kinds or kinds[-1] != kind or kind != "DECISION+":
            kinds.append(kind)
    return kinds


def text_shape(line: str, decks: tuple[str, ...]) -> str:
    """A line that is not a DECISION with its numbers and deck names replaced by N and DECK."""
    for deck in sorted(decks, key=len, reverse=True):
        line = line.replace(deck, "DECK")
    return re.sub(r"\d+", "N", line)


def payload_schema(payloads: list[dict[str, Any]]) -> dict[str, tuple[frozenset, frozenset, frozenset]]:
    """Per JSON path (`choose_action.game_state.players[].hand[].cmc`, list items as `[]`, the
    decision type first): (the value types seen, the keys an object there ever has, the keys it
    always has)."""
    types: dict[str, set[str]] = {}
    union: dict[str, set[str]] = {}
    always: dict[str, set[str]] = {}

    def walk(value: Any, path: str) -> None:
        types.setdefault(path, set()).add(_type_name(value))
        if isinstance(value, dict):
            union.setdefault(path, set()).update(value)
            always[path] = set(value) if path not in always else always[path] & set(value)
            for key, item in value.items():
                walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for item in value:
                walk(item, f"{path}[]")

    for payload in payloads:
        walk(payload, str(payload.get("decision_type")))
    return {
        path: (frozenset(kinds), frozenset(union.get(path, ())), frozenset(always.get(path, ())))
        for path, kinds in types.items()
    }


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    return {str: "string", list: "array", dict: "object"}[type(value)]


class PriorityStatistics(NamedTuple):
    pass_only_share: float  # of the choose_action decisions, those that offer pass alone
    decisions_per_turn: float

    def __str__(self) -> str:
        return f"{self.pass_only_share:.3f} of choose_action pass alone, {self.decisions_per_turn:.1f} decisions a turn"


def priority_statistics(games: list[list[dict[str, Any]]]) -> PriorityStatistics:
    """How often observed games (each the list of its DECISION payloads) ask: the share of
    choose_action decisions that offer nothing but pass, and decisions per turn (a game's turns:
    the turn of its last decision; both players' turns count)."""
    choices = [p for game in games for p in game if p["decision_type"] == "choose_action"]
    pass_only = sum(1 for p in choices if all(a["index"] == -1 for a in p["actions"]))
    turns = sum(game[-1]["turn"] for game in games if game)
    return PriorityStatistics(pass_only / len(choices), sum(len(game) for game in games) / turns)
