"""The processes of a local run, planned from its spec and the machine (a pure function).

One `tolaria daemon` process per daemon replica, each on its own port (in Forge's dialect for
`engine: forge`), as many as the cores allow within the spec's autoscaling bounds; actors by `replicas` or `perDaemon` (rounded up);
the learner (CUDA when the spec asks for GPUs and one is present, else CPU: half the cores beside
the games, every core while its warm start clones, when actors and evaluator wait); the evaluator
when evaluation is enabled; a private redis-server unless the spec names an external Redis.
The trainer processes get their configuration the way the operator gives it to pods: the
TOLARIA_* environment (`tolaria.operator.children`) and the effective spec file.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

from tolaria.spec import TrainingRun


@dataclass(frozen=True)
class Machine:
    cores: int
    gpu: bool


@dataclass(frozen=True)
class Sizing:
    daemons: int
    actors: int
    learner_threads: int
    learner_device: str
    # the warm start's cloning has the machine to itself: actors and evaluator wait for its copy
    warm_start_threads: int


def size(run: TrainingRun, machine: Machine) -> Sizing:
    spec = run.spec
    scaling = spec.daemons.autoscaling
    # Half the cores play games; the rest go to actors' inference and the learner.
    daemons = min(scaling.max_replicas, max(1, scaling.min_replicas, machine.cores // 2))
    if spec.actors.replicas is not None:
        actors = spec.actors.replicas
    else:
        actors = max(1, math.ceil(spec.actors.per_daemon * daemons))
    device = "cuda" if spec.learner.gpus > 0 and machine.gpu else "cpu"
    threads = max(1, machine.cores // 2)
    return Sizing(
        daemons=daemons,
        actors=actors,
        learner_threads=threads,
        learner_device=device,
        warm_start_threads=max(1, machine.cores),
    )


def tolaria_argv(subcommand: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "tolaria.cli", subcommand, *args]


def daemon_argv(port: int, deck_dirs: list[Path], games: int, engine: str = "builtin") -> list[str]:
    """A built-in daemon; for `engine: forge` one that speaks Forge's dialect exactly
    (`tolaria daemon --dialect forge`, 10 games at once as Forge), since a local run cannot
    start Forge itself: what runs against it here runs against a Forge daemon."""
    decks = [a for d in deck_dirs for a in ("--decks", str(d))]
    capacity = ["--dialect", "forge"] if engine == "forge" else ["--max-games", str(games)]
    return tolaria_argv(
        "daemon",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        *capacity,
        "--metrics-port",
        "0",
        *decks,
    )


def redis_argv(port: int, data_dir: Path) -> list[str]:
    # Snapshots in the run directory keep counters, policy and stream across sessions
    # (`--resume`); redis-server writes one more when it is stopped with SIGTERM.
    return [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir.resolve()),
        "--dbfilename",
        "dump.rdb",
        "--save",
        "60 1",
        "--appendonly",
        "no",
        "--protected-mode",
        "yes",
    ]


def trainer_env(run: TrainingRun, spec_path: Path, redis_url: str, daemons: list[str]) -> dict[str, str]:
    """The environment of learner, actors and evaluator, as the operator sets it in pods."""
    env = {
        "TOLARIA_SPEC": str(spec_path.resolve()),
        "TOLARIA_RUN_NAME": run.name,
        "TOLARIA_RUN_NAMESPACE": run.namespace,
        "TOLARIA_REDIS_URL": redis_url,
        "TOLARIA_DAEMONS": ",".join(daemons),
        "TOLARIA_METRICS_PORT": "0",
        "PYTHONUNBUFFERED": "1",
    }
    if run.spec.checkpoints.endpoint_url:
        env["TOLARIA_S3_ENDPOINT"] = run.spec.checkpoints.endpoint_url
    return env
