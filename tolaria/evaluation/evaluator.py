"""The evaluator: measures policy versions against baselines and the league, keeps Elo ratings.

At the spec's cadence (`evaluation.everyUpdates` policy versions, or `everyMinutes` minutes
when the version moved) it takes the published policy (`...:policy`) and plays
`evaluation.games` games against each baseline of `evaluation.baselines`:
- `random`, `heuristic`: the daemon's random player and heuristic AI;
- `league`: the newest past snapshots of the league (at most `league_opponents` of them,
  the games split evenly), each a policy in the other seat;
spread evenly over the deck pairings and both seat orders (`tolaria.matchmaking.schedule`): the
spec's, or with a curriculum those of the stage in `...:stats` when the evaluation begins
(`tolaria.matchmaking.curriculum`), so that a stage's `until.winRate` is measured on what it trains.
Each result carries its split by pairing (both seats), by the agent's deck, and by pairing and seat.
The games go to the daemons only; nothing is ever written to the rollout stream, so evaluation
games never feed the learner. After the evaluation the version joins the league.

Results, written in one MULTI/EXEC (keys `tolaria.keys.RunKeys`, fields `EvalField`, `StatsField`,
`EloField`):
- `...:eval` hash: `policy_version`, `evaluated_at` (unix seconds), per baseline
  `winrate_vs_<b>`, `winrate_ci_low_vs_<b>`, `winrate_ci_high_vs_<b>`, `games_vs_<b>`; the
  headline `baseline` (stop.targetBaseline when evaluated, else heuristic, else the first),
  `winrate`, `winrate_ci_low`, `winrate_ci_high` and `elo` of the evaluated version; `latest`
  and `v<version>`: the whole report as JSON (the `v<version>` fields are the learning curve);
- `...:stats` hash: `win_rate:<baseline>` (what the operator reads), `eval_policy_version` and
  `eval_stage` (the curriculum stage measured; 0 without a curriculum);
- `...:elo:games` hash: this evaluation's games (league and gate games included) added to the
  counts of wins, draws and losses between each pair of players (`EloGamesField`);
- `...:elo` hash: every rating, `v<version>` for policy versions and the baseline names, replaced
  whole by a Bradley-Terry fit over all the counts (`tolaria.evaluation.elo`: `random` anchored
  at 1000, independent of the order of the games). A run begun before these counts existed has
  its ratings fitted afresh from the games recorded since; its reports keep the old values.

Promotion gate (when `evaluation.promotionMargin` is set): actors play the promoted policy,
`...:policy:promoted` (safetensors bytes of the same format as `...:policy`, carrying their
version) with its version in `...:policy:promoted:version`, instead of the newest one. The
first evaluated version is promoted at once; a later one is played against the promoted
version (`evaluation.games` games, both seats) and promoted when the lower end of its win rate's
95% confidence interval is at least 0.5 - margin (`tolaria.evaluation.gate`). Without the gate neither key exists (a running evaluator deletes them when the
gate is switched off) and actors follow `...:policy`. While the
promoted version exists the learner measures rollout staleness against it, not against its own
newest version (`tolaria.trainer.learner`).

Action selection (`evaluation.actionSelection`): greedy by default, or sampled as the actors
play; the league keeps the newest `evaluation.leagueSize` evaluated versions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
import torch

from tolaria.evaluation.confidence import WinRate
from tolaria.evaluation.elo import GameCounts, fit_ratings, policy_player
from tolaria.evaluation.gate import promotes, promotion_threshold
from tolaria.evaluation.matches import MatchOutcome, play_matches
from tolaria.evaluation.metrics import EvaluatorMetrics
from tolaria.evaluation.record import EvaluationRecord, RecordUnavailable
from tolaria.inference.backend import PolicyBackend
from tolaria.inference.batcher import InferenceBatcher
from tolaria.keys import EvalField, RunKeys, StatsField
from tolaria.matchmaking.league import League
from tolaria.matchmaking.schedule import Match, schedule
from tolaria.protocol import AsyncDaemonClient
from tolaria.protocol.daemon_clients import DaemonClients
from tolaria.spec import TrainingRunSpec
from tolaria.trainer.checkpoint import CheckpointError
from tolaria.trainer.weights import PolicyWeights, UnsafeWeightsError, decode_weights

log = logging.getLogger(__name__)

BASELINE_ORDER = ("random", "heuristic", "league")


@dataclass(frozen=True)
class EvaluationSettings:
    games: int
    baselines: tuple[str, ...]
    pairings: tuple[tuple[str, str], ...]
    # with a curriculum, the pairings of each stage (`pairings` is then the run's own)
    stage_pairings: tuple[tuple[tuple[str, str], ...], ...] = ()
    every_updates: int = 50
    every_minutes: float = 0.0
    promotion_margin: float | None = None
    headline: str = "heuristic"
    league_size: int = 20
    league_opponents: int = 4
    games_in_flight: int = 32
    greedy: bool = True
    seed: int = 0
    game_timeout: float = 300.0
    max_turns: int | None = None  # the spec's game length limit (None: none)

    def __post_init__(self) -> None:
        unknown = [b for b in self.baselines if b not in BASELINE_ORDER]
        if unknown or not self.baselines:
            raise ValueError(
                f"baselines must be among {', '.join(BASELINE_ORDER)}, got {list(self.baselines)}"
            )
        if self.games < 2:
            raise ValueError(f"evaluation needs at least 2 games per baseline (both seats), got {self.games}")
        if not self.pairings or not all(self.stage_pairings):
            raise ValueError("evaluation needs at least one deck pairing (in every curriculum stage)")

    def pairings_for(self, stage: int) -> tuple[tuple[str, str], ...]:
        """The pairings an evaluation during curriculum stage `stage` plays."""
        if not self.stage_pairings:
            return self.pairings
        return self.stage_pairings[min(max(stage, 0), len(self.stage_pairings) - 1)]

    @classmethod
    def from_spec(cls, spec: TrainingRunSpec, **overrides: Any) -> EvaluationSettings:
        evaluation = spec.evaluation
        baselines = tuple(b for b in BASELINE_ORDER if b in evaluation.baselines)
        pairings = tuple(dict.fromkeys((a, b) for a, b, _ in spec.pairings()))
        stage_pairings = (
            tuple(tuple(dict.fromkeys((a, b) for a, b, _ in stage)) for stage in spec.stage_pairings())
            if spec.curriculum is not None
            else ()
        )
        if spec.stop.target_baseline in baselines:
            headline = spec.stop.target_baseline
        else:
            headline = "heuristic" if "heuristic" in baselines else baselines[0]
        values: dict[str, Any] = {
            "games": evaluation.games,
            "baselines": baselines,
            "pairings": pairings,
            "stage_pairings": stage_pairings,
            "every_updates": evaluation.every_updates,
            "every_minutes": evaluation.every_minutes,
            "promotion_margin": evaluation.promotion_margin,
            "headline": headline,
            "league_size": evaluation.league_size,
            "greedy": evaluation.action_selection == "greedy",
            "seed": spec.seed or 0,
            "max_turns": spec.max_turns,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def outcome_rate(outcomes: Sequence[MatchOutcome]) -> WinRate:
    rate = WinRate()
    for outcome in outcomes:
        if outcome.score is not None:
            rate = rate.with_score(outcome.score)
    return rate


def pairing_name(agent_deck: str, opponent_deck: str) -> str:
    """How reports name a pairing: `agent deck vs opponent deck`."""
    return f"{agent_deck} vs {opponent_deck}"


def summarise(outcomes: Sequence[MatchOutcome]) -> dict[str, Any]:
    """Win rate, interval and errors of a set of games, with its splits: by pairing (both
    seats), by the agent's deck (every opponent deck and seat) and by pairing and seat."""
    groups: dict[str, dict[str, list[MatchOutcome]]] = {"by_pairing": {}, "by_deck": {}, "by_setting": {}}
    for outcome in outcomes:
        m = outcome.match
        pairing = pairing_name(m.agent_deck, m.opponent_deck)
        groups["by_pairing"].setdefault(pairing, []).append(outcome)
        groups["by_deck"].setdefault(m.agent_deck, []).append(outcome)
        groups["by_setting"].setdefault(f"{pairing}, agent seat {m.agent_seat}", []).append(outcome)
    return {
        **outcome_rate(outcomes).to_dict(),
        "errors": sum(1 for o in outcomes if o.score is None),
        **{
            split: {name: outcome_rate(group).to_dict() for name, group in sorted(by_name.items())}
            for split, by_name in groups.items()
        },
    }


