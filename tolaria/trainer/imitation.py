"""Behaviour cloning of the built-in AI: a warm start for the policy before PPO.

A network that starts from random weights meets PPO's local optima first (attack with every
creature, never cast a burn spell whose target it has not learnt yet) and stays there; one that
starts as a copy of the heuristic AI starts where those decisions are already sensible, and PPO
then improves on the AI (BENCHMARKS.md, "Warm start"). The copy learns from demonstrations:
decisions of the AI's games with the reply the AI gave to each (observe mode's `ai_choice`).

- Policy: cross-entropy towards the AI's action, through the same action heads PPO trains.
- Value: the learner's value loss, 0.5 x squared error (weight 1), towards each decision's return (the
  deciding seat's outcome, +1 / -1 / 0, discounted by gamma per later decision of that seat,
  exactly the return PPO computes for a game without shaping), so that the first PPO updates
  get advantages from a value that already knows the game rather than from noise.
- Preemption: a stopped fit returns its `CloneProgress`, which the learner keeps in the checkpoint
  store with the weights (`tolaria.trainer.warm_progress`) and continues from after a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tolaria.engine import Game, decision_payload
from tolaria.engine.answer_text import answer_text
from tolaria.trainer.encoding import Encoder
from tolaria.trainer.policy import (
    PolicyNetwork,
    action_log_probs,
    all_slots,
    as_network_input,
    keep_slots,
    minibatch_widths,
    slot_extents,
)


def outcome_returns(seats: Sequence[int], winner: int | None, gamma: float) -> np.ndarray:
    """The return of each decision of one game, in order: seats[i] decided the i-th decision."""
    returns = np.zeros(len(seats), dtype=np.float32)
    later = {}
    for i in reversed(range(len(seats))):
        seat = seats[i]
        outcome = 0.0 if winner is None else (1.0 if winner == seat else -1.0)
        returns[i] = outcome * gamma ** later.get(seat, 0)
        later[seat] = later.get(seat, 0) + 1
    return returns


@dataclass
class Demonstrations:
    """Encoded decisions with the AI's action for each. The encoder's float features are kept in
    half precision (`compact`): decisions are a warm start's largest allocation, and the features
    (tenths, small fractions and counts below a few tens) move by at most 2^-11 of their value."""

    observations: dict[str, np.ndarray]
    actions: np.ndarray  # [N, max_options] int64, the AI's choice as the policy's action
    returns: np.ndarray  # [N] float32

    def __len__(self) -> int:
        return len(self.actions)

    @classmethod
    def concatenate(cls, parts: Sequence[Demonstrations], empty: dict[str, np.ndarray]) -> Demonstrations:
        """All parts' decisions in order; `empty` (`Encoder.empty(0)`) gives the arrays of none."""
        if not parts:
            width = empty["option_mask"].shape[1]
            return cls(compact(empty), np.zeros((0, width), np.int64), np.zeros(0, np.float32))
        return cls(
            {k: np.concatenate([p.observations[k] for p in parts]) for k in parts[0].observations},
            np.concatenate([p.actions for p in parts]),
            np.concatenate([p.returns for p in parts]),
        )

    def split(self, fraction: float) -> tuple[Demonstrations, Demonstrations]:
        """(the first `fraction` of the decisions, the rest), in order."""
        cut = int(len(self) * fraction)
        return self._rows(slice(None, cut)), self._rows(slice(cut, None))

    def _rows(self, rows: slice) -> Demonstrations:
        return Demonstrations(
            {k: v[rows] for k, v in self.observations.items()}, self.actions[rows], self.returns[rows]
        )


def demonstrations(
    encoder: Encoder, payloads: Sequence[dict[str, Any]], replies: Sequence[str], returns: np.ndarray
) -> Demonstrations:
    """Encoded decisions with the AI's reply to each as the policy's action; a decision whose
    reply the offered slots cannot express (an option past `max_options`) is left out."""
    arrays, offered = encoder.encode_offered(payloads)
    actions = [encoder.action_of_reply(o, reply) for o, reply in zip(offered, replies, strict=True)]
    kept = np.array([a is not None for a in actions], dtype=bool)
    width = arrays["option_mask"].shape[1]
    stacked = (
        np.stack([a for a in actions if a is not None]).astype(np.int64)
        if kept.any()
        else np.zeros((0, width), np.int64)
    )
    return Demonstrations(
        compact({k: v[kept] for k, v in arrays.items()}), stacked, np.asarray(returns, np.float32)[kept]
    )


