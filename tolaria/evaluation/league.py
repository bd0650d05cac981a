"""The league: snapshots of past policy versions, and how self-play draws its opponents.

Snapshots live in the run's checkpoint store under `<checkpoint uri>/league` (a subdirectory
for `file://`, a key prefix for `s3://`), one checkpoint object per snapshotted version, in the
trainer's checkpoint format: safetensors, never pickle, written atomically, the newest
`size` kept. The main store ignores them (it lists only its own directory level). The
evaluator adds a snapshot of every policy version it evaluates, so every league member has an
Elo rating.

Opponents of self-play (`OpponentSampler`): each game draws one of
- `self_play`: the latest policy in the other seat too;
- `builtin_ai`: the daemon's heuristic AI (`-p2 ai`);
- `random_player`: the daemon's random player (`-p2 random`);
- `league`: a past snapshot, uniformly or weighted by recency as `actors.opponents.pastWeighting`
  says (recency: the i-th oldest of n has weight i, so the newest is drawn n times as often as
  the oldest);
in the proportions of the spec's `actors.opponents` (normalised by their sum). While the league
holds no snapshot older than the latest policy, its share goes to self-play. The draw is
deterministic given the sampler's seed and the sequence of calls, and `OpponentChoice.meta()`
is what the actor records with each rollout segment.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tolaria.spec import OpponentMix
from tolaria.trainer.checkpoint import Checkpoint, CheckpointError, CheckpointStore, open_store
from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.weights import PolicyWeights, decode_weights

log = logging.getLogger(__name__)

LEAGUE_DIRECTORY = "league"
OpponentKind = Literal["self_play", "builtin_ai", "random_player", "league"]
PastWeighting = Literal["uniform", "recency"]


def league_uri(checkpoint_uri: str) -> str:
    """Where the league's snapshots live, given the run's checkpoint URI."""
    return checkpoint_uri.rstrip("/") + "/" + LEAGUE_DIRECTORY


class League:
    """Past policy snapshots in a checkpoint store; `size` newest kept."""

    def __init__(self, store: CheckpointStore):
        self.store = store
        self._version_of: dict[str, int] = {}  # object name -> policy version (read once)

    @classmethod
    def open(cls, checkpoint_uri: str, size: int, endpoint_url: str | None = None) -> League:
        return cls(open_store(league_uri(checkpoint_uri), keep=size, endpoint_url=endpoint_url))

    def versions(self) -> list[int]:
        """Policy versions held, oldest first."""
        names = self.store.checkpoints()
        for name in names:
            if name not in self._version_of:
                try:
                    self._version_of[name] = self.store.load(name).policy_version
                except CheckpointError as e:
                    log.warning("%s: skipping league snapshot: %s", self.store.uri, e)
        return sorted({self._version_of[n] for n in names if n in self._version_of})

    def add(self, weights: bytes | PolicyWeights) -> bool:
        """Snapshot published policy weights (the safetensors bytes of `...:policy`);
        False when that version is already in the league."""
        if not isinstance(weights, PolicyWeights):
            weights = decode_weights(weights)
        if weights.version in self.versions():
            return False
        snapshot = Checkpoint(
            step=weights.version,
            policy_version=weights.version,
            counters={},
            config={"network": dataclasses.asdict(weights.network)},
            model_state=weights.state_dict,
        )
        name = self.store.save(snapshot)
        self._version_of[name] = weights.version
        return True

    def load(self, version: int) -> PolicyWeights:
        """The snapshot of `version` (KeyError when the league does not hold it)."""
        self.versions()
        for name in reversed(self.store.checkpoints()):
            if self._version_of.get(name) == version:
                snapshot = self.store.load(name)
                network = NetworkConfig(**snapshot.config["network"])
                return PolicyWeights(snapshot.policy_version, network, snapshot.model_state)
        raise KeyError(f"policy version {version} is not in the league at {self.store.uri}")


@dataclass(frozen=True)
class OpponentChoice:
    kind: OpponentKind
    version: int | None = None  # the snapshot's policy version for `league`

    def meta(self) -> dict[str, str | int | None]:
        """The fields the actor records in each rollout segment's metadata."""
        return {"opponent_kind": self.kind, "opponent_version": self.version}


class OpponentSampler:
    """Draws the opponent of each self-play game (see the module's rules)."""

    def __init__(self, mix: OpponentMix, seed: int, past: PastWeighting | None = None):
        """`past` overrides the mix's `pastWeighting`."""
        past = mix.past_weighting if past is None else past
        if past not in ("uniform", "recency"):
            raise ValueError(f"past snapshots are weighted uniform or recency, not {past!r}")
        self.weights = {
            "self_play": mix.self_play,
            "builtin_ai": mix.builtin_ai,
            "random_player": mix.random_player,
            "league": mix.league,
        }
        self.past = past
        self.rng = random.Random(seed)

    def sample(self, latest_version: int, league_versions: Sequence[int]) -> OpponentChoice:
        past = sorted(v for v in set(league_versions) if v < latest_version)
        weights = dict(self.weights)
        if not past:
            weights["self_play"] += weights.pop("league")
        kinds = list(weights)
        kind = self.rng.choices(kinds, weights=[weights[k] for k in kinds])[0]
        if kind != "league":
            return OpponentChoice(kind)  # type: ignore[arg-type]
        if self.past == "uniform":
            return OpponentChoice("league", self.rng.choice(past))
        return OpponentChoice("league", self.rng.choices(past, weights=range(1, len(past) + 1))[0])
