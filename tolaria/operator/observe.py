"""What the operator reads from a run's Redis: the rollout queue and the run's counters.

Queue depth is what the actors produced and the learner has not consumed yet: the consumer
group's lag (entries not yet delivered) plus its pending entries (delivered, not acked).
Before the learner has created its group, every entry in the stream is waiting. Rates are
differences of Redis's own monotonic counters (the stream's entries-added, the group's
entries-read) between two samples, so trimming the stream does not distort them. Consumption
is what the learner read less what it dropped unused (stale, corrupt or trimmed entries: its
`learner_stale_segments`, `learner_corrupt_entries` and `learner_trimmed_entries` counters):
rollouts that went stale in the queue were produced in vain, and counting them as consumed
would make the autoscaler add daemons whose games would go stale too.

What the other components keep (keys `tolaria.keys.RunKeys`, fields `StatsField`/`EvalField`):
- `...:stats` hash: `games` (games finished, from the actors), `checkpoint_uri` and
  `checkpoint_time` (unix seconds) of the newest checkpoint (from the learner),
  `win_rate:<baseline>` (latest evaluated win rate against that baseline, 0..1, from the
  evaluator; what stop.targetWinRate is checked against) and `eval_stage` (the curriculum stage
  they were measured on); `curriculum_stage` and `curriculum_stage_games`, the curriculum's
  stage and the games counter when it began, which the operator itself keeps
  (`tolaria.matchmaking.curriculum`); `operator_mark`, which the operator writes into every
  Redis it reads, so that a Redis restarted without its data shows (`state_lost`);
- `...:policy:version`: the published policy version;
- `...:eval` hash: the evaluator's headline of the last evaluated version, `policy_version`,
  `baseline`, `winrate` and `elo`: the WINRATE and ELO columns. (Evaluation runs every N
  versions, so these describe an earlier version than POLICY most of the time.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, RedisError, ResponseError

from tolaria.keys import LEARNER_GROUP, EvalField, RunKeys, StatsField, redacted
from tolaria.operator.autoscale import QueueObservation


class RedisUnavailable(Exception):
    """Redis could not be read; the message names the server but never its password."""


class RedisAuthFailed(RedisUnavailable):
    """Redis refused the password (or wants one and was given none)."""


@dataclass(frozen=True)
class RedisSample:
    """One reading of a run's Redis, taken at monotonic time `at`."""

    at: float
    stream_length: int = 0
    entries_added: int | None = None
    group_exists: bool = False
    group_entries_read: int | None = None
    group_lag: int | None = None
    group_pending: int = 0
    dropped_by_learner: int | None = None  # entries read and not used (see the module)
    games: int | None = None
    policy_version: int | None = None
    win_rates: dict[str, float] = field(default_factory=dict)
    evaluated_stage: int | None = None  # the curriculum stage `win_rates` were measured on
    stage: int | None = None  # the curriculum stage (None: not written yet)
    stage_start_games: int | None = None
    evaluated_version: int | None = None
    baseline: str | None = None
    win_rate: float | None = None
    elo: float | None = None
    checkpoint_uri: str | None = None
    checkpoint_time: datetime | None = None
    marked: bool = False  # the operator's mark is in the stats hash

    @property
    def queue_depth(self) -> int:
        if not self.group_exists:
            return self.stream_length
        if self.group_lag is None:
            # Redis cannot tell the lag (entries deleted mid-stream): every entry may be waiting.
            return self.stream_length
        return self.group_lag + self.group_pending


def rate(previous: int | None, current: int | None, seconds: float) -> float | None:
    if previous is None or current is None or seconds <= 0 or current < previous:
        return None
    return (current - previous) / seconds


def queue_observation(previous: RedisSample | None, current: RedisSample) -> QueueObservation:
    """Depth now, and production/consumption rates since the previous sample (None: unknown)."""
    if previous is None:
        return QueueObservation(depth=current.queue_depth)
    seconds = current.at - previous.at
    consumed_before = previous.group_entries_read if previous.group_exists else 0
    consumed_now = current.group_entries_read if current.group_exists else 0
    consumption = rate(consumed_before, consumed_now, seconds)
    if consumption is not None and (previous.dropped_by_learner, current.dropped_by_learner) != (None, None):
        dropped = rate(previous.dropped_by_learner, current.dropped_by_learner, seconds)
        # counters that appeared, or went back (a learner resumed from an older checkpoint): unknown
        consumption = None if dropped is None else max(0.0, consumption - dropped)
    return QueueObservation(
        depth=current.queue_depth,
        production_rate=rate(previous.entries_added, current.entries_added, seconds),
        consumption_rate=consumption,
    )


LEARNER_DROPS = ("stale_segments", "corrupt_entries", "trimmed_entries")


def _dropped_by_learner(stats: dict[str | None, str | None]) -> int | None:
    counts = [_int(stats.get(StatsField.learner_counter(name))) for name in LEARNER_DROPS]
    known = [c for c in counts if c is not None]
    return sum(known) if known else None


