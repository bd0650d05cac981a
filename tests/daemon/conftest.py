"""The daemon as a real subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port, wait_for_port

from tolaria.protocol import DaemonClient

REPO = Path(__file__).resolve().parents[2]
DECKS = REPO / "decks"


def child_pids(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent's wait() is missing.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


class DaemonProcess:
    def __init__(
        self, log_path: Path, *args: str, decks: Path = DECKS, workers: int = 1, port: int | None = None
    ):
        self.port = port or free_port()
        self.log_path = log_path
        self.command = [
            sys.executable, "-m", "tolaria.cli", "daemon",
            "--host", "127.0.0.1", "--port", str(self.port), "--decks", str(decks),
            "--workers", str(workers), "--metrics-port", "0", *args,
        ]  # fmt: skip
        self.proc: subprocess.Popen | None = None

    def start(self) -> DaemonProcess:
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            wait_for_port(self.port, timeout=60)
        except TimeoutError:
            self.stop()
            raise AssertionError(f"daemon did not start:\n{self.log()}") from None
        return self

    def client(self, **kwargs) -> DaemonClient:
        return DaemonClient("127.0.0.1", self.port, read_timeout=kwargs.pop("read_timeout", 30), **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, then the exit code (the test fails if the daemon does not exit in time)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"daemon did not exit within {timeout}s:\n{self.log()}") from None

    def stop(self) -> None:
        if self.proc is None:
            return
        children = child_pids(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        self._log.close()


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator:
    """start_daemon(*args, decks=..., workers=...) -> a running DaemonProcess, stopped at the end."""
    started: list[DaemonProcess] = []

    def start(*args: str, port: int | None = None, **kwargs) -> DaemonProcess:
        daemon = DaemonProcess(tmp_path / f"daemon{len(started)}.log", *args, port=port, **kwargs)
        started.append(daemon)
        return daemon.start()

    yield start
    for daemon in started:
        daemon.stop()


@pytest.fixture
def daemon(start_daemon) -> DaemonProcess:
    return start_daemon()


@pytest.fixture(scope="module")
def shared_daemon(tmp_path_factory) -> Iterator[DaemonProcess]:
    """One daemon for the tests of a module that do not depend on its counters."""
    daemon = DaemonProcess(tmp_path_factory.mktemp("daemon") / "daemon.log", "--reply-timeout", "20")
    daemon.start()
    yield daemon
    daemon.stop()
