"""The actor: many concurrent games against the daemon pool, one batched policy, rollouts to Redis.

`games_in_flight` workers each play one game after another. Every game draws its deck pairing
(by weight, from the pairings of the curriculum stage the actor last read from Redis, polled
with the policy version; without a curriculum, the spec's matchups or deck pools) and its opponent (`tolaria.matchmaking`'s `OpponentSampler`:
self-play, the daemon's built-in AI or random player, or a past policy snapshot from the
league), and the agent's seat alternates between games. Seat control:

- self-play: `NEWGAME -i`, both seats answered by the current policy, both seats' trajectories
  shipped;
- built-in AI: `-p1 agent -p2 ai` or `-p1 ai -p2 agent`, and the random player likewise with
  `random` (both need the daemon's `seats` capability; against a daemon without it, such as
  Forge's, the game is played as self-play instead); only the agent's trajectory is shipped;
- league: `-i`, the agent's seat answered by the current policy, the other by the snapshot's own
  batcher; only the agent's trajectory is shipped. Snapshots come in series of `leagueSeries`
  games, stay loaded while they are in the league and are released when they leave it
  (`tolaria.actor.league_opponents`). Every batcher's passes run in the actor's one inference
  thread (see `tolaria.inference.batcher`).

Policy versions: the learner and the evaluator's promotion announce each new version on a Redis
channel (`RunKeys.policy_announce`); the actor follows it and installs the version at once, so the
next inference batch plays it (`InferenceBatcher.swap`). The poll every
`policy_sync_interval` seconds stays as the fallback for an announcement lost while the
subscription was down.

Trajectories are shipped in segments of `segment_steps` steps while the game goes on, each as
soon as the step it bootstraps from is recorded, and the rest when the game ends with a result
(`tolaria.actor.trajectory`), so a long game's data is no older than one segment's worth of play.
A daemon failure, protocol error or `GAME_TIMEOUT` (a wall-clock cut, not an end of the game) costs
that game only: its steps not shipped yet are dropped, the `errors` stat and metric count it, and the
endpoint backs off. Back-pressure (`tolaria.actor.backpressure`): while the rollout queue is at
its cap in entries or bytes, rollouts wait in the actor and no new game starts. Stop (SIGTERM): no new games; games in flight finish within the grace period
or are abandoned (their trajectories dropped); then the buffered rollouts get up to 5 more seconds
to reach Redis (the operator gives actor pods 30 s in all; the default grace period is 20 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from redis.asyncio import Redis

from tolaria.actor.backpressure import QueueGate
from tolaria.actor.daemons import DaemonPool, Endpoint
from tolaria.actor.league_opponents import LeagueOpponents
from tolaria.actor.metrics import ActorMetrics
from tolaria.actor.policy_source import PolicySource, PublishedVersions
from tolaria.actor.shipper import REDIS_FAILURES, RolloutShipper
from tolaria.actor.trajectory import Trajectory, outcome_reward, shaping_potential
from tolaria.inference.backend import PolicyBackend
from tolaria.inference.batcher import InferenceBatcher
from tolaria.keys import RunKeys, StatsField
from tolaria.matchmaking.league import League
from tolaria.matchmaking.opponents import OpponentChoice, OpponentSampler
from tolaria.matchmaking.priority import PairingScores
from tolaria.matchmaking.schedule import Match
from tolaria.protocol import (
    CommandRefused,
    DaemonBusy,
    DaemonError,
    GameOptions,
    GameResult,
    ProtocolError,
)
from tolaria.rollouts import stream_entry
from tolaria.spec import OpponentMix, PairingPriority, RewardShaping
from tolaria.trainer.checkpoint import CheckpointError
from tolaria.trainer.encoding import EncodingError, StaticMemory

log = logging.getLogger(__name__)


# Opponents the daemon plays itself, by the seat controller that NEWGAME names (-p1/-p2).
_DAEMON_SEATS = {"builtin_ai": "ai", "random_player": "random"}


@dataclass
class ActorSettings:
    pairings: list[tuple[str, str, float]]  # (agent deck, opponent deck, weight)
    # the pairings of each curriculum stage (`TrainingRunSpec.stage_pairings`); empty: `pairings`
    stage_pairings: list[list[tuple[str, str, float]]] = field(default_factory=list)
    opponents: OpponentMix = field(default_factory=OpponentMix)
    pairing_priority: PairingPriority | None = None  # spec.actors.pairingPriority
    reward_shaping: RewardShaping = field(default_factory=RewardShaping)
    gamma: float = 0.99  # the learner's discount (ppo.gamma), which reward shaping must match
    games_in_flight: int = 64
    segment_steps: int = 256
    stream_max_length: int = 200_000
    policy_sync_interval: float = 5.0
    endpoint_refresh_interval: float = 15.0
    game_timeout: float = 120.0
    max_turns: int | None = None  # the spec's game length limit (None: none)
    max_batch: int = 256
    max_wait: float = 0.002
    grace_period: float = 20.0
    max_buffered_segments: int = 10_000
    max_queue_depth: int = 16_384  # back-pressure caps (spec.redis.maxQueueDepth, maxQueueBytes)
    max_queue_bytes: int = 512 * 1024 * 1024
    device: str = "cpu"
    seed: int = 0
    max_games: int = 0  # stop after this many finished games (0: until stopped)
    actor_id: str = "actor"

    def __post_init__(self) -> None:
        if not self.pairings or not all(self.stage_pairings):
            raise ValueError("the actor needs at least one deck pairing (in every curriculum stage)")
        if self.games_in_flight < 1 or self.segment_steps < 1:
            raise ValueError(
                f"games_in_flight ({self.games_in_flight}) and segment_steps ({self.segment_steps}) must be >= 1"
            )


class GameFailed(Exception):
    """A game that ended without a usable result (its trajectories are dropped)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class GamePlan:
    match: Match  # the decks, the agent's seat and the seed
    opponent: OpponentChoice