def compact(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Encoder arrays with their float32 features in float16 (half the bytes of a decision:
    about 8.4 KB instead of 15.7 KB with the `small` network's slots)."""
    return {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in arrays.items()}


def engine_demonstrations(
    encoder: Encoder, games: Iterable[tuple[Game, Sequence[Any]]], gamma: float
) -> Demonstrations:
    """Demonstrations from engine games played in process by `(game, players)` (players[i]
    answers seat i through `.choose(decision)`): every decision with the reply its player gave
    (the wire text observe mode streams as `ai_choice`) and its discounted outcome. What the
    warm start watches on the daemons, without them: for benchmarks and tests. Each game is
    encoded as it ends, as the warm start does: payloads are far larger than encoded decisions."""
    parts = []
    for game, players in games:
        payloads, replies, seats = [], [], []
        decision = game.start()
        while decision is not None:
            answer = None
            if decision.expects_reply:
                answer = players[decision.seat].choose(decision)
                payloads.append(decision_payload(decision))
                replies.append(answer_text(decision, answer))
                seats.append(decision.seat)
            decision = game.submit(answer)
        assert game.result is not None
        parts.append(
            demonstrations(encoder, payloads, replies, outcome_returns(seats, game.result.winner, gamma))
        )
    return Demonstrations.concatenate(parts, encoder.empty(0))


@dataclass
class CloneProgress:
    """How far a fit has got: enough, with the model's weights, to continue it exactly."""

    epochs: int  # epochs finished
    minibatches: int  # minibatches finished of the epoch in progress
    shuffle_state: torch.Tensor  # the shuffling generator's state when the epoch in progress began
    optimizer_state: dict[str, Any] | None
    nll_sum: float = 0.0  # policy NLL x samples so far in the epoch in progress

    def finished(self, epochs: int) -> bool:
        return self.epochs >= epochs


def clone(
    model: PolicyNetwork,
    demos: Demonstrations,
    epochs: int,
    minibatch: int = 512,
    learning_rate: float = 1e-3,
    seed: int = 0,
    on_epoch: Callable[[int, float], None] | None = None,
    stop: threading.Event | None = None,
    progress: CloneProgress | None = None,
    compiled: bool = False,
) -> CloneProgress:
    """Fits `model` to the demonstrations; `on_epoch(epoch, mean policy NLL)` after each epoch.
    When `stop` is set the fit ends after the minibatch in progress, unfinished: the progress it
    returns (with the model's weights) continues it exactly, as `progress`, in a later call.
    `compiled`: the loss runs compiled (`learner.compile`), as PPO's does."""
    if not len(demos):
        raise ValueError("no demonstrations to learn from")
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    if progress is not None and progress.optimizer_state is not None:
        optimizer.load_state_dict(progress.optimizer_state)
    stored = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in demos.observations.items()}
    targets = torch.from_numpy(demos.actions)
    returns = torch.from_numpy(demos.returns)
    device = next(model.parameters()).device
    # As PPO's update does (`tolaria.trainer.ppo`): each minibatch's widths read on the host, and
    # on CUDA or compiled bucketed with every card slot run, so that no minibatch waits for the
    # device to say how wide it is; the NLL summed on the device and read once an epoch.
    extents, slots = slot_extents(demos.observations), all_slots(demos.observations)
    bucketed = compiled or device.type == "cuda"
    fit_loss = torch.compile(_fit_loss, dynamic=False) if compiled else _fit_loss
    generator = torch.Generator().manual_seed(seed)
    first_epoch, skip, total = 0, 0, 0.0
    if progress is not None:
        first_epoch, skip, total = progress.epochs, progress.minibatches, progress.nll_sum
        generator.set_state(progress.shuffle_state)
    n = len(demos)
    model.train()
    for epoch in range(first_epoch, epochs):
        shuffle_state = generator.get_state()
        order = torch.randperm(n, generator=generator)
        nll = torch.tensor(total, dtype=torch.float64, device=device)  # policy NLL x samples
        for number, start in enumerate(range(0, n, minibatch)):
            if number < skip:  # done before the fit was stopped
                continue
            if stop is not None and stop.is_set():
                model.eval()
                return CloneProgress(epoch, number, shuffle_state, optimizer.state_dict(), float(nll))
            idx = order[start : start + minibatch]
            widths = minibatch_widths(extents[idx.numpy()], slots, bucketed)
            kept = keep_slots(stored, widths.cards, widths.options, widths.targets)
            mb = {k: as_network_input(v[idx]).to(device) for k, v in kept.items()}
            inputs = (targets[idx][:, : widths.options].to(device), returns[idx].to(device))
            if compiled:  # one graph for every minibatch size, the last one's included
                for tensor in (*mb.values(), *inputs):
                    torch._dynamo.maybe_mark_dynamic(tensor, 0)
            loss, policy_loss = fit_loss(model, mb, *inputs, widths.subset, bucketed)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            optimizer.step()
            nll += policy_loss.detach().double() * len(idx)
        if on_epoch is not None:
            on_epoch(epoch + 1, float(nll) / n)
        skip, total = 0, 0.0
    model.eval()
    return CloneProgress(epochs, 0, generator.get_state(), optimizer.state_dict())


def _fit_loss(
    model: PolicyNetwork,
    mb: dict[str, torch.Tensor],
    targets: torch.Tensor,
    returns: torch.Tensor,
    subset_width: int,
    static_shapes: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (the fit's loss, its policy NLL): cross-entropy towards the AI's actions plus the
    learner's value loss towards the returns."""
    logits, values = model(mb, static_shapes=static_shapes)
    log_probs, _ = action_log_probs(logits, mb, targets, subset_width)
    policy_loss = -log_probs.mean()
    return policy_loss + 0.5 * ((values - returns) ** 2).mean(), policy_loss
