"""Typed configuration of the policy network, PPO and the learner process.

These dataclasses are what the trainer code reads. The TrainingRun models of
`tolaria.spec` convert into them (`PPOConfig(**...)`, `NetworkConfig.from_preset(...)`), so
the trainer never depends on how the spec is spelled on the wire.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from tolaria.spec import TrainingRunSpec

Architecture = Literal["deepsets", "transformer"]


@dataclass(frozen=True)
class NetworkConfig:
    """Size of the policy network and of the encoder's fixed slot counts.

    The slot counts (`max_cards`, `max_options`, `max_block_targets`, `name_buckets`) fix the
    shapes of encoded decisions, so actor and learner must agree on them: the rollout codec
    records them and the learner refuses segments encoded with other ones.
    """

    preset: str = "small"
    architecture: Architecture = "deepsets"
    d_model: int = 64
    layers: int = 2
    heads: int = 4
    ff_dim: int = 128
    max_cards: int = 48
    max_options: int = 24
    max_block_targets: int = 8
    name_buckets: int = 4096

    def __post_init__(self) -> None:
        if self.architecture not in ("deepsets", "transformer"):
            raise ValueError(
                f"network.architecture must be deepsets or transformer, not {self.architecture!r}"
            )
        for name in ("d_model", "layers", "heads", "ff_dim", "max_cards", "max_options", "name_buckets"):
            if getattr(self, name) < 1:
                raise ValueError(f"network.{name} must be >= 1, got {getattr(self, name)}")
        if self.max_block_targets < 2:
            raise ValueError("network.max_block_targets must be >= 2 (no block + at least one attacker)")
        if self.architecture == "transformer" and self.d_model % self.heads:
            raise ValueError(f"network.d_model ({self.d_model}) must be divisible by heads ({self.heads})")

    @classmethod
    def from_preset(cls, preset: str = "small", **overrides: Any) -> NetworkConfig:
        try:
            base = NETWORK_PRESETS[preset]
        except KeyError:
            raise ValueError(
                f"unknown network preset {preset!r}; known: {', '.join(NETWORK_PRESETS)}"
            ) from None
        return dataclasses.replace(base, **overrides)

    def encoder_shape(self) -> dict[str, int]:
        """The fields that fix encoded array shapes (recorded in every rollout segment)."""
        return {
            "max_cards": self.max_cards,
            "max_options": self.max_options,
            "max_block_targets": self.max_block_targets,
            "name_buckets": self.name_buckets,
        }


NETWORK_PRESETS: dict[str, NetworkConfig] = {
    # Local CPU runs: pooled per-card MLP (DeepSets), no attention; must train at >= 2,000 samples/s
    # on two CPU cores.
    "small": NetworkConfig(
        preset="small",
        architecture="deepsets",
        d_model=64,
        layers=2,
        heads=4,
        max_cards=48,
        max_options=24,
        max_block_targets=8,
    ),
    "medium": NetworkConfig(
        preset="medium",
        architecture="transformer",
        d_model=128,
        layers=2,
        heads=4,
        ff_dim=256,
        max_cards=64,
        max_options=32,
        max_block_targets=8,
    ),
    # The seed project's GPU shape: d_model 256, 4 layers, 90 card slots.
    "large": NetworkConfig(
        preset="large",
        architecture="transformer",
        d_model=256,
        layers=4,
        heads=8,
        ff_dim=1024,
        max_cards=90,
        max_options=32,
        max_block_targets=10,
    ),
}


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyperparameters (names follow CleanRL's ppo.py where one exists)."""

    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    # Dual-clip PPO's c (Ye et al. 2020): with a negative advantage a sample's loss is at most
    # c |A|, however far the behaviour policy that produced it is from the learner's.
    dual_clip: float = 3.0
    clip_value_loss: bool = True
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    max_grad_norm: float = 0.5
    epochs: int = 4
    minibatch_size: int = 1024
    batch_size: int = 8192
    normalize_advantages: bool = True
    max_policy_lag: int = 4
    weight_decay: float = 0.0
    adam_eps: float = 1e-5
    warmup_updates: int = 10
    # Linear decay of the learning rate to final_lr_fraction of it over the first lr_decay_updates
    # updates, then held there; 0: no decay.
    lr_decay_updates: int = 0
    final_lr_fraction: float = 0.1

    def __post_init__(self) -> None:
        checks = {
            "learning_rate": self.learning_rate > 0,
            "lr_decay_updates": self.lr_decay_updates >= 0,
            "final_lr_fraction": 0 <= self.final_lr_fraction <= 1,
            "gamma": 0 <= self.gamma <= 1,
            "gae_lambda": 0 <= self.gae_lambda <= 1,
            "clip_range": self.clip_range > 0,
            "dual_clip": 1 + self.clip_range < self.dual_clip < 1e8,
            "epochs": self.epochs >= 1,
            "minibatch_size": self.minibatch_size >= 1,
            "batch_size": self.batch_size >= 1,
            "max_policy_lag": self.max_policy_lag >= 0,
            "max_grad_norm": self.max_grad_norm > 0,
            "warmup_updates": self.warmup_updates >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                f"invalid learner.ppo values: {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}"
            )


