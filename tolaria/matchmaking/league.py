"""The league: snapshots of past policy versions, opponents for self-play and for the evaluator.

Snapshots live in the run's checkpoint store under `<checkpoint uri>/league` (a subdirectory
for `file://`, a key prefix for `s3://`), one checkpoint object per snapshotted version, in the
trainer's checkpoint format: safetensors, never pickle, written atomically, the newest
`size` kept. The main store ignores them (it lists only its own directory level). The
evaluator adds a snapshot of every policy version it evaluates, so every league member has an
Elo rating; actors load the snapshots that `tolaria.matchmaking.opponents` draws.
"""

from __future__ import annotations

import dataclasses
import logging

from tolaria.trainer.checkpoint import Checkpoint, CheckpointError, CheckpointStore, open_store
from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.weights import PolicyWeights, decode_weights

log = logging.getLogger(__name__)

LEAGUE_DIRECTORY = "league"


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
