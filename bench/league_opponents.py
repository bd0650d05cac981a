"""What league opponents cost an actor: games and decisions per second with and without them.

One daemon process, and for each window a fresh redis-server and `tolaria actor` (no learner: the
current policy is published once) with `--games-in-flight` games, in one of three opponent mixes:

- self-play: `selfPlay: 1`, every decision answered by the current policy's batcher;
- league, a draw per game: `selfPlay: 1 - f, league: f, leagueSeries: 1` (`--league-fraction f`),
  against a league of `--snapshots` past versions in a `file://` checkpoint store (random
  weights, each its own), as many as `evaluation.leagueSize` keeps by default. Every snapshot
  drawn is loaded by the actor and answers its seat through its own batcher;
- league in series: the same with `leagueSeries: --series`.

The mixes play the same decks, and every network is a fresh random one of the same preset, so
games are alike in length; the difference is where the decisions are answered. The windows are
interleaved (self-play, draw per game, series, self-play, ..., self-play), and each league window
is compared with the mean of the self-play windows before and after it, as in
`bench/pipeline.py`: these machines are shared and noisy.

Reported per window: the daemon's decisions per second (both seats, from its
`tolaria_daemon_decisions_total`), games per second (the run's stats hash), the actor's CPU time per
decision, its mean inference batch (the current policy's batcher only) and the snapshots it held
at the end.

    python bench/league_opponents.py --seconds 30 --rounds 2 --league-fraction 0.2 --series 16
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import torch
from pipeline import (
    REPO,
    emit,
    free_port,
    machine,
    metric,
    publish_fresh_policy,
    start_daemon,
    start_redis,
    stop,
    tree_cpu_seconds,
    wait_for_port,
    write_run_spec,
)

from tolaria.keys import RunKeys, StatsField
from tolaria.matchmaking.league import League
from tolaria.trainer.config import NetworkConfig
from tolaria.trainer.policy import PolicyNetwork
from tolaria.trainer.weights import PolicyWeights

KEYS = RunKeys("bench", "league")


def fresh_weights(network: NetworkConfig, version: int) -> PolicyWeights:
    torch.manual_seed(version)
    return PolicyWeights(version, network, PolicyNetwork(network).state_dict())


def fill_league(checkpoints: str, network: NetworkConfig, snapshots: int) -> None:
    """Versions 1..snapshots, read (never written) by every window's actor."""
    league = League.open(checkpoints, snapshots)
    for version in range(1, snapshots + 1):
        league.add(fresh_weights(network, version))


