"""The TrainingRun API: pydantic models of its spec and status.

These models are the single source of truth. The CustomResourceDefinition in
`crds/trainingrun.yaml` is generated from them (`tolaria crd`), local mode loads a
TrainingRun file through `load_trainingrun`, and the operator, actors, learner and
evaluator read their configuration from the same `TrainingRunSpec`.

Field names are snake_case in Python and camelCase on the wire. Every rule that spans
fields is written once as a `Rule`: a CEL expression that the API server enforces
(`x-kubernetes-validations`) and a Python predicate with the same meaning and message, so
that a spec refused by the cluster is refused the same way by local mode.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlparse

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from tolaria import __version__
from tolaria.keys import RunKeys

GROUP = "tolaria.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "TrainingRun"
PLURAL = "trainingruns"
SINGULAR = "trainingrun"
SHORT_NAMES = ("tr",)

DEFAULT_DAEMON_IMAGE = f"ghcr.io/tolaria/daemon:{__version__}"
DEFAULT_TRAINER_IMAGE = f"ghcr.io/tolaria/trainer:{__version__}"
DEFAULT_REDIS_IMAGE = "redis:7.2-alpine"

# Children are named `{run}-learner`, `{run}-daemon` (a Service, so a DNS-1035 label) and
# so on; 50 characters leaves room for the longest suffix within the 63-character limit.
MAX_RUN_NAME_LENGTH = 50
RUN_NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"

# A deck is a name or a relative path inside the daemon's deck directories; no segment may
# start with a dot, so `..` cannot escape them, and no spaces (the protocol splits on them).
DECK_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$"
# Kubernetes resource.Quantity, as the upstream API types publish it.
QUANTITY_PATTERN = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h|d))+$"
S3_URI_PATTERN = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$"
FILE_URI_PATTERN = r"^file://.+$"
REDIS_URL_PATTERN = r"^rediss?://.+$"
REDIS_URL_WITH_CREDENTIALS_PATTERN = r"^rediss?://[^/]*@"
HTTP_URL_PATTERN = r"^https?://.+$"
K8S_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as `90m`, `1h30m` or `2d` (units ms, s, m, h, d)."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"{text!r} is not a duration such as 90m, 1h30m or 2d")
    return sum(float(n) * _DURATION_UNITS[unit] for n, unit in re.findall(r"([0-9]+)(ms|s|m|h|d)", text))


class PatternMismatch(ValueError):
    """A string that does not match the pattern the CRD gives the API server for it."""

    def __init__(self, value: str, pattern: str):
        super().__init__(f"{value!r} does not match {pattern!r}")
        self.pattern = pattern


class DuplicateValue(ValueError):
    """An item of a set-like list that is there already, at `index`."""

    def __init__(self, value: Any, index: int):
        super().__init__(f"Duplicate value: {value!r}")
        self.value = value
        self.index = index


def _check_quantity(value: int | str) -> int | str:
    if isinstance(value, str) and not re.fullmatch(QUANTITY_PATTERN, value):
        raise PatternMismatch(value, QUANTITY_PATTERN)
    return value


Quantity = Annotated[int | str, AfterValidator(_check_quantity)]


def _no_duplicates(items: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    for index, item in enumerate(items):
        if item in seen:
            raise DuplicateValue(item, index)
        seen.add(item)
    return items


# A list whose items are unique: `x-kubernetes-list-type: set` on the wire.
SET_LIST = {"x-kubernetes-list-type": "set"}


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Kubernetes times on the wire: RFC 3339 in UTC, whole seconds (as metav1.Time).
Timestamp = Annotated[datetime, PlainSerializer(_rfc3339, return_type=str, when_used="json-unless-none")]


@dataclass(frozen=True)
class Rule:
    """A rule across fields of one object: CEL for the API server, `check` for Python.

    `field_path` (relative, such as `.minReplicas`) is the field the error names.
    """

    cel: str
    message: str
    check: Callable[[Any], bool]
    field_path: str | None = None


class RuleViolation(ValueError):
    def __init__(self, rule: Rule):
        super().__init__(rule.message)
        self.rule = rule


class ApiModel(BaseModel):
    """Base of the wire types: camelCase aliases, unknown fields refused, rules checked."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    rules: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="after")
    def _check_rules(self) -> ApiModel:
        for rule in type(self).rules:
            if not rule.check(self):
                raise RuleViolation(rule)
        return self

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict with camelCase names, as stored by the API server."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


# ---------------------------------------------------------------------------------------
# Shared Kubernetes shapes


class ResourceRequirements(ApiModel):
    """Compute resources of a container, as in a Pod spec."""

    requests: dict[str, Quantity] = Field(
        default_factory=dict, description="Minimum resources, such as cpu: 500m."
    )
    limits: dict[str, Quantity] = Field(
        default_factory=dict, description="Maximum resources, such as memory: 4Gi."
    )


class Toleration(ApiModel):
    """A Pod toleration, so the learner can run on tainted (for example GPU) nodes."""

    key: str | None = Field(None, max_length=316)
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = Field(None, max_length=63)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(None, ge=0)


class SecretKeyRef(ApiModel):
    """A key of a Secret in the TrainingRun's namespace."""

    name: str = Field(max_length=253, pattern=K8S_NAME_PATTERN, description="Name of the Secret.")
    key: str = Field("password", max_length=253, pattern=SECRET_KEY_PATTERN, description="Key in the Secret.")


# ---------------------------------------------------------------------------------------
# Spec


DeckName = Annotated[str, Field(min_length=1, max_length=128, pattern=DECK_PATTERN)]
Baseline = Literal["random", "heuristic", "league"]


class Matchup(ApiModel):
    """A deck pairing that games are played on, drawn with probability proportional to weight."""

    agent_deck: DeckName = Field(description="Deck of the learning agent's seat.")
    opponent_deck: DeckName = Field(description="Deck of the opponent's seat.")
    weight: float = Field(1.0, gt=0, le=1000, description="Relative frequency of this pairing.")


class PoolDeck(ApiModel):
    """A deck of a pool, drawn with probability proportional to weight."""

    deck: DeckName
    weight: float = Field(1.0, gt=0, le=1000, description="Relative frequency of this deck in its pool.")


def _pool_rule(pool: str) -> Rule:
    return Rule(
        f"self.{pool}.all(a, self.{pool}.exists_one(b, b.deck == a.deck))",
        f"a deck is listed more than once in {pool}",
        lambda m: len({p.deck for p in getattr(m, pool)}) == len(getattr(m, pool)),
        f".{pool}",
    )


