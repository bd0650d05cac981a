"""Learning benchmark (issues 7 and 24): train from random weights in local mode, then measure the final policy.

    python bench/learning.py --budget-minutes 60 --cores 2 --run-dir runs/learning-bench
    python bench/learning.py --pool all --budget-minutes 60 --cores 2 --seed 1 --run-dir runs/pool-1 ...
    python bench/learning.py --eval-only file:///abs/checkpoints --games 200   # re-measure a run
    python bench/learning.py --combine runs/pool-1 runs/pool-2 runs/pool-3   # the spread over seeds
    python bench/learning.py --pool all --ai-reference --seed 1   # the built-in AI on the same games

The deck pool (`--pool`):
- `quickstart` (issue 7, the default): red_aggro vs white_weenie in both matchups (the agent learns
  each deck). Targets: 0.95 against the random player, 0.55 against the built-in heuristic AI.
- `all` (issue 24): the seven decks of decks/, the agent's and the opponent's deck drawn per game
  from two pools (`spec.deckPools`, mirrors allowed): the agent's weighted by `--agent-weights`
  (uniform unless given), the opponent's uniform, since the measurement meets every opponent deck
  equally often. Targets: 0.90 against the random player, 0.60 against the heuristic AI averaged
  over the pool, and no agent deck below 0.45 against the heuristic AI.

1. Writes a TrainingRun to the run directory: the pool's pairings, the quickstart's settings
   (`small` network, 40% of the games against the built-in AI, 20% against the random player,
   small PPO batches; `--set` changes any field), stop.maxWallClock = the budget, the evaluator
   every `--eval-every` policy versions with `--eval-games` games per baseline (its progress
   display during the run), checkpoints to `<run dir>/checkpoints`.
2. Runs `tolaria run SPEC` (local mode) with its whole process tree pinned to the first
   `--cores` CPUs, so the stated budget is wall clock AND cores. With `--warm-start-games N`
   the spec asks for the learner's warm start (`spec.learner.warmStart`): before its first PPO
   update the run's learner watches N games of the daemon's built-in heuristic AI against
   itself (observe mode, spread evenly over the pool's pairings and both seats) and clones it,
   policy and value, as version 1. That happens inside local mode, so inside the budget and on
   the same cores.
3. Starts its own redis-server and daemon and runs `tolaria evaluator --once --policy-source
   checkpoint --games N` (N >= 1,000 by default): N games against the random player and N
   against the built-in heuristic AI, spread evenly over every ordered pairing of the pool and
   both seat orders (N is rounded up to a multiple of twice the number of pairings: 1,078 for
   the 49 pairings of `all`); greedy action choice. Win rates count a draw as half a win;
   intervals are 95% Wilson score intervals. The evaluator splits them by the agent's deck and
   by pairing; the summary prints both and checks each target.
4. The run's own evaluations in the second half of its budget (`--eval-games` games per baseline
   every `--eval-every` versions, from the run's metrics.jsonl), averaged: a figure less at the
   mercy of the one final snapshot, whose win rates swing between neighbouring versions.
5. Learning curve: with `--curve-games N`, the league snapshots the run's evaluator left
   (`<checkpoints>/league`, one per evaluated version, all of them kept) each played N games per
   baseline, with the same seeds for every version, against minutes since the first snapshot;
   with `--curve-games 0`, the run's own evaluations against minutes since local mode started
   (the warm start included). Either way with the win rate of each agent deck against the
   heuristic AI.

Writes `learning.json` and `learning_curve.csv` (and `learning_curve.png` when matplotlib is
installed) to the run directory and prints a Markdown summary for BENCHMARKS.md. `--combine`
reads the `learning.json` of several runs (seeds) and prints each figure's mean, sd and range.
`--ai-reference` trains nothing: the built-in AI plays the agent's seat of the final measurement's
games, deal for deal, in process (half a minute for the whole pool), and the same summary shows how
far the targets lie above the AI that the warm start copies.
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
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RUN_NAME = "learning-bench"
BASELINES = ("random", "heuristic")


@dataclass(frozen=True)
class Pool:
    """The decks a benchmark trains and measures on, and what its final policy must reach."""

    decks: tuple[str, ...]
    pairings: tuple[tuple[str, str], ...]  # (agent deck, opponent deck), each measured equally
    targets: dict[str, float]  # baseline -> least win rate over the whole pool
    deck_floor: float | None = None  # least win rate of each agent deck against the heuristic AI

    def even(self, games: int) -> int:
        """`games` rounded up so that every pairing gets as many games in each seat."""
        settings = 2 * len(self.pairings)
        return -(-games // settings) * settings


SEVEN_DECKS = (
    "red_aggro",
    "white_weenie",
    "green_midrange",
    "blue_control",
    "gruul_midrange",
    "azorius_control",
    "orzhov_sanguine",
)
POOLS = {
    # issue 7: one pairing of two aggro decks, the agent on each side
    "quickstart": Pool(
        decks=("red_aggro", "white_weenie"),
        pairings=(("red_aggro", "white_weenie"), ("white_weenie", "red_aggro")),
        targets={"random": 0.95, "heuristic": 0.55},
    ),
    # issue 24: every ordered pairing of the seven decks, mirrors included
    "all": Pool(
        decks=SEVEN_DECKS,
        pairings=tuple((a, b) for a in SEVEN_DECKS for b in SEVEN_DECKS),
        targets={"random": 0.90, "heuristic": 0.60},
        deck_floor=0.45,
    ),
}

# The quickstart's settings (examples/quickstart.yaml), which learn fastest of those measured on
# two CPU cores: 40% self-play, 40% against the built-in heuristic AI, 20% against the random
# player, small batches. The pool's decks and pairings come first (`pairings_spec`).
SPEC = """\
apiVersion: tolaria.dev/v1alpha1
kind: TrainingRun
metadata:
  name: {name}
