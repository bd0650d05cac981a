"""One session of a local run: start the processes, watch them, stop them, summarise.

Start order: redis-server (unless external), daemons (each waited for on its port), learner,
actors, evaluator. While running: the supervisor restarts what dies; every `interval` seconds a
snapshot is read from Redis, shown, appended to metrics.jsonl and checked against the stop
criteria. Stopping (criteria met, Ctrl-C, SIGTERM or a child that keeps crashing): SIGTERM to
the learner first and a wait for its checkpoint, then actors and evaluator, then (only when the
run reached its stop criteria) one last evaluation of the final policy, then daemons, then
redis-server, which writes its snapshot into the run directory. A run whose directory is removed
stops at once instead: every child killed, redis-server shut down without a snapshot, nothing
written. Last, every process group this session started is checked to be gone.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import redis

from tolaria.keys import StatsField, redis_password
from tolaria.local import topology
from tolaria.local.progress import (
    COUNTERS,
    Snapshot,
    StopCriteria,
    evaluation_history,
    final_evaluation,
    read_snapshot,
    render_bar,
    render_line,
)
from tolaria.local.rundir import RunDirectory, RunDirectoryLost
from tolaria.local.summary import build_summary, plot_learning_curve, plot_pairings, write_summary
from tolaria.local.supervisor import ChildFailed, ChildSpec, RestartPolicy, Supervisor
from tolaria.matchmaking.curriculum import StageState, advance, current_index, stage_label
from tolaria.spec import TrainingRun

EXIT_SUCCEEDED, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130
LEARNER_STOP_SECONDS = 180.0  # a checkpoint of a large model on a busy machine
CHILD_STOP_SECONDS = 30.0
# Every process of a local run carries its run directory in this variable, so that its
# processes can be found (`grep -l` over /proc/*/environ) even by someone other than its parent.
RUN_MARKER_ENV = "TOLARIA_LOCAL_RUN"
# A closed terminal (SIGHUP) stops the run as Ctrl-C does: checkpoint, children stopped, summary.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    return check


@dataclass(frozen=True)
class Options:
    deck_dirs: list[Path]
    interval: float  # seconds between snapshots
    live: bool  # a live bar (terminal) instead of plain lines
    machine: topology.Machine


class LocalRun:
    def __init__(self, directory: RunDirectory, run: TrainingRun, options: Options, out: TextIO = sys.stdout):
        self.directory = directory
        self.run = run
        self.options = options
        self.out = out
        self.supervisor = Supervisor(
            directory.logs,
            on_event=self._event,
            environment={RUN_MARKER_ENV: str(directory.root.resolve())},
        )
        self.criteria = StopCriteria.from_spec(run.spec.stop)
        self.stop_requested = threading.Event()
        self.stop_signal: int | None = None
        self.client: redis.Redis | None = None
        self.redis_url = ""
        self.last: Snapshot | None = None
        self._session_start = time.monotonic()
        self._session_games: tuple[float, int] | None = None  # (monotonic, games) at first snapshot
        state = directory.read_state()
        self._elapsed_before = float(state.get("elapsed_seconds", 0.0))
        self._sessions = int(state.get("sessions", 0)) + 1
        self._bar_shown = False
        self.evaluation: dict = {}  # the evaluator's last results, read before Redis stops
        self.history: list[dict] = []  # every evaluated version

    # ---- entry point ------------------------------------------------------------------------
    def execute(self) -> int:
        previous = {s: signal.signal(s, self._on_signal) for s in STOP_SIGNALS}
        outcome, reason = "failed", ""
        directory_lost = False
        try:
            self._start_all()
            outcome, reason = self._watch()
        except ChildFailed as e:
            outcome, reason = "failed", str(e)
        except redis.RedisError as e:
            outcome, reason = "failed", f"the run's Redis at {self.redis_url} failed: {e}"
        except RunDirectoryLost as e:
            outcome, reason, directory_lost = "failed", str(e), True
        finally:
            self._clear_bar()
            if outcome == "failed" and reason:
                self._print(f"tolaria run: {reason}")
            if directory_lost:
                self._stop_without_saving()
            else:
                self._shutdown(final_evaluation_wanted=outcome == "succeeded")
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if not directory_lost:
            self._finish(outcome, reason)
        return {"succeeded": EXIT_SUCCEEDED, "interrupted": EXIT_INTERRUPTED}.get(outcome, EXIT_FAILED)

    def _on_signal(self, signum: int, _frame) -> None:
        self.stop_signal = signum
        self.stop_requested.set()

    # ---- start ------------------------------------------------------------------------------
    def _start_all(self) -> None:
        spec = self.run.spec
        sizing = topology.size(self.run, self.options.machine)
        if spec.redis.url:
            self.redis_url = spec.redis.url
        else:
            if shutil.which("redis-server") is None:
                raise ChildFailed("redis-server is not installed (scripts/bootstrap installs it)")
            port = free_port()
            self.redis_url = f"redis://127.0.0.1:{port}/0"
            self.supervisor.start(
                ChildSpec(
                    "redis",
                    topology.redis_argv(port, self.directory.redis_dir),
                    "redis",
                    ready=port_open(port),
                )
            )
        self.client = redis.Redis.from_url(self.redis_url, password=redis_password(), socket_timeout=10)
        self.client.ping()
        self._restore_counters()
        endpoints = []
        for index in range(sizing.daemons):
            port = free_port()
            endpoints.append(f"127.0.0.1:{port}")
            self.supervisor.start(
                ChildSpec(
                    f"daemon-{index}",
                    topology.daemon_argv(
                        port, self.options.deck_dirs, spec.daemons.games_per_daemon, spec.daemons.engine
                    ),
                    "daemon",
                    ready=port_open(port),
                )
            )
        env = topology.trainer_env(self.run, self.directory.spec_path, self.redis_url, endpoints)
        self.supervisor.start(
            ChildSpec(
                "learner",
                topology.tolaria_argv("learner"),
                "learner",
                env={
                    **env,
                    "TOLARIA_THREADS": str(sizing.learner_threads),
                    "TOLARIA_WARM_START_THREADS": str(sizing.warm_start_threads),
                    "TOLARIA_DEVICE": sizing.learner_device,
                },
                # the operator's learner Job: spec.learner.maxRestarts failures fail the run
                restart=RestartPolicy(max_restarts=spec.learner.max_restarts, window_seconds=float("inf")),
            )
        )
        for index in range(sizing.actors):
            self.supervisor.start(
                ChildSpec(
                    f"actor-{index}",
                    topology.tolaria_argv("actor"),
                    "actor",
                    env={**env, "TOLARIA_THREADS": "1", "TOLARIA_DEVICE": "cpu", "TOLARIA_GRACE_PERIOD": "5"},
                )
            )
        if spec.evaluation.enabled:
            self.supervisor.start(
                ChildSpec(
                    "evaluator",
                    topology.tolaria_argv("evaluator"),
                    "evaluator",
                    env={**env, "TOLARIA_THREADS": "1", "TOLARIA_DEVICE": "cpu"},
                )
            )
        forge = " in Forge's dialect (built-in rules)" if spec.daemons.engine == "forge" else ""
        self._print(
            f"tolaria run {self.run.name}: {sizing.daemons} daemon(s){forge}, {sizing.actors} actor(s),"
            f" learner on {sizing.learner_device}"
            + (", evaluator" if spec.evaluation.enabled else "")
            + f"; run directory {self.directory.root}"
        )

    def _restore_counters(self) -> None:
        """On resume with a Redis that lost the counters, put back the last recorded ones."""
        assert self.client is not None
        records = self.directory.read_metrics()
        if not records or self.client.exists(self.run.keys.stats):
            return
        last = Snapshot.from_record(records[-1])
        saved: dict[str, int] = {k: v for k, v in last.counters.items() if k in COUNTERS and v}
        if last.stage is not None:
            saved[StatsField.CURRICULUM_STAGE] = last.stage
            saved[StatsField.CURRICULUM_STAGE_GAMES] = last.stage_start_games or 0
        if saved:
            self.client.hset(self.run.keys.stats, mapping=saved)
            self._print(f"restored counters from {self.directory.metrics_path}: {saved}")

    # ---- watch ------------------------------------------------------------------------------
    def _elapsed(self) -> float:
        return self._elapsed_before + time.monotonic() - self._session_start

    def _watch(self) -> tuple[str, str]:
        next_snapshot = time.monotonic()
        while True:
            if self.stop_requested.wait(timeout=0.5):
                name = signal.Signals(self.stop_signal).name if self.stop_signal else "a signal"
                return "interrupted", f"stopped by {name}"
            self.directory.check_present()  # before poll, which would restart a child into it
            self.supervisor.poll()
            if time.monotonic() < next_snapshot:
                continue
            next_snapshot = time.monotonic() + self.options.interval
            snapshot = self._snapshot()
            if snapshot is None:
                continue
            reason = self.criteria.met(snapshot)
            if reason:
                return "succeeded", reason

    def _snapshot(self) -> Snapshot | None:
        assert self.client is not None
        try:
            snapshot = read_snapshot(self.client, self.run.keys, self._elapsed(), self.last)
        except (redis.ConnectionError, redis.TimeoutError) as e:
            self._event(f"Redis unavailable ({e}); waiting")
            return None
        self._keep_curriculum(snapshot)
        self.last = snapshot
        try:
            self.directory.append_metrics(snapshot.to_record())
            self.directory.write_state(
                {
                    "elapsed_seconds": round(snapshot.elapsed, 3),
                    "sessions": self._sessions,
                    "redis": self.redis_url,
                }
            )
        except FileNotFoundError:
            self.directory.check_present()
            raise
        self._show(snapshot)
        return snapshot

    def _keep_curriculum(self, snapshot: Snapshot) -> None:
        """Local mode is the curriculum's keeper (`tolaria.matchmaking.curriculum`): it begins
        the first stage and moves to the next when the current one's `until` is met."""
        assert self.client is not None
        curriculum = self.run.spec.curriculum
        if curriculum is None:
            return
        state = StageState(snapshot.stage or 0, snapshot.stage_start_games or 0)
        moved = advance(curriculum, state, snapshot.games, snapshot.evaluated_stage, snapshot.win_rates)
        if moved is not None:
            state = moved.state
            self._event(moved.reason)
        if moved is not None or snapshot.stage is None:
            self.client.hset(
                self.run.keys.stats,
                mapping={
                    StatsField.CURRICULUM_STAGE: state.index,
                    StatsField.CURRICULUM_STAGE_GAMES: state.start_games,
                },
            )
        snapshot.stage, snapshot.stage_start_games = state.index, state.start_games
        snapshot.stage_label = stage_label(curriculum, current_index(curriculum, state.index))

    def _games_per_second(self, snapshot: Snapshot) -> float | None:
        now = time.monotonic()
        if self._session_games is None:
            self._session_games = (now, snapshot.games)
            return None
        start, games = self._session_games
        return (snapshot.games - games) / (now - start) if now > start and snapshot.games > games else None

    def _show(self, snapshot: Snapshot) -> None:
        rate = self._games_per_second(snapshot)
        if self.options.live:
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self._write("\r\x1b[2K" + render_bar(snapshot, self.criteria, rate, width))
            self._bar_shown = True
        else:
            self._write(render_line(snapshot, self.criteria, rate) + "\n")

    # ---- stop -------------------------------------------------------------------------------
    def _shutdown(self, final_evaluation_wanted: bool) -> None:
        sup = self.supervisor
        if sup.names("learner"):
            self._print("stopping: checkpointing the learner")
            sup.stop(sup.names("learner"), LEARNER_STOP_SECONDS)
        sup.stop(sup.names("actor") + sup.names("evaluator"), CHILD_STOP_SECONDS)
        if final_evaluation_wanted and self.run.spec.evaluation.enabled:
            self._final_evaluation()
        if self.client is not None and sup.names("redis"):
            try:
                self.last = read_snapshot(self.client, self.run.keys, self._elapsed(), self.last)
                self.directory.append_metrics(self.last.to_record())
                self.evaluation = final_evaluation(self.client, self.run.keys)
                self.history = evaluation_history(self.client, self.run.keys)
            except redis.RedisError:
                pass
        sup.stop(sup.names("daemon"), CHILD_STOP_SECONDS)
        sup.stop(sup.names("redis"), 120.0)
        self._report_leftovers()
        self.directory.write_state(
            {
                "elapsed_seconds": round(self._elapsed(), 3),
                "sessions": self._sessions,
                "redis": self.redis_url,
            }
        )

    def _stop_without_saving(self) -> None:
        """Every child killed at once, and redis-server shut down without a last snapshot: a
        checkpoint or a dump now would bring back a stray part of the directory the user removed,
        and a redis-server that cannot write its snapshot refuses to exit."""
        sup = self.supervisor
        if self.client is not None and sup.names("redis"):
            with contextlib.suppress(redis.RedisError):
                self.client.shutdown(nosave=True)
        sup.stop(list(sup.children), 0.0)
        self._report_leftovers()

    def _report_leftovers(self) -> None:
        leftovers = self.supervisor.leftovers()
        if leftovers:
            self._print(f"killed processes left in groups {leftovers}")

    def _final_evaluation(self) -> None:
        """Evaluate the final policy when the evaluator has not measured it yet."""
        assert self.client is not None
        try:
            evaluated = final_evaluation(self.client, self.run.keys).get("policy_version")
            current = int(self.client.get(self.run.keys.policy_version) or 0)
        except redis.RedisError:
            return
        if current == 0 or evaluated == current:
            return
        self._print(f"evaluating the final policy (version {current})")
        env = topology.trainer_env(
            self.run, self.directory.spec_path, self.redis_url, self._daemon_endpoints()
        )
        child = ChildSpec(
            "final-evaluation",
            topology.tolaria_argv("evaluator", "--once"),
            "final-evaluation",
            env={**env, "TOLARIA_THREADS": str(max(1, self.options.machine.cores)), "TOLARIA_DEVICE": "cpu"},
        )
        process = self.supervisor.start(child).process
        while process.poll() is None:
            if self.stop_requested.wait(timeout=0.5) and self.stop_signal is not None:
                self._print("final evaluation interrupted")
                break
        self.supervisor.stop(["final-evaluation"], CHILD_STOP_SECONDS)

    def _daemon_endpoints(self) -> list[str]:
        return [
            f"127.0.0.1:{c.spec.argv[c.spec.argv.index('--port') + 1]}"
            for n, c in self.supervisor.children.items()
            if c.spec.role == "daemon"
        ]

    # ---- end ---------------------------------------------------------------------------------
    def _finish(self, outcome: str, reason: str) -> None:
        restarts = {n: c.restarts for n, c in self.supervisor.children.items()}
        summary = build_summary(
            name=self.run.name,
            outcome=outcome,
            reason=reason,
            last=self.last,
            evaluation=self.evaluation,
            history=self.history,
            restarts=restarts,
            checkpoint_uri=self.run.spec.checkpoints.uri,
        )
        text = write_summary(self.directory, summary)
        records = self.directory.read_metrics()
        if records:
            plot_learning_curve(records, self.history, self.directory.curve_png)
        plotted = plot_pairings(self.evaluation, self.directory.pairings_png)
        self._print(text.rstrip("\n"))
        plots = "learning_curve.png, pairings.png" if plotted else "learning_curve.png"
        self._print(f"run directory: {self.directory.root} (summary.txt, {plots}, logs/)")
        if outcome == "interrupted":
            self._print(f"continue with: tolaria run --resume {self.directory.root}")

    def _print(self, text: str) -> None:
        self._clear_bar()
        self._write(text + "\n")

    def _write(self, text: str) -> None:
        # The output may be a terminal that is gone (SIGHUP); the run directory has everything.
        try:
            self.out.write(text)
            self.out.flush()
        except OSError:
            pass

    def _event(self, text: str) -> None:
        self._print(f"[{time.strftime('%H:%M:%S')}] {text}")

    def _clear_bar(self) -> None:
        if self._bar_shown:
            self._write("\r\x1b[2K")
            self._bar_shown = False