class DeckPools(ApiModel):
    """Deck randomisation: each game draws the agent's deck from `agent` and the opponent's from
    `opponent` (empty: the agent pool), independently, by weight; with `mirrors: false` a draw of
    the same deck twice is drawn again (so the pairings keep their relative odds)."""

    agent: list[PoolDeck] = Field(
        min_length=1, max_length=32, description="Decks of the learning agent's seat."
    )
    opponent: list[PoolDeck] = Field(
        default_factory=list,
        max_length=32,
        description="Decks of the opponent's seat; empty: the agent pool.",
    )
    mirrors: bool = Field(True, description="Whether a game may pit a deck against itself.")

    rules = (
        _pool_rule("agent"),
        _pool_rule("opponent"),
        Rule(
            "!has(self.mirrors) || self.mirrors || ((has(self.opponent) && size(self.opponent) > 0)"
            " ? self.agent.exists(a, self.opponent.exists(o, o.deck != a.deck)) : size(self.agent) > 1)",
            "mirrors: false leaves no pairing: the pools must hold two different decks",
            lambda m: m.mirrors or any(a.deck != o.deck for a in m.agent for o in (m.opponent or m.agent)),
            ".mirrors",
        ),
    )

    def pairings(self) -> list[tuple[str, str, float]]:
        """(agent deck, opponent deck, weight): the product of the two pools, mirrors left out
        when they are not allowed (an independent draw, redrawn on a mirror, has these odds)."""
        opponents = self.opponent or self.agent
        return [
            (a.deck, o.deck, a.weight * o.weight)
            for a in self.agent
            for o in opponents
            if self.mirrors or a.deck != o.deck
        ]


class StageEnd(ApiModel):
    """When a curriculum stage ends: the first of an evaluated win rate and a number of games."""

    win_rate: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Win rate against baseline that ends the stage, measured by an evaluation of the"
        " stage's own pairings.",
    )
    baseline: Baseline = Field("heuristic", description="The baseline winRate is measured against.")
    games: int | None = Field(None, ge=1, le=10**12, description="Games played during the stage that end it.")

    rules = (
        Rule(
            "has(self.winRate) || has(self.games)",
            "until needs winRate or games (or both: the first reached ends the stage)",
            lambda m: m.win_rate is not None or m.games is not None,
        ),
    )


STAGE_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class CurriculumStage(ApiModel):
    """One stage: the pairings its games are drawn from (`matchups` or `deckPools`; neither: the
    run's own) and when it ends."""

    name: str = Field(max_length=40, pattern=STAGE_NAME_PATTERN, description="Shown in status and progress.")
    matchups: list[Matchup] = Field(
        default_factory=list, max_length=32, description="Deck pairings with weights."
    )
    deck_pools: DeckPools | None = None
    until: StageEnd | None = Field(
        None, description="When the stage ends; every stage but the last has one, the last has none."
    )

    rules = (
        Rule(
            "!has(self.matchups) || size(self.matchups) == 0 || !has(self.deckPools)",
            "matchups and deckPools are alternatives: set at most one",
            lambda m: not (m.matchups and m.deck_pools is not None),
            ".deckPools",
        ),
    )


class Curriculum(ApiModel):
    """Stages that games move through in order, such as aggro mirrors, then all aggro, then the
    whole pool. A stage ends on its `until`; the last lasts until the run stops."""

    stages: list[CurriculumStage] = Field(min_length=1, max_length=8)

    rules = (
        Rule(
            "self.stages.all(s, self.stages.exists_one(t, t.name == s.name))",
            "stage names must be unique",
            lambda m: len({s.name for s in m.stages}) == len(m.stages),
            ".stages",
        ),
        Rule(
            "self.stages.all(s, has(s.until) != (s.name == self.stages[size(self.stages) - 1].name))",
            "every stage but the last needs until, and the last has none (it lasts until the run stops)",
            lambda m: all((s.until is not None) != (i == len(m.stages) - 1) for i, s in enumerate(m.stages)),
            ".stages",
        ),
    )


class Autoscaling(ApiModel):
    """Sizing of the daemon pool from the rollout queue depth.

    More daemons while the learner is starved (queue below target), fewer while rollouts
    pile up. `minReplicas == maxReplicas` fixes the pool size.
    """

    min_replicas: int = Field(1, ge=0, le=1000)
    max_replicas: int = Field(4, ge=1, le=1000)
    target_queue_depth: int = Field(
        2048,
        ge=1,
        le=10_000_000,
        description="Rollout stream entries waiting for the learner that the pool aims at.",
    )
    scale_up_stabilization_seconds: int = Field(
        0, ge=0, le=3600, description="Scale up only to the lowest size recommended during this window."
    )
    scale_down_stabilization_seconds: int = Field(
        120, ge=0, le=3600, description="Scale down only to the highest size recommended during this window."
    )
    poll_interval_seconds: float = Field(
        5.0, ge=0.5, le=300, description="How often the operator reads the queue depth from Redis."
    )
    fallback_replicas: int | None = Field(
        None, ge=0, le=1000, description="Pool size while Redis cannot be read; unset holds the current size."
    )

    rules = (
        Rule(
            "self.minReplicas <= self.maxReplicas",
            "minReplicas must be less than or equal to maxReplicas",
            lambda m: m.min_replicas <= m.max_replicas,
            ".minReplicas",
        ),
        Rule(
            "!has(self.fallbackReplicas) || (self.fallbackReplicas >= self.minReplicas"
            " && self.fallbackReplicas <= self.maxReplicas)",
            "fallbackReplicas must lie between minReplicas and maxReplicas",
            lambda m: m.fallback_replicas is None or m.min_replicas <= m.fallback_replicas <= m.max_replicas,
            ".fallbackReplicas",
        ),
    )


class DaemonSpec(ApiModel):
    """The pool of game daemons (a Deployment behind a headless Service)."""

    engine: Literal["builtin", "forge"] = Field(
        "builtin",
        description="builtin: Tolaria's rules engine; forge: a Forge RL daemon (Forge's dialect of the"
        " protocol: no agent against its AI or random player, at most 10 games per daemon at once).",
    )
    image: str = Field(DEFAULT_DAEMON_IMAGE, min_length=1, max_length=512)
    games_per_daemon: int = Field(64, ge=1, le=4096, description="Concurrent games one daemon serves.")
    resources: ResourceRequirements = Field(
        default_factory=lambda: ResourceRequirements(requests={"cpu": "1", "memory": "1Gi"})
    )
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)