spec:
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


def agent_weights(text: str, pool: Pool) -> dict[str, float]:
    """`--agent-weights blue_control=3,azorius_control=2` -> the weight of every deck (1 unless given)."""
    weights = dict.fromkeys(pool.decks, 1.0)
    for item in filter(None, text.split(",")):
        deck, sep, value = item.partition("=")
        if not sep or deck not in weights:
            raise SystemExit(
                f"--agent-weights {item!r}: expected DECK=WEIGHT with DECK one of {', '.join(pool.decks)}"
            )
        weights[deck] = float(value)
    return weights


def pairings_spec(args: argparse.Namespace, pool: Pool) -> dict[str, Any]:
    """The spec's decks and how each game's pairing is drawn: the two-deck pool's matchups, or
    deck pools for the whole pool (agent weighted by --agent-weights, opponent uniform)."""
    if args.pool == "quickstart":
        if args.agent_weights:
            raise SystemExit("--agent-weights needs --pool all")
        matchups = [{"agentDeck": a, "opponentDeck": b} for a, b in pool.pairings]
        return {"decks": list(pool.decks), "matchups": matchups}
    weights = agent_weights(args.agent_weights, pool)
    return {
        "decks": list(pool.decks),
        "deckPools": {
            "agent": [{"deck": d, "weight": w} for d, w in weights.items()],
            # listed, not left empty: an empty opponent pool would take the agent's weights
            "opponent": [{"deck": d} for d in pool.decks],
            "mirrors": True,
        },
    }


def benchmark_spec(
    args: argparse.Namespace, pool: Pool, checkpoints: str, eval_every: int, eval_games: int
) -> dict[str, Any]:
    import yaml

    run = yaml.safe_load(
        SPEC.format(
            name=RUN_NAME,
            checkpoints=checkpoints,
            eval_every=eval_every,
            eval_games=eval_games,
            budget_seconds=args.budget_minutes * 60,
            seed=args.seed,
        )
    )
    run["spec"] = {**pairings_spec(args, pool), **run["spec"]}
    return run


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


def with_settings(run: dict[str, Any], settings: list[str]) -> dict[str, Any]:
    """The spec with each `--set path=value` applied (`learner.ppo.epochs=4`; the value is YAML)."""
    import yaml

    for setting in settings:
        path, sep, value = setting.partition("=")
        if not sep or not path:
            raise SystemExit(f"--set {setting!r}: expected PATH=VALUE, e.g. spec.learner.ppo.epochs=4")
        *parents, leaf = path.split(".")
        node = run
        for key in parents:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise SystemExit(f"--set {setting!r}: {key!r} is not a mapping in the benchmark's spec")
        node[leaf] = yaml.safe_load(value)
    return run


def write_spec(path: Path, run: dict[str, Any]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(run, sort_keys=False))
    return path


