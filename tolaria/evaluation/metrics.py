"""Prometheus metrics of the evaluator (served on --metrics-port at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class EvaluatorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.games = Counter(
            "tolaria_evaluator_games",
            "Evaluation games finished, by opponent and result",
            ["opponent", "result"],
            registry=r,
        )
        self.game_errors = Counter(
            "tolaria_evaluator_game_errors", "Evaluation games that failed every attempt", registry=r
        )
        self.decisions = Counter(
            "tolaria_evaluator_decisions", "Decisions answered by evaluated policies", registry=r
        )
        self.batch_size = Histogram(
            "tolaria_evaluator_inference_batch_size",
            "Decisions per forward pass",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=r,
        )
        self.evaluations = Counter("tolaria_evaluator_evaluations", "Completed evaluations", registry=r)
        self.evaluation_seconds = Gauge(
            "tolaria_evaluator_evaluation_seconds", "Wall-clock seconds of the last evaluation", registry=r
        )
        self.policy_version = Gauge(
            "tolaria_evaluator_policy_version", "Policy version last evaluated", registry=r
        )
        self.win_rate = Gauge(
            "tolaria_evaluator_win_rate",
            "Win rate (draws half) of the last evaluation",
            ["baseline"],
            registry=r,
        )
        self.win_rate_ci = Gauge(
            "tolaria_evaluator_win_rate_ci",
            "95% Wilson interval of the win rate",
            ["baseline", "bound"],
            registry=r,
        )
        self.elo = Gauge(
            "tolaria_evaluator_elo",
            "Elo rating of the evaluated policy and the baselines",
            ["player"],
            registry=r,
        )
        self.promoted_version = Gauge(
            "tolaria_evaluator_promoted_version",
            "Policy version promoted for the actors (promotion gate)",
            registry=r,
        )
        self.league_size = Gauge(
            "tolaria_evaluator_league_snapshots", "Policy snapshots in the league", registry=r
        )

    def serve(self, port: int) -> None:
        if port:
            start_http_server(port, registry=self.registry)
