"""`tolaria learner`: train the policy with PPO from the run's rollout stream.

Configuration: the TrainingRun spec file (`--spec`, as mounted from a ConfigMap) gives the
network, PPO hyperparameters and checkpoint policy; flags and environment variables give the
process-level settings, TOLARIA_REDIS_PASSWORD the Redis password when set, TOLARIA_DAEMONS the
daemons a warm start watches. SIGTERM (or SIGINT) checkpoints at once (an update in progress is
abandoned at its next minibatch); during a warm start it saves the games watched and the fit's
progress, which the next start continues from.

Exit status: 0 when the learner finished (`--max-updates`), 128 + the signal's number when a
signal stopped it, as for a killed process. A learner Job whose pod was deleted must not take the
interrupted learner for a finished one: an exit 0 completed the Job, and the operator then
declared the whole run finished.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import socket
import threading

from tolaria.keys import RunKeys, redis_password
from tolaria.waiting import (
    DependencyUnavailable,
    Stopped,
    add_dependency_timeout,
    wait_for_redis,
    wait_for_store,
)


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spec",
        default=_env("TOLARIA_SPEC"),
        help="TrainingRun YAML (env TOLARIA_SPEC); without it, the defaults of every field",
    )
    parser.add_argument(
        "--redis",
        default=_env("TOLARIA_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis URL (env TOLARIA_REDIS_URL)",
    )
    add_dependency_timeout(parser, "Redis and the checkpoint store")
    parser.add_argument(
        "--run-namespace",
        default=_env("TOLARIA_RUN_NAMESPACE"),
        help="run namespace (env TOLARIA_RUN_NAMESPACE; default: the spec's, else 'default')",
    )
    parser.add_argument(
        "--run-name",
        default=_env("TOLARIA_RUN_NAME"),
        help="run name (env TOLARIA_RUN_NAME; default: the spec's metadata.name)",
    )
    parser.add_argument(
        "--checkpoint-uri",
        default=_env("TOLARIA_CHECKPOINT_URI"),
        help="file://dir or s3://bucket/prefix (env TOLARIA_CHECKPOINT_URI; default: the spec's); "
        "'none' disables checkpoints",
    )
    parser.add_argument(
        "--s3-endpoint",
        default=_env("TOLARIA_S3_ENDPOINT"),
        help="endpoint of an S3-compatible store (env TOLARIA_S3_ENDPOINT)",
    )
    parser.add_argument(
        "--daemons",
        default=_env("TOLARIA_DAEMONS", "127.0.0.1:17171"),
        help="comma-separated host[:port] of the daemons a warm start (learner.warmStart) watches;"
        " a name resolving to several addresses (a headless Service) means all of them"
        " (env TOLARIA_DAEMONS)",
    )
    parser.add_argument(
        "--consumer",
        default=_env("TOLARIA_LEARNER_CONSUMER", "learner"),
        help="consumer name in the 'learners' group; keep it stable across restarts",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=int(_env("TOLARIA_METRICS_PORT", "9090")),
        help="Prometheus port (env TOLARIA_METRICS_PORT); 0 disables",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(_env("TOLARIA_THREADS", "2")),
        help="torch CPU threads (env TOLARIA_THREADS)",
    )
    parser.add_argument(
        "--warm-start-threads",
        type=int,
        default=int(_env("TOLARIA_WARM_START_THREADS", "0")),
        help="torch CPU threads while the warm start clones (env TOLARIA_WARM_START_THREADS; 0: --threads)",
    )
    parser.add_argument("--device", default=_env("TOLARIA_DEVICE", "auto"), help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--batch-size", type=int, help="samples per PPO update (overrides the spec)")
    parser.add_argument("--minibatch-size", type=int, help="samples per gradient step (overrides the spec)")
    parser.add_argument(
        "--checkpoint-every-updates", type=int, help="overrides spec.checkpoints.everyUpdates"
    )
    parser.add_argument(
        "--checkpoint-every-minutes", type=float, help="overrides spec.checkpoints.everyMinutes"
    )
    parser.add_argument(
        "--max-updates", type=int, default=0, help="stop after N updates (0: run until SIGTERM)"
    )
    parser.add_argument("--log-level", default=_env("TOLARIA_LOG_LEVEL", "INFO"))


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    log = logging.getLogger("tolaria.learner")
    if args.warm_start_threads < 0:
        log.error(
            "--warm-start-threads (env TOLARIA_WARM_START_THREADS) must be 0 (as --threads) or more, not %d",
            args.warm_start_threads,
        )
        return 2
    warm_start_threads = args.warm_start_threads or None  # 0: as --threads
    # imported here so that `tolaria --help` never pays for torch
    import redis
    import torch

    from tolaria.protocol import parse_endpoints
    from tolaria.spec import load_trainingrun
    from tolaria.trainer.checkpoint import open_store
    from tolaria.trainer.config import LearnerConfig, TrainerConfig, trainer_config_from_spec
    from tolaria.trainer.learner import Learner
    from tolaria.trainer.metrics import LearnerMetrics
    from tolaria.trainer.warm_start import WarmStart

    namespace, name = args.run_namespace, args.run_name
    pairings: list[tuple[str, str]] = []
    if args.spec:
        run_spec = load_trainingrun(args.spec)
        pairings = [(agent, opponent) for agent, opponent, _ in run_spec.spec.pairings()]
        namespace = namespace or run_spec.namespace
        name = name or run_spec.name
        config = trainer_config_from_spec(
            run_spec.spec,
            threads=args.threads,
            device=args.device,
            warm_start_threads=warm_start_threads,
        )
        uri = args.checkpoint_uri or run_spec.spec.checkpoints.uri
    else:
        config = TrainerConfig(
            learner=LearnerConfig(
                threads=args.threads, device=args.device, warm_start_threads=warm_start_threads
            )
        )
        uri = args.checkpoint_uri or "file://checkpoints"
    if not name:
        log.error("no run name: pass --run-name (or TOLARIA_RUN_NAME) or --spec")
        return 2
    ppo_overrides = {
        k: v
        for k, v in (("batch_size", args.batch_size), ("minibatch_size", args.minibatch_size))
        if v is not None
    }
    learner_overrides = {
        k: v
        for k, v in (
            ("checkpoint_every_updates", args.checkpoint_every_updates),
            ("checkpoint_every_minutes", args.checkpoint_every_minutes),
        )
        if v is not None
    }
    config = dataclasses.replace(
        config,
        ppo=dataclasses.replace(config.ppo, **ppo_overrides),
        learner=dataclasses.replace(config.learner, **learner_overrides),
    )
    torch.set_num_threads(max(1, config.learner.threads))

    store = (
        None
        if uri == "none"
        else open_store(uri, keep=config.learner.keep_checkpoints, endpoint_url=args.s3_endpoint)
    )
    keys = RunKeys(namespace or "default", name)
    client = redis.Redis.from_url(
        args.redis,
        password=redis_password(),
        socket_timeout=30,
        # A Redis whose pod is gone leaves an address that nobody answers: without this bound
        # each command's connect waits socket_timeout on every retry, and a learner stopping
        # with its run outlives the pod's grace period.
        socket_connect_timeout=5,
        health_check_interval=10,
    )
    metrics = LearnerMetrics()
    metrics.serve(args.metrics_port)

    stop = threading.Event()
    stopped_by: list[int] = []

    def on_signal(signum: int, _frame) -> None:
        log.info("signal %s: checkpointing and stopping", signal.Signals(signum).name)
        stopped_by.append(signum)
        stop.set()

    def interrupted() -> int:
        return 128 + stopped_by[0]

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        wait_for_redis(client, args.redis, args.dependency_timeout, stop)
        if store is not None:
            wait_for_store(store, args.dependency_timeout, stop)
    except DependencyUnavailable as e:
        log.error("%s", e)
        return 1
    except Stopped:
        return interrupted()
    warm_start = None
    if config.warm_start.games:
        warm_start = WarmStart(
            config.warm_start,
            parse_endpoints(args.daemons),
            pairings,
            config.ppo.gamma,
            seed=config.learner.seed,
        )
    learner = Learner(
        config,
        client,
        keys,
        store,
        consumer=args.consumer or socket.gethostname(),
        metrics=metrics,
        warm_start=warm_start,
    )
    if not learner.start(stop):
        log.info("stopped during the warm start")
        return interrupted()
    learner.run(stop, max_updates=args.max_updates)
    log.info("stopped at step %d, policy version %d", learner.step, learner.version)
    return interrupted() if stopped_by else 0
