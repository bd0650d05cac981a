"""Child processes of a local run, kept alive as the operator keeps pods alive in a cluster.

Each child runs in its own session (so its process group holds it and everything it forks)
with its output appended to `logs/<name>.log`, and is asked to die with us (PR_SET_PDEATHSIG)
so that even a `kill -9` of `tolaria run` leaves no orphans behind. A child that exits while the
run is going is restarted after a backoff that doubles with each consecutive crash; a child that
crashes more than its restart budget allows within the crash window makes the supervisor give
up (`ChildFailed`). Stopping sends SIGTERM to whole process groups, in the order the caller
chooses, escalates to SIGKILL after a timeout, and checks that no process of any group is left.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1


class ChildFailed(RuntimeError):
    """A child crashed more often than its restart budget allows."""


@dataclass(frozen=True)
class RestartPolicy:
    max_restarts: int = 5  # crashes tolerated within `window_seconds`
    window_seconds: float = 600.0
    initial_backoff: float = 1.0
    max_backoff: float = 30.0

    def backoff(self, consecutive_crashes: int) -> float:
        return min(self.max_backoff, self.initial_backoff * 2 ** max(0, consecutive_crashes - 1))


@dataclass
class ChildSpec:
    name: str  # also the log file's name
    argv: list[str]
    role: str  # daemon, actor, learner, evaluator, redis: the stop order goes by role
    env: dict[str, str] = field(default_factory=dict)
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    ready: Callable[[], bool] | None = None  # polled after start until true (a listening port)


@dataclass
class Child:
    spec: ChildSpec
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    crash_times: list[float] = field(default_factory=list)
    restart_due: float | None = None  # monotonic time of a scheduled restart
    last_exit: int | None = None


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Supervisor:
    def __init__(
        self,
        log_dir: Path,
        on_event: Callable[[str], None] = lambda _m: None,
        environment: dict[str, str] | None = None,
    ):
        self.log_dir = log_dir
        self.environment = environment or {}  # added to every child's environment
        self.children: dict[str, Child] = {}
        self.on_event = on_event
        self._groups: set[int] = set()  # every process group ever started, for the final check

    # ---- starting -----------------------------------------------------------------------
    def start(self, spec: ChildSpec, ready_timeout: float = 60.0) -> Child:
        child = self.children.get(spec.name) or Child(spec)
        self.children[spec.name] = child
        self._spawn(child)
        if spec.ready is not None:
            deadline = time.monotonic() + ready_timeout
            while not spec.ready():
                code = child.process.poll()
                if code is not None:
                    raise ChildFailed(
                        f"{spec.name} exited with status {code} while starting; see {self.log_path(spec.name)}"
                    )
                if time.monotonic() > deadline:
                    raise ChildFailed(
                        f"{spec.name} not ready after {ready_timeout:.0f}s; see {self.log_path(spec.name)}"
                    )
                time.sleep(0.1)
        return child

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _spawn(self, child: Child) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path(child.spec.name), "ab") as log:
            log.write(
                f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(child.spec.argv)}\n".encode()
            )
            log.flush()
            child.process = subprocess.Popen(
                child.spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.environment, **child.spec.env},
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self._groups.add(child.process.pid)
        child.started_at = time.monotonic()
        child.restart_due = None

    # ---- keeping alive --------------------------------------------------------------------
    def poll(self) -> None:
        """Notice exited children, schedule and perform restarts; raise ChildFailed to give up."""
        now = time.monotonic()
        for child in self.children.values():
            if child.restart_due is not None:
                if now >= child.restart_due:
                    child.restarts += 1
                    self.on_event(f"restarting {child.spec.name} (restart {child.restarts})")
                    self._spawn(child)
                continue
            if child.process is None or child.process.poll() is None:
                continue
            code = child.process.returncode
            child.last_exit = code
            self._reap_group(child.process.pid)
            policy = child.spec.restart
            child.crash_times = [t for t in child.crash_times if now - t < policy.window_seconds] + [now]
            if len(child.crash_times) > policy.max_restarts:
                raise ChildFailed(
                    f"{child.spec.name} exited with status {code} {len(child.crash_times)} times within"
                    f" {policy.window_seconds:.0f}s, more than the {policy.max_restarts} restarts allowed;"
                    f" see {self.log_path(child.spec.name)}"
                )
            delay = policy.backoff(len(child.crash_times))
            child.restart_due = now + delay
            self.on_event(f"{child.spec.name} exited with status {code}; restarting in {delay:.0f}s")

    # ---- stopping -------------------------------------------------------------------------
    def stop(self, names: Sequence[str], timeout: float) -> list[str]:
        """SIGTERM the groups of `names` together, wait up to `timeout`, SIGKILL what is left.

        Returns the names that had to be killed.
        """
        targets = [self.children[n] for n in names if n in self.children]
        for child in targets:
            child.restart_due = None
            if child.process is not None and child.process.poll() is None:
                self._signal_group(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        killed = []
        for child in targets:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                killed.append(child.spec.name)
                self._signal_group(child.process.pid, signal.SIGKILL)
                child.process.wait()
            child.last_exit = child.process.returncode
            self._reap_group(child.process.pid)
        return killed

    def names(self, role: str) -> list[str]:
        return [n for n, c in self.children.items() if c.spec.role == role]

    def leftovers(self) -> list[int]:
        """Process groups of ours that still have a live process (after a last SIGKILL)."""
        alive = [pgid for pgid in sorted(self._groups) if _group_alive(pgid)]
        for pgid in alive:
            self._signal_group(pgid, signal.SIGKILL)
        time.sleep(0.2 if alive else 0)
        return [pgid for pgid in alive if _group_alive(pgid)]

    def _reap_group(self, pgid: int) -> None:
        # A leader that exited may leave forked workers behind in its group.
        if _group_alive(pgid):
            self._signal_group(pgid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while _group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _group_alive(pgid):
                self._signal_group(pgid, signal.SIGKILL)

    @staticmethod
    def _signal_group(pgid: int, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signum)
