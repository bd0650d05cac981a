"""`tolaria status HOST:PORT`, the daemon image's health check, against a real daemon."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import free_port

pytestmark = pytest.mark.integration


def status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tolaria.cli", "status", *args], capture_output=True, text=True, timeout=60
    )


def test_status_prints_the_daemons_answer(shared_daemon):
    done = status(f"127.0.0.1:{shared_daemon.port}")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "FORGE DAEMON STATUS"
    assert "Max concurrent: 64" in lines
    assert "accepting: yes" in lines


def test_status_of_no_daemon_exits_1_and_names_the_address():
    port = free_port()
    done = status(f"127.0.0.1:{port}", "--timeout", "2")
    assert done.returncode == 1
    assert f"127.0.0.1:{port}" in done.stderr and done.stdout == ""


@pytest.mark.parametrize("address", ["a:1,b:2", "host:notaport", ""])
def test_status_refuses_an_address_that_is_not_one_daemon(address):
    done = status(address)
    assert done.returncode == 2
    assert done.stderr.startswith("tolaria status: ")