def window(
    args, mix: dict[str, float], checkpoints: str, daemon_port: int, daemon_metrics: int, workdir: Path
) -> dict:
    network = NetworkConfig.from_preset(args.preset)
    procs: list[subprocess.Popen] = []
    actor_log = (workdir / "actor.log").open("wb")
    try:
        redis_server, redis_url = start_redis(workdir)
        procs.append(redis_server)
        spec = write_run_spec(workdir / "run.yaml", KEYS, {
            "learner": {"network": {"preset": args.preset}},
            "actors": {"replicas": 1, "gamesInFlight": args.games_in_flight, "policySyncIntervalSeconds": 2,
                       "opponents": {"selfPlay": 0.0, "builtinAi": 0.0, "randomPlayer": 0.0, "league": 0.0,
                                     **mix}},
            "redis": {"url": redis_url},
            "checkpoints": {"uri": checkpoints},
            "evaluation": {"leagueSize": args.snapshots},
        })  # fmt: skip
        client = redis.Redis.from_url(redis_url)
        publish_fresh_policy(client, KEYS, network, args.snapshots + 1)
        actor_metrics = free_port()
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "tolaria.cli", "actor", "--spec", str(spec), "--redis", redis_url,
             "--daemons", f"127.0.0.1:{daemon_port}", "--threads", str(args.actor_threads),
             "--metrics-port", str(actor_metrics)],
            stdout=actor_log, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        ))  # fmt: skip
        wait_for_port(actor_metrics, "the actor's metrics")
        time.sleep(args.warmup)
        actor_pid = procs[-1].pid

        def reading() -> tuple[float, float, int, float, float, float]:
            return (
                time.monotonic(),
                metric(daemon_metrics, "tolaria_daemon_decisions_total"),
                int(client.hget(KEYS.stats, StatsField.GAMES) or 0),
                tree_cpu_seconds(actor_pid),
                metric(actor_metrics, "tolaria_actor_inference_batch_size_sum"),
                metric(actor_metrics, "tolaria_actor_inference_batch_size_count"),
            )

        t0, d0, g0, a0, bs0, bc0 = reading()
        time.sleep(args.seconds)
        t1, d1, g1, a1, bs1, bc1 = reading()
        if procs[-1].poll() is not None:
            raise SystemExit(f"the actor exited:\n{(workdir / 'actor.log').read_text()}")
        seconds = t1 - t0
        return {
            "mix": mix,
            "decisions_per_s": round((d1 - d0) / seconds, 1),
            "games_per_s": round((g1 - g0) / seconds, 2),
            "actor_cpu_us_per_decision": round((a1 - a0) / max(1.0, d1 - d0) * 1e6, 1),
            "mean_inference_batch": round((bs1 - bs0) / max(1.0, bc1 - bc0), 1),
            "snapshots_held": int(metric(actor_metrics, "tolaria_actor_league_snapshots")),
        }
    finally:
        for proc in reversed(procs):
            stop(proc)
        actor_log.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="measuring window")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds before each window")
    parser.add_argument("--games-in-flight", type=int, default=64)
    parser.add_argument("--snapshots", type=int, default=20, help="past versions in the league")
    parser.add_argument("--league-fraction", type=float, default=0.2, help="the league's share of games")
    parser.add_argument("--preset", default="small", help="the network preset of every policy")
    parser.add_argument("--actor-threads", type=int, default=1)
    parser.add_argument("--series", type=int, default=16, help="leagueSeries of the third mix")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the three mixes, then self-play")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    if args.rounds < 1 or args.snapshots < 1 or args.series < 1 or not 0 < args.league_fraction <= 1:
        parser.error("--rounds, --snapshots and --series must be at least 1, --league-fraction in (0, 1]")

    league = {"selfPlay": round(1 - args.league_fraction, 6), "league": args.league_fraction}
    mixes = [{"selfPlay": 1.0}, {**league, "leagueSeries": 1}, {**league, "leagueSeries": args.series}]
    windows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="tolaria-league-bench-") as tmp:
        checkpoints = f"file://{Path(tmp) / 'checkpoints'}"
        fill_league(checkpoints, NetworkConfig.from_preset(args.preset), args.snapshots)
        daemon, daemon_port, daemon_metrics = start_daemon(max(64, args.games_in_flight))
        try:
            for i in range(len(mixes) * args.rounds + 1):
                mix = mixes[i % len(mixes)]
                workdir = Path(tmp) / f"window-{i}"
                workdir.mkdir()
                windows.append(window(args, mix, checkpoints, daemon_port, daemon_metrics, workdir))
                print(json.dumps(windows[-1]), file=sys.stderr)
        finally:
            stop(daemon)
    self_play = windows[:: len(mixes)]
    ratios: dict[str, list[float]] = {"draw_per_game": [], "series": []}
    for round_, (before, after) in enumerate(itertools.pairwise(self_play)):
        base = (before["decisions_per_s"] + after["decisions_per_s"]) / 2
        for name, w in zip(ratios, windows[round_ * len(mixes) + 1 : (round_ + 1) * len(mixes)], strict=True):
            ratios[name].append(round(w["decisions_per_s"] / max(base, 1e-9), 3))
    result = {
        "benchmark": "league_opponents",
        "machine": machine(),
        "settings": vars(args),
        "windows": windows,
        "decisions_per_s_over_self_play": ratios,
    }
    emit(result, args.json)


if __name__ == "__main__":
    main()
