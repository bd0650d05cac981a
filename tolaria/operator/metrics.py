"""Prometheus metrics of the operator, served on /metrics (port 9090 by default)."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class OperatorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        self.reconcile_duration = Histogram(
            "tolaria_operator_reconcile_duration_seconds",
            "Time one reconcile of a TrainingRun took (read, decide, apply, write status).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )
        self.scaling_decisions = Counter(
            "tolaria_operator_scaling_decisions_total",
            "Changes of a run's daemon pool size, by direction (up, down).",
            ["namespace", "run", "direction"],
            registry=self.registry,
        )
        self.errors = Counter(
            "tolaria_operator_errors_total",
            "Errors while reconciling, by kind (redis, apply, status, spec, reconcile).",
            ["kind"],
            registry=self.registry,
        )
        self.redis_state_lost = Counter(
            "tolaria_operator_redis_state_lost_total",
            "Times a run's Redis was found to have lost the run's counters (which were restored).",
            ["namespace", "run"],
            registry=self.registry,
        )
        self.child_applies = Counter(
            "tolaria_operator_child_applies_total",
            "Server-side applies of children that were missing or had drifted, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "tolaria_run_queue_depth",
            "Rollout stream entries not yet consumed by the learner, as last read.",
            ["namespace", "run"],
            registry=self.registry,
        )
        self.daemons_desired = Gauge(
            "tolaria_run_daemons_desired",
            "Daemon replicas the operator wants for the run.",
            ["namespace", "run"],
            registry=self.registry,
        )

    def forget_run(self, namespace: str, run: str) -> None:
        """Drop the per-run series of a run that no longer exists."""
        for gauge in (self.queue_depth, self.daemons_desired):
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, run)
        for direction in ("up", "down"):
            with contextlib.suppress(KeyError):
                self.scaling_decisions.remove(namespace, run, direction)

    def serve(self, port: int, address: str = "0.0.0.0") -> None:
        start_http_server(port, addr=address, registry=self.registry)
