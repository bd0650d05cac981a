"""Evaluation games over real daemon connections: who plays, on which decks, in which seat.

A `Match` is one game of the evaluated policy (the agent) against an opponent: the daemon's
random player (`-p2 random`), its heuristic AI (`-p2 ai`), or another policy (`-i`: both seats
answered here, each decision routed by the seat number in the deciding player's name).
Payloads are requested in compact form (`-x compact`) where the daemon offers it and restored
with a `CompactExpander` per game. Against a Forge daemon (no HELLO, no seat mode) only games
between policies can be played; the spec refuses the other baselines for `engine: forge`.

The matches come from `tolaria.matchmaking.schedule`. A game that fails (daemon gone,
connection dropped, an engine error) is retried on the next daemon with the same seed; a game
that fails every attempt is reported as an error and left out of the win rate. A daemon's
whole-game timeout is a draw, as the protocol defines it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tolaria.inference.batcher import InferenceBatcher
from tolaria.matchmaking.schedule import ATTEMPTS, Match
from tolaria.protocol import AsyncDaemonClient, CompactExpander, DaemonError, GameOptions

log = logging.getLogger(__name__)

DAEMON_OPPONENTS = {"random": "random", "heuristic": "ai"}  # baseline -> seat controller


@dataclass(frozen=True)
class MatchOutcome:
    match: Match
    score: float | None  # the agent's: 1 win, 0.5 draw, 0 loss; None when the game failed
    turns: int | None = None
    reason: str | None = None
    decisions: int = 0
    error: str | None = None


async def play_match(
    client: AsyncDaemonClient,
    match: Match,
    agent: InferenceBatcher,
    opponent: str | InferenceBatcher,
    game_timeout: float,
    max_turns: int | None = None,
) -> MatchOutcome:
    """One game; raises DaemonError when the daemon fails it."""
    hello = await client.hello()
    compact = hello is not None and "compact" in hello.capabilities
    if isinstance(opponent, InferenceBatcher):
        options = GameOptions(
            interactive=True,
            quiet=True,
            seed=match.seed,
            compact=compact,
            game_timeout=game_timeout,
            max_turns=max_turns,
        )
    else:
        controller = DAEMON_OPPONENTS[opponent]
        controllers = ("agent", controller) if match.agent_seat == 1 else (controller, "agent")
        options = GameOptions(
            quiet=True,
            seed=match.seed,
            p1=controllers[0],
            p2=controllers[1],
            compact=compact,
            game_timeout=game_timeout,
            max_turns=max_turns,
        )
    expander = CompactExpander()
    game = await client.start_game(*match.decks, options)
    async with game:
        while (decision := await game.next_decision()) is not None:
            payload = expander.expand(decision.payload)
            if not decision.expects_reply:
                continue
            seat = decision.seat
            if seat == match.agent_seat:
                player = agent
            elif isinstance(opponent, InferenceBatcher) and seat is not None:
                player = opponent
            else:
                raise DaemonError(f"{client.address}: a decision for {decision.player!r}, not an agent seat")
            await game.reply((await player.answer(payload)).reply)
    progress = game.progress
    if progress.game_error is not None:
        raise DaemonError(f"{client.address}: GAME_ERROR {progress.game_error}")
    result = game.result
    assert result is not None
    if result.is_draw:
        score = 0.5
    else:
        score = 1.0 if result.winner_seat == match.agent_seat else 0.0
    return MatchOutcome(
        match,
        score,
        result.turns,
        result.reason or ("timeout" if progress.timeout else None),
        progress.decisions,
    )


async def play_matches(
    clients: Sequence[AsyncDaemonClient],
    matches: Sequence[Match],
    agent: InferenceBatcher,
    opponent: str | InferenceBatcher,
    games_in_flight: int,
    game_timeout: float = 300.0,
    on_outcome: Callable[[MatchOutcome], None] | None = None,
    max_turns: int | None = None,
) -> list[MatchOutcome]:
    """Play all matches, at most `games_in_flight` at once, spread over the daemons; the
    outcomes in match order."""
    if not clients:
        raise ValueError("evaluation needs at least one daemon")
    gate = asyncio.Semaphore(max(1, games_in_flight))

    async def one(position: int, match: Match) -> MatchOutcome:
        async with gate:
            error = ""
            for attempt in range(ATTEMPTS):
                client = clients[(position + attempt) % len(clients)]
                try:
                    outcome = await play_match(client, match, agent, opponent, game_timeout, max_turns)
                    break
                except (DaemonError, ValueError) as e:
                    error = f"{type(e).__name__}: {e}"
                    log.warning(
                        "game %d (seed %d) failed on %s: %s", match.index, match.seed, client.address, e
                    )
                    await asyncio.sleep(0.2 * (attempt + 1))
            else:
                outcome = MatchOutcome(match, None, error=error)
        if on_outcome is not None:
            on_outcome(outcome)
        return outcome

    return list(await asyncio.gather(*(one(i, m) for i, m in enumerate(matches))))