class OpponentMix(ApiModel):
    """Who the agent plays against, as relative weights (normalised by their sum).

    selfPlay: the latest policy in both seats; builtinAi: the daemon's own (heuristic) AI;
    randomPlayer: the daemon's random player, which keeps the agent punishing weak play; league:
    a past policy snapshot from the checkpoint store.
    """

    self_play: float = Field(0.8, ge=0, le=1)
    builtin_ai: float = Field(0.0, ge=0, le=1)
    random_player: float = Field(0.0, ge=0, le=1)
    league: float = Field(0.2, ge=0, le=1)
    past_weighting: Literal["uniform", "recency"] = Field(
        "uniform",
        description="How league opponents are drawn: uniform over the past snapshots, or recency"
        " (the i-th oldest of n weighted i, so the newest is drawn n times as often as the oldest).",
    )
    league_series: int = Field(
        16,
        ge=1,
        le=10_000,
        description="League games an actor starts in a row against each snapshot it draws. Each"
        " snapshot answers its games in inference batches of its own, so a snapshot per game"
        " leaves every batch a decision or two; a series puts its games in flight together, to share"
        " batches (1: a new draw every game).",
    )

    rules = (
        Rule(
            "self.selfPlay + self.builtinAi + self.randomPlayer + self.league > 0.0",
            "at least one of selfPlay, builtinAi, randomPlayer and league must be positive",
            lambda m: m.self_play + m.builtin_ai + m.random_player + m.league > 0,
        ),
    )


class PairingPriority(ApiModel):
    """Prioritised pairings (AlphaStar's prioritised fictitious self-play, over deck pairings):
    each pairing's weight is multiplied by max((1 - p)^exponent, minFactor), p the agent's recent
    win rate in that pairing against the built-in AI, as each actor measures it in its games."""

    exponent: float = Field(
        2.0, gt=0, le=16, description="How hard the draw leans to the pairings the agent loses."
    )
    window: int = Field(
        50,
        ge=1,
        le=100_000,
        description="An actor's latest games of a pairing against the built-in AI that p is measured on.",
    )
    min_factor: float = Field(
        0.05,
        gt=0,
        le=1,
        description="The least a pairing's weight is multiplied by, however often the agent wins it.",
    )


class ActorSpec(ApiModel):
    """Actors play many games at once against the daemons and ship rollouts to Redis.

    Exactly one of `replicas` (a fixed count) and `perDaemon` (actors per daemon, following
    the autoscaled pool, rounded up) is set.
    """

    replicas: int | None = Field(None, ge=0, le=1000)
    per_daemon: float | None = Field(None, gt=0, le=64)
    image: str = Field(DEFAULT_TRAINER_IMAGE, min_length=1, max_length=512)
    service_account_name: str | None = Field(
        None,
        max_length=253,
        pattern=K8S_NAME_PATTERN,
        description="ServiceAccount of these pods, for a cloud identity (IRSA, Workload Identity) that"
        " reaches the checkpoint store without a credentials Secret; unset: the namespace's default.",
    )
    games_in_flight: int = Field(64, ge=1, le=8192, description="Concurrent games of one actor.")
    policy_sync_interval_seconds: float = Field(5.0, gt=0, le=3600)
    opponents: OpponentMix = Field(default_factory=OpponentMix)
    pairing_priority: PairingPriority | None = Field(
        None,
        description="More games on the deck pairings the agent loses against the built-in AI;"
        " unset: the pairings' own weights.",
    )
    resources: ResourceRequirements = Field(
        default_factory=lambda: ResourceRequirements(requests={"cpu": "1", "memory": "2Gi"})
    )

    rules = (
        Rule(
            "has(self.replicas) != has(self.perDaemon)",
            "exactly one of replicas and perDaemon must be set",
            lambda m: (m.replicas is None) != (m.per_daemon is None),
        ),
        Rule(
            "!has(self.pairingPriority) || (has(self.opponents) && has(self.opponents.builtinAi)"
            " && self.opponents.builtinAi > 0.0)",
            "pairingPriority measures the agent against the built-in AI: actors.opponents.builtinAi"
            " must be positive",
            lambda m: m.pairing_priority is None or m.opponents.builtin_ai > 0,
            ".pairingPriority",
        ),
    )


class LearningRateDecay(ApiModel):
    """A learning rate that falls linearly over a run's first `updates` PPO updates (CleanRL's
    annealing, with a floor so that a run longer than planned keeps learning)."""

    updates: int = Field(
        ge=1, le=100_000_000, description="PPO updates over which the learning rate falls to its floor."
    )
    final_fraction: float = Field(
        0.1,
        ge=0,
        le=1,
        description="The floor, as a fraction of learningRate, held from update `updates` on.",
    )


class PPOSpec(ApiModel):
    """PPO hyperparameters of the learner."""

    learning_rate: float = Field(3e-4, gt=0, le=1)
    learning_rate_decay: LearningRateDecay | None = Field(
        None, description="Unset: the learning rate stays at learningRate."
    )
    gamma: float = Field(0.99, ge=0, le=1)
    gae_lambda: float = Field(0.95, ge=0, le=1)
    clip_range: float = Field(0.2, gt=0, le=1)
    value_coef: float = Field(0.5, ge=0, le=100)
    entropy_coef: float = Field(0.01, ge=0, le=10)
    max_grad_norm: float = Field(0.5, gt=0, le=1000)
    epochs: int = Field(4, ge=1, le=100)
    minibatch_size: int = Field(1024, ge=1, le=1_048_576, description="Samples per gradient step.")
    batch_size: int = Field(8192, ge=1, le=16_777_216, description="Samples per PPO update.")
    max_policy_lag: int = Field(
        4, ge=0, le=1000, description="Rollouts from a policy more than this many versions old are dropped."
    )

    rules = (
        Rule(
            "self.minibatchSize <= self.batchSize",
            "minibatchSize must be less than or equal to batchSize",
            lambda m: m.minibatch_size <= m.batch_size,
            ".minibatchSize",
        ),
    )


class NetworkSpec(ApiModel):
    """Size of the policy network: a preset, optionally with some dimensions overridden."""

    preset: Literal["small", "medium", "large"] = "small"
    d_model: int | None = Field(None, ge=8, le=4096, description="Width of the card and state embeddings.")
    layers: int | None = Field(None, ge=1, le=48)
    heads: int | None = Field(None, ge=1, le=64)
    ff_dim: int | None = Field(None, ge=8, le=16384)

    rules = (
        Rule(
            "!has(self.dModel) || !has(self.heads) || self.dModel % self.heads == 0",
            "dModel must be a multiple of heads",
            lambda m: m.d_model is None or m.heads is None or m.d_model % m.heads == 0,
            ".dModel",
        ),
    )