def train(args: argparse.Namespace, pool: Pool, run_dir: Path, checkpoints: Path) -> float:
    """Local mode on the stated budget, warm start included -> wall-clock seconds."""
    budget_seconds = args.budget_minutes * 60
    settings = list(args.set)
    if args.warm_start_games:
        settings += [
            f"spec.learner.warmStart.games={args.warm_start_games}",
            f"spec.learner.warmStart.epochs={args.warm_start_epochs}",
        ]
    run = benchmark_spec(args, pool, str(checkpoints), args.eval_every, pool.even(args.eval_games))
    spec = write_spec(run_dir / "trainingrun.yaml", with_settings(run, settings))
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


def final_evaluation(
    args: argparse.Namespace, pool: Pool, run_dir: Path, uri: str, services: Services
) -> dict[str, Any]:
    run = benchmark_spec(args, pool, uri.removeprefix("file://"), 1, pool.even(args.games))
    spec = write_spec(run_dir / "evaluation.yaml", run)
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


def curve_point(pool: Pool, version: int, minutes: float, baselines: dict[str, Any]) -> dict[str, Any]:
    """One point of the learning curve: each baseline's win rate with its interval, and each agent
    deck's win rate against the heuristic AI."""
    point: dict[str, Any] = {"policy_version": version, "minutes": minutes}
    for baseline in BASELINES:
        result = baselines[baseline]
        point.update({f"{baseline}_{k}": result[k] for k in ("win_rate", "ci_low", "ci_high")})
    by_deck = baselines["heuristic"].get("by_deck", {})
    point.update({f"heuristic_{deck}": by_deck.get(deck, {}).get("win_rate") for deck in pool.decks})
    return point


async def curve(args: argparse.Namespace, pool: Pool, uri: str, services: Services) -> list[dict[str, Any]]:
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
        games=pool.even(args.curve_games),
        baselines=BASELINES,
        seed=args.seed,
        games_in_flight=args.games_in_flight,
        pairings=pool.pairings,
        greedy=args.action_selection == "greedy",
    )
    client = aioredis.Redis.from_url(services.redis_url)
    daemons = DaemonClients(parse_endpoints(services.daemons), "tolaria-evaluator")
    evaluator = Evaluator(settings, client, RunKeys("bench", "learning-curve"), daemons)
    points, first = [], None
    try:
        for name in names:
            snapshot = await asyncio.to_thread(league.store.load, name)
            first = snapshot.created_at if first is None else first
            network = NetworkConfig(**snapshot.config["network"])
            model = PolicyNetwork(network)
            model.load_state_dict(snapshot.model_state)
            report = await evaluator.evaluate(encode_weights(model, network, snapshot.policy_version))
            minutes = round((snapshot.created_at - first) / 60, 2)
            point = curve_point(pool, snapshot.policy_version, minutes, report["baselines"])
            points.append(point)
            print(
                f"# curve: v{point['policy_version']} at {point['minutes']} min: "
                + ", ".join(f"{b} {point[f'{b}_win_rate']:.3f}" for b in BASELINES),
                flush=True,
            )
    finally:
        await daemons.close()
        await client.aclose()
    return points


def own_curve(pool: Pool, run_dir: Path) -> list[dict[str, Any]]:
    """The run's own evaluations (local mode's summary.json), each at the minute of local mode
    when its result first showed (metrics.jsonl)."""
    summaries, metrics = (
        sorted(run_dir.glob("runs/*/summary.json")),
        sorted(run_dir.glob("runs/*/metrics.jsonl")),
    )
    if not summaries or not metrics:
        return []
    shown: dict[int, float] = {}
    with metrics[-1].open() as f:
        for line in f:
            sample = json.loads(line)
            version = sample.get("eval_policy_version")
            if version is not None:
                shown.setdefault(version, sample["elapsed"])
    evaluations = json.loads(summaries[-1].read_text()).get("evaluations", [])
    return [
        curve_point(pool, e["policy_version"], round(shown[e["policy_version"]] / 60, 2), e["baselines"])
        for e in evaluations
        if e["policy_version"] in shown and all(b in e["baselines"] for b in BASELINES)
    ]


