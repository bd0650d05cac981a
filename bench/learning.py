"""Learning benchmark (issue 7): train from scratch in local mode, then measure the final policy.

    python bench/learning.py --budget-minutes 60 --cores 2 --run-dir runs/learning-bench
    python bench/learning.py --eval-only file:///abs/checkpoints --games 200   # re-measure a run

1. Writes a TrainingRun to the run directory: red_aggro vs white_weenie in both matchups (the
   agent learns each deck), the quickstart's settings (`small` network, 40% of the games against
   the built-in AI, 20% against the random player, small PPO batches), stop.maxWallClock = the budget,
   the evaluator every `--eval-every` policy versions with `--eval-games` games per baseline
   (its progress display during the run), checkpoints to `<run dir>/checkpoints`.
2. Runs `tolaria run SPEC` (local mode) with its whole process tree pinned to the first
   `--cores` CPUs, so the stated budget is wall clock AND cores. With `--warm-start-games N`
   the spec asks for the learner's warm start (`spec.learner.warmStart`): before its first PPO
   update the run's learner watches N games of the daemon's built-in heuristic AI against
   itself (observe mode) and clones it, policy and value, as version 1. That happens inside
   local mode, so inside the budget and on the same cores.
3. Starts its own redis-server and daemon and runs `tolaria evaluator --once --policy-source
   checkpoint --games N` (N >= 1,000 by default): N games against the random player and N
   against the built-in heuristic AI, spread evenly over both deck pairings (the agent on each
   deck) and both seat orders; greedy action choice. Win rates count a draw as half a win;
   intervals are 95% Wilson score intervals.
4. The run's own evaluations in the second half of its budget (`--eval-games` games per baseline
   every `--eval-every` versions, from the run's metrics.jsonl), averaged: a figure less at the
   mercy of the one final snapshot, whose win rates swing between neighbouring versions.
5. Learning curve: the league snapshots the run's evaluator left (`<checkpoints>/league`, one
   per evaluated version, all of them kept) are each played `--curve-games` games per baseline,
   with the same seeds for every version, against minutes since the first snapshot.

Writes `learning.json` and `learning_curve.csv` (and `learning_curve.png` when matplotlib is
installed) to the run directory and prints a Markdown summary for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RUN_NAME = "learning-bench"
BASELINES = ("random", "heuristic")

# The quickstart's settings (examples/quickstart.yaml), which learn fastest of those measured on
# two CPU cores: 40% self-play, 40% against the built-in heuristic AI, 20% against the random
# player, small batches.
SPEC = """\
apiVersion: tolaria.dev/v1alpha1
kind: TrainingRun
metadata:
  name: {name}
spec:
  decks: [red_aggro, white_weenie]
  matchups:
    - {{agentDeck: red_aggro, opponentDeck: white_weenie}}
    - {{agentDeck: white_weenie, opponentDeck: red_aggro}}
  daemons:
    gamesPerDaemon: 64
    autoscaling: {{minReplicas: 1, maxReplicas: 1}}
  actors:
    replicas: 1
    gamesInFlight: 32
    policySyncIntervalSeconds: 2
    opponents: {{selfPlay: 0.4, builtinAi: 0.4, randomPlayer: 0.2, league: 0.0}}
  learner:
    gpus: 0
    network: {{preset: small}}
    ppo: {{batchSize: 2048, minibatchSize: 512, epochs: 2, maxPolicyLag: 8}}
  redis:
    managed: true
    streamMaxLength: 5000
  checkpoints:
    uri: "file://{checkpoints}"
    everyUpdates: 50
    everyMinutes: 5
  evaluation:
    enabled: true
    everyUpdates: {eval_every}
    games: {eval_games}
    baselines: [random, heuristic]
    leagueSize: 1000  # every evaluated version stays: they are the learning curve
  stop:
    maxWallClock: "{budget_seconds}s"
  seed: {seed}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def tolaria(*args: str) -> list[str]:
    return [sys.executable, "-m", "tolaria.cli", *args]


def pin_to(cores: int):
    """A preexec_fn that pins the child (and everything it starts) to the first `cores` CPUs."""
    available = sorted(os.sched_getaffinity(0))
    if cores > len(available):
        raise SystemExit(f"--cores {cores}: only {len(available)} CPUs are available")
    chosen = set(available[:cores])
    return lambda: os.sched_setaffinity(0, chosen)


