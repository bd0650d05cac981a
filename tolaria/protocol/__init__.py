"""The daemon wire protocol (PROTOCOL.md): messages, parser, formatters and clients.

Works against the built-in daemon and against a Forge RL daemon (HELLO refused: Forge's
dialect, `tolaria.protocol.forge`: one connection per command, no extensions, payloads
normalized into Tolaria's shapes, at most its `Max concurrent` games in flight).

    client = AsyncDaemonClient("daemon-0.tolaria", 17171)      # one per endpoint, shared by games
    game = await client.start_game("red_aggro", "white_weenie", GameOptions(interactive=True, compact=True))
    while (decision := await game.next_decision()) is not None:  # DecisionMessage
        if decision.expects_reply:                                 # False for reveal and observe mode
            await game.reply(index_reply(0))                       # or yes_no_reply, blocks_reply, ...
    game.result                                                    # GameResult: winner, winner_seat, turns, reason

Every failure is a DaemonError: DaemonUnavailable, DaemonDisconnected (the daemon died or
closed mid-game; NoReply: closed without answering a command), DaemonTimeout, CommandRefused
(DeckRefused: a deck it cannot load; DaemonBusy), ProtocolError.
"""

from tolaria.protocol.aio_client import AsyncDaemonClient, AsyncGame
from tolaria.protocol.commands import (
    SEAT_CONTROLLERS,
    Command,
    GameOptions,
    Hello,
    NewGame,
    Shutdown,
    Status,
    parse_command,
)
from tolaria.protocol.compact import CompactExpander
from tolaria.protocol.endpoints import parse_endpoints, resolve_endpoints
from tolaria.protocol.errors import (
    CommandError,
    CommandRefused,
    DaemonBusy,
    DaemonDisconnected,
    DaemonError,
    DaemonTimeout,
    DaemonUnavailable,
    DeckRefused,
    NoReply,
    ProtocolError,
)
from tolaria.protocol.forge import Dialect
from tolaria.protocol.game_progress import GameProgress
from tolaria.protocol.messages import (
    DecisionMessage,
    ErrorLine,
    GameError,
    GameResult,
    GameStart,
    GameTimeout,
    HelloAnswer,
    Message,
    OkLine,
    OtherLine,
    SeedLine,
    StatusEnd,
    format_result,
    parse_line,
    seat_of,
)
from tolaria.protocol.replies import (
    PASS,
    blocks_reply,
    first_option_reply,
    index_reply,
    indices_reply,
    value_reply,
    yes_no_reply,
)
from tolaria.protocol.status import DaemonStatus, parse_status
from tolaria.protocol.sync_client import DaemonClient, Game

PROTOCOL_VERSION = 1

__all__ = [
    "PASS",
    "PROTOCOL_VERSION",
    "SEAT_CONTROLLERS",
    "AsyncDaemonClient",
    "AsyncGame",
    "Command",
    "CommandError",
    "CommandRefused",
    "CompactExpander",
    "DaemonBusy",
    "DaemonClient",
    "DaemonDisconnected",
    "DaemonError",
    "DaemonStatus",
    "DaemonTimeout",
    "DaemonUnavailable",
    "DecisionMessage",
    "DeckRefused",
    "Dialect",
    "ErrorLine",
    "Game",
    "GameError",
    "GameOptions",
    "GameProgress",
    "GameResult",
    "GameStart",
    "GameTimeout",
    "Hello",
    "HelloAnswer",
    "Message",
    "NewGame",
    "NoReply",
    "OkLine",
    "OtherLine",
    "ProtocolError",
    "SeedLine",
    "Shutdown",
    "Status",
    "StatusEnd",
    "blocks_reply",
    "first_option_reply",
    "format_result",
    "index_reply",
    "indices_reply",
    "parse_command",
    "parse_endpoints",
    "parse_line",
    "parse_status",
    "resolve_endpoints",
    "seat_of",
    "value_reply",
    "yes_no_reply",
]