def write_curve(run_dir: Path, pool: Pool, points: list[dict[str, Any]]) -> None:
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
    fig, (ax, decks_ax) = plt.subplots(1, 2, figsize=(13, 4.5))
    minutes = [p["minutes"] for p in points]
    for baseline in BASELINES:
        ax.plot(minutes, [p[f"{baseline}_win_rate"] for p in points], marker="o", label=f"vs {baseline}")
        ax.fill_between(
            minutes,
            [p[f"{baseline}_ci_low"] for p in points],
            [p[f"{baseline}_ci_high"] for p in points],
            alpha=0.2,
        )
    for least in sorted(set(pool.targets.values())):
        ax.axhline(least, color="grey", linewidth=0.8, linestyle=":")
    ax.set(xlabel="minutes of training", ylabel="win rate (draws half)", ylim=(0, 1), title="Learning curve")
    ax.grid(alpha=0.3)
    ax.legend()
    for deck in pool.decks:
        decks_ax.plot(minutes, [p[f"heuristic_{deck}"] for p in points], marker=".", label=deck)
    if pool.deck_floor is not None:
        decks_ax.axhline(pool.deck_floor, color="grey", linewidth=0.8, linestyle=":")
    decks_ax.set(
        xlabel="minutes of training",
        ylabel="win rate vs heuristic AI",
        ylim=(0, 1),
        title="By the agent's deck",
    )
    decks_ax.grid(alpha=0.3)
    decks_ax.legend(fontsize="small")
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


def ai_reference(args: argparse.Namespace, pool: Pool) -> dict[str, Any]:
    """The built-in heuristic AI in the agent's seat, in process, on exactly the games of the final
    measurement (its schedule and seeds, the daemon's seeds for each seat's built-in player): what
    the targets ask beyond the AI the warm start copies, deal for deal."""
    from tolaria.daemon.game_session import seat_seed
    from tolaria.engine import CardPool, Game, HeuristicPlayer, RandomPlayer, load_deck
    from tolaria.evaluation.evaluator import summarise
    from tolaria.evaluation.matches import MatchOutcome
    from tolaria.matchmaking.schedule import schedule

    cards = CardPool.default()
    decks = {name: load_deck(REPO / "decks" / f"{name}.dck", cards) for name in pool.decks}
    opponents = {"random": RandomPlayer, "heuristic": HeuristicPlayer}
    started = time.monotonic()
    report: dict[str, Any] = {"policy_version": "-", "action_selection": "heuristic AI", "baselines": {}}
    for baseline in BASELINES:
        outcomes = []
        for match in schedule(pool.even(args.games), pool.pairings, baseline, args.seed):
            game = Game(tuple(decks[d] for d in match.decks), seed=match.seed)
            agent = match.agent_seat - 1
            players = [
                (HeuristicPlayer if seat == agent else opponents[baseline])(seat_seed(match.seed, seat))
                for seat in (0, 1)
            ]
            decision = game.start()
            while decision is not None:
                reply = players[decision.seat].choose(decision) if decision.expects_reply else None
                decision = game.submit(reply)
            winner = game.result.winner
            outcomes.append(MatchOutcome(match, 0.5 if winner is None else float(winner == agent)))
        report["baselines"][baseline] = summarise(outcomes)
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    return report