class WarmStartSpec(ApiModel):
    """Behaviour cloning of the daemons' built-in AI, before the first PPO update of a run that
    has no checkpoint yet.

    The learner watches `games` games of the built-in AI against itself in observe mode (NEWGAME
    -o) on the run's pairings, both seat orders, fits the policy to the AI's choices and the value
    to the games' outcomes, and publishes and checkpoints the copy as version 1: PPO then starts
    from sensible play rather than from random weights.
    """

    games: int = Field(
        0,
        ge=0,
        le=50_000,
        description="Observed games to learn from; 0: no warm start (random weights). The learner holds"
        " their encoded decisions in memory while it clones: about 0.6 MB per game of two aggro decks,"
        " 1.3 MB per game of the whole pool; its peak is at most twice that (joining the games, or"
        " reading back those a stopped warm start saved).",
    )
    epochs: int = Field(20, ge=1, le=1000, description="Passes over the observed decisions.")
    learning_rate: float = Field(1e-3, gt=0, le=1)
    games_in_flight: int = Field(
        16, ge=1, le=4096, description="Observed games played at once, spread over the daemons."
    )


class LearnerSpec(ApiModel):
    """The PPO learner (a Job; restarted from its newest checkpoint up to maxRestarts times)."""

    image: str = Field(DEFAULT_TRAINER_IMAGE, min_length=1, max_length=512)
    service_account_name: str | None = Field(
        None,
        max_length=253,
        pattern=K8S_NAME_PATTERN,
        description="ServiceAccount of these pods, for a cloud identity (IRSA, Workload Identity) that"
        " reaches the checkpoint store without a credentials Secret; unset: the namespace's default.",
    )
    gpus: int = Field(1, ge=0, le=16, description="nvidia.com/gpu devices; 0 trains on CPU.")
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list, max_length=32)
    resources: ResourceRequirements = Field(
        default_factory=lambda: ResourceRequirements(requests={"cpu": "4", "memory": "16Gi"})
    )
    ppo: PPOSpec = Field(default_factory=PPOSpec)
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    warm_start: WarmStartSpec = Field(default_factory=WarmStartSpec)
    mixed_precision: Literal["bf16", "fp16", "none"] = Field(
        "bf16", description="Autocast dtype on GPU; none trains in fp32."
    )
    compile: bool = Field(False, description="Compile the network with torch.compile.")
    max_restarts: int = Field(
        3,
        ge=0,
        le=100,
        description="Restarts of a failed learner before the run is Failed (evictions do not count).",
    )


class RedisStorage(ApiModel):
    """The volume of the managed Redis's append-only file."""

    size: str = Field(
        "8Gi", max_length=64, pattern=QUANTITY_PATTERN, description="Size of the PersistentVolumeClaim."
    )
    storage_class_name: str | None = Field(
        None,
        max_length=253,
        pattern=K8S_NAME_PATTERN,
        description=(
            "StorageClass of the claim; unset: the cluster's default class. Without either, Redis "
            "keeps its data in an emptyDir and the run is Degraded (RedisNotPersistent)."
        ),
    )


class RedisSpec(ApiModel):
    """The Redis that carries rollouts, weights and stats: managed by the operator, or external.

    Exactly one of `managed: true` and `url` is set.
    """

    managed: bool | None = Field(
        None, description="The operator runs a Redis Deployment and Service for the run."
    )
    image: str = Field(
        DEFAULT_REDIS_IMAGE, min_length=1, max_length=512, description="Image of the managed Redis."
    )
    url: str | None = Field(
        None, max_length=2048, pattern=REDIS_URL_PATTERN, description="External Redis, redis://host:port/db."
    )
    password_secret: SecretKeyRef | None = Field(
        None,
        description=(
            "Secret holding the Redis password. A managed Redis without one gets a generated "
            "password in the Secret {run}-redis-auth, owned by the run."
        ),
    )
    stream_max_length: int = Field(
        200_000,
        ge=1000,
        le=100_000_000,
        description="Rollout stream bound (XADD MAXLEN ~), so memory stays bounded.",
    )
    storage: RedisStorage = Field(default_factory=RedisStorage)
    max_queue_depth: int = Field(
        16_384,
        ge=1,
        le=100_000_000,
        description="Back-pressure: actors hold their rollouts and start no new games while this many"
        " rollout entries wait for the learner (at most streamMaxLength, which also caps it).",
    )
    max_queue_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1024 * 1024,
        le=1024**4,
        description="Back-pressure: as maxQueueDepth, for the bytes the rollout stream takes in Redis.",
    )
    resources: ResourceRequirements = Field(
        default_factory=lambda: ResourceRequirements(
            requests={"cpu": "500m", "memory": "1Gi"}, limits={"memory": "1Gi"}
        ),
        description="Of the managed Redis; its maxmemory is 75% of the memory limit (else request).",
    )

    rules = (
        Rule(
            "(has(self.managed) && self.managed) != has(self.url)",
            "exactly one of managed: true and url must be set",
            lambda m: bool(m.managed) != (m.url is not None),
        ),
        Rule(
            f"!has(self.url) || !self.url.matches('{REDIS_URL_WITH_CREDENTIALS_PATTERN}')",
            "url must not carry credentials (they would show in specs, logs and events): put the "
            "password in a Secret and name it in passwordSecret",
            lambda m: m.url is None or not re.match(REDIS_URL_WITH_CREDENTIALS_PATTERN, m.url),
            ".url",
        ),
    )


def parse_checkpoint_uri(uri: str) -> tuple[str, str, str]:
    """(scheme, bucket or "", key prefix or path) of an `s3://bucket/prefix` or `file://path` URI.

    `file://relative/dir` is relative to the working directory, `file:///abs/dir` absolute.
    """
    if re.fullmatch(S3_URI_PATTERN, uri):
        parsed = urlparse(uri)
        return "s3", parsed.netloc, parsed.path.strip("/")
    if re.fullmatch(FILE_URI_PATTERN, uri):
        return "file", "", uri[len("file://") :]
    raise ValueError(f"{uri!r} is not s3://bucket/prefix or file://path")