def with_settings(spec_text: str, settings: list[str]) -> str:
    """The spec with each `--set path=value` applied (`learner.ppo.epochs=4`; the value is YAML)."""
    import yaml

    spec = yaml.safe_load(spec_text)
    for setting in settings:
        path, sep, value = setting.partition("=")
        if not sep or not path:
            raise SystemExit(f"--set {setting!r}: expected PATH=VALUE, e.g. spec.learner.ppo.epochs=4")
        *parents, leaf = path.split(".")
        node = spec
        for key in parents:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise SystemExit(f"--set {setting!r}: {key!r} is not a mapping in the benchmark's spec")
        node[leaf] = yaml.safe_load(value)
    return yaml.safe_dump(spec, sort_keys=False)


def train(args: argparse.Namespace, run_dir: Path, checkpoints: Path) -> float:
    """Local mode on the stated budget, warm start included -> wall-clock seconds."""
    budget_seconds = args.budget_minutes * 60
    settings = list(args.set)
    if args.warm_start_games:
        settings += [
            f"spec.learner.warmStart.games={args.warm_start_games}",
            f"spec.learner.warmStart.epochs={args.warm_start_epochs}",
        ]
    spec = run_dir / "trainingrun.yaml"
    spec.write_text(
        with_settings(
            SPEC.format(
                name=RUN_NAME,
                checkpoints=checkpoints,
                eval_every=args.eval_every,
                eval_games=args.eval_games,
                budget_seconds=budget_seconds,
                seed=args.seed,
            ),
            settings,
        )
    )
    print(f"# training: tolaria run {spec} on {args.cores} cores for {budget_seconds} s", flush=True)
    started = time.monotonic()
    with (run_dir / "local-mode.log").open("wb") as log:
        proc = subprocess.Popen(
            tolaria("run", str(spec)),
            cwd=run_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=pin_to(args.cores),
        )
        try:
            code = proc.wait(timeout=budget_seconds + 600)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=120)
    seconds = time.monotonic() - started
    if code != 0:
        raise SystemExit(
            f"local mode exited with {code} after {seconds:.0f}s; see {run_dir / 'local-mode.log'}"
        )
    return seconds


def first_version_seconds(run_dir: Path) -> float | None:
    """Seconds from local mode's start to the first published policy (the end of a warm start),
    from the run's metrics.jsonl."""
    files = sorted(run_dir.glob("runs/*/metrics.jsonl"))
    if not files:
        return None
    with files[-1].open() as f:
        for line in f:
            sample = json.loads(line)
            if sample.get("policy_version", 0) >= 1:
                return round(sample["elapsed"], 1)
    return None


