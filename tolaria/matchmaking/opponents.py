"""The opponent of each self-play game: `OpponentSampler` draws one of
- `self_play`: the latest policy in the other seat too;
- `builtin_ai`: the daemon's heuristic AI (`-p2 ai`);
- `random_player`: the daemon's random player (`-p2 random`);
- `league`: a past snapshot of the league (`tolaria.matchmaking.league`), uniformly or
  weighted by recency as `actors.opponents.pastWeighting` says (recency: the i-th oldest of n
  has weight i, so the newest is drawn n times as often as the oldest);
in the proportions of the spec's `actors.opponents` (normalised by their sum). While the league
holds no snapshot older than the latest policy, its share goes to self-play. The draw is
deterministic given the sampler's seed and the sequence of calls, and `OpponentChoice.meta()`
is what the actor records with each rollout segment.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tolaria.spec import OpponentMix

OpponentKind = Literal["self_play", "builtin_ai", "random_player", "league"]
PastWeighting = Literal["uniform", "recency"]


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
