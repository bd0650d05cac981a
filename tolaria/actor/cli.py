"""`tolaria actor`: play games against the daemons with the current policy and ship rollouts.

Configuration: the TrainingRun spec file (`--spec`, as mounted from a ConfigMap) gives the decks
and matchups, the opponent mix, games in flight, the policy sync interval and the stream bound;
flags and environment variables give the process-level settings and may override the spec.
TOLARIA_REDIS_PASSWORD holds the Redis password when set. SIGTERM (or SIGINT) stops new games,
lets the games in flight finish within --grace-period, flushes the buffered rollouts and exits 0.
A wind-down that is still going 15 s after the grace period prints every thread's stack and exits
1 (faulthandler's watchdog, which works even when the event loop is stuck), so a hang shows its
cause in the log instead of waiting for the kubelet's SIGKILL.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import os
import signal
import socket
import sys
import zlib

from tolaria.waiting import (
    DependencyUnavailable,
    Stopped,
    add_dependency_timeout,
    await_daemon,
    await_redis,
)

WIND_DOWN_SLACK = 15.0  # seconds past the grace period before the watchdog gives up


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spec", default=_env("TOLARIA_SPEC"), help="TrainingRun YAML (env TOLARIA_SPEC)")
    parser.add_argument(
        "--redis",
        default=_env("TOLARIA_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis URL (env TOLARIA_REDIS_URL)",
    )
    add_dependency_timeout(parser, "Redis and a daemon (without a limit when minReplicas is 0)")
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
    endpoints = parser.add_mutually_exclusive_group()
    endpoints.add_argument(
        "--daemons",
        default=_env("TOLARIA_DAEMONS"),
        help="comma-separated host[:port] of the daemons (env TOLARIA_DAEMONS)",
    )
    endpoints.add_argument(
        "--daemon-service",
        default=_env("TOLARIA_DAEMON_SERVICE"),
        help="DNS:PORT of a headless Service, re-resolved as the pool scales (env TOLARIA_DAEMON_SERVICE)",
    )
    parser.add_argument(
        "--endpoint-refresh-seconds",
        type=float,
        default=float(_env("TOLARIA_ENDPOINT_REFRESH_SECONDS", "15")),
        help="how often the daemon endpoints are re-resolved",
    )
    parser.add_argument(
        "--games-in-flight",
        type=int,
        default=_int_env("TOLARIA_GAMES_IN_FLIGHT"),
        help="concurrent games (env TOLARIA_GAMES_IN_FLIGHT; default: the spec's actors.gamesInFlight)",
    )
    parser.add_argument("--device", default=_env("TOLARIA_DEVICE", "auto"), help="auto, cpu, cuda, cuda:N")
    parser.add_argument(
        "--threads",
        type=int,
        default=int(_env("TOLARIA_THREADS", "1")),
        help="torch CPU threads (env TOLARIA_THREADS)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=int(_env("TOLARIA_METRICS_PORT", "9090")),
        help="Prometheus port (env TOLARIA_METRICS_PORT); 0 disables",
    )
    parser.add_argument(
        "--checkpoint-uri",
        default=_env("TOLARIA_CHECKPOINT_URI"),
        help="file://dir or s3://bucket/prefix whose <uri>/league holds past snapshots"
        " (env TOLARIA_CHECKPOINT_URI; default: the spec's); 'none' plays no league opponents",
    )
    parser.add_argument(
        "--s3-endpoint", default=_env("TOLARIA_S3_ENDPOINT"), help="endpoint of an S3-compatible store"
    )
    parser.add_argument(
        "--segment-steps",
        type=int,
        default=int(_env("TOLARIA_SEGMENT_STEPS", "256")),
        help="most steps per shipped segment; longer trajectories are cut and bootstrapped",
    )
    parser.add_argument("--stream-max-length", type=int, help="rollout stream bound (default: the spec's)")
    parser.add_argument(
        "--max-buffered-segments",
        type=int,
        default=int(_env("TOLARIA_MAX_BUFFERED_SEGMENTS", "10000")),
        help="segments held in memory while Redis is unreachable; the oldest are dropped past it",
    )
    parser.add_argument("--max-batch", type=int, default=256, help="most decisions per forward pass")
    parser.add_argument(
        "--batch-wait-ms", type=float, default=2.0, help="how long a batch waits for more decisions"
    )
    parser.add_argument(
        "--game-timeout", type=float, default=120.0, help="whole-game timeout in seconds (-c)"
    )
    parser.add_argument(
        "--grace-period",
        type=float,
        default=float(_env("TOLARIA_GRACE_PERIOD", "20")),
        help="seconds the games in flight get to finish after SIGTERM",
    )
    parser.add_argument(
        "--max-games", type=int, default=0, help="stop after N finished games (0: run until SIGTERM)"
    )
    parser.add_argument(
        "--seed", type=int, help="seed of deck, opponent and game draws (default: spec seed + host)"
    )
    parser.add_argument("--log-level", default=_env("TOLARIA_LOG_LEVEL", "INFO"))


def _int_env(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    log = logging.getLogger("tolaria.actor")
    # imported here so that `tolaria --help` never pays for torch
    import redis.asyncio as aioredis
    import torch

    from tolaria.actor.actor import Actor, ActorSettings
    from tolaria.actor.daemons import DaemonPool
    from tolaria.actor.metrics import ActorMetrics
    from tolaria.inference.device import resolve_device
    from tolaria.keys import RunKeys, redis_password
    from tolaria.matchmaking.league import League
    from tolaria.protocol import parse_endpoints
    from tolaria.spec import SpecError, load_trainingrun

    if not args.spec:
        log.error("no spec: pass --spec (or TOLARIA_SPEC); the actor needs the run's decks")
        return 2
    try:
        training_run = load_trainingrun(args.spec)
        endpoint_text = args.daemon_service or args.daemons or "127.0.0.1:17171"
        endpoints = parse_endpoints(endpoint_text)
        spec = training_run.spec
        host = socket.gethostname()
        settings = ActorSettings(
            pairings=spec.pairings(),
            stage_pairings=spec.stage_pairings() if spec.curriculum is not None else [],
            opponents=spec.actors.opponents,
            pairing_priority=spec.actors.pairing_priority,
            reward_shaping=spec.reward_shaping,
            gamma=spec.learner.ppo.gamma,
            games_in_flight=args.games_in_flight or spec.actors.games_in_flight,
            segment_steps=args.segment_steps,
            stream_max_length=args.stream_max_length or spec.redis.stream_max_length,
            policy_sync_interval=spec.actors.policy_sync_interval_seconds,
            endpoint_refresh_interval=args.endpoint_refresh_seconds,
            game_timeout=args.game_timeout,
            max_turns=spec.max_turns,
            max_batch=args.max_batch,
            max_wait=args.batch_wait_ms / 1000,
            grace_period=args.grace_period,
            max_buffered_segments=args.max_buffered_segments,
            max_queue_depth=min(spec.redis.max_queue_depth, spec.redis.stream_max_length),
            max_queue_bytes=spec.redis.max_queue_bytes,
            device=str(resolve_device(args.device)),
            seed=args.seed
            if args.seed is not None
            else (spec.seed or 0) * 1_000_003 + zlib.crc32(host.encode()),
            max_games=args.max_games,
            actor_id=host,
        )
    except (SpecError, ValueError) as e:
        log.error("%s", e)
        return 2
    if settings.device.startswith("cuda") and not torch.cuda.is_available():
        log.error("--device %s: CUDA is not available on this machine (use cpu or auto)", args.device)
        return 2
    torch.set_num_threads(max(1, args.threads))
    keys = RunKeys(args.run_namespace or training_run.namespace, args.run_name or training_run.name)
    uri = args.checkpoint_uri or spec.checkpoints.uri
    league = None
    if uri != "none" and spec.actors.opponents.league > 0:
        try:
            league = League.open(uri, spec.evaluation.league_size, endpoint_url=args.s3_endpoint)
        except (ValueError, OSError) as e:
            log.warning("no league opponents: %s", e)

    async def main() -> int:
        client = aioredis.Redis.from_url(
            args.redis, password=redis_password(), socket_timeout=10, socket_connect_timeout=5
        )
        metrics = ActorMetrics()
        metrics.serve(args.metrics_port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_stop_signal() -> None:
            if not stop.is_set():
                faulthandler.dump_traceback_later(settings.grace_period + WIND_DOWN_SLACK, exit=True)
            stop.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_stop_signal)
        actor = Actor(settings, client, keys, DaemonPool(endpoints, args.game_timeout), metrics, league)
        log.info(
            "actor %s: %d games in flight on %s, run %s, device %s",
            host,
            settings.games_in_flight,
            endpoint_text,
            keys.prefix,
            settings.device,
        )
        try:
            await await_redis(client, args.redis, args.dependency_timeout, stop)
            await await_daemon(
                endpoints,
                args.dependency_timeout,
                stop,
                pool_may_be_empty=spec.daemons.autoscaling.min_replicas == 0,
            )
            await actor.run(stop)
        except DependencyUnavailable as e:
            log.error("%s", e)
            return 1
        except Stopped:
            return 0
        finally:
            await client.aclose()
        log.info(
            "stopped: %d games, %d decisions, %d failed games, %d segments shipped, %d dropped",
            actor.games_finished,
            actor.decisions,
            actor.errors,
            actor.shipper.shipped,
            actor.shipper.dropped,
        )
        return 0

    return asyncio.run(main())
