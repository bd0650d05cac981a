"""The warm start: a run's first policy version is a copy of the daemons' built-in AI.

Why a copy, and how it is fitted: `tolaria.trainer.imitation`. Where the demonstrations come
from: the daemons themselves. The learner of a run with no checkpoint and
`learner.warmStart.games` > 0 watches that many games of the built-in AI against itself in
observe mode (`NEWGAME <deck1> <deck2> -o`: every decision streamed with the AI's reply in
`ai_choice`, no reply read), spread over the run's deck pairings and both seat orders by the
seeded match schedule the evaluator uses too (`tolaria.matchmaking.schedule`), and learns from
the decisions of both seats. Observe mode is part of Forge's protocol, so this works against a
Forge daemon too (one game per connection, full payloads; compact payloads where the daemon
offers them). Forge names the AI's choice of action by card and text rather than by index; the
client maps it onto the offered option (`tolaria.protocol.forge.ai_choice_reply`), and a choice
that names no offered option (Forge's blocks sometimes name a blocker it did not offer) is left
out and counted. When fewer than half of the choices map, the warm start fails rather than
learn from the few that do: the daemon speaks a dialect the client does not understand.

Each finished game is encoded at once: a game's raw payloads are megabytes, its encoded
decisions about one (padded to the network's limits, float features in half precision;
`learner.warmStart.games` is capped for it).

Failures: the learner and the daemons start together, so daemons that do not answer yet are
waited for (up to `daemon_wait` seconds, then `WarmStartError`). A game that fails is retried
with the same seed on the next daemon, after the endpoints are resolved again (a replaced daemon
pod has a new address), and left out after `ATTEMPTS` failures; a daemon that is full (`ERROR:
busy`) is asked again a second later without that counting as a failure. When more than half of
the games are left out the warm start fails with the last error rather than train on what is
left. A stop request (SIGTERM) abandons the games in flight and returns the games finished so
far, by their place in the schedule; `observe(..., watched=...)` plays only the others, so a
learner preempted while watching keeps what it saw (`tolaria.trainer.warm_progress`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tolaria.matchmaking.schedule import ATTEMPTS, Match, schedule
from tolaria.protocol import (
    AsyncDaemonClient,
    CompactExpander,
    DaemonBusy,
    DaemonError,
    GameOptions,
    ProtocolError,
)
from tolaria.protocol.daemon_clients import DaemonClients
from tolaria.protocol.endpoints import format_endpoints
from tolaria.trainer.config import WarmStartConfig
from tolaria.trainer.encoding import Encoder, EncodingError
from tolaria.trainer.imitation import Demonstrations, demonstrations, outcome_returns

log = logging.getLogger(__name__)

SCHEDULE_NAME = "warm-start"  # seeds: `schedule.game_seed(SCHEDULE_NAME, index, seed)`
PROGRESS_SECONDS = 1.0


class WarmStartError(RuntimeError):
    pass


@dataclass
class ObservedGame:
    """The decisions of one observed game, in order, with the AI's reply to each."""

    seats: list[int] = field(default_factory=list)
    payloads: list[dict[str, Any]] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    winner: int | None = None  # seat; None: a draw
    unmapped: int = 0  # choices of the AI that name no offered option (left out)


async def observe_game(
    client: AsyncDaemonClient, match: Match, game_timeout: float, max_turns: int | None = None
) -> ObservedGame:
    """One game of the built-in AI against itself; raises DaemonError when the daemon fails it."""
    hello = await client.hello()
    options = GameOptions(
        observe=True,
        quiet=True,
        seed=match.seed,
        compact=hello is not None and "compact" in hello.capabilities,
        game_timeout=game_timeout,
        max_turns=max_turns if hello is not None and "turn-limit" in hello.capabilities else None,
    )
    expander = CompactExpander()
    observed = ObservedGame()
    game = await client.start_game(*match.decks, options)
    async with game:
        while (decision := await game.next_decision()) is not None:
            payload = expander.expand(decision.payload)
            if "ai_choice" not in payload:  # a reveal: nothing was decided
                continue
            choice = decision.ai_choice
            if choice is None:
                observed.unmapped += 1
                continue
            if decision.seat is None:
                raise ProtocolError(f"{client.address}: an observed decision of {decision.player!r}")
            observed.seats.append(decision.seat)
            observed.payloads.append(payload)
            observed.replies.append(choice)
    if game.progress.game_error is not None:
        raise DaemonError(f"{client.address}: GAME_ERROR {game.progress.game_error}")
    assert game.result is not None
    observed.winner = game.result.winner_seat
    return observed


