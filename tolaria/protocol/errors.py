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


class CommandRefused(DaemonError):
    """The daemon answered a command with `ERROR: ...` (bad deck, bad flags, ...)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class DaemonBusy(CommandRefused):
    """The daemon runs as many games as it allows (`ERROR: busy ...`); try later or elsewhere."""


class CommandError(ValueError):
    """A command line the daemon cannot accept; str() is the text after `ERROR: `."""
