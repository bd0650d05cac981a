"""The Redis contract of a run: key names (DESIGN.md section 3) and the fields of its hashes.

Several runs can share one Redis, so every key is prefixed `tolaria:{namespace}/{name}:`.
Writers and readers name keys through `RunKeys` and hash fields through `StatsField`,
`EvalField`, `EloField` and `EloGamesField`, never by hand, so that a renamed field cannot silently split them.

Processes that talk to a run's Redis (learner, actors, evaluator) take its password from the
environment variable `REDIS_PASSWORD_ENV` when it is set (the operator fills it from
`spec.redis.passwordSecret`); the URL itself carries no secret.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

LEARNER_GROUP = "learners"
REDIS_PASSWORD_ENV = "TOLARIA_REDIS_PASSWORD"


def redis_password() -> str | None:
    """The Redis password from `TOLARIA_REDIS_PASSWORD`; None when unset or empty."""
    return os.environ.get(REDIS_PASSWORD_ENV) or None


def redacted(url: str) -> str:
    """The URL without credentials, for messages, logs and events."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@dataclass(frozen=True)
class RunKeys:
    namespace: str
    name: str

    @property
    def prefix(self) -> str:
        return f"tolaria:{self.namespace}/{self.name}:"

    @property
    def rollouts(self) -> str:
        """Stream of trajectory segments; consumed by the learners' consumer group."""
        return self.prefix + "rollouts"

    @property
    def policy(self) -> str:
        """Newest policy weights (safetensors bytes, never pickle), written by the learner."""
        return self.prefix + "policy"

    @property
    def policy_version(self) -> str:
        return self.prefix + "policy:version"

    @property
    def policy_announce(self) -> str:
        """Pub/sub channel: the learner (a new version) and the evaluator (a promotion) publish
        the version there after writing the weights, so that actors switch within one inference
        batch rather than one poll interval."""
        return self.prefix + "policy:announce"

    @property
    def policy_promoted(self) -> str:
        """Weights the actors play while the evaluator's promotion gate is on (same format as
        `policy`); absent without the gate."""
        return self.prefix + "policy:promoted"

    @property
    def policy_promoted_version(self) -> str:
        return self.prefix + "policy:promoted:version"

    @property
    def stats(self) -> str:
        """Hash of run counters; fields in `StatsField`."""
        return self.prefix + "stats"

    @property
    def eval(self) -> str:
        """Hash of the evaluator's latest results and its learning curve; fields in `EvalField`."""
        return self.prefix + "eval"

    @property
    def elo(self) -> str:
        """Hash of Elo ratings; fields in `EloField`. Replaced whole after each evaluation by the
        fit over `elo_games` (`tolaria.evaluation.elo`)."""
        return self.prefix + "elo"

    @property
    def elo_games(self) -> str:
        """Hash of every game the ratings are fitted from, counted per pair of players and
        outcome; fields in `EloGamesField`."""
        return self.prefix + "elo:games"


class StatsField:
    """Fields of the `...:stats` hash, by writer. Counters only grow (HINCRBY)."""

    # actors, HINCRBY once per finished game: `games` and one of wins/losses/draws (seen from the
    # learning agent's seat); `decisions` by the decisions answered; `errors` per failed game.
    # The operator reads `games` (status.gamesPlayed, stop.maxGames).
    GAMES = "games"
    WINS = "wins"
    LOSSES = "losses"
    DRAWS = "draws"
    DECISIONS = "decisions"
    ERRORS = "errors"
    # learner, after each checkpoint: its URI and unix seconds (the operator's status.lastCheckpoint)
    CHECKPOINT_URI = "checkpoint_uri"
    CHECKPOINT_TIME = "checkpoint_time"
    # learner, after each update: its step and the version it published, and `learner_<counter>`
    LEARNER_STEP = "learner_step"
    LEARNER_POLICY_VERSION = "learner_policy_version"
    LEARNER_COUNTER_PREFIX = "learner_"
    # learner, during a warm start (`learner.warmStart`): the observed games learnt from so far,
    # then the epochs of cloning done
    WARM_START_GAMES = "warm_start_games"
    WARM_START_EPOCHS = "warm_start_epochs"
    # evaluator, after each evaluation: `win_rate:<baseline>` in 0..1 (the operator's
    # stop.targetWinRate) and the policy version those rates belong to
    WIN_RATE_PREFIX = "win_rate:"
    EVAL_POLICY_VERSION = "eval_policy_version"
    # evaluator: the curriculum stage whose pairings those win rates were measured on
    EVAL_STAGE = "eval_stage"
    # the curriculum's keeper (the operator; local mode's runner), HSET together when a stage
    # begins: its index and the `games` counter then. Actors and the evaluator read the index.
    CURRICULUM_STAGE = "curriculum_stage"
    CURRICULUM_STAGE_GAMES = "curriculum_stage_games"
    # the operator, into each Redis it reads (with the games it puts back after a loss): a Redis
    # without it has lost the run's state since the operator last read it, whatever it counts now
    OPERATOR_MARK = "operator_mark"

    @staticmethod
    def win_rate(baseline: str) -> str:
        return StatsField.WIN_RATE_PREFIX + baseline

    @staticmethod
    def learner_counter(counter: str) -> str:
        return StatsField.LEARNER_COUNTER_PREFIX + counter


