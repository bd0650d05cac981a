from __future__ import annotations

import copy
import threading
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from engine.helpers import deck
from torch._dynamo.utils import counters

from tolaria.engine import Game, HeuristicPlayer
from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.encoding import Encoder
from tolaria.trainer.imitation import (
    Demonstrations,
    clone,
    demonstrations,
    engine_demonstrations,
    outcome_returns,
)
from tolaria.trainer.policy import PolicyNetwork, action_log_probs, to_tensors
from trainer import payloads as P

NETWORK = NetworkConfig.from_preset("small")


def test_returns_are_each_seats_outcome_discounted_per_later_decision_of_that_seat():
    returns = outcome_returns([0, 1, 0, 1, 0], winner=0, gamma=0.5)
    assert returns.tolist() == [0.25, -0.5, 0.5, -1.0, 1.0]
    assert outcome_returns([1, 1, 0], winner=1, gamma=1.0).tolist() == [1.0, 1.0, -1.0]
    assert outcome_returns([0, 1], winner=None, gamma=0.99).tolist() == [0.0, 0.0]


def heuristic_demonstrations(games: int) -> Demonstrations:
    def played() -> Iterator[tuple[Game, tuple[HeuristicPlayer, HeuristicPlayer]]]:
        for seed in range(games):
            decks = ("red_aggro", "white_weenie") if seed % 2 == 0 else ("white_weenie", "red_aggro")
            yield (
                Game((deck(decks[0]), deck(decks[1])), seed=seed),
                (HeuristicPlayer(seed), HeuristicPlayer(seed + 100)),
            )

    return engine_demonstrations(Encoder(NETWORK), played(), 0.99)


def agreement(model: PolicyNetwork, demos: Demonstrations) -> float:
    with torch.no_grad():
        greedy, _, _ = model.act(to_tensors(demos.observations), greedy=True)
    return float((greedy == torch.from_numpy(demos.actions)).all(1).float().mean())


def test_cloning_the_heuristic_ai_makes_the_network_choose_as_it_does():
    torch.manual_seed(0)
    demos = heuristic_demonstrations(16)
    training, held_out = demos.split(0.75)
    assert len(training) + len(held_out) == len(demos) > 500
    model = PolicyNetwork(NETWORK)
    before = agreement(model, held_out)
    nlls: list[float] = []
    clone(model, training, epochs=12, minibatch=64, on_epoch=lambda _, nll: nlls.append(nll))
    assert nlls[-1] < nlls[0] / 2
    after = agreement(model, held_out)
    assert after > max(0.7, before + 0.25), (before, after)
    with torch.no_grad():
        _, values = model(to_tensors(held_out.observations))
    # the value head learnt the outcomes: closer to them than a constant guess of their mean
    target = torch.from_numpy(held_out.returns)
    assert ((values - target) ** 2).mean() < ((target - target.mean()) ** 2).mean()


def test_decisions_the_offered_slots_cannot_reply_are_left_out():
    encoder = Encoder(NETWORK)
    payload = P.choose_action()
    demos = demonstrations(encoder, [payload, payload], ["-1", "17"], np.array([1.0, -1.0]))
    assert len(demos) == 1 and demos.returns.tolist() == [1.0]
    with pytest.raises(ValueError, match="no demonstrations"):
        clone(PolicyNetwork(NETWORK), demonstrations(encoder, [payload], ["17"], np.zeros(1)), epochs=1)


def test_concatenated_demonstrations_keep_every_decision_in_order():
    demos = heuristic_demonstrations(2)
    first, second = demos.split(0.5)
    joined = Demonstrations.concatenate([first, second], Encoder(NETWORK).empty(0))
    assert np.array_equal(joined.actions, demos.actions) and np.array_equal(joined.returns, demos.returns)
    assert all(np.array_equal(joined.observations[k], v) for k, v in demos.observations.items())
    none = Demonstrations.concatenate([], Encoder(NETWORK).empty(0))
    assert len(none) == 0 and none.actions.shape == (0, NETWORK.max_options)


