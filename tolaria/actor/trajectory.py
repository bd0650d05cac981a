"""Trajectories of one seat in one game, and how they become rollout segments.

Each decision the agent answers adds a `StepRecord`. When the game ends the outcome gives the
reward (+1 win, -1 loss, 0 draw) on the seat's last step, which is marked done, and the
trajectory is cut into segments of at most `max_steps` steps. A segment that ends before the game
does is not done and bootstraps from the value the actor recorded for the next step (the first
step of the following segment), as GAE expects (`tolaria.trainer.ppo.gae`).

Reward shaping (the spec's `rewardShaping`, off by default): each step may carry a potential
(`shaping_potential`: lifeDelta x (own life - opponent's life) / 20 + cardAdvantage x (own cards in
hand and on the battlefield - the opponent's), read from the decision's payload); step t then
gets gamma x potential(t+1) - potential(t) as extra reward, and the last step -potential(last)
(the end of the game has potential 0) besides the outcome. This is potential-based shaping (Ng,
Harada and Russell, 1999): the shaping terms of a whole game sum to -potential(first step), the
same for every way of playing it, so shaping speeds learning up without changing which policy
is best.

Segments are assembled only from finished games: a game that fails (daemon died, timeout, error)
discards its trajectories, so the learner never sees a partial game dressed up as a complete one.
Cutting bounds the size of one stream entry (and of the learner's per-segment GAE loop) without
losing the credit assignment across the cut.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tolaria.actor.backend import StepRecord
from tolaria.rollouts import STEP_DTYPES, Segment


def outcome_reward(winner_seat: int | None, seat: int) -> float:
    """+1 when `seat` won, -1 when it lost, 0 for a draw (winner None)."""
    if winner_seat is None:
        return 0.0
    return 1.0 if winner_seat == seat else -1.0


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def shaping_potential(payload: Mapping[str, Any], life_delta: float, card_advantage: float) -> float:
    """The shaping potential of the deciding player's position; 0 when shaping is off or the
    payload does not show exactly the two players."""
    if not (life_delta or card_advantage):
        return 0.0
    players = [p for p in (payload.get("game_state") or {}).get("players") or () if isinstance(p, dict)]
    me = payload.get("player")
    mine = [p for p in players if p.get("name") == me]
    theirs = [p for p in players if p.get("name") != me]
    if len(mine) != 1 or len(theirs) != 1:
        return 0.0
    own, other = mine[0], theirs[0]
    life = (_number(own.get("life")) - _number(other.get("life"))) / 20

    def cards(player: dict[str, Any]) -> float:
        return _number(player.get("hand_size")) + len(player.get("battlefield") or ())

    return life_delta * life + card_advantage * (cards(own) - cards(other))


class Trajectory:
    def __init__(self) -> None:
        self.steps: list[StepRecord] = []
        self.potentials: list[float] = []

    def add(self, record: StepRecord, potential: float = 0.0) -> None:
        self.steps.append(record)
        self.potentials.append(potential)

    def __len__(self) -> int:
        return len(self.steps)

    def segments(
        self,
        reward: float,
        max_steps: int,
        encoder_shape: Mapping[str, int],
        meta: Mapping[str, Any],
        gamma: float = 1.0,
    ) -> list[Segment]:
        """The finished trajectory as segments of at most `max_steps` steps, in order; `gamma`
        is the learner's discount, which potential-based shaping must use."""
        if max_steps < 1:
            raise ValueError(f"segments need at least one step, got max_steps={max_steps}")
        total = len(self.steps)
        following = [*self.potentials[1:], 0.0]  # the end of the game has potential 0
        out = []
        for index, start in enumerate(range(0, total, max_steps)):
            chunk = self.steps[start : start + max_steps]
            last = start + len(chunk) == total
            rewards = np.array(
                [gamma * following[t] - self.potentials[t] for t in range(start, start + len(chunk))],
                STEP_DTYPES["reward"],
            )
            done = np.zeros(len(chunk), STEP_DTYPES["done"])
            if last:
                rewards[-1] += reward
                done[-1] = True
            out.append(
                Segment(
                    observations={
                        name: np.stack([s.observation[name] for s in chunk]) for name in chunk[0].observation
                    },
                    action=np.stack([s.action for s in chunk]).astype(STEP_DTYPES["action"]),
                    log_prob=np.array([s.log_prob for s in chunk], STEP_DTYPES["log_prob"]),
                    value=np.array([s.value for s in chunk], STEP_DTYPES["value"]),
                    reward=rewards,
                    done=done,
                    policy_version=np.array([s.policy_version for s in chunk], STEP_DTYPES["policy_version"]),
                    bootstrap_value=0.0 if last else self.steps[start + len(chunk)].value,
                    encoder=dict(encoder_shape),
                    meta={**meta, "segment": index, "game_steps": total},
                )
            )
        return out
