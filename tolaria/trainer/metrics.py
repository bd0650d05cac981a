"""Prometheus metrics of the learner (served on --metrics-port at /metrics)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class LearnerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.samples = Counter("tolaria_learner_samples", "Samples used by PPO updates", registry=r)
        self.updates = Counter("tolaria_learner_updates", "PPO updates", registry=r)
        self.samples_per_second = Gauge(
            "tolaria_learner_samples_per_second",
            "Samples x epochs per second of the last PPO update's own time (training throughput; the "
            "rate the stream is consumed is at most this / epochs)",
            registry=r,
        )
        self.loss = Gauge("tolaria_learner_loss", "Losses of the last update", ["term"], registry=r)
        self.loss_by_kind = Gauge(
            "tolaria_learner_loss_by_kind",
            "approx_kl and clip_fraction of the last update over the decisions of one kind"
            " (one: a single choice, subset: attackers or cards, pairs: blocks)",
            ["term", "kind"],
            registry=r,
        )
        self.learning_rate = Gauge(
            "tolaria_learner_learning_rate", "Learning rate of the last PPO update", registry=r
        )
        self.grad_norm = Gauge(
            "tolaria_learner_grad_norm",
            "Mean global gradient norm of the last PPO update's minibatches, before clipping to"
            " maxGradNorm (above it, every step is scaled down to it)",
            registry=r,
        )
        self.policy_version = Gauge("tolaria_learner_policy_version", "Published policy version", registry=r)
        self.queue_depth = Gauge(
            "tolaria_learner_queue_depth",
            "Rollout entries not yet acknowledged by the learners' group",
            registry=r,
        )
        self.stale_segments = Counter(
            "tolaria_learner_stale_segments", "Segments dropped for exceeding maxPolicyLag", registry=r
        )
        self.skipped_minibatches = Counter(
            "tolaria_learner_skipped_minibatches",
            "Minibatches skipped because their loss or gradient was not finite",
            registry=r,
        )
        self.corrupt_entries = Counter(
            "tolaria_learner_corrupt_entries",
            "Stream entries that failed to decode (acked and skipped)",
            registry=r,
        )
        self.policy_lag = Gauge(
            "tolaria_learner_policy_lag",
            "Versions the behaviour policy of the last update's samples trails the learner, mean",
            registry=r,
        )
        self.policy_age = Gauge(
            "tolaria_learner_policy_age_seconds",
            "Seconds since the behaviour policy of the last update's samples was published, mean over"
            " the samples whose version this learner published",
            registry=r,
        )
        self.version_interval = Gauge(
            "tolaria_learner_version_interval_seconds",
            "Seconds between two published versions (moving average); rollouts go stale after about"
            " maxPolicyLag times this",
            registry=r,
        )
        self.checkpoint_age = Gauge(
            "tolaria_learner_checkpoint_age_seconds",
            "Seconds since the last checkpoint was written",
            registry=r,
        )
        self._last_checkpoint = time.time()
        self.checkpoint_age.set_function(lambda: time.time() - self._last_checkpoint)

    def checkpoint_written(self, at: float | None = None) -> None:
        self._last_checkpoint = time.time() if at is None else at

    def serve(self, port: int) -> None:
        if port:
            start_http_server(port, registry=self.registry)