def _int(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _fraction(value: Any) -> float | None:
    """A win rate: a finite number in 0..1, else None."""
    number = _float(value)
    return number if number is not None and 0.0 <= number <= 1.0 else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _decode_map(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return {_text(k): v for k, v in raw.items()}
    if isinstance(raw, list):
        return {_text(raw[i]): raw[i + 1] for i in range(0, len(raw) - 1, 2)}
    return {}


def parse_sample(
    at: float,
    stream_info: Any,
    groups: Any,
    stats: dict[Any, Any],
    policy_version: Any,
    evaluation: dict[Any, Any],
) -> RedisSample:
    """A sample from raw replies (XINFO STREAM or None when the stream is absent, XINFO GROUPS,
    HGETALL stats, GET policy version, HGETALL eval)."""
    stream = _decode_map(stream_info) if stream_info is not None else {}
    group = next(
        (_decode_map(g) for g in groups or [] if _text(_decode_map(g).get("name")) == LEARNER_GROUP), None
    )
    stats_map = {_text(k): _text(v) for k, v in stats.items()}
    eval_map = {_text(k): _text(v) for k, v in evaluation.items()}
    checkpoint_seconds = _float(stats_map.get(StatsField.CHECKPOINT_TIME))
    prefix = StatsField.WIN_RATE_PREFIX
    win_rates = {
        key[len(prefix) :]: value
        for key, raw in stats_map.items()
        if key is not None and key.startswith(prefix) and (value := _fraction(raw)) is not None
    }
    return RedisSample(
        at=at,
        stream_length=_int(stream.get("length")) or 0,
        entries_added=_int(stream.get("entries-added")),
        group_exists=group is not None,
        group_entries_read=_int(group.get("entries-read")) if group else None,
        group_lag=_int(group.get("lag")) if group else None,
        group_pending=(_int(group.get("pending")) or 0) if group else 0,
        dropped_by_learner=_dropped_by_learner(stats_map),
        games=_int(stats_map.get(StatsField.GAMES)),
        marked=StatsField.OPERATOR_MARK in stats_map,
        policy_version=_int(_text(policy_version)),
        win_rates=win_rates,
        evaluated_stage=_int(stats_map.get(StatsField.EVAL_STAGE)),
        stage=_int(stats_map.get(StatsField.CURRICULUM_STAGE)),
        stage_start_games=_int(stats_map.get(StatsField.CURRICULUM_STAGE_GAMES)),
        evaluated_version=_int(eval_map.get(EvalField.POLICY_VERSION)),
        baseline=eval_map.get(EvalField.BASELINE),
        win_rate=_fraction(eval_map.get(EvalField.WINRATE)),
        elo=_float(eval_map.get(EvalField.ELO)),
        checkpoint_uri=stats_map.get(StatsField.CHECKPOINT_URI),
        checkpoint_time=datetime.fromtimestamp(checkpoint_seconds, UTC)
        if checkpoint_seconds is not None
        else None,
    )


def state_lost(sample: RedisSample, recorded_games: int | None, marked_before: bool) -> str | None:
    """Why Redis has lost the run's state, or None when it has not. The status recorded
    `recorded_games`; `marked_before`: this operator process has seen its mark in this run's
    Redis. A Redis that lost its mark lost everything with it, however many games the actors
    have counted into it since (a loss seen late, after a long outage, would pass the counter's
    test). Without an earlier mark to go by (the operator restarted), counters only grow: one
    below the status's means a loss."""
    if not recorded_games or sample.marked:
        return None
    seen = sample.games or 0
    if marked_before:
        return f"the operator's mark in it is gone, and it counted {seen} games since"
    if seen < recorded_games:
        return f"it counted {seen} games, fewer than the {recorded_games} recorded in the status"
    return None


class RunRedis:
    """A connection to one run's Redis, reused between readings."""

    def __init__(self, url: str, password: str | None, keys: RunKeys, timeout: float = 2.0):
        self.url = url
        self.password = password
        self.keys = keys
        self._client = aioredis.Redis.from_url(
            url,
            password=password,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            health_check_interval=30,
        )

    async def sample(self, at: float) -> RedisSample:
        keys = self.keys
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.xinfo_stream(keys.rollouts)
                pipe.xinfo_groups(keys.rollouts)
                pipe.hgetall(keys.stats)
                pipe.get(keys.policy_version)
                pipe.hgetall(keys.eval)
                stream, groups, stats, version, evaluation = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError) as e:
            unavailable = RedisAuthFailed if isinstance(e, AuthenticationError) else RedisUnavailable
            raise unavailable(f"cannot read Redis at {redacted(self.url)}: {type(e).__name__}: {e}") from None
        # A stream that does not exist yet answers XINFO with "no such key": nothing produced.
        if isinstance(stream, ResponseError):
            stream, groups = None, []
        for reply in (stream, groups, stats, version, evaluation):
            if isinstance(reply, AuthenticationError):
                raise RedisAuthFailed(f"cannot read Redis at {redacted(self.url)}: {reply}")
            if isinstance(reply, Exception):
                raise RedisUnavailable(f"cannot read Redis at {redacted(self.url)}: {reply}")
        return parse_sample(at, stream, groups, stats, version, evaluation)

    async def mark(self, restored_games: int = 0) -> None:
        """Write the operator's mark, adding `restored_games` to the games counter in the same
        transaction (HINCRBY: the actors' own increments meanwhile are kept): a counter put back
        is never put back twice."""
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                if restored_games:
                    pipe.hincrby(self.keys.stats, StatsField.GAMES, restored_games)
                pipe.hset(self.keys.stats, StatsField.OPERATOR_MARK, 1)
                await pipe.execute()
        except (RedisError, OSError) as e:
            raise RedisUnavailable(
                f"cannot write Redis at {redacted(self.url)}: {type(e).__name__}: {e}"
            ) from None

    async def set_stage(self, index: int, start_games: int) -> None:
        """Begin a curriculum stage: its index and the games counter then, in one HSET."""
        try:
            await self._client.hset(
                self.keys.stats,
                mapping={StatsField.CURRICULUM_STAGE: index, StatsField.CURRICULUM_STAGE_GAMES: start_games},
            )
        except (RedisError, OSError) as e:
            raise RedisUnavailable(
                f"cannot write Redis at {redacted(self.url)}: {type(e).__name__}: {e}"
            ) from None

    async def close(self) -> None:
        await self._client.aclose()
