"""How fast the evaluator plays its league baseline: one `tolaria evaluator --once` per window.

One daemon process. For each window a fresh redis-server holding a fresh policy (version
`--snapshots` + 1) and a fresh copy of a league of `--snapshots` random snapshots of the same
preset in a `file://` store; the evaluator's spec has the league as its only baseline, so the
evaluation is `--games` games against the newest `--snapshots` (at most 4, the evaluator's
`--league-opponents` default), each opponent answering its seat through its own inference batcher
beside the evaluated policy's.

`--checkouts` names the source trees whose `tolaria` each window runs (`PYTHONPATH`), in turn,
`--rounds` times: the same script, decks and seeds measure an older commit against this one in one
sitting. Reported per window: the evaluation's own `seconds`, the daemon's decisions per second
over it (both seats, from `tolaria_daemon_decisions_total`), and the evaluator's CPU time per
decision; per checkout, the decisions per second of each round over the first checkout's mean.

    python bench/evaluator_league.py --games 200 --rounds 3 --checkouts /work/old .
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
from league_opponents import fill_league
from pipeline import (
    REPO,
    emit,
    machine,
    metric,
    publish_fresh_policy,
    start_daemon,
    start_redis,
    stop,
    write_run_spec,
)

from tolaria.keys import RunKeys
from tolaria.trainer.config import NetworkConfig

KEYS = RunKeys("bench", "evaluator")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def window(args, checkout: Path, league: Path, daemon_port: int, daemon_metrics: int, workdir: Path) -> dict:
    network = NetworkConfig.from_preset(args.preset)
    checkpoints = workdir / "checkpoints"
    shutil.copytree(league, checkpoints)
    redis_server, redis_url = start_redis(workdir)
    try:
        spec = write_run_spec(workdir / "run.yaml", KEYS, {
            "learner": {"network": {"preset": args.preset}},
            "redis": {"url": redis_url},
            "checkpoints": {"uri": f"file://{checkpoints}"},
            "evaluation": {"baselines": ["league"], "games": args.games, "leagueSize": args.snapshots + 1},
        })  # fmt: skip
        publish_fresh_policy(redis.Redis.from_url(redis_url), KEYS, network, args.snapshots + 1)
        decisions, cpu, started = (
            metric(daemon_metrics, "tolaria_daemon_decisions_total"),
            children_cpu_seconds(),
            time.monotonic(),
        )
        done = subprocess.run(
            [sys.executable, "-m", "tolaria.cli", "evaluator", "--once", "--spec", str(spec), "--redis", redis_url,
             "--daemons", f"127.0.0.1:{daemon_port}", "--threads", "1", "--metrics-port", "0",
             "--games-in-flight", str(args.games_in_flight), "--log-level", "WARNING"],
            capture_output=True, text=True, cwd=checkout,
            env={**os.environ, "PYTHONPATH": str(checkout)},
        )  # fmt: skip
        wall = time.monotonic() - started
        cpu = children_cpu_seconds() - cpu
        decisions = metric(daemon_metrics, "tolaria_daemon_decisions_total") - decisions
        if done.returncode != 0:
            raise SystemExit(f"the evaluator in {checkout} failed:\n{done.stdout}\n{done.stderr}")
        report = json.loads(done.stdout)
        league_result = report["baselines"]["league"]
        return {
            "checkout": str(checkout),
            "games": league_result["games"],
            "errors": league_result["errors"],
            "opponents": league_result["opponents"],
            "seconds": report["seconds"],
            "process_seconds": round(wall, 2),
            "decisions_per_s": round(decisions / report["seconds"], 1),
            "evaluator_cpu_us_per_decision": round(cpu / max(1.0, decisions) * 1e6, 1),
        }
    finally:
        stop(redis_server)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--games", type=int, default=200, help="league games per evaluation")
    parser.add_argument("--games-in-flight", type=int, default=32, help="the evaluator's default")
    parser.add_argument("--snapshots", type=int, default=4, help="past versions in the league")
    parser.add_argument("--preset", default="small", help="the network preset of every policy")
    parser.add_argument("--rounds", type=int, default=2, help="windows per checkout")
    parser.add_argument(
        "--checkouts", type=Path, nargs="+", default=[REPO], help="source trees whose tolaria runs, in turn"
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    if args.rounds < 1 or args.snapshots < 1 or args.games < 2:
        parser.error("--rounds and --snapshots must be at least 1, --games at least 2")
    checkouts = [c.resolve() for c in args.checkouts]
    for checkout in checkouts:
        if not (checkout / "tolaria" / "cli.py").is_file():
            parser.error(f"{checkout} is not a Tolaria source tree (no tolaria/cli.py)")

    windows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="tolaria-evaluator-bench-") as tmp:
        league = Path(tmp) / "league-template"
        fill_league(f"file://{league}", NetworkConfig.from_preset(args.preset), args.snapshots)
        daemon, daemon_port, daemon_metrics = start_daemon(max(64, 2 * args.games_in_flight))
        try:
            for i in range(args.rounds * len(checkouts)):
                workdir = Path(tmp) / f"window-{i}"
                workdir.mkdir()
                checkout = checkouts[i % len(checkouts)]
                windows.append(window(args, checkout, league, daemon_port, daemon_metrics, workdir))
                print(json.dumps(windows[-1]), file=sys.stderr)
        finally:
            stop(daemon)
    rates = {str(c): [w["decisions_per_s"] for w in windows if w["checkout"] == str(c)] for c in checkouts}
    base = statistics.mean(rates[str(checkouts[0])])
    result = {
        "benchmark": "evaluator_league",
        "machine": machine(),
        "settings": {**vars(args), "checkouts": checkouts},
        "windows": windows,
        "decisions_per_s_over_the_first_checkout": {
            c: [round(r / base, 3) for r in rs] for c, rs in rates.items()
        },
    }
    emit(result, args.json)


if __name__ == "__main__":
    main()