@dataclass
class WatchedGames:
    """The decisions of the games watched, joined in the schedule's order."""

    demonstrations: Demonstrations
    match: np.ndarray  # [N] int64: the schedule index of each decision's game, ascending
    games: list[int]  # the schedule indices of the games watched (one may have no decision)


@dataclass
class Observation:
    """What `observe` gathered: every scheduled game, or those finished before a stop."""

    watched: dict[int, Demonstrations]  # by the game's index in the schedule
    failed: int  # games left out after ATTEMPTS failures
    seconds: float
    complete: bool  # False: stopped before every game was played
    choices: int = 0  # the AI's choices in the games learnt from
    unmapped: int = 0  # of them, those that named no offered option (left out)

    @property
    def games(self) -> int:
        """Games learnt from."""
        return len(self.watched)

    def take_games(self, empty: dict[str, np.ndarray]) -> WatchedGames:
        """Every watched decision, game by game in the schedule's order (whatever order the games
        finished in, so that a fit on them is reproducible); `empty` as `Encoder.empty(0)`.

        Takes the games out of `watched`, releasing each array of theirs as soon as it is joined:
        the decisions, a warm start's largest allocation, are never held twice over (at most once
        and their largest array, `card_feat`, again)."""
        order = sorted(self.watched)
        parts = [self.watched.pop(i) for i in order]
        match = np.repeat(np.asarray(order, np.int64), [len(p) for p in parts])
        if not parts:
            return WatchedGames(Demonstrations.concatenate([], empty), match, order)
        observations = {}
        for key in list(parts[0].observations):
            observations[key] = np.concatenate([p.observations.pop(key) for p in parts])
            _return_freed_memory()
        actions = np.concatenate([p.actions for p in parts])
        returns = np.concatenate([p.returns for p in parts])
        return WatchedGames(Demonstrations(observations, actions, returns), match, order)


