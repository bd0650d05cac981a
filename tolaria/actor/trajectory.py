"""Trajectories of one seat in one game, and how they become rollout segments.

Each decision the agent answers adds a `StepRecord`. When the game ends the outcome gives the
reward (+1 win, -1 loss, 0 draw) on the seat's last step, which is marked done; the trajectory
is cut into segments of at most `max_steps` steps. A segment that ends before the game
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

Long games are shipped while they go on (`ready_segments`): a segment of `max_steps` steps is
complete as soon as the step after it is recorded, since it bootstraps from that step's value
and its shaping needs that step's potential; the rest follows when the game ends (`segments`).
So the policy version of shipped data is at most one segment's worth of play old, however long
the game, and the actor holds at most one segment per seat. A game that fails (daemon died,
timeout, error) discards the steps not shipped yet; what was shipped is correct as it stands
(cut, not done, bootstrapped), so the learner never sees a partial game dressed up as a
complete one. Cutting also bounds the size of one stream entry (and of the learner's
per-segment GAE loop) without losing the credit assignment across the cut. Each segment's
`meta` has its index in the game (`segment`) and the game step it starts at (`first_step`);
the game's last segment also has `game_steps`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tolaria.inference.backend import StepRecord
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
    """The steps of one seat: each field in a growing array of its own, so that adding a step is
    one row write per field and a segment is a slice (no per-step copies, no stacking)."""

    def __init__(self) -> None:
        self._observations: dict[str, np.ndarray] = {}
        self._actions = np.zeros((0, 0), STEP_DTYPES["action"])
        self._log_probs = np.zeros(0, STEP_DTYPES["log_prob"])
        self._values = np.zeros(0, STEP_DTYPES["value"])
        self._versions = np.zeros(0, STEP_DTYPES["policy_version"])
        self._potentials = np.zeros(0, np.float64)
        self._length = 0  # rows held (steps recorded and not shipped yet)
        self._first_step = 0  # the game step of row 0
        self._segments_made = 0

    def add(self, record: StepRecord, potential: float = 0.0) -> None:
        """Copies the record's rows (they may be views of a whole inference batch)."""
        t = self._length
        if t == len(self._log_probs):
            self._grow(record, max(16, 2 * t))
        for name, row in record.observation.items():
            self._observations[name][t] = row
        self._actions[t] = record.action
        self._log_probs[t] = record.log_prob
        self._values[t] = record.value
        self._versions[t] = record.policy_version
        self._potentials[t] = potential
        self._length = t + 1

    def _grow(self, record: StepRecord, capacity: int) -> None:
        def grown(old: np.ndarray | None, row: np.ndarray, dtype: np.dtype | None = None) -> np.ndarray:
            new = np.zeros((capacity, *np.shape(row)), dtype or np.asarray(row).dtype)
            if old is not None:
                new[: self._length] = old[: self._length]
            return new

        for name, row in record.observation.items():
            self._observations[name] = grown(self._observations.get(name), row)
        self._actions = grown(self._actions if self._length else None, record.action, self._actions.dtype)
        self._log_probs = grown(self._log_probs, 0.0, self._log_probs.dtype)
        self._values = grown(self._values, 0.0, self._values.dtype)
        self._versions = grown(self._versions, 0, self._versions.dtype)
        self._potentials = grown(self._potentials, 0.0, self._potentials.dtype)

    def __len__(self) -> int:
        """Steps recorded in the game so far, shipped ones included."""
        return self._first_step + self._length

    def ready_segments(
        self,
        max_steps: int,
        encoder_shape: Mapping[str, int],
        meta: Mapping[str, Any],
        gamma: float = 1.0,
    ) -> list[Segment]:
        """The segments of `max_steps` steps that are complete while the game goes on: those whose
        next step, which they bootstrap from, is recorded. Their rows are released."""
        _check_steps(max_steps)
        out = []
        while self._length > max_steps:
            out.append(self._segment(max_steps, None, encoder_shape, meta, gamma))
            self._release(max_steps)
        return out

    def segments(
        self,
        reward: float,
        max_steps: int,
        encoder_shape: Mapping[str, int],
        meta: Mapping[str, Any],
        gamma: float = 1.0,
    ) -> list[Segment]:
        """The rest of the finished trajectory as segments of at most `max_steps` steps, in order;
        `gamma` is the learner's discount, which potential-based shaping must use."""
        _check_steps(max_steps)
        out = []
        while self._length > max_steps:
            out.append(self._segment(max_steps, None, encoder_shape, meta, gamma))
            self._release(max_steps)
        if self._length:
            out.append(self._segment(self._length, reward, encoder_shape, meta, gamma))
            self._release(self._length)
        return out

    def _segment(
        self,
        steps: int,
        reward: float | None,
        encoder_shape: Mapping[str, int],
        meta: Mapping[str, Any],
        gamma: float,
    ) -> Segment:
        """The first `steps` unreleased rows; `reward` None: the game goes on after them (row
        `steps` is recorded: its value bootstraps, its potential shapes), else it ends with them."""
        last = reward is not None
        potentials = self._potentials[: steps + (0 if last else 1)]
        following = np.append(potentials[1:], 0.0) if last else potentials[1:]  # the end: potential 0
        rewards = (gamma * following - potentials[:steps]).astype(STEP_DTYPES["reward"])
        done = np.zeros(steps, STEP_DTYPES["done"])
        if last:
            rewards[-1] += reward
            done[-1] = True
        info = {**meta, "segment": self._segments_made, "first_step": self._first_step}
        if last:
            info["game_steps"] = self._first_step + steps
        self._segments_made += 1
        return Segment(
            observations={name: array[:steps].copy() for name, array in self._observations.items()},
            action=self._actions[:steps].copy(),
            log_prob=self._log_probs[:steps].copy(),
            value=self._values[:steps].copy(),
            reward=rewards,
            done=done,
            policy_version=self._versions[:steps].copy(),
            bootstrap_value=0.0 if last else float(self._values[steps]),
            encoder=dict(encoder_shape),
            meta=info,
        )

    def _release(self, steps: int) -> None:
        """Forgets the first `steps` rows (shipped), moving the rest to the front."""
        rest = self._length - steps
        for array in (
            *self._observations.values(),
            self._actions,
            self._log_probs,
            self._values,
            self._versions,
            self._potentials,
        ):
            array[:rest] = array[steps : self._length]
        self._length = rest
        self._first_step += steps


def _check_steps(max_steps: int) -> None:
    if max_steps < 1:
        raise ValueError(f"segments need at least one step, got max_steps={max_steps}")
