"""What the tests of `tolaria run` share: a shortened quickstart, the command as a user runs it,
and the run's processes, found by their marker (every child carries TOLARIA_LOCAL_RUN=<run dir>
in its environment; redis-server, which overwrites its environment, works in the run directory)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def shortened_quickstart(tmp_path: Path, warm_start_games: int = 0, **stop) -> Path:
    """examples/quickstart.yaml with small batches, short evaluations, a warm start of the given
    size (none by default) and the given stop criteria."""
    document = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    spec = document["spec"]
    spec["actors"]["gamesInFlight"] = 16
    spec["learner"]["ppo"].update(batchSize=256, minibatchSize=128, epochs=1)
    spec["learner"]["warmStart"] = {"games": warm_start_games, "epochs": 2}
    spec["checkpoints"] = {"everyUpdates": 5, "everyMinutes": 1}
    spec["evaluation"].update(everyUpdates=4, games=6)
    spec["stop"] = stop
    path = tmp_path / "short.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def tolaria_run(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tolaria.cli", "run", *args, "--interval", "1", "--cores", "2"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def processes_of(run_dir: Path) -> list[int]:
    """The run's processes: those with its marker in their environment, and those working in its
    directory (redis-server writes its process title over its environment, then works in
    `redis/`), the directory removed or not."""
    root = str(run_dir.resolve())
    marker = f"TOLARIA_LOCAL_RUN={root}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cwd = os.readlink(entry / "cwd").removesuffix(" (deleted)")
                if (
                    marker in (entry / "environ").read_bytes().split(b"\0")
                    or cwd == root
                    or cwd.startswith(root + "/")
                ):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def finish(process: subprocess.Popen, timeout: float) -> tuple[int, str]:
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        pytest.fail(f"tolaria run did not finish in {timeout}s:\n{out}")
    return process.returncode, out
