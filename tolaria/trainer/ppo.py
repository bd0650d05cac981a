"""PPO (Schulman et al. 2017, "Proximal Policy Optimization Algorithms"), as in CleanRL's ppo.py.

- Advantages: GAE(gamma, lambda) (Schulman et al. 2016) per trajectory segment, from the values
  the actor recorded while acting; a segment cut before the game's end bootstraps from the
  actor's value of the next decision (`Segment.bootstrap_value`). Returns = advantages + values.
- Policy loss: the clipped surrogate, -min(r A, clip(r, 1-eps, 1+eps) A), averaged; the ratio r
  is exp(log pi_theta(a|s) - log mu(a|s)), where mu is the *behaviour* policy whose
  log-probability the actor recorded with each step. In synchronous PPO mu is the policy of
  the previous update; here actors lag the learner. Using the recorded behaviour log-probability
  keeps the ratio an honest importance weight for the data actually collected, and the clip
  bounds how far one update moves from it.
- Off-policy correction: dual-clip PPO (Ye et al. 2020, "Mastering Complex Control in MOBA Games
  with Deep Reinforcement Learning"): for A < 0 the sample's loss is also capped at -c A
  (`dual_clip`, c = 3). The clipped surrogate alone bounds r A from above only for A > 0; with
  A < 0 it grows with r without bound, so one sample from a policy many versions old (r in the
  thousands) would dominate its minibatch. With the cap every sample's loss is at most
  max(1 + eps, c) |A| and its gradient zero past the caps, whatever the lag; the log-ratio is
  bounded at `LOG_RATIO_LIMIT`, past both caps, so that exp() never overflows. Chosen over
  V-trace's truncated importance weights (IMPALA) because (1) the lag here is unbounded by design
  while the evaluator's promotion gate holds the actors on an old version, and the failure to
  prevent is an unbounded loss, which dual clip removes per sample; (2) it keeps the learner PPO
  (the clip on the learner's own change within an update, several epochs per batch), where
  V-trace corrects the value targets of a single pass; (3) it needs nothing the segments lack:
  V-trace needs the learner's values and log-probabilities along each trajectory in order,
  one more forward pass per update over whole segments and the next observation at every cut,
  while the advantages here come from the actors' recorded values (GAE). The cost: advantages
  from old values are biased for the learner's policy; `max_policy_lag` bounds that.
- Staleness: a segment any of whose steps was produced by a policy more than `max_policy_lag`
  versions behind the version the actors are told to play is dropped before the update (and
  counted), because GAE from old values stops being a useful estimate -- the approach of Sample
  Factory's `max_policy_lag`. The stream entry carries the segment's oldest version as a field,
  so the learner drops it without decoding it. That reference is the learner's newest version,
  except while the evaluator's promotion gate is on: then actors play the promoted version,
  which may trail the learner by any number of updates, and lag is measured against it, so the
  gate does not starve the learner; the dual clip is what keeps those updates bounded
  (`tolaria.trainer.learner` reads the reference).
- Lag in time: the learner publishes one version per update, so a version lasts batch_size /
  (samples consumed per second) seconds (`tolaria_learner_version_interval_seconds`), and a step
  goes stale max_policy_lag version intervals after its version was published. What it spends of
  that: the actor's switch to a new version (one inference batch, `tolaria.actor`), the time to
  fill its segment (`segment_steps` decisions of one game), the queue and the held batch. The
  learner reports the lag of each update's samples in versions (`policy_lag`) and in seconds
  since their version was published (`policy_age_seconds`).
- Value loss: 0.5 (V - R)^2, optionally clipped around the recorded value as CleanRL does.
- Entropy bonus (per decision, whatever its kind: `tolaria.trainer.policy`), advantage
  normalisation per minibatch, global gradient-norm clipping, several
  epochs over shuffled minibatches, AdamW (fused), linear learning-rate warmup.
- Reported per decision kind (`KIND_NAMES`) besides overall: approx KL and clip fraction, as
  "approx_kl:<kind>" and "clip_fraction:<kind>".
- A minibatch whose loss or gradient is not finite is skipped and counted (`skipped_minibatches`),
  so no update can turn the weights into NaN. The device decides: the fused AdamW skips its whole
  step (moments and step count included) when handed a found-inf flag, as it does for
  GradScaler; with fp16 the scaler's own flag (a non-finite gradient) decides, as before.
- One host synchronisation per update: loss terms, per-kind figures and the skipped count are
  summed on the device and read once, at the end, and each minibatch's slot widths come from the
  host's copy of the batch (`slot_extents`). A read per minibatch would make the host wait for the
  GPU every time, and the GPU for the host's next launches.
- On CUDA the forward pass runs under bf16 autocast (fp16 with a gradient scaler, or fp32, as
  the spec says); heads, log-probabilities and losses stay in float32 (`evaluate`).
- Shapes: on the CPU (eager) a minibatch keeps exactly the card, option and target slots its rows
  use, and the deepsets card MLP runs on the present cards only: the fastest on a CPU, with shapes
  that change every minibatch. Compiled (`learner.compile`) or on CUDA, the network runs every
  slot it keeps (`static_shapes`), the widths are rounded up to buckets (the slot count, its
  half, quarter or eighth: `minibatch_widths`), and the minibatch size is marked dynamic (the last
  minibatch of an epoch is shorter): a run compiles one graph per combination of buckets it
  meets, a handful, with no graph break. Outputs are the same either way, to float tolerance.
  torch.compile covers the whole minibatch loss (network, distributions, PPO loss); on a CPU it
  is slower than the eager path (BENCHMARKS.md), so it is for GPUs.
- Preemption: `update` checks its `stop` event between minibatches. A stopped update is abandoned
  whole: the trainer goes back to the state it started from (weights, optimiser, scaler, random
  state), so that the learner can checkpoint at once and a resumed learner makes exactly the
  update the stopped one would have made, on the same (unacknowledged, re-read) entries.
  `state`/`load_state` are what a checkpoint keeps of the trainer.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from tolaria.inference.device import resolve_device
from tolaria.rollouts import Segment
from tolaria.trainer.config import LearnerConfig, PPOConfig
from tolaria.trainer.encoding import KIND_NAMES
from tolaria.trainer.policy import (
    PolicyNetwork,
    action_log_probs,
    all_slots,
    keep_slots,
    minibatch_widths,
    slot_extents,
)


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    dones: np.ndarray,
    bootstrap_value: float,
    gamma: float,
    lam: float,
) -> tuple[np.ndarray, np.ndarray]:
    """-> (advantages, returns) of one segment. dones[t] means the game ended after step t."""
    steps = len(rewards)
    advantages = np.zeros(steps, dtype=np.float32)
    last = 0.0
    for t in reversed(range(steps)):
        next_value = bootstrap_value if t == steps - 1 else float(values[t + 1])
        nonterminal = 0.0 if dones[t] else 1.0
        delta = float(rewards[t]) + gamma * next_value * nonterminal - float(values[t])
        last = delta + gamma * lam * nonterminal * last
        advantages[t] = last
    return advantages, advantages + values.astype(np.float32)


def learning_rate_factor(update: int, config: PPOConfig) -> float:
    """The learning rate of PPO update `update` (0-based, counting updates that changed the
    weights), as a fraction of `config.learning_rate`: a linear ramp over the warm-up, times a
    linear fall to `final_lr_fraction` over `lr_decay_updates`."""
    warmup = min(1.0, (update + 1) / config.warmup_updates) if config.warmup_updates else 1.0
    if not config.lr_decay_updates:
        return warmup
    progress = min(1.0, update / config.lr_decay_updates)
    final = config.final_lr_fraction
    return warmup * (final + (1.0 - final) * (1.0 - progress))


def policy_lag(segment: Segment, reference_version: int) -> int:
    """How many versions the segment's oldest step trails `reference_version`."""
    return int(reference_version - segment.policy_version.min())