class CheckpointSpec(ApiModel):
    """Where and how often the learner checkpoints (and where the league's snapshots live)."""

    uri: str = Field(
        "file://checkpoints",
        max_length=2048,
        description="s3://bucket/prefix or file://path (file://relative is relative to the working directory).",
    )
    every_updates: int = Field(
        100, ge=0, le=1_000_000, description="Checkpoint every N PPO updates; 0: never."
    )
    every_minutes: float = Field(10.0, ge=0, le=10080, description="Checkpoint every M minutes; 0: never.")
    keep: int = Field(5, ge=1, le=10_000, description="Newest checkpoints kept; older ones are deleted.")
    credentials_secret: str | None = Field(
        None,
        max_length=253,
        pattern=K8S_NAME_PATTERN,
        description="Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for s3:// URIs.",
    )
    endpoint_url: str | None = Field(
        None,
        max_length=2048,
        pattern=HTTP_URL_PATTERN,
        description="S3-compatible endpoint (MinIO, Ceph, ...).",
    )
    volume_claim: str | None = Field(
        None,
        max_length=253,
        pattern=K8S_NAME_PATTERN,
        description=(
            "In a cluster, the PersistentVolumeClaim that holds file:// checkpoints (the path is taken "
            "on this volume); ReadWriteMany when actors or the evaluator run on other nodes than the "
            "learner. Without it a file:// store lives only as long as each pod. Local mode ignores it."
        ),
    )

    rules = (
        Rule(
            f"self.uri.matches('{S3_URI_PATTERN}') || self.uri.matches('{FILE_URI_PATTERN}')",
            "uri must be s3://bucket/prefix or file://path",
            lambda m: bool(re.fullmatch(S3_URI_PATTERN, m.uri) or re.fullmatch(FILE_URI_PATTERN, m.uri)),
            ".uri",
        ),
        Rule(
            "self.uri.startsWith('s3://') || (!has(self.endpointUrl) && !has(self.credentialsSecret))",
            "endpointUrl and credentialsSecret apply only to s3:// URIs",
            lambda m: m.uri.startswith("s3://") or (m.endpoint_url is None and m.credentials_secret is None),
        ),
        Rule(
            "self.uri.startsWith('file://') || !has(self.volumeClaim)",
            "volumeClaim applies only to file:// URIs",
            lambda m: m.uri.startswith("file://") or m.volume_claim is None,
        ),
        Rule(
            "self.everyUpdates > 0 || self.everyMinutes > 0.0",
            "at least one of everyUpdates and everyMinutes must be positive",
            lambda m: m.every_updates > 0 or m.every_minutes > 0,
        ),
    )


class EvaluationSpec(ApiModel):
    """The evaluator: plays the current policy against baselines and keeps Elo ratings."""

    enabled: bool = True
    every_updates: int = Field(
        50, ge=0, le=1_000_000, description="Evaluate every N policy versions; 0: never."
    )
    every_minutes: float = Field(0.0, ge=0, le=10080, description="Evaluate every M minutes; 0: never.")
    games: int = Field(
        200, ge=2, le=100_000, description="Games per baseline per evaluation, both seat orders."
    )
    baselines: Annotated[list[Baseline], AfterValidator(_no_duplicates)] = Field(
        default_factory=lambda: ["random", "heuristic", "league"],
        min_length=1,
        max_length=3,
        description="random and heuristic: the daemon's players; league: past policy snapshots"
        " (none until the first evaluated version has joined the league).",
        json_schema_extra=SET_LIST,
    )
    elo_k: float = Field(
        32.0,
        gt=0,
        le=400,
        description="Deprecated, ignored: ratings are a Bradley-Terry fit over all evaluation games, with"
        " the random player anchored at 1000, and have no K-factor. Accepted so that existing runs stay valid.",
    )
    league_size: int = Field(
        20,
        ge=1,
        le=10_000,
        description="Newest evaluated policy snapshots kept in the league (under checkpoints.uri/league).",
    )
    action_selection: Literal["greedy", "sampled"] = Field(
        "greedy",
        description="greedy: the evaluated policy plays the likeliest action; sampled: it samples, as the"
        " actors play.",
    )
    promotion_margin: float | None = Field(
        None,
        ge=0,
        le=1,
        description="When set, a new policy reaches the actors only if the lower end of the 95% confidence"
        " interval of its win rate against the current one (evaluation.games games) is at least 0.5 - margin:"
        " 0 asks for a policy shown to be better, 0.05 for one not shown to be worse by more than 5 points.",
    )

    rules = (
        Rule(
            "!self.enabled || self.everyUpdates > 0 || self.everyMinutes > 0.0",
            "an enabled evaluation needs everyUpdates or everyMinutes to be positive",
            lambda m: not m.enabled or m.every_updates > 0 or m.every_minutes > 0,
        ),
    )


class StopSpec(ApiModel):
    """When the run ends as Succeeded (any criterion met ends it)."""

    max_games: int | None = Field(None, ge=1, description="Games played by the actors.")
    max_wall_clock: str | None = Field(
        None,
        max_length=32,
        pattern=DURATION_PATTERN,
        description="Duration since start, such as 36h or 1h30m.",
    )
    target_win_rate: float | None = Field(
        None, gt=0, le=1, description="Evaluated win rate against targetBaseline."
    )
    target_baseline: Baseline = "heuristic"

    @property
    def max_wall_clock_seconds(self) -> float | None:
        return None if self.max_wall_clock is None else parse_duration(self.max_wall_clock)


class NetworkPolicySpec(ApiModel):
    """NetworkPolicies that admit only the run's own traffic to its daemons, Redis and metrics."""

    enabled: bool = Field(True, description="Create the run's NetworkPolicies.")
    metrics_namespace: str = Field(
        "monitoring",
        max_length=63,
        pattern=K8S_NAME_PATTERN,
        description="The namespace whose pods may scrape the metrics port of the run's pods.",
    )


class RewardShaping(ApiModel):
    """Dense reward terms added to the +1/-1/0 game outcome; all zero (off) by default.

    A potential of the deciding player's position, lifeDelta x (own life - opponent's life) / 20
    + cardAdvantage x (own cards in hand and on the battlefield - the opponent's), rewards each
    decision with its discounted change (potential-based shaping: the best policy stays the same).
    """

    life_delta: float = Field(0.0, ge=-10, le=10)
    card_advantage: float = Field(0.0, ge=-10, le=10)


def _pool_decks(pools: DeckPools) -> set[str]:
    return {p.deck for p in pools.agent} | {p.deck for p in pools.opponent}


def _stage_decks(stage: CurriculumStage) -> set[str]:
    decks = {d for m in stage.matchups for d in (m.agent_deck, m.opponent_deck)}
    return decks | (_pool_decks(stage.deck_pools) if stage.deck_pools is not None else set())