class EvalField:
    """Fields of the `...:eval` hash, written by the evaluator in one MULTI/EXEC per evaluation.

    The headline (`baseline`, `winrate`, its interval, `elo`) describes `policy_version`, the
    last evaluated version, which is what the operator shows as WINRATE and ELO.
    """

    POLICY_VERSION = "policy_version"
    EVALUATED_AT = "evaluated_at"  # unix seconds
    BASELINE = "baseline"
    WINRATE = "winrate"
    WINRATE_CI_LOW = "winrate_ci_low"
    WINRATE_CI_HIGH = "winrate_ci_high"
    ELO = "elo"
    LATEST = "latest"  # the whole report of the last evaluation, JSON

    @staticmethod
    def winrate_vs(baseline: str) -> str:
        return f"winrate_vs_{baseline}"

    @staticmethod
    def winrate_ci_low_vs(baseline: str) -> str:
        return f"winrate_ci_low_vs_{baseline}"

    @staticmethod
    def winrate_ci_high_vs(baseline: str) -> str:
        return f"winrate_ci_high_vs_{baseline}"

    @staticmethod
    def games_vs(baseline: str) -> str:
        return f"games_vs_{baseline}"

    @staticmethod
    def report(policy_version: int) -> str:
        """The JSON report of one evaluated version (these fields are the learning curve)."""
        return f"v{policy_version}"


class EloField:
    """Fields of the `...:elo` hash: `v<version>` for policy versions, baselines by their name."""

    @staticmethod
    def policy(policy_version: int) -> str:
        return f"v{policy_version}"

    @staticmethod
    def version_of(field: str) -> int | None:
        """The version of a `v<version>` field, None for a baseline."""
        if field.startswith("v") and field[1:].isdigit():
            return int(field[1:])
        return None


class EloGamesField:
    """Fields of the `...:elo:games` hash: `<first>:<second>:<outcome>` counts the games between
    two rated players (named as in `EloField`, first < second in string order) that the first
    won (`wins`), drew (`draws`) or lost (`losses`). The evaluator adds each evaluation's games
    with HINCRBY, in the MULTI/EXEC that writes its results."""

    OUTCOMES = ("wins", "draws", "losses")

    @staticmethod
    def check_player(player: str) -> None:
        if not player or ":" in player or player != player.strip():
            raise ValueError(f"{player!r} cannot name a rated player (empty, blank-edged or with ':')")

    @staticmethod
    def pair(first: str, second: str, outcome: str) -> str:
        if outcome not in EloGamesField.OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(EloGamesField.OUTCOMES)}, not {outcome!r}")
        return f"{first}:{second}:{outcome}"

    @staticmethod
    def parse(field: str) -> tuple[str, str, str]:
        """(first, second, outcome) of a field; ValueError for a field of another format."""
        parts = field.split(":")
        if len(parts) != 3 or parts[2] not in EloGamesField.OUTCOMES or not parts[0] or not parts[1]:
            raise ValueError(f"not of the form <first>:<second>:<{'|'.join(EloGamesField.OUTCOMES)}>")
        return parts[0], parts[1], parts[2]