def verdicts(pool: Pool, report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the pool, with the measured win rate and whether it is met."""
    checks = [
        {
            "target": f"vs {baseline} >= {least:.2f}",
            "win_rate": report["baselines"][baseline]["win_rate"],
            "met": report["baselines"][baseline]["win_rate"] >= least,
        }
        for baseline, least in pool.targets.items()
    ]
    if pool.deck_floor is not None:
        by_deck = report["baselines"]["heuristic"]["by_deck"]
        worst = min(by_deck, key=lambda deck: by_deck[deck]["win_rate"])
        checks.append(
            {
                "target": f"every agent deck vs heuristic >= {pool.deck_floor:.2f} (worst: {worst})",
                "win_rate": by_deck[worst]["win_rate"],
                "met": by_deck[worst]["win_rate"] >= pool.deck_floor,
            }
        )
    return checks


def rate(r: dict[str, Any]) -> str:
    return f"{r['win_rate']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"


def pairing_matrix(pool: Pool, result: dict[str, Any]) -> list[str]:
    """A baseline's win rates by pairing: a row per agent deck, a column per opponent deck."""
    from tolaria.evaluation.evaluator import pairing_name

    lines = [
        "| agent's deck \\ opponent's deck | " + " | ".join(pool.decks) + " |",
        "|---|" + "---:|" * len(pool.decks),
    ]
    for agent in pool.decks:
        cells = [result["by_pairing"].get(pairing_name(agent, opponent)) for opponent in pool.decks]
        lines.append(
            f"| {agent} | " + " | ".join("" if c is None else f"{c['win_rate']:.2f}" for c in cells) + " |"
        )
    return lines


def summary(
    args: argparse.Namespace,
    pool: Pool,
    report: dict[str, Any],
    points: list[dict[str, Any]],
    train_seconds: float | None,
    later: dict[str, Any] | None = None,
) -> str:
    games = report["baselines"]["heuristic"]["games"]
    subject = (
        "the built-in heuristic AI in the agent's seat, in process"
        if args.ai_reference
        else f"final policy v{report['policy_version']}, {report['action_selection']} actions"
    )
    lines = [
        f"## Learning benchmark ({platform.processor() or platform.machine()}, {args.cores} cores, pool {args.pool})",
        "",
        (
            ""
            if args.ai_reference
            else f"Budget: {'%.1f' % (train_seconds / 60) if train_seconds else 'n/a'} minutes of local mode"
            f" on {args.cores} cores (stated budget {args.budget_minutes} minutes); "
        )
        + f"{subject}; "
        f"{games} games per baseline over {len(pool.pairings)} pairings, "
        f"both seats ({games // (2 * len(pool.pairings))} per pairing and seat); evaluation {report['wall_seconds']} s.",
        "",
        "| target | win rate | met |",
        "|---|---:|---|",
        *(
            f"| {c['target']} | {c['win_rate']:.3f} | {'yes' if c['met'] else '**no**'} |"
            for c in verdicts(pool, report)
        ),
        "",
    ]
    if len(pool.pairings) <= 4:
        lines += ["| opponent | setting | games | win rate | 95% CI |", "|---|---|---:|---:|---|"]
        for baseline in BASELINES:
            result = report["baselines"][baseline]
            for setting, r in [("all", result), *result["by_setting"].items()]:
                lines.append(
                    f"| {baseline} | {setting} | {r['games']} | {r['win_rate']:.3f} | "
                    f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] |"
                )
    else:
        random, heuristic = (report["baselines"][b] for b in BASELINES)
        lines += [
            "| agent's deck | games | vs random | vs heuristic AI |",
            "|---|---:|---|---|",
            f"| all | {heuristic['games']} | {rate(random)} | {rate(heuristic)} |",
            *(
                f"| {deck} | {heuristic['by_deck'][deck]['games']} | {rate(random['by_deck'][deck])} | "
                f"{rate(heuristic['by_deck'][deck])} |"
                for deck in pool.decks
            ),
        ]
        for baseline in BASELINES:
            lines += ["", f"Against the {baseline} player, by pairing (both seats):", ""]
            lines += pairing_matrix(pool, report["baselines"][baseline])
    if later:
        versions = later["versions"]
        lines += [
            "",
            f"The run's own evaluations from minute {later['since_minutes']} on ({len(versions)} versions, "
            f"v{versions[0]}-v{versions[-1]}, {pool.even(args.eval_games)} games per baseline each): "
            + ", ".join(f"{later[b]:.3f} against {b}" for b in BASELINES)
            + ".",
        ]
    if points:
        lines += [
            "",
            "| minutes | version | vs random | vs heuristic | " + " | ".join(pool.decks) + " |",
            "|---:|---:|---:|---:|" + "---:|" * len(pool.decks),
        ]
        lines += [
            f"| {p['minutes']} | {p['policy_version']} | {p['random_win_rate']:.3f} | "
            f"{p['heuristic_win_rate']:.3f} | "
            + " | ".join(
                "" if p[f"heuristic_{d}"] is None else f"{p[f'heuristic_{d}']:.2f}" for d in pool.decks
            )
            + " |"
            for p in points
        ]
    return "\n".join(lines)


