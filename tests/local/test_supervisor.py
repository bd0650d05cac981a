"""The supervisor against real processes: restarts with backoff, giving up, stopping whole groups."""

from __future__ import annotations

import sys
import time

import pytest

from tolaria.local.supervisor import ChildFailed, ChildSpec, RestartPolicy, Supervisor

FAST = RestartPolicy(max_restarts=2, window_seconds=60, initial_backoff=0.05, max_backoff=0.1)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def poll_until(supervisor: Supervisor, condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        supervisor.poll()
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_backoff_doubles_up_to_its_cap():
    policy = RestartPolicy(initial_backoff=1, max_backoff=5)
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 5, 5]


def test_a_crashing_child_is_restarted_then_given_up_on(tmp_path):
    supervisor = Supervisor(tmp_path / "logs")
    supervisor.start(ChildSpec("crasher", python("print('up'); raise SystemExit(3)"), "actor", restart=FAST))
    with pytest.raises(ChildFailed, match=r"crasher exited with status 3 3 times.*2 restarts allowed"):
        poll_until(supervisor, lambda: False)
    assert supervisor.children["crasher"].restarts == 2
    log = (tmp_path / "logs" / "crasher.log").read_text()
    assert log.count("up\n") == 3 and log.count("==== ") == 3
    assert supervisor.leftovers() == []


def test_a_child_that_recovers_keeps_running(tmp_path):
    marker = tmp_path / "crashed-once"
    code = f"import pathlib, time, sys\np = pathlib.Path({str(marker)!r})\nif not p.exists():\n p.touch(); sys.exit(1)\ntime.sleep(60)"
    supervisor = Supervisor(tmp_path / "logs")
    child = supervisor.start(ChildSpec("flaky", python(code), "daemon", restart=FAST))
    poll_until(supervisor, lambda: child.restarts == 1)
    time.sleep(0.3)
    supervisor.poll()
    assert child.process.poll() is None and child.restarts == 1
    assert supervisor.stop(["flaky"], timeout=10) == []
    assert supervisor.leftovers() == []


def test_stop_takes_the_whole_process_group_and_escalates(tmp_path):
    supervisor = Supervisor(tmp_path / "logs", environment={"MARK": "x"})
    # a leader that forks a grandchild, and a child that ignores SIGTERM
    supervisor.start(ChildSpec("forker", ["sh", "-c", "sleep 60 & sleep 60; wait"], "daemon"))
    stubborn = python(
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ar' + 'med', flush=True)\ntime.sleep(60)"
    )
    supervisor.start(
        ChildSpec(
            "stubborn",
            stubborn,
            "actor",
            ready=lambda: "armed\n" in supervisor.log_path("stubborn").read_text(),
        )
    )
    killed = supervisor.stop(["forker", "stubborn"], timeout=1.0)
    assert killed == ["stubborn"]
    assert supervisor.leftovers() == []


def test_a_child_that_dies_while_starting_is_reported(tmp_path):
    supervisor = Supervisor(tmp_path / "logs")
    with pytest.raises(ChildFailed, match=r"broken exited with status 2 while starting; see .*broken.log"):
        supervisor.start(ChildSpec("broken", python("raise SystemExit(2)"), "daemon", ready=lambda: False))


def test_children_see_the_supervisor_environment(tmp_path):
    supervisor = Supervisor(tmp_path / "logs", environment={"TOLARIA_LOCAL_RUN": "/x"})
    child = supervisor.start(
        ChildSpec(
            "env",
            python("import os; print(os.environ['TOLARIA_LOCAL_RUN'], os.environ['OWN'])"),
            "actor",
            env={"OWN": "y"},
        )
    )
    child.process.wait(timeout=10)
    assert "/x y" in supervisor.log_path("env").read_text()
