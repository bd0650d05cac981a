"""How many game daemons a run needs: a pure function of what Redis shows.

The daemon pool exists to keep the learner fed. The rollout queue (entries produced by the
actors and not yet consumed by the learner) is the signal:

- below its target depth the learner is starved, so the pool grows;
- above it rollouts pile up: the learner is the bottleneck and extra games would only go
  stale (PPO drops rollouts from policies that are too old), so the pool shrinks;
- within a tolerance band around the target nothing changes.

When production and consumption rates are known the recommendation is sized from them
(daemons needed to match consumption and close the queue gap within `horizon_seconds`);
without rates it steps by one (down) or doubles (up).

Recommendations are then stabilised the way the HorizontalPodAutoscaler's `behavior` does:
scale up only to the lowest size recommended during the scale-up window, scale down only to
the highest size recommended during the scale-down window. A noisy queue therefore cannot
make the pool flap, and a short dip cannot tear down daemons that are busy with games. An empty
history (a run seen for the first time, an operator restarted or taken over by its peer) that
meets a pile-up starts with the current size recommended now, as the HPA seeds its own:
forgetting the history must not let the first observation scale down at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from tolaria.spec import Autoscaling


@dataclass(frozen=True)
class AutoscalePolicy:
    min_replicas: int
    max_replicas: int
    target_queue_depth: int
    scale_up_window: float
    scale_down_window: float
    fallback_replicas: int | None = None
    # |depth - target| / target within this fraction counts as at target (the HPA's 10%).
    tolerance: float = 0.1
    # The queue gap is closed over this many seconds when rates size the pool.
    horizon_seconds: float = 60.0

    @classmethod
    def from_spec(cls, spec: Autoscaling) -> AutoscalePolicy:
        return cls(
            min_replicas=spec.min_replicas,
            max_replicas=spec.max_replicas,
            target_queue_depth=spec.target_queue_depth,
            scale_up_window=float(spec.scale_up_stabilization_seconds),
            scale_down_window=float(spec.scale_down_stabilization_seconds),
            fallback_replicas=spec.fallback_replicas,
        )

    def clamp(self, replicas: int) -> int:
        return max(self.min_replicas, min(self.max_replicas, replicas))


@dataclass(frozen=True)
class QueueObservation:
    """The rollout queue as read from Redis; rates are entries per second, None when unknown."""

    depth: int
    production_rate: float | None = None
    consumption_rate: float | None = None


@dataclass(frozen=True)
class Recommendation:
    at: float
    replicas: int


@dataclass(frozen=True)
class ScalingState:
    """Recommendations still inside a stabilisation window, oldest first."""

    history: tuple[Recommendation, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Decision:
    replicas: int
    """Desired daemon replicas now."""
    recommended: int
    """The unstabilised recommendation from this observation alone (equal to `replicas` on hold)."""
    reason: str
    """Starved, PiledUp, AtTarget or RedisUnavailable."""
    message: str
    """The numbers behind the decision, for the Event on the TrainingRun."""
    state: ScalingState


def recommend(policy: AutoscalePolicy, current: int, observation: QueueObservation) -> tuple[int, str]:
    """The replica count this observation alone asks for, within bounds, and why."""
    target, depth = policy.target_queue_depth, observation.depth
    gap = target - depth
    if abs(gap) <= policy.tolerance * target:
        return policy.clamp(current), "AtTarget"
    sized = _sized_from_rates(policy, current, observation)
    if gap > 0:
        # Starved: at least one more daemon, at most doubling (or +4 from a small pool) per step.
        wanted = sized if sized is not None else (2 * current if current else 1)
        wanted = min(max(wanted, current + 1), max(2 * current, current + 4))
        return policy.clamp(wanted), "Starved"
    wanted = sized if sized is not None else current - 1
    return policy.clamp(min(wanted, current - 1)), "PiledUp"


def _sized_from_rates(policy: AutoscalePolicy, current: int, observation: QueueObservation) -> int | None:
    production, consumption = observation.production_rate, observation.consumption_rate
    if current <= 0 or production is None or consumption is None or production <= 0:
        return None
    per_daemon = production / current
    needed_rate = max(
        0.0, consumption + (policy.target_queue_depth - observation.depth) / policy.horizon_seconds
    )
    return math.ceil(needed_rate / per_daemon)


def decide(
    policy: AutoscalePolicy,
    current: int,
    observation: QueueObservation | None,
    state: ScalingState,
    now: float,
) -> Decision:
    """Desired daemon replicas from the current size and a queue observation (None: Redis unreadable)."""
    if observation is None:
        held = policy.fallback_replicas if policy.fallback_replicas is not None else policy.clamp(current)
        verb = f"daemons {current} -> {held}" if held != current else f"daemons held at {held}"
        source = "fallbackReplicas" if policy.fallback_replicas is not None else "the current size"
        message = f"{verb}: Redis cannot be read, keeping {source}"
        return Decision(held, held, "RedisUnavailable", message, state)

    recommended, reason = recommend(policy, current, observation)
    horizon = max(policy.scale_up_window, policy.scale_down_window)
    earlier = state.history
    if not earlier and recommended < current:
        earlier = (Recommendation(now, policy.clamp(current)),)
    history = (*(r for r in earlier if now - r.at <= horizon), Recommendation(now, recommended))
    up = min(r.replicas for r in history if now - r.at <= policy.scale_up_window)
    down = max(r.replicas for r in history if now - r.at <= policy.scale_down_window)
    desired = current
    if desired < up:
        desired = up
    if desired > down:
        desired = down
    desired = policy.clamp(desired)

    numbers = (
        f"queue depth {observation.depth} (target {policy.target_queue_depth}), "
        f"production {_rate(observation.production_rate)}, consumption {_rate(observation.consumption_rate)}, "
        f"recommended {recommended} within [{policy.min_replicas}, {policy.max_replicas}]"
    )
    if desired != current:
        message = f"daemons {current} -> {desired}: {_explain(reason)}; {numbers}"
    else:
        message = f"daemons stay at {current}: {_explain(reason)}; {numbers}"
    return Decision(desired, recommended, reason, message, replace(state, history=history))


def _rate(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.1f}/s"


def _explain(reason: str) -> str:
    return {
        "AtTarget": "queue at target",
        "Starved": "learner starved",
        "PiledUp": "rollouts piling up",
    }[reason]
