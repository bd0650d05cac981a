"""The recorded output of a real Forge RL daemon (`tests/data/forge/`, copied byte for byte
from the project's shared recordings; its README says how they were made). Tests read them as
they are: the truth about Forge's dialect."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

RECORDINGS = Path(__file__).resolve().parent / "data" / "forge"
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
    data = (RECORDINGS / name).read_bytes()
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