LOSS_TERMS = ("loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")
# Terms also reported per decision kind (`KIND_NAMES`), as "<term>:<kind>".
KIND_TERMS = ("approx_kl", "clip_fraction")
# exp(20) ~ 5e8. Past this ratio the clip (A > 0) or the dual clip (A < 0) has already made the
# sample's policy gradient zero, so bounding the log-ratio here changes no gradient; it keeps
# exp() finite, and with it the backward pass free of inf x 0 = NaN.
LOG_RATIO_LIMIT = 20.0


@dataclass
class LossTerms:
    loss: torch.Tensor
    policy_loss: torch.Tensor
    value_loss: torch.Tensor
    entropy: torch.Tensor
    approx_kl: torch.Tensor
    clip_fraction: torch.Tensor
    sample_kl: torch.Tensor  # per sample, without gradient: for the per-kind figures
    sample_clipped: torch.Tensor  # per sample, 1.0 where the ratio left [1 - eps, 1 + eps]


def ppo_loss(
    new_log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    entropy: torch.Tensor,
    new_value: torch.Tensor,
    old_value: torch.Tensor,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    config: PPOConfig,
) -> LossTerms:
    log_ratio = (new_log_prob - old_log_prob).clamp(max=LOG_RATIO_LIMIT)
    ratio = log_ratio.exp()
    with torch.no_grad():
        sample_kl = (ratio - 1) - log_ratio
        sample_clipped = ((ratio - 1.0).abs() > config.clip_range).float()
    if config.normalize_advantages and advantages.numel() > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    surrogate = torch.max(
        -advantages * ratio, -advantages * torch.clamp(ratio, 1 - config.clip_range, 1 + config.clip_range)
    )
    # Dual clip (Ye et al. 2020): with A < 0 the clipped surrogate still grows with the ratio
    # without bound; data from a behaviour policy far from this one would dominate the minibatch.
    policy_loss = torch.where(
        advantages < 0, torch.min(surrogate, -config.dual_clip * advantages), surrogate
    ).mean()
    if config.clip_value_loss:
        unclipped = (new_value - returns) ** 2
        clipped_value = old_value + torch.clamp(new_value - old_value, -config.clip_range, config.clip_range)
        value_loss = 0.5 * torch.max(unclipped, (clipped_value - returns) ** 2).mean()
    else:
        value_loss = 0.5 * ((new_value - returns) ** 2).mean()
    entropy_mean = entropy.mean()
    loss = policy_loss - config.entropy_coef * entropy_mean + config.value_coef * value_loss
    return LossTerms(
        loss,
        policy_loss,
        value_loss,
        entropy_mean,
        sample_kl.mean(),
        sample_clipped.mean(),
        sample_kl,
        sample_clipped,
    )