def test_a_stop_request_ends_the_fit_after_the_minibatch_in_progress():
    stop = threading.Event()
    epochs: list[int] = []

    def after_epoch(epoch: int, _nll: float) -> None:
        epochs.append(epoch)
        stop.set()

    demos = heuristic_demonstrations(2)
    fit = clone(PolicyNetwork(NETWORK), demos, epochs=5, minibatch=64, on_epoch=after_epoch, stop=stop)
    assert not fit.finished(5) and (fit.epochs, fit.minibatches) == (1, 0)
    assert epochs == [1]
    assert clone(PolicyNetwork(NETWORK), demos, epochs=1, minibatch=64, stop=threading.Event()).finished(1)


def test_a_fit_stopped_mid_epoch_and_continued_ends_where_an_uninterrupted_one_does():
    """A preempted warm start continues its fit from the progress it saved: the same minibatches
    in the same order, the same Adam state, the same weights at the end, bit for bit."""
    demos = heuristic_demonstrations(2)
    torch.manual_seed(3)
    straight = PolicyNetwork(NETWORK)
    resumed = PolicyNetwork(NETWORK)
    resumed.load_state_dict(straight.state_dict())
    nlls: list[float] = []
    clone(straight, demos, epochs=3, minibatch=32, seed=4, on_epoch=lambda _, nll: nlls.append(nll))

    stop = threading.Event()
    minibatches = []

    def count(*_):  # stop during the 2nd minibatch of the second epoch
        minibatches.append(1)
        if len(minibatches) == -(-len(demos) // 32) + 2:
            stop.set()

    hook = resumed.register_forward_hook(count)
    fit = clone(resumed, demos, epochs=3, minibatch=32, seed=4, stop=stop)
    hook.remove()
    assert (fit.epochs, fit.minibatches) == (1, 2)
    resumed_nlls: list[float] = []
    fit = clone(
        resumed, demos, epochs=3, minibatch=32, seed=4, progress=fit,
        on_epoch=lambda _, nll: resumed_nlls.append(nll),
    )  # fmt: skip
    assert fit.finished(3)
    assert resumed_nlls == nlls[1:]
    for name, tensor in straight.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name


def test_a_compiled_fit_is_a_few_whole_graphs_and_fits_as_the_eager_one(monkeypatch):
    """`learner.compile`: the warm start's loss (network, action log-probabilities, value loss)
    over minibatches of varying widths, and a shorter last one each epoch, is captured in a few
    whole graphs, and the fit is the eager one's. Capture is counted with the aot_eager backend
    (inductor's code generation takes minutes on two cores)."""
    torch.set_num_threads(1)
    demos = heuristic_demonstrations(2)
    torch.manual_seed(5)
    eager_model = PolicyNetwork(NETWORK)
    compiled_model = copy.deepcopy(eager_model)
    want: list[float] = []
    clone(eager_model, demos, epochs=2, minibatch=48, on_epoch=lambda _, nll: want.append(nll))
    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: compile_(fn, backend="aot_eager", **kw))
    torch._dynamo.reset()
    counters.clear()
    got: list[float] = []
    clone(
        compiled_model, demos, epochs=2, minibatch=48, on_epoch=lambda _, nll: got.append(nll), compiled=True
    )
    assert sum(counters["graph_break"].values()) == 0
    assert len(demos) % 48  # each epoch ends on a shorter minibatch
    assert counters["stats"]["unique_graphs"] <= 3, counters["stats"]["unique_graphs"]
    assert got == pytest.approx(want, rel=1e-4)
    # Outputs, not weights: Adam turns float noise in a gradient that should be zero (a parameter
    # these decisions never use) into a step of the learning rate.
    batch = to_tensors(demos.observations)
    actions = torch.from_numpy(demos.actions)
    with torch.no_grad():
        fits = _fitted(eager_model, batch, actions), _fitted(compiled_model, batch, actions)
        for name, a, b in zip(("log-probabilities", "values"), *fits, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=name)


def _fitted(model: PolicyNetwork, batch: dict, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    logits, values = model(batch)
    return action_log_probs(logits, batch, actions)[0], values
