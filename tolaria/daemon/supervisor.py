"""`--workers N`: N worker processes share the port (SO_REUSEPORT); this parent restarts a
worker that dies, forwards SIGTERM/SIGINT to all of them, serves their summed metrics, and
gives them the shared counters behind STATUS and the busy limit (daemon/pool.py)."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tolaria.daemon.config import DaemonConfig
from tolaria.daemon.pool import create_pool_file

log = logging.getLogger(__name__)

POLL_S = 0.1
FAST_EXIT_S = 3.0  # a worker dying this soon after its start counts as a failed start
MAX_FAST_EXITS = 3
RESTART_BACKOFF_S = 1.0


def worker_command(config: DaemonConfig, index: int) -> list[str]:
    command = [
        sys.executable, "-m", "tolaria.cli", "daemon",
        "--host", config.host,
        "--port", str(config.port),
        "--workers", str(config.workers),
        "--max-games", str(config.max_games),
        "--reply-timeout", str(config.reply_timeout),
        "--game-timeout", str(config.default_game_timeout),
        "--grace", str(config.grace),
        "--idle-timeout", str(config.idle_timeout),
        "--max-line-bytes", str(config.max_line_bytes),
        "--metrics-port", "0",
        "--worker-index", str(index),
        "--supervised",
    ]  # fmt: skip
    if config.pool_file is not None:
        command += ["--pool-file", str(config.pool_file)]
    for directory in config.deck_dirs:
        command += ["--decks", str(directory)]
    if config.full_observability:
        command.append("--full-observability")
    return command


def run_supervisor(config: DaemonConfig) -> int:
    metrics_dir = tempfile.mkdtemp(prefix="tolaria-daemon-metrics-")
    pool_file = Path(metrics_dir) / "pool"
    create_pool_file(pool_file, config.workers)
    config = dataclasses.replace(config, pool_file=pool_file)
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=metrics_dir)
    stop_signal: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stop_signal.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        if config.metrics_port:
            try:
                _serve_metrics(config, metrics_dir)
            except OSError as e:
                log.error("cannot serve metrics on %s:%s: %s", config.host, config.metrics_port, e)
                return 1
        return _supervise(config, env, metrics_dir, stop_signal)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve_metrics(config: DaemonConfig, metrics_dir: str) -> None:
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=metrics_dir)
    start_http_server(config.metrics_port, addr=config.host, registry=registry)


def _supervise(config: DaemonConfig, env: dict[str, str], metrics_dir: str, stop_signal: list[int]) -> int:
    from prometheus_client.multiprocess import mark_process_dead

    workers: dict[int, tuple[subprocess.Popen, float]] = {}
    fast_exits = 0

    def start(index: int) -> None:
        workers[index] = (subprocess.Popen(worker_command(config, index), env=env), time.monotonic())

    for index in range(config.workers):
        start(index)
    failed = False
    while workers:
        if stop_signal or failed:
            break
        time.sleep(POLL_S)
        for index, (proc, started) in list(workers.items()):
            code = proc.poll()
            if code is None:
                continue
            mark_process_dead(proc.pid, metrics_dir)
            del workers[index]
            if stop_signal:
                continue
            if code == 0:
                # A worker exits 0 only after SHUTDOWN; it has signalled us to stop them all.
                continue
            fast_exits = fast_exits + 1 if time.monotonic() - started < FAST_EXIT_S else 0
            if fast_exits >= MAX_FAST_EXITS:
                log.error("workers keep failing at start (last exit code %s); giving up", code)
                failed = True
                break
            log.warning("worker %d (pid %d) exited with %s; restarting", index + 1, proc.pid, code)
            time.sleep(RESTART_BACKOFF_S)
            start(index)
    _stop_all(workers, config.grace + 10, metrics_dir)
    return 1 if failed else 0


def _stop_all(workers: dict[int, tuple[subprocess.Popen, float]], timeout: float, metrics_dir: str) -> None:
    from prometheus_client.multiprocess import mark_process_dead

    for proc, _ in workers.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc, _ in workers.values():
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            log.warning("worker pid %d ignored SIGTERM; killing it", proc.pid)
            proc.kill()
            proc.wait()
        mark_process_dead(proc.pid, metrics_dir)