@dataclass
class RolloutBatch:
    observations: dict[str, np.ndarray]
    actions: np.ndarray
    log_probs: np.ndarray
    values: np.ndarray
    advantages: np.ndarray
    returns: np.ndarray

    def __len__(self) -> int:
        return len(self.actions)


def build_batch(segments: Sequence[Segment], config: PPOConfig, pin_memory: bool = False) -> RolloutBatch:
    """The segments' steps as one batch, with their advantages and returns. `pin_memory`: its
    arrays live in page-locked memory, from which a copy to the GPU runs asynchronously."""
    advantages, returns = [], []
    for s in segments:
        adv, ret = gae(s.reward, s.value, s.done, s.bootstrap_value, config.gamma, config.gae_lambda)
        advantages.append(adv)
        returns.append(ret)

    def concatenate(parts: Sequence[np.ndarray], dtype: np.dtype | None = None) -> np.ndarray:
        if not pin_memory:
            return np.concatenate(parts, dtype=dtype)
        shape = (sum(len(p) for p in parts), *parts[0].shape[1:])
        dtype = np.dtype(dtype or parts[0].dtype)
        pinned = torch.empty(shape, dtype=torch.from_numpy(np.empty(0, dtype)).dtype, pin_memory=True)
        return np.concatenate(parts, out=pinned.numpy())

    names = segments[0].observations.keys()
    return RolloutBatch(
        observations={k: concatenate([s.observations[k] for s in segments]) for k in names},
        actions=concatenate([s.action for s in segments], np.int64),
        log_probs=concatenate([s.log_prob for s in segments]),
        values=concatenate([s.value for s in segments]),
        advantages=concatenate(advantages),
        returns=concatenate(returns),
    )


@dataclass
class TrainerState:
    """Everything an update reads besides its batch: with it restored, the next update on the same
    batch is exactly the one the saved trainer would have made."""

    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: dict[str, Any]  # {} when no fp16 gradient scaler is in use
    numpy_random: dict[str, Any]  # the minibatch shuffler's bit-generator state
    torch_random: torch.Tensor
    cuda_random: list[torch.Tensor]


