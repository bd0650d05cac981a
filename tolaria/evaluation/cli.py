"""`tolaria evaluator`: measure policy versions against baselines and the league; keep Elo ratings.

Configuration: the TrainingRun spec file (`--spec`, as mounted from a ConfigMap) gives the
decks and pairings, `evaluation` (cadence, games, baselines, promotionMargin, leagueSize,
actionSelection; `--games`, `--league-size` and `--action-selection` override them) and the
checkpoint URI (whose `league/` holds the league's snapshots); flags and environment variables
give the process-level settings, TOLARIA_REDIS_PASSWORD the Redis password when set. Without
`--once` it runs until SIGTERM/SIGINT, evaluating at the spec's cadence; with `--once` it
evaluates the current policy (published in Redis, or the newest checkpoint with
`--policy-source checkpoint`), prints the report as JSON and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING

from tolaria.waiting import (
    DependencyUnavailable,
    Stopped,
    add_dependency_timeout,
    await_daemon,
    await_redis,
    await_store,
)

if TYPE_CHECKING:
    from tolaria.evaluation.evaluator import EvaluationSettings
    from tolaria.spec import TrainingRunSpec


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spec", default=_env("TOLARIA_SPEC"), help="TrainingRun YAML (env TOLARIA_SPEC)")
    parser.add_argument(
        "--redis",
        default=_env("TOLARIA_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis URL (env TOLARIA_REDIS_URL)",
    )
    add_dependency_timeout(
        parser, "Redis, a daemon (without a limit when minReplicas is 0) and the checkpoint store"
    )
    parser.add_argument(
        "--run-namespace",
        default=_env("TOLARIA_RUN_NAMESPACE"),
        help="run namespace (env TOLARIA_RUN_NAMESPACE; default: the spec's)",
    )
    parser.add_argument(
        "--run-name",
        default=_env("TOLARIA_RUN_NAME"),
        help="run name (env TOLARIA_RUN_NAME; default: the spec's metadata.name)",
    )
    parser.add_argument(
        "--daemons",
        default=_env("TOLARIA_DAEMONS", "127.0.0.1:17171"),
        help="comma-separated host[:port] of the daemons; a name resolving to several"
        " addresses (a headless Service) means all of them (env TOLARIA_DAEMONS)",
    )
    parser.add_argument(
        "--checkpoint-uri",
        default=_env("TOLARIA_CHECKPOINT_URI"),
        help="file://dir or s3://bucket/prefix (env TOLARIA_CHECKPOINT_URI; default: the"
        " spec's); the league lives under <uri>/league; 'none' disables the league",
    )
    parser.add_argument(
        "--s3-endpoint",
        default=_env("TOLARIA_S3_ENDPOINT"),
        help="endpoint of an S3-compatible store (env TOLARIA_S3_ENDPOINT)",
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
        default=int(_env("TOLARIA_THREADS", "1")),
        help="torch CPU threads (env TOLARIA_THREADS)",
    )
    parser.add_argument("--device", default=_env("TOLARIA_DEVICE", "auto"), help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--games", type=int, help="games per baseline (overrides spec.evaluation.games)")
    parser.add_argument("--games-in-flight", type=int, default=32, help="concurrent evaluation games")
    parser.add_argument(
        "--league-size", type=int, help="newest league snapshots kept (overrides spec.evaluation.leagueSize)"
    )
    parser.add_argument(
        "--league-opponents", type=int, default=4, help="newest past snapshots played by the league baseline"
    )
    parser.add_argument(
        "--action-selection",
        choices=("greedy", "sampled"),
        help="greedy: the likeliest action of each head; sampled: as the actors play"
        " (overrides spec.evaluation.actionSelection)",
    )
    parser.add_argument(
        "--game-timeout", type=float, default=300.0, help="whole-game timeout in seconds (-c)"
    )
    parser.add_argument(
        "--poll-seconds", type=float, default=5.0, help="how often the policy version is read"
    )
    parser.add_argument(
        "--once", action="store_true", help="evaluate the current policy once, print JSON, exit"
    )
    parser.add_argument(
        "--policy-source",
        choices=("redis", "checkpoint"),
        default="redis",
        help="with --once: the policy published in Redis or the newest checkpoint",
    )
    parser.add_argument("--log-level", default=_env("TOLARIA_LOG_LEVEL", "INFO"))


def evaluation_settings(spec: TrainingRunSpec, args: argparse.Namespace) -> EvaluationSettings:
    """The spec's evaluation settings, each flag given on the command line in place of its field."""
    from tolaria.evaluation.evaluator import EvaluationSettings

    return EvaluationSettings.from_spec(
        spec,
        games=args.games,
        games_in_flight=args.games_in_flight,
        league_opponents=args.league_opponents,
        league_size=args.league_size,
        greedy=None if args.action_selection is None else args.action_selection == "greedy",
        game_timeout=args.game_timeout,
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    log = logging.getLogger("tolaria.evaluator")
    # imported here so that `tolaria --help` never pays for torch
    import torch

    from tolaria.protocol import parse_endpoints
    from tolaria.protocol.daemon_clients import DaemonClients
    from tolaria.spec import SpecError, load_trainingrun

    if not args.spec:
        log.error("no spec: pass --spec (or TOLARIA_SPEC); the evaluator needs the run's decks")
        return 2
    try:
        training_run = load_trainingrun(args.spec)
        settings = evaluation_settings(training_run.spec, args)
        endpoints = parse_endpoints(args.daemons)
    except (SpecError, ValueError) as e:
        log.error("%s", e)
        return 2
    torch.set_num_threads(max(1, args.threads))
    uri = args.checkpoint_uri or training_run.spec.checkpoints.uri
    namespace = args.run_namespace or training_run.namespace
    name = args.run_name or training_run.name
    try:
        return asyncio.run(
            _main(
                args,
                settings,
                DaemonClients(endpoints, "tolaria-evaluator"),
                training_run.spec.daemons.autoscaling.min_replicas == 0,
                uri,
                namespace,
                name,
                log,
            )
        )
    except KeyboardInterrupt:
        return 0


async def _main(
    args,
    settings,
    daemons,
    pool_may_be_empty: bool,
    uri: str,
    namespace: str,
    name: str,
    log: logging.Logger,
) -> int:
    import redis.asyncio as aioredis

    from tolaria.evaluation.evaluator import Evaluator
    from tolaria.evaluation.metrics import EvaluatorMetrics
    from tolaria.evaluation.record import EvaluationRecord, RecordUnavailable
    from tolaria.inference.device import resolve_device
    from tolaria.keys import RunKeys, redis_password
    from tolaria.matchmaking.league import League
    from tolaria.trainer.checkpoint import open_store

    league = None if uri == "none" else League.open(uri, settings.league_size, endpoint_url=args.s3_endpoint)
    record = None if uri == "none" else EvaluationRecord(open_store(uri, endpoint_url=args.s3_endpoint))
    metrics = EvaluatorMetrics()
    metrics.serve(args.metrics_port)
    client = aioredis.Redis.from_url(
        args.redis,
        password=redis_password(),
        socket_timeout=30,
        # A Redis whose pod is gone leaves an address that nobody answers: without this bound
        # each command's connect waits socket_timeout on every retry (as the learner's does).
        socket_connect_timeout=5,
        health_check_interval=10,
    )
    evaluator = Evaluator(
        settings,
        client,
        RunKeys(namespace, name),
        daemons,
        league,
        resolve_device(args.device),
        metrics,
        record,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await await_redis(client, args.redis, args.dependency_timeout, stop)
        await await_daemon(
            daemons.endpoints, args.dependency_timeout, stop, pool_may_be_empty=pool_may_be_empty
        )
        if record is not None:
            await await_store(record.store, args.dependency_timeout, stop)
        if args.once:
            work = asyncio.create_task(_evaluate_once(evaluator, args.policy_source, uri, args.s3_endpoint))
        else:
            work = asyncio.create_task(evaluator.run(stop, args.poll_seconds))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            log.info("stopping: evaluation in progress abandoned, nothing written")
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            return 0
        stopping.cancel()
        report = work.result()
        if args.once:
            if report is None:
                log.error("no policy to evaluate (nothing published in Redis / no checkpoint in %s)", uri)
                return 1
            print(json.dumps(report, indent=2))
        return 0
    except (DependencyUnavailable, RecordUnavailable) as e:
        log.error("%s", e)
        return 1
    except Stopped:
        return 0
    finally:
        await daemons.close()
        await client.aclose()


async def _evaluate_once(evaluator, source: str, uri: str, endpoint: str | None):
    if source == "redis":
        return await evaluator.evaluate_published()
    from tolaria.trainer.checkpoint import open_store
    from tolaria.trainer.config import NetworkConfig
    from tolaria.trainer.policy import PolicyNetwork
    from tolaria.trainer.weights import encode_weights

    checkpoint = await asyncio.to_thread(lambda: open_store(uri, endpoint_url=endpoint).latest())
    if checkpoint is None:
        return None
    network = NetworkConfig(**checkpoint.config["network"])
    model = PolicyNetwork(network)
    model.load_state_dict(checkpoint.model_state)
    return await evaluator.evaluate(encode_weights(model, network, checkpoint.policy_version))