class Actor:
    def __init__(
        self,
        settings: ActorSettings,
        redis_client: Redis,
        keys: RunKeys,
        pool: DaemonPool,
        metrics: ActorMetrics | None = None,
        league: League | None = None,
    ):
        self.settings = settings
        self.redis = redis_client
        self.keys = keys
        self.pool = pool
        self.metrics = metrics or ActorMetrics()
        self.league = league
        self.device = torch.device(settings.device)
        self.source = PolicySource(redis_client, keys)
        self.gate = QueueGate(
            redis_client, keys, settings.max_queue_depth, settings.max_queue_bytes, on_reading=self._on_queue
        )
        self.shipper = RolloutShipper(
            redis_client,
            keys,
            settings.stream_max_length,
            max_buffered_segments=settings.max_buffered_segments,
            on_event=self._on_ship_event,
            gate=self.gate,
        )
        self._installing = asyncio.Lock()  # the announcement and the poll may both find a version
        self.rng = random.Random(settings.seed)
        self.sampler = OpponentSampler(settings.opponents, seed=self.rng.randrange(2**31))
        priority = settings.pairing_priority
        self.pairing_scores = PairingScores(priority) if priority is not None else None
        self.batcher: InferenceBatcher | None = None
        self.memory = StaticMemory()  # shared by every backend (see PolicyBackend)
        self.latest_version = 0
        self.stage = 0  # the curriculum stage, as last read from Redis
        self.league_versions: list[int] = []
        # one thread for every inference pass, the current policy's and the league snapshots'
        self._inference = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self.league_opponents = LeagueOpponents(
            self._load_snapshot, settings.max_batch, settings.max_wait, self._inference
        )
        self._exit = contextlib.AsyncExitStack()
        self._game_index = itertools.count()  # the agent's seat alternates with it
        self._stopping = asyncio.Event()
        self.games_finished = 0
        self.decisions = 0
        self.errors = 0

    # ---- lifecycle -----------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Play until `stop` is set (or `max_games`), then wind down as the module describes."""
        shipper_stop = asyncio.Event()
        shipper_task = asyncio.create_task(self.shipper.run(shipper_stop), name="shipper")
        background: list[asyncio.Task[Any]] = []
        try:
            await self.pool.refresh()
            backend = await self._wait_for_policy(stop)
            if backend is None:
                return
            self.batcher = await self._exit.enter_async_context(
                InferenceBatcher(
                    backend, self.settings.max_batch, self.settings.max_wait, self._on_batch, self._inference
                )
            )
            self.metrics.policy_version.set(backend.version)
            with contextlib.suppress(*REDIS_FAILURES):  # else the policy sync reads it soon
                await self._read_stage()
            background = [
                asyncio.create_task(self._sync_policy(), name="policy-sync"),
                asyncio.create_task(self._follow_announcements(), name="policy-announcements"),
                asyncio.create_task(self.gate.run(), name="queue-gate"),
                asyncio.create_task(self._refresh_endpoints(), name="endpoints"),
                asyncio.create_task(self._report_rates(), name="rates"),
            ]
            if self.pairing_scores is not None:
                background.append(asyncio.create_task(self._report_priorities(), name="priorities"))
            workers = [
                asyncio.create_task(self._worker(), name=f"game-{i}")
                for i in range(self.settings.games_in_flight)
            ]
            stopper = asyncio.create_task(stop.wait())
            done = asyncio.create_task(asyncio.wait(workers))
            await asyncio.wait({stopper, done}, return_when=asyncio.FIRST_COMPLETED)
            self._stopping.set()
            stopper.cancel()
            _, unfinished = await asyncio.wait(workers, timeout=self.settings.grace_period)
            if unfinished:
                log.info("abandoning %d games in flight after the grace period", len(unfinished))
                for task in unfinished:
                    task.cancel()
                await asyncio.gather(*unfinished, return_exceptions=True)
            done.cancel()
        finally:
            self._stopping.set()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self._exit.aclose()
            await self.league_opponents.close()
            self._inference.shutdown(wait=False, cancel_futures=True)
            self._log_priorities()
            flushed = await self.shipper.flush(timeout=min(5.0, max(1.0, self.settings.grace_period / 2)))
            shipper_stop.set()
            shipper_task.cancel()
            await asyncio.gather(shipper_task, return_exceptions=True)
            if not flushed:
                log.warning("exiting with %d segments Redis did not take", len(self.shipper.buffer))
            await self.pool.close()

    async def _wait_for_policy(self, stop: asyncio.Event) -> PolicyBackend | None:
        logged = False
        while not stop.is_set():
            try:
                versions = await self.source.versions()
                weights = await self.source.load(versions) if versions.to_play is not None else None
            except REDIS_FAILURES as e:
                self.metrics.redis_errors.inc()
                log.warning("redis unreachable while waiting for the policy: %s", e)
                weights = None
            if weights is not None:
                self.latest_version = versions.latest or weights.version
                log.info("playing policy version %d", weights.version)
                return await asyncio.to_thread(PolicyBackend, weights, self.device, self.memory)
            if not logged:
                log.info("waiting for the learner to publish a policy at %s", self.keys.policy)
                logged = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(1.0, self.settings.policy_sync_interval))
        return None

    # ---- background tasks ----------------------------------------------------------------
    async def _sync_policy(self) -> None:
        """Pick up new versions (taking effect between batches) and the league's snapshots."""
        assert self.batcher is not None
        while True:
            try:
                versions = await self.source.versions()
                await self._install(versions)
                await self._read_stage()
            except REDIS_FAILURES as e:
                self.metrics.redis_errors.inc()
                log.debug("policy sync: redis unreachable: %s", e)
            if self.league is not None and self.settings.opponents.league > 0:
                try:
                    self.league_versions = await asyncio.to_thread(self.league.versions)
                except (CheckpointError, OSError) as e:
                    log.warning("league unreadable: %s", e)
                else:
                    await self.league_opponents.retain(self.league_versions)
                    self.metrics.league_snapshots.set(len(self.league_opponents.versions))
            await asyncio.sleep(self.settings.policy_sync_interval)

    async def _read_stage(self) -> None:
        """The curriculum stage games are drawn from (`tolaria.matchmaking.curriculum`)."""
        if len(self.settings.stage_pairings) < 2:
            return
        raw = await self.redis.hget(self.keys.stats, StatsField.CURRICULUM_STAGE)
        stage = min(int(raw or 0), len(self.settings.stage_pairings) - 1)
        if stage != self.stage:
            log.info("curriculum stage %d from the next game on", stage + 1)
            self.stage = stage

    def pairings_unweighted(self) -> list[tuple[str, str, float]]:
        """The current stage's pairings with the spec's weights."""
        stages = self.settings.stage_pairings
        return stages[min(self.stage, len(stages) - 1)] if stages else self.settings.pairings

    def pairings(self) -> list[tuple[str, str, float]]:
        """The pairings the next game is drawn from, weighted by their priority where the spec asks."""
        pairings = self.pairings_unweighted()
        return pairings if self.pairing_scores is None else self.pairing_scores.prioritised(pairings)

    async def _follow_announcements(self) -> None:
        """Installs each announced version at once (see the module); resubscribes after a failure."""
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.keys.policy_announce)
                # a version published while the subscription was down is not announced again
                await self._install(await self.source.versions())
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        await self._install(await self.source.versions())
            except REDIS_FAILURES as e:
                self.metrics.redis_errors.inc()
                log.debug("policy announcements: redis unreachable: %s", e)
            finally:
                with contextlib.suppress(*REDIS_FAILURES):
                    await pubsub.aclose()
            await asyncio.sleep(1.0)

    async def _install(self, versions: PublishedVersions) -> None:
        async with self._installing:
            await self._install_unlocked(versions)

    async def _install_unlocked(self, versions: PublishedVersions) -> None:
        assert self.batcher is not None
        if versions.latest is not None:
            self.latest_version = versions.latest
        target = versions.to_play
        if target is not None and target != self.batcher.version:
            weights = await self.source.load(versions)
            if weights is not None and weights.version != self.batcher.version:
                backend = await asyncio.to_thread(PolicyBackend, weights, self.device, self.memory)
                self.batcher.swap(backend)
                self.metrics.policy_version.set(weights.version)
                log.info("policy version %d from the next batch on", weights.version)
        self.metrics.policy_version_lag.set(max(0, self.latest_version - self.batcher.version))

    async def _refresh_endpoints(self) -> None:
        while True:
            await asyncio.sleep(self.settings.endpoint_refresh_interval)
            await self.pool.refresh()
            self.metrics.daemon_endpoints.set(len(self.pool.active))

    async def _report_rates(self, interval: float = 5.0) -> None:
        last, last_time = self.decisions, time.monotonic()
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            self.metrics.decisions_per_second.set((self.decisions - last) / (now - last_time))
            self.metrics.buffered_segments.set(len(self.shipper.buffer))
            self.metrics.redis_connected.set(1 if self.shipper.connected else 0)
            last, last_time = self.decisions, now

    async def _report_priorities(self, interval: float = 300.0) -> None:
        while True:
            await asyncio.sleep(interval)
            self._log_priorities()

    def _log_priorities(self) -> None:
        if self.pairing_scores is not None:
            log.info("%s", self.pairing_scores.describe(self.pairings_unweighted()))

    def _on_batch(self, size: int, seconds: float) -> None:
        self.metrics.batch_size.observe(size)
        self.metrics.batch_seconds.observe(seconds)

    def _on_queue(self, depth: int, size: int, room: bool) -> None:
        self.metrics.queue_depth.set(depth)
        self.metrics.queue_bytes.set(size)
        self.metrics.queue_full.set(0 if room else 1)

    def _on_ship_event(self, event: str, amount: int) -> None:
        m = self.metrics
        if event == "shipped":
            m.segments_shipped.inc(amount)
        elif event == "shipped_bytes":
            m.rollout_bytes.inc(amount)
        elif event == "dropped":
            m.dropped_segments.inc(amount)
        elif event == "redis_error":
            m.redis_errors.inc(amount)
        m.buffered_segments.set(len(self.shipper.buffer))
        m.redis_connected.set(1 if self.shipper.connected else 0)

    # ---- games ---------------------------------------------------------------------------
    async def _worker(self) -> None:
        while not self._stopping.is_set():
            if self.settings.max_games and self.games_finished >= self.settings.max_games:
                return
            if not self.gate.open:  # back-pressure: no new game until the learner catches up
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping_or_room(), self.gate.interval * 4)
                continue
            endpoint = self.pool.pick()
            if endpoint is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.pool.seconds_until_ready())
                continue
            endpoint.games += 1
            self.metrics.games_in_flight.inc()
            try:
                await self._play_one(endpoint)
            except Exception:  # a bug must cost one game, not one of the worker slots
                log.exception("game on %s failed unexpectedly", endpoint.client.address)
                self.errors += 1
                self.shipper.count(StatsField.ERRORS)
                self.metrics.game_errors.labels("internal").inc()
            finally:
                self.metrics.games_in_flight.dec()
                await self.pool.release(endpoint)

    async def _stopping_or_room(self) -> None:
        waiters = [asyncio.ensure_future(self._stopping.wait()), asyncio.ensure_future(self.gate.room.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def _plan(self) -> GamePlan:
        pairings = self.pairings()
        agent_deck, opponent_deck, _ = self.rng.choices(pairings, weights=[w for _, _, w in pairings])[0]
        opponent = self.sampler.sample(self.batcher.version if self.batcher else 0, self.league_versions)
        index = next(self._game_index)
        return GamePlan(
            Match(index, agent_deck, opponent_deck, 1 + index % 2, self.rng.randrange(2**62)), opponent
        )

    async def _play_one(self, endpoint: Endpoint) -> None:
        plan = self._plan()
        trajectories = {1: Trajectory(), 2: Trajectory()}
        snapshot = (
            plan.opponent.version if plan.opponent.kind == "league" and self.league is not None else None
        )
        async with (
            contextlib.nullcontext(None) if snapshot is None else self.league_opponents.playing(snapshot)
        ) as opponent_batcher:
            try:
                plan, result = await self._play(endpoint, plan, trajectories, opponent_batcher)
            except (DaemonError, GameFailed, EncodingError, ValueError) as e:
                reason = e.reason if isinstance(e, GameFailed) else type(e).__name__
                self._failed(endpoint, plan, reason, e, trajectories)
                return
            except asyncio.CancelledError:
                self._count_decisions(trajectories)
                raise
        self.pool.succeeded(endpoint)
        self._finished(plan, result, trajectories)

    async def _play(
        self,
        endpoint: Endpoint,
        plan: GamePlan,
        trajectories: dict[int, Trajectory],
        opponent_batcher: InferenceBatcher | None,
    ) -> tuple[GamePlan, GameResult]:
        """One game; `opponent_batcher` answers the other seat against a league snapshot."""
        assert self.batcher is not None
        client = endpoint.client
        hello = await client.hello()
        capabilities = hello.capabilities if hello is not None else frozenset()
        if plan.opponent.kind in _DAEMON_SEATS and "seats" not in capabilities:
            plan = replace(plan, opponent=OpponentChoice("self_play"))
        if plan.opponent.kind == "league" and opponent_batcher is None:
            plan = replace(plan, opponent=OpponentChoice("self_play"))
        compact = "compact" in capabilities
        # a daemon without the extension (Forge's) has no turn limit: the game timeout bounds games
        max_turns = self.settings.max_turns if "turn-limit" in capabilities else None
        if plan.opponent.kind in _DAEMON_SEATS:
            opponent = _DAEMON_SEATS[plan.opponent.kind]
            seats = ("agent", opponent) if plan.match.agent_seat == 1 else (opponent, "agent")
            options = GameOptions(
                quiet=True,
                seed=plan.match.seed,
                p1=seats[0],
                p2=seats[1],
                compact=compact,
                game_timeout=self.settings.game_timeout,
                max_turns=max_turns,
            )
        else:
            options = GameOptions(
                interactive=True,
                quiet=True,
                seed=plan.match.seed,
                compact=compact,
                game_timeout=self.settings.game_timeout,
                max_turns=max_turns,
            )
        shaping = (self.settings.reward_shaping.life_delta, self.settings.reward_shaping.card_advantage)
        learning_seats = {1, 2} if plan.opponent.kind == "self_play" else {plan.match.agent_seat}
        game = await client.start_game(*plan.match.decks, options)
        async with game:
            while (decision := await game.next_decision()) is not None:
                payload = decision.payload
                if not decision.expects_reply:  # a reveal may be a card's first (full) appearance
                    self.memory.learn(payload)
                    continue
                seat = decision.seat
                if seat in learning_seats:
                    answer = await self.batcher.answer(payload)
                    trajectory = trajectories[seat]
                    trajectory.add(answer.record, shaping_potential(payload, *shaping))
                    for segment in trajectory.ready_segments(
                        self.settings.segment_steps,
                        self.batcher.backend.encoder_shape,
                        self._meta(plan, seat),
                        self.settings.gamma,
                    ):
                        self.shipper.ship(stream_entry(segment))
                elif seat is not None and opponent_batcher is not None:
                    answer = await opponent_batcher.answer(payload)
                else:
                    raise ProtocolError(
                        f"{client.address}: a decision for {decision.player!r}, not a seat of ours"
                    )
                await game.reply(answer.reply)
        progress = game.progress
        if progress.game_error is not None:
            raise GameFailed("game_error", f"{client.address}: GAME_ERROR {progress.game_error}")
        if progress.timeout is not None:
            raise GameFailed("timeout", f"{client.address}: {progress.timeout}")
        assert game.result is not None
        return plan, game.result

    def _load_snapshot(self, version: int) -> PolicyBackend:
        """The backend of a league snapshot (in a worker thread, by `LeagueOpponents`)."""
        assert self.league is not None
        return PolicyBackend(self.league.load(version), self.device, self.memory)

    def _finished(self, plan: GamePlan, result: GameResult, trajectories: dict[int, Trajectory]) -> None:
        winner = result.winner_seat
        kind = plan.opponent.kind
        agent_reward = outcome_reward(winner, plan.match.agent_seat)
        outcome = {1.0: StatsField.WINS, -1.0: StatsField.LOSSES, 0.0: StatsField.DRAWS}[agent_reward]
        ending = {"winner_seat": winner, "turns": result.turns, "reason": result.reason}
        batcher = self.batcher
        assert batcher is not None
        for seat, trajectory in trajectories.items():
            if not len(trajectory):
                continue
            for segment in trajectory.segments(
                outcome_reward(winner, seat),
                self.settings.segment_steps,
                batcher.backend.encoder_shape,
                {**self._meta(plan, seat), **ending},
                self.settings.gamma,
            ):
                self.shipper.ship(stream_entry(segment))
        self._count_decisions(trajectories)
        self.games_finished += 1
        self.shipper.count(StatsField.GAMES)
        self.shipper.count(outcome)
        self.shipper.count(f"{StatsField.GAMES}:{kind}")
        self.shipper.count(f"{outcome}:{kind}")
        self.metrics.games.labels(kind, outcome).inc()
        if kind == "builtin_ai" and self.pairing_scores is not None:
            match = plan.match
            self.pairing_scores.record(match.agent_deck, match.opponent_deck, (agent_reward + 1) / 2)
            self.metrics.pairing_win_rate.labels(match.agent_deck, match.opponent_deck).set(
                self.pairing_scores.win_rate(match.agent_deck, match.opponent_deck)
            )

    def _meta(self, plan: GamePlan, seat: int) -> dict[str, Any]:
        """What a segment says of its game (the game's end only in its last segments)."""
        return {
            "actor": self.settings.actor_id,
            "agent_deck": plan.match.agent_deck,
            "opponent_deck": plan.match.opponent_deck,
            "agent_seat": plan.match.agent_seat,
            "seed": plan.match.seed,
            **plan.opponent.meta(),
            "seat": seat,
        }

    def _failed(
        self,
        endpoint: Endpoint,
        plan: GamePlan,
        reason: str,
        error: Exception,
        trajectories: dict[int, Trajectory],
    ) -> None:
        self.errors += 1
        self._count_decisions(trajectories)
        self.shipper.count(StatsField.ERRORS)
        self.metrics.game_errors.labels(reason).inc()
        if isinstance(error, DaemonError | GameFailed):
            self.pool.failed(endpoint)
        level = (
            logging.ERROR
            if isinstance(error, CommandRefused | EncodingError | ValueError)
            else logging.WARNING
        )
        if isinstance(error, DaemonBusy):
            level = logging.DEBUG
        log.log(
            level,
            "game %s vs %s on %s failed (%s): %s",
            *plan.match.decks,
            endpoint.client.address,
            reason,
            error,
        )

    def _count_decisions(self, trajectories: dict[int, Trajectory]) -> None:
        answered = sum(len(t) for t in trajectories.values())
        self.decisions += answered
        self.metrics.decisions.inc(answered)
        self.shipper.count(StatsField.DECISIONS, answered)
