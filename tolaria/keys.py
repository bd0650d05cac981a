"""Redis key names of one run, fixed by DESIGN.md section 3.

Several runs can share one Redis, so every key is prefixed `tolaria:{namespace}/{name}:`.
"""

from __future__ import annotations

from dataclasses import dataclass

LEARNER_GROUP = "learners"


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
        """Current policy weights (safetensors bytes, never pickle)."""
        return self.prefix + "policy"

    @property
    def policy_version(self) -> str:
        return self.prefix + "policy:version"

    @property
    def stats(self) -> str:
        """Hash of run counters (games, wins, decisions, errors, ...)."""
        return self.prefix + "stats"

    @property
    def elo(self) -> str:
        """Hash of Elo ratings, one field per policy version or baseline."""
        return self.prefix + "elo"