@dataclass(frozen=True)
class LearnerConfig:
    """How the learner process runs: devices, cadence of checkpoints, threads."""

    checkpoint_every_updates: int = 100
    checkpoint_every_minutes: float = 10.0
    keep_checkpoints: int = 5
    device: str = "auto"
    compile: bool = False
    mixed_precision: Literal["bf16", "fp16", "none"] = "bf16"  # autocast dtype on CUDA; CPU trains in fp32
    threads: int = 2
    # Torch threads while the warm start clones, where nothing else wants the cores then (local
    # mode: actors and evaluator wait for the copy); None: `threads`.
    warm_start_threads: int | None = None
    seed: int = 0
    read_count: int = 64
    read_block_ms: int = 500


@dataclass(frozen=True)
class WarmStartConfig:
    """Behaviour cloning of the daemons' built-in AI before PPO (`tolaria.trainer.warm_start`)."""

    games: int = 0  # 0: no warm start
    epochs: int = 20
    learning_rate: float = 1e-3
    minibatch_size: int = 512
    games_in_flight: int = 16
    game_timeout: float = 300.0
    max_turns: int | None = None  # the spec's game length limit (None: none)

    def __post_init__(self) -> None:
        checks = {
            "games": self.games >= 0,
            "epochs": self.epochs >= 1,
            "learning_rate": self.learning_rate > 0,
            "minibatch_size": self.minibatch_size >= 1,
            "games_in_flight": self.games_in_flight >= 1,
            "game_timeout": self.game_timeout > 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                f"invalid learner.warmStart values: {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}"
            )


@dataclass(frozen=True)
class TrainerConfig:
    network: NetworkConfig = field(default_factory=NetworkConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    warm_start: WarmStartConfig = field(default_factory=WarmStartConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainerConfig:
        return cls(
            network=NetworkConfig(**data.get("network", {})),
            ppo=PPOConfig(**data.get("ppo", {})),
            learner=LearnerConfig(**data.get("learner", {})),
            warm_start=WarmStartConfig(**data.get("warm_start", {})),
        )


def trainer_config_from_spec(
    spec: TrainingRunSpec,
    threads: int | None = None,
    device: str = "auto",
    warm_start_threads: int | None = None,
) -> TrainerConfig:
    """The trainer's view of a TrainingRun spec (`spec.learner`, `spec.checkpoints`, `spec.seed`);
    the deck pairings of a warm start come from `spec.pairings()`."""
    learner, net, ppo = spec.learner, spec.learner.network, spec.learner.ppo
    decay = ppo.learning_rate_decay
    overrides = {
        k: v
        for k, v in (
            ("d_model", net.d_model),
            ("layers", net.layers),
            ("heads", net.heads),
            ("ff_dim", net.ff_dim),
        )
        if v is not None
    }
    if "d_model" in overrides and "ff_dim" not in overrides:
        overrides["ff_dim"] = 2 * overrides["d_model"]
    return TrainerConfig(
        network=NetworkConfig.from_preset(net.preset, **overrides),
        ppo=PPOConfig(
            learning_rate=ppo.learning_rate,
            lr_decay_updates=decay.updates if decay else 0,
            final_lr_fraction=decay.final_fraction if decay else PPOConfig.final_lr_fraction,
            gamma=ppo.gamma,
            gae_lambda=ppo.gae_lambda,
            clip_range=ppo.clip_range,
            value_coef=ppo.value_coef,
            entropy_coef=ppo.entropy_coef,
            max_grad_norm=ppo.max_grad_norm,
            epochs=ppo.epochs,
            minibatch_size=ppo.minibatch_size,
            batch_size=ppo.batch_size,
            max_policy_lag=ppo.max_policy_lag,
        ),
        learner=LearnerConfig(
            checkpoint_every_updates=spec.checkpoints.every_updates,
            checkpoint_every_minutes=spec.checkpoints.every_minutes,
            keep_checkpoints=spec.checkpoints.keep,
            device=device if learner.gpus or device != "auto" else "cpu",
            compile=learner.compile,
            mixed_precision=learner.mixed_precision,
            threads=threads if threads is not None else LearnerConfig.threads,
            warm_start_threads=warm_start_threads,
            seed=spec.seed or 0,
        ),
        warm_start=WarmStartConfig(
            games=learner.warm_start.games,
            epochs=learner.warm_start.epochs,
            learning_rate=learner.warm_start.learning_rate,
            games_in_flight=learner.warm_start.games_in_flight,
            max_turns=spec.max_turns,
        ),
    )