class Services:
    """A redis-server and a daemon of our own for the measurement (nothing shared with training)."""

    def __init__(self, run_dir: Path, workers: int):
        self.redis_port, self.daemon_port = free_port(), free_port()
        self.procs: list[subprocess.Popen] = []
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            raise SystemExit("redis-server is not installed; run scripts/bootstrap")
        self.procs.append(
            subprocess.Popen(
                [
                    redis_server,
                    "--port",
                    str(self.redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(run_dir),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        self.procs.append(
            subprocess.Popen(
                tolaria(
                    "daemon",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.daemon_port),
                    "--decks",
                    str(REPO / "decks"),
                    "--workers",
                    str(workers),
                    "--metrics-port",
                    "0",
                    "--max-games",
                    "256",
                ),
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_for_port(self.redis_port)
        wait_for_port(self.daemon_port)

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def daemons(self) -> str:
        return f"127.0.0.1:{self.daemon_port}"

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def final_evaluation(args: argparse.Namespace, run_dir: Path, uri: str, services: Services) -> dict[str, Any]:
    spec = run_dir / "evaluation.yaml"
    spec.write_text(
        SPEC.format(
            name=RUN_NAME,
            checkpoints=uri.removeprefix("file://"),
            eval_every=1,
            eval_games=args.games,
            budget_seconds=args.budget_minutes * 60,
            seed=args.seed,
        )
    )
    # the evaluator snapshots the policy it measures into the run's league: the final policy
    # becomes the last point of the learning curve
    command = tolaria(
        "evaluator",
        "--spec",
        str(spec),
        "--redis",
        services.redis_url,
        "--daemons",
        services.daemons,
        "--checkpoint-uri",
        uri,
        "--league-size",
        "1000",
        "--metrics-port",
        "0",
        "--once",
        "--policy-source",
        "checkpoint",
        "--games-in-flight",
        str(args.games_in_flight),
        "--threads",
        str(args.cores),
        "--action-selection",
        args.action_selection,
    )
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the evaluator failed ({done.returncode}):\n{done.stderr[-4000:]}")
    report = json.loads(done.stdout)
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    return report


async def curve(args: argparse.Namespace, uri: str, services: Services) -> list[dict[str, Any]]:
    """Each league snapshot played against the baselines, oldest first."""
    import redis.asyncio as aioredis

    from tolaria.evaluation.evaluator import EvaluationSettings, Evaluator
    from tolaria.keys import RunKeys
    from tolaria.matchmaking.league import League
    from tolaria.protocol import parse_endpoints
    from tolaria.protocol.daemon_clients import DaemonClients
    from tolaria.trainer.config import NetworkConfig
    from tolaria.trainer.policy import PolicyNetwork
    from tolaria.trainer.weights import encode_weights

    league = League.open(uri, size=1_000_000)
    names = league.store.checkpoints()
    if not names:
        return []
    settings = EvaluationSettings(
        games=args.curve_games,
        baselines=BASELINES,
        seed=args.seed,
        games_in_flight=args.games_in_flight,
        pairings=(("red_aggro", "white_weenie"), ("white_weenie", "red_aggro")),
        greedy=args.action_selection == "greedy",
    )
    client = aioredis.Redis.from_url(services.redis_url)
    pool = DaemonClients(parse_endpoints(services.daemons), "tolaria-evaluator")
    evaluator = Evaluator(settings, client, RunKeys("bench", "learning-curve"), pool)
    points, first = [], None
    try:
        for name in names:
            snapshot = await asyncio.to_thread(league.store.load, name)
            first = snapshot.created_at if first is None else first
            network = NetworkConfig(**snapshot.config["network"])
            model = PolicyNetwork(network)
            model.load_state_dict(snapshot.model_state)
            report = await evaluator.evaluate(encode_weights(model, network, snapshot.policy_version))
            point = {
                "policy_version": snapshot.policy_version,
                "minutes": round((snapshot.created_at - first) / 60, 2),
            }
            for baseline in BASELINES:
                result = report["baselines"][baseline]
                point.update(
                    {
                        f"{baseline}_win_rate": result["win_rate"],
                        f"{baseline}_ci_low": result["ci_low"],
                        f"{baseline}_ci_high": result["ci_high"],
                    }
                )
            points.append(point)
            print(
                f"# curve: v{point['policy_version']} at {point['minutes']} min: "
                + ", ".join(f"{b} {point[f'{b}_win_rate']:.3f}" for b in BASELINES),
                flush=True,
            )
    finally:
        await pool.close()
        await client.aclose()
    return points


def write_curve(run_dir: Path, points: list[dict[str, Any]]) -> None:
    if not points:
        return
    with (run_dir / "learning_curve.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(points[0]))
        writer.writeheader()
        writer.writerows(points)
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    minutes = [p["minutes"] for p in points]
    for baseline in BASELINES:
        ax.plot(minutes, [p[f"{baseline}_win_rate"] for p in points], marker="o", label=f"vs {baseline}")
        ax.fill_between(
            minutes,
            [p[f"{baseline}_ci_low"] for p in points],
            [p[f"{baseline}_ci_high"] for p in points],
            alpha=0.2,
        )
    ax.set(
        xlabel="minutes of training",
        ylabel="win rate (draws half)",
        ylim=(0, 1),
        title="Tolaria learning curve",
    )
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(run_dir / "learning_curve.png", dpi=120)


def later_evaluations(run_dir: Path, since_seconds: float) -> dict[str, Any] | None:
    """The mean win rate per baseline of the run's evaluations of versions first reported at least
    `since_seconds` into the run (each version once), from local mode's metrics.jsonl."""
    files = sorted(run_dir.glob("runs/*/metrics.jsonl"))
    if not files:
        return None
    seen: dict[int, dict[str, float]] = {}
    with files[-1].open() as f:
        for line in f:
            sample = json.loads(line)
            version, rates = sample.get("eval_policy_version"), sample.get("win_rates") or {}
            new = version is not None and version not in seen and all(b in rates for b in BASELINES)
            if new and sample.get("elapsed", 0) >= since_seconds:
                seen[version] = rates
    if not seen:
        return None
    return {
        "since_minutes": round(since_seconds / 60, 1),
        "versions": sorted(seen),
        **{b: round(sum(r[b] for r in seen.values()) / len(seen), 3) for b in BASELINES},
    }


def summary(
    args: argparse.Namespace,
    report: dict[str, Any],
    points: list[dict[str, Any]],
    train_seconds: float | None,
    later: dict[str, Any] | None = None,
) -> str:
    lines = [
        f"## Learning benchmark ({platform.processor() or platform.machine()}, {args.cores} cores)",
        "",
        f"Budget: {'%.1f' % (train_seconds / 60) if train_seconds else 'n/a'} minutes of local mode on "
        f"{args.cores} cores (stated budget {args.budget_minutes} minutes); final policy v{report['policy_version']}, "
        f"{report['action_selection']} actions; {args.games} games per baseline, both pairings, both seats.",
        "",
        "| opponent | setting | games | win rate | 95% CI |",
        "|---|---|---:|---:|---|",
    ]
    for baseline in BASELINES:
        result = report["baselines"][baseline]
        rows = [("all", result), *result["by_setting"].items()]
        for setting, r in rows:
            lines.append(
                f"| {baseline} | {setting} | {r['games']} | {r['win_rate']:.3f} | "
                f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] |"
            )
    if later:
        versions = later["versions"]
        lines += [
            "",
            f"The run's own evaluations from minute {later['since_minutes']} on ({len(versions)} versions, "
            f"v{versions[0]}-v{versions[-1]}, {args.eval_games} games per baseline each): "
            + ", ".join(f"{later[b]:.3f} against {b}" for b in BASELINES)
            + ".",
        ]
    if points:
        lines += ["", "| minutes | version | vs random | vs heuristic |", "|---:|---:|---:|---:|"]
        lines += [
            f"| {p['minutes']} | {p['policy_version']} | {p['random_win_rate']:.3f} | "
            f"{p['heuristic_win_rate']:.3f} |"
            for p in points
        ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", type=Path, default=Path("runs/learning-bench"))
    ap.add_argument("--budget-minutes", type=int, default=60, help="wall clock of the training")
    ap.add_argument("--cores", type=int, default=2, help="CPUs the training (and the measurement) may use")
    ap.add_argument(
        "--eval-every", type=int, default=100, help="policy versions between the run's evaluations"
    )
    ap.add_argument("--eval-games", type=int, default=50, help="games per baseline of the run's evaluations")
    ap.add_argument("--games", type=int, default=1000, help="games per baseline of the final measurement")
    ap.add_argument(
        "--curve-games", type=int, default=200, help="games per baseline per curve point (0: none)"
    )
    ap.add_argument("--games-in-flight", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--action-selection",
        choices=("greedy", "sampled"),
        default="greedy",
        help="how the measured policy plays: its likeliest action, or sampled as the actors play",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="change the training spec, e.g. --set spec.rewardShaping.lifeDelta=1 (repeatable)",
    )
    ap.add_argument(
        "--warm-start-games",
        type=int,
        default=0,
        help="spec.learner.warmStart.games: the learner first clones the built-in heuristic AI from this"
        " many of its games (inside the budget); 0: from random weights",
    )
    ap.add_argument(
        "--warm-start-epochs", type=int, default=20, help="spec.learner.warmStart.epochs of that cloning"
    )
    ap.add_argument("--eval-only", metavar="URI", help="skip training; measure the newest checkpoint in URI")
    args = ap.parse_args()
    run_dir = args.run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)

    train_seconds = None
    if args.eval_only:
        uri = args.eval_only
    else:
        checkpoints = run_dir / "checkpoints"
        train_seconds = train(args, run_dir, checkpoints)
        uri = f"file://{checkpoints}"
    services = Services(run_dir, workers=args.cores)
    try:
        report = final_evaluation(args, run_dir, uri, services)
        points = asyncio.run(curve(args, uri, services)) if args.curve_games else []
    finally:
        services.stop()
    write_curve(run_dir, points)
    later = later_evaluations(run_dir, args.budget_minutes * 60 / 2) if train_seconds else None
    result = {
        "budget_minutes": args.budget_minutes,
        "cores": args.cores,
        "train_seconds": train_seconds,
        "warm_start": {
            "games": args.warm_start_games,
            "epochs": args.warm_start_epochs,
            "first_version_seconds": first_version_seconds(run_dir) if train_seconds else None,
        },
        "games_per_baseline": args.games,
        "final": report,
        "later_evaluations": later,
        "learning_curve": points,
    }
    (run_dir / "learning.json").write_text(json.dumps(result, indent=2))
    print(summary(args, report, points, train_seconds, later))
    return 0


if __name__ == "__main__":
    sys.exit(main())