def is_due(
    settings: EvaluationSettings,
    version: int | None,
    last_version: int | None,
    last_time: float | None,
    now: float,
) -> bool:
    """Whether the policy `version` should be evaluated now."""
    if version is None or version == last_version:
        return False
    if last_version is None or last_time is None:
        return True
    if settings.every_updates > 0 and version - last_version >= settings.every_updates:
        return True
    return settings.every_minutes > 0 and now - last_time >= settings.every_minutes * 60


class Evaluator:
    def __init__(
        self,
        settings: EvaluationSettings,
        redis_client: aioredis.Redis,
        keys: RunKeys,
        daemons: DaemonClients,
        league: League | None = None,
        device: torch.device | None = None,
        metrics: EvaluatorMetrics | None = None,
        record: EvaluationRecord | None = None,
    ):
        self.settings = settings
        self.redis = redis_client
        self.keys = keys
        self.daemons = daemons
        self.league = league
        self.device = device or torch.device("cpu")
        self.metrics = metrics or EvaluatorMetrics()
        self.record = record
        self.last_version: int | None = None
        self.last_time: float | None = None
        self.stage = 0  # the curriculum stage of the evaluation under way
        self.pairings = settings.pairings  # ... and its pairings
        # One thread for every inference pass, the evaluated policy's and its opponent's (a league
        # snapshot, the promoted version): passes in threads of their own would run at once, each
        # taking the interpreter from the other and from the games' event loop.
        self._inference = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")

    # ---- cadence ------------------------------------------------------------------------------
    async def restore_record(self) -> None:
        """Put back the run's evaluations and Elo ratings if Redis lost them. RecordUnavailable
        (a ConnectionError: the evaluation is postponed) while the store cannot be read."""
        if self.record is None:
            return
        try:
            restored = await self.record.restore(self.redis, self.keys)
        except CheckpointError as e:
            log.warning("the evaluation record in %s cannot be read: %s", self.record.store.uri, e)
            return
        if restored:
            log.warning(
                "Redis had lost the run's evaluation record; restored %d evaluations and the Elo "
                "ratings from %s",
                restored,
                self.record.store.uri,
            )

    async def load_progress(self) -> None:
        """Where a previous evaluator left off (so a restart does not evaluate again at once)."""
        try:
            await self.restore_record()
        except RecordUnavailable as e:
            log.warning("%s; each evaluation tries again first", e)
        version, evaluated_at = await self.redis.hmget(
            self.keys.eval, [EvalField.POLICY_VERSION, EvalField.EVALUATED_AT]
        )
        if version is not None:
            self.last_version = int(version)
            self.last_time = float(evaluated_at) if evaluated_at is not None else time.time()

    async def run(self, stop: asyncio.Event, poll_seconds: float = 5.0) -> None:
        """Evaluate at the spec's cadence until `stop` is set."""
        await self.load_progress()
        if self.settings.promotion_margin is None:
            # the gate was switched off: actors and learner go back to the newest policy
            await self.redis.delete(self.keys.policy_promoted, self.keys.policy_promoted_version)
        while not stop.is_set():
            try:
                version = await self.redis.get(self.keys.policy_version)
                if is_due(
                    self.settings,
                    None if version is None else int(version),
                    self.last_version,
                    self.last_time,
                    time.time(),
                ):
                    await self.evaluate_published()
            except (aioredis.ConnectionError, aioredis.TimeoutError, ConnectionError) as e:
                log.warning("evaluation postponed: %s", e)
            except UnsafeWeightsError as e:
                # never evaluated, never retried: the next published version gets its turn
                log.error("policy version %s refused: %s", None if version is None else int(version), e)
                self.last_version = None if version is None else int(version)
                self.last_time = time.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_seconds)

    async def evaluate_published(self) -> dict[str, Any] | None:
        """Evaluate the policy now in `...:policy`; None when nothing is published yet."""
        data = await self.redis.get(self.keys.policy)
        if data is None:
            return None
        return await self.evaluate(data)

    # ---- one evaluation -----------------------------------------------------------------------
    async def evaluate(self, weights_bytes: bytes) -> dict[str, Any]:
        weights = decode_weights(weights_bytes)
        s = self.settings
        started = time.monotonic()
        clients = await self.daemons.refresh()
        await self.restore_record()
        await self._read_stage()
        games = GameCounts()  # this evaluation's games, for the ratings
        me = policy_player(weights.version)
        report: dict[str, Any] = {
            "policy_version": weights.version,
            "action_selection": "greedy" if s.greedy else "sampled",
            "stage": self.stage,
            "pairings": [pairing_name(a, b) for a, b in self.pairings],
            "baselines": {},
        }
        async with self._player(weights) as agent:
            for baseline in s.baselines:
                if baseline == "league":
                    played = await self._play_league(clients, agent)
                    if not played:
                        continue
                    outcomes = [o for _, o in played]
                    summary = summarise(outcomes)
                    summary["opponents"] = sorted({v for v, _ in played})
                    games.add_all((me, policy_player(v), o.score) for v, o in played if o.score is not None)
                else:
                    matches = schedule(s.games, self.pairings, baseline, s.seed)
                    outcomes = await self._play(clients, matches, agent, baseline, baseline)
                    summary = summarise(outcomes)
                    games.add_all((me, baseline, o.score) for o in outcomes if o.score is not None)
                report["baselines"][baseline] = summary
            errors = sum(result["errors"] for result in report["baselines"].values())
            if errors and not any(result["games"] for result in report["baselines"].values()):
                raise ConnectionError(f"all {errors} evaluation games of policy v{weights.version} failed")
            promotion = await self._gate(clients, agent, weights_bytes, weights.version, games)
        if promotion is not None:
            report["promotion"] = promotion
        ratings = await asyncio.to_thread(fit_ratings, await self._recorded_games() + games)
        report["elo"] = {p: ratings[p] for p in (me, *s.baselines) if p in ratings}
        report["seconds"] = round(time.monotonic() - started, 3)
        report["evaluated_at"] = time.time()
        await self._write(
            report, ratings, games, weights_bytes if promotion and promotion["promoted"] else None
        )
        await self._save_record()
        if self.league is not None:
            await asyncio.to_thread(self.league.add, weights)
            self.metrics.league_size.set(len(await asyncio.to_thread(self.league.versions)))
        self.last_version, self.last_time = weights.version, report["evaluated_at"]
        self._observe(report)
        log.info(
            "policy v%d: %s (%.0fs)",
            weights.version,
            ", ".join(
                f"{b} {r['win_rate']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}] over {r['games']}"
                for b, r in report["baselines"].items()
                if r["win_rate"] is not None
            ),
            report["seconds"],
        )
        return report

    async def _read_stage(self) -> None:
        """The curriculum stage this evaluation measures, and its pairings."""
        if self.settings.stage_pairings:
            raw = await self.redis.hget(self.keys.stats, StatsField.CURRICULUM_STAGE)
            self.stage = min(int(raw or 0), len(self.settings.stage_pairings) - 1)
        self.pairings = self.settings.pairings_for(self.stage)

    async def _save_record(self) -> None:
        if self.record is None:
            return
        try:
            await self.record.save(self.redis, self.keys)
        except self.record.store.transient_errors as e:
            # Redis has it; the next evaluation writes the whole record again.
            log.warning("the evaluation record was not copied to %s: %s", self.record.store.uri, e)

    def _player(self, weights: PolicyWeights) -> InferenceBatcher:
        """The policy serving every game in flight; no batching window (a batch is whatever
        waited during the previous pass), since evaluation games are not timed."""
        return InferenceBatcher(
            PolicyBackend(weights, self.device, greedy=self.settings.greedy),
            max_batch=512,
            max_wait=0.0,
            on_batch=lambda size, _seconds: self.metrics.batch_size.observe(size),
            executor=self._inference,
        )

    async def _play(
        self,
        clients: list[AsyncDaemonClient],
        matches: list[Match],
        agent: InferenceBatcher,
        opponent: str | InferenceBatcher,
        label: str,
    ) -> list[MatchOutcome]:
        def count(outcome: MatchOutcome) -> None:
            self.metrics.decisions.inc(outcome.decisions)
            if outcome.score is None:
                self.metrics.game_errors.inc()
            else:
                result = {1.0: "win", 0.5: "draw", 0.0: "loss"}[outcome.score]
                self.metrics.games.labels(label, result).inc()

        return await play_matches(
            clients,
            matches,
            agent,
            opponent,
            self.settings.games_in_flight,
            self.settings.game_timeout,
            on_outcome=count,
            max_turns=self.settings.max_turns,
        )

    async def _play_league(
        self, clients: list[AsyncDaemonClient], agent: InferenceBatcher
    ) -> list[tuple[int, MatchOutcome]]:
        """Games against the newest past snapshots, as (opponent version, outcome)."""
        if self.league is None:
            return []
        past = [v for v in await asyncio.to_thread(self.league.versions) if v < agent.version]
        opponents = past[-self.settings.league_opponents :]
        played: list[tuple[int, MatchOutcome]] = []
        for version in opponents:
            try:
                weights = await asyncio.to_thread(self.league.load, version)
            except (KeyError, CheckpointError) as e:  # dropped by retention meanwhile, or corrupt
                log.warning("league opponent v%d skipped: %s", version, e)
                continue
            share = max(2, self.settings.games // len(opponents))
            matches = schedule(share, self.pairings, f"league-v{version}", self.settings.seed)
            async with self._player(weights) as opponent:
                played += [
                    (version, o) for o in await self._play(clients, matches, agent, opponent, "league")
                ]
        return played

    async def _gate(
        self,
        clients: list[AsyncDaemonClient],
        agent: InferenceBatcher,
        weights_bytes: bytes,
        version: int,
        games: GameCounts,
    ) -> dict[str, Any] | None:
        margin = self.settings.promotion_margin
        if margin is None:
            return None
        current_bytes = await self.redis.get(self.keys.policy_promoted)
        if current_bytes is None:
            return {
                "candidate": version,
                "against": None,
                "promoted": True,
                "reason": "first evaluated version",
            }
        current = decode_weights(current_bytes)
        if current.version >= version:
            return {
                "candidate": version,
                "against": current.version,
                "promoted": False,
                "reason": "not newer than the promoted version",
            }
        async with self._player(current) as opponent:
            matches = schedule(self.settings.games, self.pairings, "promotion", self.settings.seed)
            outcomes = await self._play(clients, matches, agent, opponent, "promoted")
        games.add_all(
            (policy_player(version), policy_player(current.version), o.score)
            for o in outcomes
            if o.score is not None
        )
        summary = summarise(outcomes)
        return {
            "candidate": version,
            "against": current.version,
            "promoted": promotes(outcome_rate(outcomes), margin),
            "threshold": promotion_threshold(margin),  # for the interval's lower end
            **{k: summary[k] for k in ("games", "win_rate", "ci_low", "ci_high")},
        }

    # ---- Redis --------------------------------------------------------------------------------
    async def _recorded_games(self) -> GameCounts:
        """The games every earlier evaluation recorded (`...:elo:games`); a field that is not a
        count of games (written by hand?) is left out of the fit, with an error in the log."""
        invalid: list[str] = []
        counts = GameCounts.from_fields(await self.redis.hgetall(self.keys.elo_games), invalid)
        for problem in invalid:
            log.error("%s: %s; left out of the ratings", self.keys.elo_games, problem)
        return counts

    async def _write(
        self, report: dict[str, Any], ratings: dict[str, float], games: GameCounts, promote: bytes | None
    ) -> None:
        s, version = self.settings, report["policy_version"]
        fields: dict[str, Any] = {
            EvalField.POLICY_VERSION: version,
            EvalField.EVALUATED_AT: report["evaluated_at"],
        }
        rating = ratings.get(policy_player(version))  # None: the version finished no rated game
        if rating is not None:
            fields[EvalField.ELO] = round(rating, 3)
        stats: dict[str, Any] = {
            StatsField.EVAL_POLICY_VERSION: version,
            StatsField.EVAL_STAGE: report.get("stage", 0),
        }
        for baseline, result in report["baselines"].items():
            if result["win_rate"] is None:
                continue
            fields.update(
                {
                    EvalField.winrate_vs(baseline): result["win_rate"],
                    EvalField.winrate_ci_low_vs(baseline): result["ci_low"],
                    EvalField.winrate_ci_high_vs(baseline): result["ci_high"],
                    EvalField.games_vs(baseline): result["games"],
                }
            )
            stats[StatsField.win_rate(baseline)] = result["win_rate"]
        headline = report["baselines"].get(s.headline)
        if headline is not None and headline["win_rate"] is not None:
            fields.update(
                {
                    EvalField.BASELINE: s.headline,
                    EvalField.WINRATE: headline["win_rate"],
                    EvalField.WINRATE_CI_LOW: headline["ci_low"],
                    EvalField.WINRATE_CI_HIGH: headline["ci_high"],
                }
            )
        document = json.dumps(report, separators=(",", ":"))
        fields.update({EvalField.LATEST: document, EvalField.report(version): document})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.eval, mapping=fields)
            pipe.hset(self.keys.stats, mapping=stats)
            if rating is None:  # not the previous version's
                pipe.hdel(self.keys.eval, EvalField.ELO)
            for field, count in games.to_fields().items():
                pipe.hincrby(self.keys.elo_games, field, count)
            pipe.delete(self.keys.elo)
            pipe.hset(self.keys.elo, mapping={k: round(v, 3) for k, v in ratings.items()})
            if promote is not None:
                pipe.set(self.keys.policy_promoted, promote)
                pipe.set(self.keys.policy_promoted_version, version)
                pipe.publish(self.keys.policy_announce, version)  # actors switch at once
            await pipe.execute()

    def _observe(self, report: dict[str, Any]) -> None:
        m = self.metrics
        m.evaluations.inc()
        m.evaluation_seconds.set(report["seconds"])
        m.policy_version.set(report["policy_version"])
        for baseline, result in report["baselines"].items():
            if result["win_rate"] is not None:
                m.win_rate.labels(baseline).set(result["win_rate"])
                m.win_rate_ci.labels(baseline, "low").set(result["ci_low"])
                m.win_rate_ci.labels(baseline, "high").set(result["ci_high"])
        for player, rating in report["elo"].items():
            m.elo.labels(player).set(rating)
        promotion = report.get("promotion")
        if promotion and promotion["promoted"]:
            m.promoted_version.set(promotion["candidate"])
