"""The run directory of a local run: what it holds and how it is written.

spec.yaml        the effective TrainingRun (defaults filled, checkpoint URI resolved); every
                 child reads it, and `--resume` starts from it
state.json       run time accumulated over sessions and the run's Redis port, kept current
checkpoints/     the learner's checkpoints (file://, unless the spec names another store)
redis/           the private redis-server's data (dump.rdb): counters, policy, stream
logs/<child>.log the output of each process
metrics.jsonl    one progress snapshot per line
summary.json, summary.txt, learning_curve.png   written when the run ends
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from tolaria.spec import TrainingRun, load_trainingrun


class RunDirectoryLost(RuntimeError):
    """The run directory was removed, or its spec deleted, while the run was going."""


class RunDirectory:
    def __init__(self, root: Path):
        self.root = root

    @property
    def spec_path(self) -> Path:
        return self.root / "spec.yaml"

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def redis_dir(self) -> Path:
        return self.root / "redis"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def metrics_path(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def summary_json(self) -> Path:
        return self.root / "summary.json"

    @property
    def summary_text(self) -> Path:
        return self.root / "summary.txt"

    @property
    def curve_png(self) -> Path:
        return self.root / "learning_curve.png"

    @property
    def pairings_png(self) -> Path:
        return self.root / "pairings.png"

    # ---- creation ------------------------------------------------------------------------
    @classmethod
    def create(cls, root: Path, run: TrainingRun) -> RunDirectory:
        """A new run directory holding the effective spec of `run`; refuses a used directory."""
        if root.exists() and any(root.iterdir()):
            raise FileExistsError(f"run directory {root} is not empty; pass --resume {root} to continue it")
        directory = cls(root)
        for path in (root, directory.checkpoints, directory.redis_dir, directory.logs):
            path.mkdir(parents=True, exist_ok=True)
        run = effective_run(run, directory)
        atomic_write(directory.spec_path, yaml.safe_dump(run.to_wire(), sort_keys=False))
        return directory

    @classmethod
    def open(cls, root: Path) -> RunDirectory:
        directory = cls(root)
        if not directory.spec_path.is_file():
            raise FileNotFoundError(f"{root} is not a run directory: {directory.spec_path} is missing")
        return directory

    def load_run(self) -> TrainingRun:
        return load_trainingrun(self.spec_path)

    def check_present(self) -> None:
        """Raise RunDirectoryLost once spec.yaml is gone: without it the directory holds no run
        that `--resume` could continue, whatever a child may have written there since."""
        if not self.spec_path.is_file():
            raise RunDirectoryLost(
                f"the run directory {self.root} was removed while the run was going"
                f" ({self.spec_path.name} is gone); stopped without saving"
            )

    # ---- state that survives sessions ------------------------------------------------------
    def read_state(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {}

    def write_state(self, state: dict[str, Any]) -> None:
        atomic_write(self.state_path, json.dumps(state, indent=2) + "\n")

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(record, separators=(",", ":")) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        """The snapshots written so far; a torn last line (a crash mid-write) is skipped."""
        records = []
        try:
            lines = self.metrics_path.read_text().splitlines()
        except FileNotFoundError:
            return []
        for line in lines:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records


def effective_run(run: TrainingRun, directory: RunDirectory) -> TrainingRun:
    """`run` with its checkpoints under the run directory unless the spec chose a store."""
    checkpoints = run.spec.checkpoints
    if "uri" in checkpoints.model_fields_set:
        return run
    resolved = checkpoints.model_copy(update={"uri": f"file://{directory.checkpoints.resolve()}"})
    spec = run.spec.model_copy(update={"checkpoints": resolved})
    return run.model_copy(update={"spec": spec, "status": None})


def default_run_dir(run: TrainingRun, base: Path = Path("runs")) -> Path:
    return base / f"{run.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
