from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from local.local_run import processes_of


@pytest.fixture
def run_dir(tmp_path: Path):
    """The run directory of a test's `tolaria run`; whatever of that run is still alive when the
    test ends (a failed assertion, a hung shutdown) is killed, so that no test leaves a process."""
    directory = tmp_path / "run"
    yield directory
    for pid in processes_of(directory):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
