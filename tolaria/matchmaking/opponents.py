"""The opponent of each self-play game: `OpponentSampler` draws one of
- `self_play`: the latest policy in the other seat too;
- `builtin_ai`: the daemon's heuristic AI (`-p2 ai`);
- `random_player`: the daemon's random player (`-p2 random`);
- `league`: a past snapshot of the league (`tolaria.matchmaking.league`), uniformly or
  weighted by recency as `actors.opponents.pastWeighting` says (recency: the i-th oldest of n
  has weight i, so the newest is drawn n times as often as the oldest);
in the proportions of the spec's `actors.opponents` (normalised by their sum). While the league
holds no snapshot older than the latest policy, its share goes to self-play.

A drawn snapshot plays a series of `leagueSeries` league games in a row (the league games drawn
next), then the next one is drawn; a series ends early when its snapshot leaves the league. Every
series has the same length, so each snapshot's share of the league's games is what its weight
says, as with a draw per game; but the games against a snapshot are in flight together and
the actor answers them in batches rather than one decision at a time.

The draw is deterministic given the sampler's seed and the sequence of calls, and
`OpponentChoice.meta()` is what the actor records with each rollout segment.
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
        self.series = mix.league_series
        self.rng = random.Random(seed)
        self._snapshot: int | None = None  # the series' snapshot
        self._series_left = 0  # league games still to play against it

    def sample(self, latest_version: int, league_versions: Sequence[int]) -> OpponentChoice:
        past = sorted(v for v in set(league_versions) if v < latest_version)
        weights = dict(self.weights)
        if not past:
            weights["self_play"] += weights.pop("league")
        kinds = list(weights)
        kind = self.rng.choices(kinds, weights=[weights[k] for k in kinds])[0]
        if kind != "league":
            return OpponentChoice(kind)  # type: ignore[arg-type]
        if not self._series_left or self._snapshot not in past:
            self._snapshot = self._draw_snapshot(past)
            self._series_left = self.series
        self._series_left -= 1
        return OpponentChoice("league", self._snapshot)

    def _draw_snapshot(self, past: list[int]) -> int:
        if self.past == "uniform":
            return self.rng.choice(past)
        return self.rng.choices(past, weights=range(1, len(past) + 1))[0]
