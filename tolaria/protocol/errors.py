"""Exceptions of the daemon clients.

Every failure a caller can meet derives from `DaemonError`, so an actor that holds hundreds
of games can catch one type per game and move on; the subclasses say what went wrong.
"""

from __future__ import annotations


class DaemonError(Exception):
    """Base class: something went wrong talking to a game daemon."""


class DaemonUnavailable(DaemonError):
    """The daemon could not be reached (connection refused, connect timeout)."""


class DaemonDisconnected(DaemonError):
    """The connection closed before the answer (or the game) was complete."""


class DaemonTimeout(DaemonError):
    """The daemon sent no line within the read timeout."""


class ProtocolError(DaemonError):
    """The daemon sent a line that does not fit the protocol at this point."""


class NoReply(DaemonDisconnected):
    """The daemon closed the connection without a line in answer to a command. A Forge daemon
    does this when a flag's value is not a number (`-c`, `-t`, `-s`); the clients never send
    one, so it means a daemon that failed or speaks yet another dialect."""


class CommandRefused(DaemonError):
    """The daemon answered a command with `ERROR: ...` (bad deck, bad flags, ...).

    `message` is the daemon's text after `ERROR: `; `command` the refused command line, which
    str() names together with the daemon's address when they are known."""

    def __init__(self, message: str, command: str | None = None, address: str | None = None):
        text = message
        if command is not None:
            text = f"{command!r} refused: {message}"
        if address:
            text = f"{address}: {text}"
        super().__init__(text)
        self.message = message
        self.command = command


class DaemonBusy(CommandRefused):
    """The daemon runs as many games as it allows (`ERROR: busy ...`); try later or elsewhere."""


class DeckRefused(CommandRefused):
    """`ERROR: Could not load deck: NAME`: the daemon cannot load the deck `deck`."""

    def __init__(self, message: str, command: str | None = None, address: str | None = None):
        super().__init__(message, command, address)
        self.deck = message[len(DECK_ERROR) :].strip().split(":")[0].strip()


DECK_ERROR = "Could not load deck:"


def refusal(message: str, command: str | None = None, address: str | None = None) -> CommandRefused:
    """The error for an `ERROR: <message>` answer to `command`."""
    if message.lower().startswith("busy"):
        return DaemonBusy(message, command, address)
    if message.startswith(DECK_ERROR):
        return DeckRefused(message, command, address)
    return CommandRefused(message, command, address)


class CommandError(ValueError):
    """A command line the daemon cannot accept; str() is the text after `ERROR: `."""
