"""A policy as an engine player: games on the rules engine in process, no daemon in between.

The player answers each Decision from its DECISION payload through a `PolicyBackend`, and its
reply text through `Decision.parse`: the same payload, encoding and reply the policy gets and
gives over TCP, so what it does here is what it does in an actor or the evaluator.
"""

from __future__ import annotations

from tolaria.engine import Decision, decision_payload
from tolaria.engine.decision import Answer
from tolaria.inference.backend import PolicyBackend
from tolaria.trainer.weights import PolicyWeights


class PolicyPlayer:
    """A policy version's choices, greedy (as the evaluator plays) unless `greedy` is False."""

    def __init__(self, weights: PolicyWeights, greedy: bool = True):
        self.version = weights.version
        self.backend = PolicyBackend(weights, greedy=greedy)

    def choose(self, decision: Decision) -> Answer:
        return decision.parse(self.backend.act([decision_payload(decision)])[0].reply)