class PPOTrainer:
    """Owns the network, optimiser and schedule; `update` runs one PPO update on a batch."""

    def __init__(self, model: PolicyNetwork, ppo: PPOConfig, learner: LearnerConfig, seed: int = 0):
        self.config = ppo
        self.device = resolve_device(learner.device)
        self.model = model.to(self.device)
        # Fused on every device: its found-inf flag is how a non-finite minibatch is skipped
        # without the host reading anything (see the module).
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=ppo.learning_rate,
            eps=ppo.adam_eps,
            weight_decay=ppo.weight_decay,
            fused=True,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda update: learning_rate_factor(update, ppo)
        )
        precision = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(learner.mixed_precision)
        self.autocast_dtype = precision if self.device.type == "cuda" else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.autocast_dtype == torch.float16)
        self.compiled = learner.compile
        # Static shapes and bucketed widths where they pay: for torch.compile, and on CUDA, where
        # the present-cards path would wait for the device to learn how many cards there are.
        self.bucketed = learner.compile or self.device.type == "cuda"
        self._loss = torch.compile(self._loss_terms, dynamic=False) if learner.compile else self._loss_terms
        self.generator = np.random.default_rng(seed)

    def state(self) -> TrainerState:
        """A copy of the trainer's state (tensors cloned on their device: no host transfer)."""
        cuda = self.device.type == "cuda"
        return TrainerState(
            model={k: v.detach().clone() for k, v in self.model.state_dict().items()},
            optimizer=copy.deepcopy(self.optimizer.state_dict()),
            scheduler=copy.deepcopy(self.scheduler.state_dict()),
            scaler=self.scaler.state_dict() if self.scaler.is_enabled() else {},
            numpy_random=copy.deepcopy(self.generator.bit_generator.state),
            torch_random=torch.get_rng_state(),
            cuda_random=list(torch.cuda.get_rng_state_all()) if cuda else [],
        )

    def load_state(self, state: TrainerState) -> None:
        self.model.load_state_dict(state.model)
        self.load_optimizer_state(state.optimizer)
        self.load_schedule(state.scheduler)
        if state.scaler and self.scaler.is_enabled():
            self.scaler.load_state_dict(state.scaler)
        self.generator.bit_generator.state = state.numpy_random
        torch.set_rng_state(state.torch_random)
        if state.cuda_random and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(state.cuda_random)

    def load_optimizer_state(self, state: dict[str, Any]) -> None:
        """The optimiser's saved state, kept fused whatever the saving trainer used (a checkpoint of
        an older CPU learner holds unfused groups): the skip of a non-finite step needs it."""
        groups = [{**group, "fused": True, "foreach": None} for group in state["param_groups"]]
        self.optimizer.load_state_dict({**state, "param_groups": groups})

    def load_schedule(self, state: dict[str, Any]) -> None:
        """The saved schedule's position (updates taken), at this trainer's learning rate and
        schedule: a run resumed with another learningRate or decay in its spec trains at those,
        where the saved state alone would bring back the rate it was saved with."""
        self.scheduler.load_state_dict(state)
        rate = self.config.learning_rate
        self.scheduler.base_lrs = [rate] * len(self.optimizer.param_groups)
        factor = learning_rate_factor(self.scheduler.last_epoch, self.config)
        for group in self.optimizer.param_groups:
            group["initial_lr"] = rate
            group["lr"] = rate * factor

    def evaluate(
        self, mb: dict[str, torch.Tensor], actions: torch.Tensor, subset_width: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (log-probabilities, entropies, values) of `actions`, with gradients: the network's
        trunk under the configured autocast, its heads and the distributions in float32."""
        with torch.autocast(
            self.device.type,
            dtype=self.autocast_dtype or torch.float32,
            enabled=self.autocast_dtype is not None,
        ):
            logits, values = self.model(mb, static_shapes=self.bucketed)
        log_probs, entropy = action_log_probs(logits, mb, actions, subset_width)
        return log_probs.float(), entropy.float(), values.float()

    def _loss_terms(
        self,
        mb: dict[str, torch.Tensor],
        actions: torch.Tensor,
        old_log_probs: torch.Tensor,
        old_values: torch.Tensor,
        advantages: torch.Tensor,
        returns: torch.Tensor,
        subset_width: int,
    ) -> LossTerms:
        """The minibatch's loss terms (`_loss` runs it, compiled when `learner.compile` says so)."""
        new_log_probs, entropy, new_values = self.evaluate(mb, actions, subset_width)
        return ppo_loss(
            new_log_probs, old_log_probs, entropy, new_values, old_values, advantages, returns, self.config
        )

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        """A host array on the device (indices as int64). The copy is asynchronous from pinned
        memory (`build_batch(pin_memory=True)`); on the CPU it is no copy at all."""
        tensor = torch.from_numpy(array).to(self.device, non_blocking=True)
        return tensor.long() if tensor.dtype == torch.int32 else tensor

    def _step(self, finite: torch.Tensor) -> None:
        """The optimiser step, skipped on the device where `finite` (the minibatch's loss terms
        and gradient norm) is false: a loss or gradient that is not finite would turn every
        weight into NaN, and the learner would publish them."""
        if self.scaler.is_enabled():  # fp16: the scaler skips a non-finite gradient's step itself
            self.scaler.step(self.optimizer)
            self.scaler.update()
            return
        # The protocol GradScaler uses with fused optimisers: a float flag, 1 to skip.
        self.optimizer.found_inf = (~finite).float()
        try:
            self.optimizer.step()
        finally:
            del self.optimizer.found_inf

    def update(self, batch: RolloutBatch, stop: threading.Event | None = None) -> dict[str, float] | None:
        """One PPO update; None when `stop` was set before its last minibatch: the update is
        abandoned and the trainer is back in the state it started from (see the module)."""
        started = time.perf_counter()
        before = self.state() if stop is not None else None
        cfg = self.config
        learning_rate = self.optimizer.param_groups[0]["lr"]
        n = len(batch)
        observations = {k: self._to_device(v) for k, v in batch.observations.items()}
        actions, old_log_probs, old_values, advantages, returns = (
            self._to_device(a)
            for a in (batch.actions, batch.log_probs, batch.values, batch.advantages, batch.returns)
        )
        extents, slots = slot_extents(batch.observations), all_slots(batch.observations)
        orders = np.stack([self.generator.permutation(n) for _ in range(cfg.epochs)])
        device_orders = self._to_device(orders)
        # Summed on the device, read once at the end (see the module): the loss terms and the
        # gradient norm, then per kind the sums of KL and clipped and the sample counts.
        sums = torch.zeros(len(LOSS_TERMS) + 1, device=self.device)
        kinds = torch.arange(len(KIND_NAMES), device=self.device)
        by_kind = torch.zeros(len(KIND_TERMS) + 1, len(kinds), device=self.device)
        skipped = torch.zeros((), device=self.device)
        minibatches = 0
        self.model.train()
        for epoch in range(cfg.epochs):
            for start in range(0, n, cfg.minibatch_size):
                if stop is not None and stop.is_set():
                    assert before is not None
                    self.load_state(before)
                    return None
                rows = slice(start, start + cfg.minibatch_size)
                widths = minibatch_widths(extents[orders[epoch, rows]], slots, self.bucketed)
                idx = device_orders[epoch, rows]
                kept = keep_slots(observations, widths.cards, widths.options, widths.targets)
                mb = {k: v[idx] for k, v in kept.items()}
                inputs = (
                    actions[:, : widths.options][idx],
                    old_log_probs[idx],
                    old_values[idx],
                    advantages[idx],
                    returns[idx],
                )
                if self.compiled:  # one graph for every minibatch size, the last one's included
                    for tensor in (*mb.values(), *inputs):
                        torch._dynamo.maybe_mark_dynamic(tensor, 0)
                terms = self._loss(mb, *inputs, widths.subset)
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(terms.loss).backward()
                self.scaler.unscale_(self.optimizer)
                grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
                measured = torch.stack([*(getattr(terms, name).detach() for name in LOSS_TERMS), grad_norm])
                finite = torch.isfinite(measured).all()
                self._step(finite)
                minibatches += 1
                skipped += (~finite).float()
                sums += torch.where(finite, measured, 0.0)
                in_kind = (mb["kind"].unsqueeze(1) == kinds).to(terms.sample_kl.dtype)
                per_kind = torch.stack(
                    [terms.sample_kl, terms.sample_clipped, torch.ones_like(terms.sample_kl)]
                )
                by_kind += torch.where(finite, per_kind @ in_kind, 0.0)
        figures = torch.cat([sums, by_kind.flatten(), skipped.view(1)]).tolist()  # the one read
        skipped_count = int(figures[-1])
        taken = minibatches - skipped_count
        if taken:  # the warmup counts updates that changed the weights
            self.scheduler.step()
        totals = figures[: len(sums)]
        stats = {
            name: total / taken if taken else float("nan")
            for name, total in zip((*LOSS_TERMS, "grad_norm"), totals, strict=True)
        }
        kind_figures = np.array(figures[len(sums) : -1]).reshape(by_kind.shape)
        kind_counts = kind_figures[-1]
        for term, row in zip(KIND_TERMS, kind_figures[:-1], strict=True):
            for kind, total, count in zip(KIND_NAMES, row, kind_counts, strict=True):
                stats[f"{term}:{kind}"] = float(total / count) if count else float("nan")
        stats["skipped_minibatches"] = float(skipped_count)
        stats["learning_rate"] = learning_rate
        variance = float(np.var(batch.returns))
        stats["explained_variance"] = (
            float("nan") if variance == 0 else 1.0 - float(np.var(batch.returns - batch.values)) / variance
        )
        stats["samples"] = float(n)
        stats["seconds"] = time.perf_counter() - started
        return stats