class TrainingRunSpec(ApiModel):
    """Desired state of a training run: what to play, with what, and when to stop."""

    decks: Annotated[list[DeckName], AfterValidator(_no_duplicates)] = Field(
        min_length=1,
        max_length=32,
        description="Deck names (or paths inside the daemons' deck directories) of this run.",
        json_schema_extra=SET_LIST,
    )
    matchups: list[Matchup] = Field(
        default_factory=list,
        max_length=64,
        description="Deck pairings with weights; empty (and no deckPools): every ordered pair of decks,"
        " mirrors included, weight 1.",
    )
    deck_pools: DeckPools | None = Field(
        None, description="Deck randomisation, instead of matchups: the two seats' decks drawn from pools."
    )
    curriculum: Curriculum | None = Field(
        None,
        description="Stages of pairings that games move through; a stage without pairings of its own"
        " plays the run's (matchups, deckPools or every pair of decks).",
    )
    daemons: DaemonSpec = Field(default_factory=DaemonSpec)
    actors: ActorSpec = Field(default_factory=lambda: ActorSpec(per_daemon=1.0))
    learner: LearnerSpec = Field(default_factory=LearnerSpec)
    redis: RedisSpec = Field(default_factory=lambda: RedisSpec(managed=True))
    checkpoints: CheckpointSpec = Field(default_factory=CheckpointSpec)
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    stop: StopSpec = Field(default_factory=StopSpec)
    reward_shaping: RewardShaping = Field(default_factory=RewardShaping)
    network_policies: NetworkPolicySpec = Field(default_factory=NetworkPolicySpec)
    suspend: bool = Field(
        False, description="Scale daemons and actors to zero and stop the learner after a checkpoint."
    )
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="Base seed of games and training.")
    max_turns: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="Game length limit in turns: a game still going after it is a draw (reason"
        " turn_limit). Unset (the default): no limit, games end by the rules (a library running out"
        " ends every game).",
    )
    progress_deadline: str = Field(
        "30m",
        max_length=32,
        pattern=DURATION_PATTERN,
        description="Progressing turns False (NoNewPolicy) when a Running run publishes no new policy"
        " version for this long.",
    )
    ttl_seconds_after_finished: int | None = Field(
        None,
        ge=0,
        le=31_536_000,
        description="Seconds after the run finished (Succeeded or Failed) when its managed Redis and every"
        " pod still running are released; the run and its final status stay. Unset: kept until deleted.",
    )

    @property
    def progress_deadline_seconds(self) -> float:
        return parse_duration(self.progress_deadline)

    rules = (
        Rule(
            "!has(self.daemons) || !has(self.daemons.engine) || self.daemons.engine != 'forge'"
            " || !has(self.actors) || !has(self.actors.opponents)"
            " || ((!has(self.actors.opponents.builtinAi) || self.actors.opponents.builtinAi == 0.0)"
            " && (!has(self.actors.opponents.randomPlayer) || self.actors.opponents.randomPlayer == 0.0))",
            "engine forge: a Forge daemon cannot seat an agent against its AI or random player (it has no"
            " seat mode); actors.opponents.builtinAi and randomPlayer must be 0",
            lambda m: (
                m.daemons.engine != "forge"
                or (m.actors.opponents.builtin_ai == 0 and m.actors.opponents.random_player == 0)
            ),
            ".actors.opponents",
        ),
        Rule(
            "!has(self.daemons) || !has(self.daemons.engine) || self.daemons.engine != 'forge'"
            " || !has(self.evaluation) || (has(self.evaluation.enabled) && !self.evaluation.enabled)"
            " || !has(self.evaluation.baselines) || self.evaluation.baselines.all(b, b == 'league')",
            "engine forge: the random and heuristic baselines seat the agent against the daemon's own"
            " players, which a Forge daemon cannot; evaluate against league only or disable evaluation",
            lambda m: (
                m.daemons.engine != "forge"
                or not m.evaluation.enabled
                or all(b == "league" for b in m.evaluation.baselines)
            ),
            ".evaluation.baselines",
        ),
        Rule(
            "!has(self.daemons) || !has(self.daemons.engine) || self.daemons.engine != 'forge'"
            " || !has(self.maxTurns)",
            "engine forge: a Forge daemon has no game length limit (the -l extension, which it would"
            " ignore); unset maxTurns",
            lambda m: m.daemons.engine != "forge" or m.max_turns is None,
            ".maxTurns",
        ),
        Rule(
            "!has(self.matchups) || self.matchups.all(m, m.agentDeck in self.decks && m.opponentDeck in self.decks)",
            "every matchup deck must be listed in decks",
            lambda m: all(x.agent_deck in m.decks and x.opponent_deck in m.decks for x in m.matchups),
            ".matchups",
        ),
        Rule(
            "!has(self.matchups) || size(self.matchups) == 0 || !has(self.deckPools)",
            "matchups and deckPools are alternatives: set at most one",
            lambda m: not (m.matchups and m.deck_pools is not None),
            ".deckPools",
        ),
        Rule(
            "!has(self.deckPools) || (self.deckPools.agent.all(p, p.deck in self.decks)"
            " && (!has(self.deckPools.opponent) || self.deckPools.opponent.all(p, p.deck in self.decks)))",
            "every deckPools deck must be listed in decks",
            lambda m: m.deck_pools is None or _pool_decks(m.deck_pools) <= set(m.decks),
            ".deckPools",
        ),
        Rule(
            "!has(self.curriculum) || self.curriculum.stages.all(s,"
            " (!has(s.matchups) || s.matchups.all(x, x.agentDeck in self.decks && x.opponentDeck in self.decks))"
            " && (!has(s.deckPools) || (s.deckPools.agent.all(p, p.deck in self.decks)"
            " && (!has(s.deckPools.opponent) || s.deckPools.opponent.all(p, p.deck in self.decks)))))",
            "every deck of a curriculum stage must be listed in decks",
            lambda m: (
                m.curriculum is None or all(_stage_decks(s) <= set(m.decks) for s in m.curriculum.stages)
            ),
            ".curriculum",
        ),
        Rule(
            "!has(self.curriculum) || self.curriculum.stages.all(s, !has(s.until) || !has(s.until.winRate)"
            " || (has(self.evaluation) && self.evaluation.enabled && s.until.baseline in self.evaluation.baselines))",
            "a stage's until.winRate needs evaluation enabled with until.baseline among evaluation.baselines",
            lambda m: (
                m.curriculum is None
                or all(
                    s.until is None
                    or s.until.win_rate is None
                    or (m.evaluation.enabled and s.until.baseline in m.evaluation.baselines)
                    for s in m.curriculum.stages
                )
            ),
            ".curriculum",
        ),
        Rule(
            "!has(self.stop) || !has(self.stop.targetWinRate) || (has(self.evaluation)"
            " && self.evaluation.enabled && self.stop.targetBaseline in self.evaluation.baselines)",
            "stop.targetWinRate needs evaluation enabled with stop.targetBaseline among evaluation.baselines",
            lambda m: (
                m.stop.target_win_rate is None
                or (m.evaluation.enabled and m.stop.target_baseline in m.evaluation.baselines)
            ),
            ".stop.targetWinRate",
        ),
    )

    def pairings(self) -> list[tuple[str, str, float]]:
        """(agent deck, opponent deck, weight) of every pairing the run's games are drawn from
        (outside a curriculum, and in its stages that name no pairings of their own)."""
        if self.matchups:
            return [(m.agent_deck, m.opponent_deck, m.weight) for m in self.matchups]
        if self.deck_pools is not None:
            return self.deck_pools.pairings()
        return [(a, b, 1.0) for a in self.decks for b in self.decks]

    def stage_pairings(self) -> list[list[tuple[str, str, float]]]:
        """The pairings of each curriculum stage, in order; one entry, the run's, without one."""
        if self.curriculum is None:
            return [self.pairings()]
        stages = []
        for stage in self.curriculum.stages:
            if stage.matchups:
                stages.append([(m.agent_deck, m.opponent_deck, m.weight) for m in stage.matchups])
            elif stage.deck_pools is not None:
                stages.append(stage.deck_pools.pairings())
            else:
                stages.append(self.pairings())
        return stages


