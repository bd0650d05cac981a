"""Prometheus metrics of an actor (served on --metrics-port at /metrics).

Decisions per second is `rate(tolaria_actor_decisions_total[1m])`; the gauge of the same name is
the actor's own estimate over its last reporting interval, for a glance at /metrics.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ActorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = r = registry or CollectorRegistry()
        self.games = Counter(
            "tolaria_actor_games",
            "Finished games by opponent kind and outcome",
            ["opponent", "outcome"],
            registry=r,
        )
        self.game_errors = Counter(
            "tolaria_actor_game_errors", "Games lost to daemon or protocol failures", ["reason"], registry=r
        )
        self.decisions = Counter("tolaria_actor_decisions", "Decisions answered by the policy", registry=r)
        self.decisions_per_second = Gauge(
            "tolaria_actor_decisions_per_second", "Decisions per second over the last interval", registry=r
        )
        self.batch_size = Histogram(
            "tolaria_actor_inference_batch_size",
            "Decisions per forward pass",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "tolaria_actor_inference_seconds",
            "Seconds per batched forward pass (encode included)",
            registry=r,
        )
        self.policy_version = Gauge("tolaria_actor_policy_version", "Policy version being played", registry=r)
        self.policy_version_lag = Gauge(
            "tolaria_actor_policy_version_lag",
            "Published policy version minus the version being played",
            registry=r,
        )
        self.rollout_bytes = Counter(
            "tolaria_actor_rollout_bytes", "Bytes of segments written to Redis", registry=r
        )
        self.segments_shipped = Counter(
            "tolaria_actor_segments_shipped", "Segments written to Redis", registry=r
        )
        self.buffered_segments = Gauge(
            "tolaria_actor_buffered_segments", "Segments waiting for Redis in memory", registry=r
        )
        self.dropped_segments = Counter(
            "tolaria_actor_dropped_segments", "Segments dropped because the buffer was full", registry=r
        )
        self.redis_errors = Counter("tolaria_actor_redis_errors", "Failed Redis operations", registry=r)
        self.redis_connected = Gauge("tolaria_actor_redis_connected", "1 while Redis answers", registry=r)
        self.queue_depth = Gauge(
            "tolaria_actor_queue_depth", "Rollout entries waiting for the learner, as last read", registry=r
        )
        self.queue_bytes = Gauge(
            "tolaria_actor_queue_bytes", "Bytes of the rollout stream in Redis, as last read", registry=r
        )
        self.queue_full = Gauge(
            "tolaria_actor_queue_full",
            "1 while back-pressure holds rollouts and new games (the queue is at a cap)",
            registry=r,
        )
        self.games_in_flight = Gauge("tolaria_actor_games_in_flight", "Games being played", registry=r)
        self.league_snapshots = Gauge(
            "tolaria_actor_league_snapshots", "League snapshots held in memory as opponents", registry=r
        )
        self.pairing_win_rate = Gauge(
            "tolaria_actor_pairing_win_rate",
            "The agent's recent win rate against the built-in AI by deck pairing, as pairingPriority"
            " weighs the pairing's draw",
            ["agent_deck", "opponent_deck"],
            registry=r,
        )
        self.daemon_endpoints = Gauge("tolaria_actor_daemon_endpoints", "Daemon endpoints known", registry=r)

    def serve(self, port: int) -> None:
        if port:
            start_http_server(port, registry=self.registry)