def _return_freed_memory() -> None:
    """Gives the heap's free pages back to the system (glibc's malloc_trim, as Dask's workers do).
    The games' arrays were allocated one game at a time, below glibc's grown mmap threshold, so
    once joined and freed they would stay in the heap, reused only by small allocations, and the
    join would end holding the decisions twice."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class WarmStart:
    """Collects the demonstrations of a warm start from the daemons at `endpoints`."""

    def __init__(
        self,
        config: WarmStartConfig,
        endpoints: list[tuple[str, int]],
        pairings: Sequence[tuple[str, str]],
        gamma: float,
        seed: int = 0,
        daemon_wait: float = 600.0,
    ):
        if config.games < 1:
            raise ValueError("a warm start needs learner.warmStart.games >= 1")
        self.config = config
        self.endpoints = endpoints
        self.matches = schedule(config.games, list(pairings), SCHEDULE_NAME, seed)
        self.gamma = gamma
        self.daemon_wait = daemon_wait

    def fingerprint(self) -> str:
        """What the demonstrations depend on (the schedule, the discount): saved progress of
        another warm start is not resumed."""
        matches = [[m.index, m.agent_deck, m.opponent_deck, m.agent_seat, m.seed] for m in self.matches]
        text = json.dumps({"matches": matches, "gamma": self.gamma}, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def observe(
        self,
        encoder: Encoder,
        stop: threading.Event,
        on_progress: Callable[[int], None] | None = None,
        watched: dict[int, Demonstrations] | None = None,
    ) -> Observation:
        """Plays and encodes the scheduled games that `watched` (games of an earlier, stopped
        observation) lacks. A stop ends it early, with `complete` False. `on_progress(games learnt
        from so far)` after the first game, then at most once a second, and at the end."""
        return asyncio.run(self._observe(encoder, stop, on_progress, dict(watched or {})))

    async def _observe(
        self,
        encoder: Encoder,
        stop: threading.Event,
        on_progress: Callable[[int], None] | None,
        parts: dict[int, Demonstrations],
    ) -> Observation:
        started = time.monotonic()
        remaining = [m for m in self.matches if m.index not in parts]
        daemons = DaemonClients(self.endpoints, "tolaria-learner")
        try:
            clients = await self._wait_for_daemons(daemons, stop) if remaining else []
            if clients is None:
                return Observation(parts, 0, time.monotonic() - started, complete=False)
            failures: list[str] = []
            choices = unmapped = 0
            gate = asyncio.Semaphore(self.config.games_in_flight)
            last_report = 0.0

            async def one(position: int, match: Match) -> None:
                nonlocal last_report, clients, choices, unmapped
                async with gate:
                    attempt, error = 0, ""
                    while attempt < ATTEMPTS:
                        client = clients[(position + attempt) % len(clients)]
                        try:
                            observed = await observe_game(
                                client, match, self.config.game_timeout, self.config.max_turns
                            )
                            parts[match.index] = self._encode(encoder, observed)
                            choices += len(observed.replies) + observed.unmapped
                            unmapped += observed.unmapped
                            break
                        except DaemonBusy:  # full with other clients' games: not this game's failure
                            await asyncio.sleep(1.0)
                        except (DaemonError, EncodingError, ValueError) as e:
                            error = f"game {match.index} (seed {match.seed}) on {client.address}: {e}"
                            log.warning("warm start: %s", error)
                            await asyncio.sleep(0.5 * 2**attempt)
                            with contextlib.suppress(ConnectionError):  # nothing resolves: keep the old
                                clients = await daemons.refresh()
                            attempt += 1
                    else:
                        failures.append(error)
                if on_progress is not None and time.monotonic() - last_report >= PROGRESS_SECONDS:
                    last_report = time.monotonic()
                    on_progress(len(parts))

            tasks = [asyncio.create_task(one(m.index, m)) for m in remaining]
            try:
                while not all(t.done() for t in tasks):
                    if stop.is_set():
                        return Observation(dict(parts), len(failures), time.monotonic() - started, False)
                    await asyncio.wait(tasks, timeout=0.5)
                for task in tasks:
                    task.result()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            if on_progress is not None:
                on_progress(len(parts))
            if len(failures) * 2 > len(self.matches):
                raise WarmStartError(
                    f"{len(failures)} of {len(self.matches)} warm-start games failed; the last: {failures[-1]}"
                )
            if unmapped * 2 > choices:
                raise WarmStartError(
                    f"{unmapped} of the AI's {choices} choices name no offered option: the daemon's"
                    " observe mode speaks a dialect this client does not understand"
                )
            if unmapped:
                log.info("warm start: %d of the AI's %d choices named no offered option", unmapped, choices)
            return Observation(
                parts,
                len(failures),
                time.monotonic() - started,
                complete=True,
                choices=choices,
                unmapped=unmapped,
            )
        finally:
            await daemons.close()

    async def _wait_for_daemons(
        self, daemons: DaemonClients, stop: threading.Event
    ) -> list[AsyncDaemonClient] | None:
        """The clients once one daemon answers STATUS; None when `stop` is set first."""
        deadline = time.monotonic() + self.daemon_wait
        last_error = ""
        while not stop.is_set():
            try:
                clients = await daemons.refresh()
                for client in clients:
                    try:
                        await client.status()
                        return clients
                    except DaemonError as e:
                        last_error = f"{client.address}: {e}"
            except ConnectionError as e:
                last_error = str(e)
            if time.monotonic() >= deadline:
                raise WarmStartError(
                    f"no daemon of {format_endpoints(self.endpoints)} answered within {self.daemon_wait:g}s"
                    f" (last error: {last_error})"
                )
            log.info(
                "warm start: waiting for a daemon at %s (%s)", format_endpoints(self.endpoints), last_error
            )
            await asyncio.sleep(2.0)
        return None

    def _encode(self, encoder: Encoder, observed: ObservedGame) -> Demonstrations:
        returns = outcome_returns(observed.seats, observed.winner, self.gamma)
        return demonstrations(encoder, observed.payloads, observed.replies, returns)
