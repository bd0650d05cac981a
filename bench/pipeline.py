"""Pipeline efficiency: decisions/s through daemon + actor + Redis + learner, against the same
daemon driven by a trivial client.

One run, one machine, one daemon process (or --daemon-workers of them sharing the port):

1. daemon alone: a client plays self-play games (`-i -q -x compact`), `--games-in-flight` at
   once, answering every decision at once with the first offered option;
2. pipeline: redis-server, `tolaria learner` (CPU or --learner-device) and `tolaria actor` with
   the same number of games in flight, the same game mode and deck pairings; the actor's
   decisions are read from the run's stats hash (`decisions`, counted per finished game) over
   the measuring window, after a warm-up.

With --without-learner the pipeline phase publishes one policy itself and runs no learner, which
separates the actor's cost from the learner's when they share the machine's cores.

The phases are interleaved, `--rounds` pipeline windows each between two daemon-alone windows
(alone, pipeline, alone, pipeline, ..., alone), so that each pipeline window is compared with the
daemon as fast as it was just before and just after it: these machines are shared, and the same
daemon alone has run at rates 40% apart within one sitting.

Reported: the rates (answered decisions per second), each pipeline window's ratio to the mean of
its two neighbouring daemon-alone windows (target >= 0.70) and the range of those ratios, the
actor's mean inference batch size, the policy versions the learner published meanwhile, the
rollout bytes per decision, and the CPU time per decision of the daemon, the actor and the
learner over each window (stable where wall-clock rates are not).

    python bench/pipeline.py --seconds 30 --games-in-flight 64 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
import yaml

from tolaria.keys import RunKeys, StatsField
from tolaria.protocol import AsyncDaemonClient, GameOptions, first_option_reply

if TYPE_CHECKING:
    from tolaria.trainer.config import NetworkConfig

REPO = Path(__file__).resolve().parents[1]
DECKS = ["red_aggro", "white_weenie", "green_midrange", "blue_control"]
KEYS = RunKeys("bench", "pipeline")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not start on port {port}")


def stop(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def trivial_client(
    port: int, daemon_pid: int, games_in_flight: int, warmup: float, seconds: float
) -> dict:
    """Answered decisions per second of the daemon alone, counted inside the window, and the
    daemon's CPU time per decision over the same window."""
    counted = 0
    loop = asyncio.get_running_loop()
    start_at = loop.time() + warmup
    stop_at = start_at + seconds
    cpu: list[float] = []

    async def sample_cpu() -> None:
        await asyncio.sleep(max(0.0, start_at - loop.time()))
        cpu.append(tree_cpu_seconds(daemon_pid))
        await asyncio.sleep(max(0.0, stop_at - loop.time()))
        cpu.append(tree_cpu_seconds(daemon_pid))

    async with AsyncDaemonClient("127.0.0.1", port, read_timeout=120) as client:
        await client.hello()

        async def one_slot(slot: int) -> None:
            nonlocal counted
            pairs = list(itertools.product(DECKS, DECKS))
            for round_ in itertools.count():
                if loop.time() >= stop_at:
                    return
                deck1, deck2 = pairs[(slot + round_) % len(pairs)]
                options = GameOptions(
                    interactive=True, quiet=True, compact=True, seed=slot * 1_000_003 + round_
                )
                game = await client.start_game(deck1, deck2, options)
                while (decision := await game.next_decision()) is not None:
                    if decision.expects_reply:
                        await game.reply(first_option_reply(decision.payload))
                        if start_at <= loop.time() < stop_at:
                            counted += 1

        await asyncio.gather(sample_cpu(), *(one_slot(i) for i in range(games_in_flight)))
    return {
        "decisions": counted,
        "seconds": seconds,
        "decisions_per_s": round(counted / seconds, 1),
        "daemon_cpu_us_per_decision": round((cpu[1] - cpu[0]) / max(1, counted) * 1e6, 1),
    }


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and its live descendants (the daemon's workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    total, frontier = 0.0, {pid}
    while frontier:
        total += sum(stats[p][1] for p in frontier if p in stats)
        frontier = {child for child, (parent, _) in stats.items() if parent in frontier}
    return total


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    """A redis-server without persistence on a free loopback port, and its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port, "redis-server")
    except BaseException:
        stop(proc)
        raise
    return proc, f"redis://127.0.0.1:{port}/0"


def write_run_spec(path: Path, keys: RunKeys, spec: dict[str, Any]) -> Path:
    """A TrainingRun named by `keys` playing the bench's decks, with `spec` for the rest, as the
    processes read it (`--spec`)."""
    path.write_text(yaml.safe_dump({
        "apiVersion": "tolaria.dev/v1alpha1", "kind": "TrainingRun",
        "metadata": {"name": keys.name, "namespace": keys.namespace},
        "spec": {"decks": DECKS, **spec},
    }))  # fmt: skip
    return path


def start_daemon(max_games: int, workers: int = 1) -> tuple[subprocess.Popen, int, int]:
    """`tolaria daemon` serving the repository's decks on free loopback ports, once it and its
    metrics answer: (process, port, metrics port)."""
    port, metrics_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tolaria.cli", "daemon", "--host", "127.0.0.1", "--port", str(port),
         "--decks", str(REPO / "decks"), "--metrics-port", str(metrics_port), "--workers", str(workers),
         "--max-games", str(max_games), "--log-level", "WARNING"],
        cwd=REPO,
    )  # fmt: skip
    try:
        wait_for_port(port, "the daemon")
        wait_for_port(metrics_port, "the daemon's metrics")
    except BaseException:
        stop(proc)
        raise
    return proc, port, metrics_port


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def emit(result: dict[str, Any], path: Path | None) -> None:
    """Print a bench's result as JSON, and write it to `path` too when one is given."""
    text = json.dumps(result, indent=2, default=str)  # paths among the settings
    print(text)
    if path:
        path.write_text(text + "\n")


def publish_fresh_policy(
    client: redis.Redis, keys: RunKeys = KEYS, network: NetworkConfig | None = None, version: int = 1
) -> None:
    """Random weights (seeded by `version`: every window of a bench gets the same policy) of
    `network` (default the small preset), published as policy `version` of the run `keys`."""
    import torch

    from tolaria.trainer.config import NetworkConfig
    from tolaria.trainer.policy import PolicyNetwork
    from tolaria.trainer.weights import encode_weights

    network = network or NetworkConfig.from_preset("small")
    torch.manual_seed(version)
    client.set(keys.policy, encode_weights(PolicyNetwork(network), network, version))
    client.set(keys.policy_version, version)


def pipeline(args, daemon_port: int, daemon_pid: int, workdir: Path) -> dict:
    procs: list[subprocess.Popen] = []
    logs = []
    try:
        redis_server, redis_url = start_redis(workdir)
        procs.append(redis_server)
        spec = write_run_spec(workdir / "run.yaml", KEYS, {
            "actors": {"replicas": 1, "gamesInFlight": args.games_in_flight, "policySyncIntervalSeconds": 2,
                       "opponents": {"selfPlay": 1.0, "builtinAi": 0.0, "league": 0.0}},
            "redis": {"url": redis_url},
        })  # fmt: skip
        client = redis.Redis.from_url(redis_url)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if args.without_learner:
            publish_fresh_policy(client)
        else:
            learner_log = (workdir / "learner.log").open("wb")
            logs.append(learner_log)
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "tolaria.cli", "learner", "--spec", str(spec), "--redis", redis_url,
                 "--checkpoint-uri", "none", "--metrics-port", "0", "--device", args.learner_device,
                 "--threads", str(args.learner_threads), "--batch-size", str(args.learner_batch)],
                stdout=learner_log, stderr=subprocess.STDOUT, cwd=REPO, env=env,
            ))  # fmt: skip
        deadline = time.monotonic() + 120
        while client.get(KEYS.policy_version) is None:
            if time.monotonic() > deadline or procs[-1].poll() is not None:
                raise SystemExit(f"the learner published no policy:\n{(workdir / 'learner.log').read_text()}")
            time.sleep(0.2)
        actor_metrics = free_port()
        actor_log = (workdir / "actor.log").open("wb")
        logs.append(actor_log)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "tolaria.cli", "actor", "--spec", str(spec), "--redis", redis_url,
             "--daemons", f"127.0.0.1:{daemon_port}", "--device", args.actor_device,
             "--threads", str(args.actor_threads), "--metrics-port", str(actor_metrics)],
            stdout=actor_log, stderr=subprocess.STDOUT, cwd=REPO, env=env,
        ))  # fmt: skip
        wait_for_port(actor_metrics, "the actor's metrics")
        time.sleep(args.warmup)

        actor_pid = procs[-1].pid
        learner_pid = None if args.without_learner else procs[1].pid

        def reading() -> tuple[float, int, float, float, float, int, float, float, float]:
            return (
                time.monotonic(),
                int(client.hget(KEYS.stats, StatsField.DECISIONS) or 0),
                metric(actor_metrics, "tolaria_actor_inference_batch_size_sum"),
                metric(actor_metrics, "tolaria_actor_inference_batch_size_count"),
                metric(actor_metrics, "tolaria_actor_rollout_bytes_total"),
                int(client.get(KEYS.policy_version) or 0),
                tree_cpu_seconds(daemon_pid),
                tree_cpu_seconds(actor_pid),
                tree_cpu_seconds(learner_pid) if learner_pid else 0.0,
            )

        t0, d0, bs0, bc0, b0, v0, dc0, ac0, lc0 = reading()
        time.sleep(args.seconds)
        t1, d1, bs1, bc1, b1, v1, dc1, ac1, lc1 = reading()
        if procs[-1].poll() is not None:
            raise SystemExit(f"the actor exited:\n{(workdir / 'actor.log').read_text()}")
        decisions = d1 - d0
        return {
            "decisions": decisions,
            "seconds": round(t1 - t0, 2),
            "decisions_per_s": round(decisions / (t1 - t0), 1),
            "mean_inference_batch": round((bs1 - bs0) / max(1.0, bc1 - bc0), 1),
            "rollout_bytes_per_decision": round((b1 - b0) / max(1, decisions), 1),
            "policy_versions_published": v1 - v0,
            "daemon_cpu_us_per_decision": round((dc1 - dc0) / max(1, decisions) * 1e6, 1),
            "actor_cpu_us_per_decision": round((ac1 - ac0) / max(1, decisions) * 1e6, 1),
            "learner_cpu_us_per_decision": round((lc1 - lc0) / max(1, decisions) * 1e6, 1),
        }
    finally:
        for proc in reversed(procs):
            stop(proc)
        for log in logs:
            log.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="measuring window of each phase")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before each window")
    parser.add_argument("--games-in-flight", type=int, default=64)
    parser.add_argument("--daemon-workers", type=int, default=1)
    parser.add_argument("--actor-device", default="cpu")
    parser.add_argument("--actor-threads", type=int, default=1)
    parser.add_argument("--learner-device", default="cpu")
    parser.add_argument("--learner-threads", type=int, default=1)
    parser.add_argument("--learner-batch", type=int, default=4096, help="samples per PPO update")
    parser.add_argument(
        "--without-learner",
        action="store_true",
        help="publish one policy and run no learner (actor cost only)",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="pipeline windows, each between two daemon-alone windows"
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()

    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    alone: list[dict] = []
    through: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="tolaria-pipeline-") as tmp:
        workdir = Path(tmp)
        daemon, daemon_port, _ = start_daemon(max(64, args.games_in_flight), args.daemon_workers)
        try:
            for round_ in range(args.rounds + 1):
                alone.append(
                    asyncio.run(
                        trivial_client(
                            daemon_port, daemon.pid, args.games_in_flight, args.warmup, args.seconds
                        )
                    )
                )
                print(f"daemon alone: {alone[-1]['decisions_per_s']} decisions/s", file=sys.stderr)
                if round_ == args.rounds:
                    break
                round_dir = workdir / f"round-{round_}"
                round_dir.mkdir()
                through.append(pipeline(args, daemon_port, daemon.pid, round_dir))
                print(f"pipeline:     {through[-1]['decisions_per_s']} decisions/s", file=sys.stderr)
        finally:
            stop(daemon)
    ratios = [
        round(
            window["decisions_per_s"] / max((before["decisions_per_s"] + after["decisions_per_s"]) / 2, 1e-9),
            3,
        )
        for window, before, after in zip(through, alone, alone[1:], strict=False)
    ]
    result = {
        "benchmark": "pipeline",
        "machine": machine(),
        "settings": vars(args),
        "daemon_alone": alone,
        "pipeline": through,
        "ratios": ratios,
        "ratio_range": [min(ratios), max(ratios)],
        "target": 0.70,
    }
    emit(result, args.json)


if __name__ == "__main__":
    main()
