"""Prometheus metrics of a daemon worker.

With `--workers N` the supervisor sets PROMETHEUS_MULTIPROC_DIR before starting the workers,
so these same objects write to shared files and the supervisor serves the sum.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

GAMES_STARTED = Counter("tolaria_daemon_games_started", "Games started")
GAMES_FINISHED = Counter("tolaria_daemon_games_finished", "Games that sent GAME_RESULT", ["reason"])
GAMES_DROPPED = Counter("tolaria_daemon_games_dropped", "Games dropped because their client disconnected")
ACTIVE_GAMES = Gauge("tolaria_daemon_active_games", "Games running now", multiprocess_mode="livesum")
CONNECTIONS = Gauge("tolaria_daemon_connections", "Open client connections", multiprocess_mode="livesum")
DECISIONS = Counter("tolaria_daemon_decisions", "Decisions sent to clients")
ERRORS = Counter("tolaria_daemon_errors", "ERROR and GAME_ERROR lines sent", ["kind"])