# ---------------------------------------------------------------------------------------
# Status


class StatusModel(ApiModel):
    # The status also carries what kopf keeps there; it is not ours to refuse.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


Phase = Literal["Pending", "Running", "Suspended", "Succeeded", "Failed"]
ConditionType = Literal["Ready", "Progressing", "Degraded", "Suspended", "Complete", "Failed"]
PHASES: tuple[str, ...] = Phase.__args__
CONDITION_TYPES: tuple[str, ...] = ConditionType.__args__


class Condition(StatusModel):
    """One aspect of the run's state, as metav1.Condition."""

    type: ConditionType
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(max_length=1024, pattern=CONDITION_REASON_PATTERN, description="CamelCase reason.")
    message: str = Field("", max_length=32768)
    last_transition_time: Timestamp
    observed_generation: int | None = Field(None, ge=0)


class DaemonsStatus(StatusModel):
    ready: int = Field(0, ge=0)
    desired: int = Field(0, ge=0)


class LearnerStatus(StatusModel):
    state: str = Field(
        "Pending",
        max_length=64,
        description="Pending, Running, Restarting, Checkpointing, Succeeded, Failed, ...",
    )
    restarts: int = Field(0, ge=0)


class CurriculumStatus(StatusModel):
    """Where the run is in its curriculum (the operator also keeps it in the run's Redis)."""

    stage: int = Field(0, ge=0, description="Index of the current stage, from 0.")
    name: str = Field("", max_length=64)
    stage_start_games: int = Field(0, ge=0, description="gamesPlayed when the stage began.")
    stage_start_time: Timestamp | None = None


class CheckpointRef(StatusModel):
    uri: str = Field(max_length=2048)
    time: Timestamp


class TrainingRunStatus(StatusModel):
    """Observed state of a training run, written by the operator (and shown by local mode)."""

    phase: Phase | None = None
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    observed_generation: int | None = Field(None, ge=0)
    games_played: int | None = Field(None, ge=0)
    queue_depth: int | None = Field(None, ge=0, description="Rollout stream entries not yet consumed.")
    daemons: DaemonsStatus | None = None
    daemons_summary: str | None = Field(
        None, max_length=32, description="ready/desired daemons, such as 3/4."
    )
    actors_ready: int | None = Field(None, ge=0)
    learner: LearnerStatus | None = None
    policy_version: int | None = Field(None, ge=0)
    win_rate: float | None = Field(
        None, ge=0, le=1, description="Win rate of evaluatedPolicyVersion against baseline (3 decimals)."
    )
    baseline: str | None = Field(None, max_length=64)
    elo: int | None = Field(None, description="Elo rating of evaluatedPolicyVersion (rounded).")
    evaluated_policy_version: int | None = Field(
        None, ge=0, description="The policy version the latest evaluation measured (winRate, elo)."
    )
    curriculum: CurriculumStatus | None = None
    stage: str | None = Field(
        None,
        max_length=64,
        description="The curriculum stage as name(number/stages), such as all-aggro(2/3).",
    )
    last_checkpoint: CheckpointRef | None = None
    start_time: Timestamp | None = None
    completion_time: Timestamp | None = None
    last_progress_time: Timestamp | None = Field(
        None,
        description="When policyVersion last rose, or the run started or resumed (what progressDeadline"
        " is measured from).",
    )
    suspended_seconds: int | None = Field(
        None, ge=0, description="Seconds spent suspended since startTime (maxWallClock does not count them)."
    )
    suspended_since: Timestamp | None = None

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)

    def set_condition(
        self,
        type_: ConditionType,
        status: Literal["True", "False", "Unknown"],
        reason: str,
        message: str = "",
        observed_generation: int | None = None,
        now: datetime | None = None,
    ) -> None:
        """Add or update a condition; lastTransitionTime moves only when status changes."""
        existing = self.condition(type_)
        if existing is not None and existing.status == status:
            existing.reason, existing.message = reason, message
            existing.observed_generation = observed_generation
            return
        fresh = Condition(
            type=type_,
            status=status,
            reason=reason,
            message=message,
            last_transition_time=now or datetime.now(UTC),
            observed_generation=observed_generation,
        )
        self.conditions = [c for c in self.conditions if c.type != type_] + [fresh]


# ---------------------------------------------------------------------------------------
# The resource


class ObjectMeta(BaseModel):
    """The parts of metadata Tolaria reads; everything else the API server sets is kept."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    name: str = Field(
        max_length=MAX_RUN_NAME_LENGTH,
        pattern=RUN_NAME_PATTERN,
        description=f"A DNS-1035 label of at most {MAX_RUN_NAME_LENGTH} characters, so that the names of the"
        " run's children (such as the {name}-daemon Service) stay valid.",
    )
    namespace: str = Field("default", max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    generation: int | None = None
    uid: str | None = None


class TrainingRun(ApiModel):
    """A whole TrainingRun resource: apiVersion, kind, metadata, spec and status."""

    api_version: Literal["tolaria.dev/v1alpha1"] = API_VERSION
    kind: Literal["TrainingRun"] = KIND
    metadata: ObjectMeta
    spec: TrainingRunSpec
    status: TrainingRunStatus | None = None

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def keys(self) -> RunKeys:
        """The run's Redis key names."""
        return RunKeys(self.metadata.namespace, self.metadata.name)