def combine(run_dirs: list[Path]) -> str:
    """Mean, standard deviation and range over runs (seeds) of each figure of their learning.json."""
    results = [json.loads((d / "learning.json").read_text()) for d in run_dirs]
    pool = POOLS[results[0].get("pool", "quickstart")]
    rows: list[tuple[str, list[float | None]]] = []
    for baseline in BASELINES:
        finals = [r["final"]["baselines"][baseline] for r in results]
        rows.append((f"vs {baseline}", [f["win_rate"] for f in finals]))
        rows += [(f"  {deck}", [f["by_deck"][deck]["win_rate"] for f in finals]) for deck in pool.decks]
    for baseline in BASELINES:
        later = [r["later_evaluations"] for r in results]
        rows.append(
            (f"run's own evaluations, second half, vs {baseline}", [x and x[baseline] for x in later])
        )
    lines = [
        "| figure | " + " | ".join(f"seed {r.get('seed', '?')}" for r in results) + " | mean | sd | range |",
        "|---|" + "---:|" * (len(results) + 3),
    ]
    for name, values in rows:
        known = [v for v in values if v is not None]
        spread = " | | "
        if known:
            sd = statistics.stdev(known) if len(known) > 1 else 0.0
            spread = f"{statistics.fmean(known):.3f} | {sd:.3f} | {min(known):.3f}-{max(known):.3f}"
        lines.append(
            f"| {name} | " + " | ".join("" if v is None else f"{v:.3f}" for v in values) + f" | {spread} |"
        )
    lines += ["", "| target | " + " | ".join(f"seed {r.get('seed', '?')}" for r in results) + " |"]
    lines.append("|---|" + "---|" * len(results))
    for k, check in enumerate(results[0]["targets"]):
        marks = [
            f"{r['targets'][k]['win_rate']:.3f} {'met' if r['targets'][k]['met'] else '**not met**'}"
            for r in results
        ]
        lines.append(f"| {check['target'].split(' (worst')[0]} | " + " | ".join(marks) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", type=Path, default=Path("runs/learning-bench"))
    ap.add_argument(
        "--pool",
        choices=sorted(POOLS),
        default="quickstart",
        help="quickstart: red_aggro vs white_weenie, both matchups; all: the seven decks, every ordered"
        " pairing (deck pools, mirrors allowed)",
    )
    ap.add_argument(
        "--agent-weights",
        default="",
        metavar="DECK=W,...",
        help="with --pool all: relative frequency of the agent's decks in training (1 unless given), e.g."
        " blue_control=3,azorius_control=2; the opponent's decks stay uniform",
    )
    ap.add_argument("--budget-minutes", type=int, default=60, help="wall clock of the training")
    ap.add_argument("--cores", type=int, default=2, help="CPUs the training (and the measurement) may use")
    ap.add_argument(
        "--eval-every", type=int, default=100, help="policy versions between the run's evaluations"
    )
    ap.add_argument(
        "--eval-games",
        type=int,
        default=50,
        help="games per baseline of the run's evaluations (rounded up to the same number for every"
        " pairing and seat)",
    )
    ap.add_argument(
        "--games",
        type=int,
        default=1000,
        help="games per baseline of the final measurement (rounded up likewise: 1,078 for the whole pool)",
    )
    ap.add_argument(
        "--curve-games",
        type=int,
        default=200,
        help="games per baseline per curve point, replaying the league snapshots (0: the curve is the"
        " run's own evaluations)",
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
    ap.add_argument(
        "--combine",
        nargs="+",
        type=Path,
        metavar="RUN_DIR",
        help="nothing run: the mean and range of the figures of these runs' learning.json (one per seed)",
    )
    ap.add_argument(
        "--ai-reference",
        action="store_true",
        help="nothing trained: the built-in heuristic AI in the agent's seat, in process, on the games of the"
        " final measurement (--games, --seed), against the same targets",
    )
    args = ap.parse_args()
    if args.combine:
        print(combine(args.combine))
        return 0
    pool = POOLS[args.pool]
    if args.ai_reference:
        print(summary(args, pool, ai_reference(args, pool), [], None))
        return 0
    run_dir = args.run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)

    train_seconds = None
    if args.eval_only:
        uri = args.eval_only
    else:
        checkpoints = run_dir / "checkpoints"
        train_seconds = train(args, pool, run_dir, checkpoints)
        uri = f"file://{checkpoints}"
    services = Services(run_dir, workers=args.cores)
    try:
        report = final_evaluation(args, pool, run_dir, uri, services)
        points = (
            asyncio.run(curve(args, pool, uri, services)) if args.curve_games else own_curve(pool, run_dir)
        )
    finally:
        services.stop()
    write_curve(run_dir, pool, points)
    later = later_evaluations(run_dir, args.budget_minutes * 60 / 2) if train_seconds else None
    result = {
        "pool": args.pool,
        "seed": args.seed,
        "agent_weights": agent_weights(args.agent_weights, pool) if args.pool == "all" else None,
        "settings": args.set,
        "budget_minutes": args.budget_minutes,
        "cores": args.cores,
        "train_seconds": train_seconds,
        "warm_start": {
            "games": args.warm_start_games,
            "epochs": args.warm_start_epochs,
            "first_version_seconds": first_version_seconds(run_dir) if train_seconds else None,
        },
        "games_per_baseline": pool.even(args.games),
        "targets": verdicts(pool, report),
        "final": report,
        "later_evaluations": later,
        "learning_curve": points,
    }
    (run_dir / "learning.json").write_text(json.dumps(result, indent=2))
    print(summary(args, pool, report, points, train_seconds, later))
    return 0


if __name__ == "__main__":
    sys.exit(main())
