"""Inference backends: a batch of DECISION payloads in, one reply and one step record per payload out.

`PolicyBackend` is the real one: the trainer's vectorised `Encoder` and one forward pass of the
`PolicyNetwork` for the whole batch, actions sampled from the policy's distribution (actors
explore; the evaluator plays greedy). A backend is immutable once built, so the batcher can swap
in a new policy version between two batches without a lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from tolaria.trainer.encoding import Encoder, StaticMemory
from tolaria.trainer.policy import to_tensors
from tolaria.trainer.weights import PolicyWeights


@dataclass(frozen=True)
class StepRecord:
    """What the learner needs of one decision: the encoded observation (one row of each encoder
    array: views into the batch, which `Trajectory.add` copies at once), the chosen action row,
    its behaviour log-probability, the value estimate and the policy version that produced them."""

    observation: dict[str, np.ndarray]
    action: np.ndarray
    log_prob: float
    value: float
    policy_version: int


@dataclass(frozen=True)
class Answer:
    reply: str
    record: StepRecord


class InferenceBackend(Protocol):
    version: int
    encoder_shape: dict[str, int]

    def act(self, payloads: Sequence[dict[str, Any]]) -> list[Answer]:
        """One answer per payload, in order; raises for a payload it cannot encode."""
        ...


class PolicyBackend:
    """One policy version on one device.

    Compact payloads (`-x compact`) carry a card name's static fields only at its first
    appearance in a game, so every backend of an actor shares one `StaticMemory`: a version
    swapped in mid-game still knows the cards the games in flight have already described.
    """

    def __init__(
        self,
        weights: PolicyWeights,
        device: torch.device | str = "cpu",
        memory: StaticMemory | None = None,
        greedy: bool = False,
    ):
        self.version = weights.version
        self.device = torch.device(device)
        self.model = weights.model(self.device)
        self.encoder = Encoder(weights.network)
        if memory is not None:
            self.encoder.memory = memory
        self.encoder_shape = dict(self.encoder.shape)
        self.greedy = greedy

    def act(self, payloads: Sequence[dict[str, Any]]) -> list[Answer]:
        arrays, offered = self.encoder.encode_offered(payloads)
        with torch.inference_mode():
            actions, log_probs, values = self.model.act(to_tensors(arrays, self.device), greedy=self.greedy)
        actions_np = actions.cpu().numpy().astype(np.int32)
        log_probs_np = log_probs.float().cpu().numpy()
        values_np = values.float().cpu().numpy()
        answers = []
        for row in range(len(payloads)):
            record = StepRecord(
                observation={name: array[row] for name, array in arrays.items()},
                action=actions_np[row],
                log_prob=min(float(log_probs_np[row]), 0.0),
                value=float(values_np[row]),
                policy_version=self.version,
            )
            answers.append(Answer(self.encoder.reply(offered[row], actions_np[row]), record))
        return answers