# ---------------------------------------------------------------------------------------
# Loading, with errors in the API server's words


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SpecError(ValueError):
    """A TrainingRun that is not valid; `errors` name each offending field."""

    def __init__(self, errors: list[FieldError], source: str = ""):
        self.errors = errors
        self.source = source
        head = f"invalid TrainingRun {source}: " if source else "invalid TrainingRun: "
        super().__init__(head + "; ".join(str(e) for e in errors))


def _render_value(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict | list):
        return "object" if isinstance(value, dict) else "array"
    return repr(value).lower() if isinstance(value, bool) else repr(value)


# Location entries pydantic adds for union members and validators, which are not fields.
_UNION_MEMBERS = frozenset({"int", "str", "float", "bool"})


def _value_at(document: Any, relative_path: str) -> Any:
    for name in relative_path.strip(".").split("."):
        if not isinstance(document, dict) or name not in document:
            return None
        document = document[name]
    return document


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, int | float) and float(value).is_integer() else str(value)


# pydantic's checks of Field() bounds, in the API server's words for the same OpenAPI keyword
# (`{path} in body should ...`), so that local mode and kubectl name a bad field alike.
_BOUNDS = {
    "greater_than_equal": ("ge", "should be greater than or equal to"),
    "less_than_equal": ("le", "should be less than or equal to"),
    "greater_than": ("gt", "should be greater than"),
    "less_than": ("lt", "should be less than"),
}


def _api_server_text(kind: str, path: str, value: Any, message: str, ctx: dict[str, Any]) -> str:
    """The API server's message for one failed check (after the field path)."""
    cause = ctx.get("error")
    if isinstance(cause, RuleViolation):
        return f"Invalid value: {cause.rule.message}"  # CEL rules: the server shows no value
    if isinstance(cause, PatternMismatch):
        return f"Invalid value: {_render_value(value)}: {path} in body should match '{cause.pattern}'"
    if kind == "missing":
        return "Required value"
    if kind == "extra_forbidden":
        return "Forbidden: unknown field"
    if kind == "literal_error":
        allowed = re.findall(r"'((?:[^'\\]|\\.)*)'", str(ctx.get("expected", "")))
        return f"Unsupported value: {_render_value(value)}: supported values: " + ", ".join(
            f'"{a}"' for a in allowed
        )
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"Invalid value: {_render_value(value)}: {path} in body {words} {_number(ctx[key])}"
    if kind == "string_pattern_mismatch":
        return f"Invalid value: {_render_value(value)}: {path} in body should match '{ctx['pattern']}'"
    if kind == "string_too_long":
        return f"Too long: may not be more than {ctx['max_length']} bytes"
    if kind == "string_too_short":
        return (
            f"Invalid value: {_render_value(value)}: {path} in body should be at least "
            f"{ctx['min_length']} chars long"
        )
    if kind == "too_short" and isinstance(value, list):
        return f"Invalid value: {len(value)}: {path} in body should have at least {ctx['min_length']} items"
    if kind == "too_long" and isinstance(value, list):
        return f"Too many: {len(value)}: must have at most {ctx['max_length']} items"
    return f"Invalid value: {_render_value(value)}: {message}"


def _field_errors(exc: ValidationError) -> list[FieldError]:
    by_path: dict[str, FieldError] = {}
    for err in exc.errors():
        loc = [p for p in err["loc"] if isinstance(p, int) or (p not in _UNION_MEMBERS and "[" not in p)]
        union_member = len(loc) != len(err["loc"])
        ctx = err.get("ctx") or {}
        cause = ctx.get("error")
        value = err["input"]
        if isinstance(cause, RuleViolation) and cause.rule.field_path:
            loc += cause.rule.field_path.strip(".").split(".")
            value = _value_at(value, cause.rule.field_path)
        if isinstance(cause, DuplicateValue):
            loc.append(cause.index)
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        if isinstance(cause, DuplicateValue):
            text = f"Duplicate value: {_render_value(cause.value)}"
        elif union_member and path in by_path:
            # int-or-string fields fail once per member; the quantity pattern says it all.
            text = (
                by_path[path].message
                if "should match" in by_path[path].message
                else (
                    f"Invalid value: {_render_value(value)}: {path} in body should match '{QUANTITY_PATTERN}'"
                )
            )
        else:
            message = err["msg"].removeprefix("Value error, ")
            text = _api_server_text(err["type"], path, value, message, ctx)
        by_path[path] = FieldError(path, text)
    return list(by_path.values())


def load_trainingrun(source: str | Path | dict[str, Any]) -> TrainingRun:
    """A TrainingRun from a YAML file or a dict (a manifest or a kopf body).

    Raises SpecError with one `FieldError` per problem, each naming the field path
    (`spec.daemons.autoscaling.minReplicas: Invalid value: ...`), as the API server does.
    """
    label = ""
    if isinstance(source, dict):
        document = source
    else:
        path = Path(source)
        label = str(path)
        try:
            documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        except OSError as e:
            raise SpecError([FieldError("", f"cannot read {path}: {e.strerror or e}")], label) from e
        except yaml.YAMLError as e:
            raise SpecError([FieldError("", f"not valid YAML: {e}")], label) from e
        if len(documents) != 1:
            raise SpecError([FieldError("", f"expected one YAML document, found {len(documents)}")], label)
        document = documents[0]
    if not isinstance(document, dict):
        raise SpecError(
            [FieldError("", "expected a mapping with apiVersion, kind, metadata and spec")], label
        )
    errors: list[FieldError] = []
    if document.get("apiVersion") != API_VERSION:
        errors.append(
            FieldError(
                "apiVersion",
                f"Unsupported value: {_render_value(document.get('apiVersion'))}: expected {API_VERSION}",
            )
        )
    if document.get("kind") != KIND:
        errors.append(
            FieldError("kind", f"Unsupported value: {_render_value(document.get('kind'))}: expected {KIND}")
        )
    if errors:
        raise SpecError(errors, label)
    try:
        run = TrainingRun.model_validate(document)
    except ValidationError as e:
        raise SpecError(_field_errors(e), label) from e
    return run
