"""Daemon over TCP: decisions/s and games/s per daemon process, bytes per decision.

Starts one daemon process (or uses --connect HOST:PORT), then plays games with clients that
answer every decision at once with the first legal option (`first_option_reply`), at several
numbers of concurrent games, with and without `-x compact`. Reports wall-clock rates and the
rates per second of daemon CPU time (what one fully used core gives, however loaded the
machine running the benchmark is).

    python bench/daemon_tcp.py --concurrency 1,16,64,256 --seconds 10 --client-processes 2
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tolaria.protocol import AsyncDaemonClient, DaemonClient, GameOptions, first_option_reply

REPO = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class Tally:
    games: int = 0
    decisions: int = 0
    decision_bytes: int = 0

    def add(self, other: Tally) -> None:
        self.games += other.games
        self.decisions += other.decisions
        self.decision_bytes += other.decision_bytes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def start_daemon(decks: Path, max_games: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    command = [sys.executable, "-m", "tolaria.cli", "daemon", "--host", "127.0.0.1", "--port", str(port),
               "--decks", str(decks), "--metrics-port", "0", "--max-games", str(max_games),
               "--log-level", "WARNING"]  # fmt: skip
    proc = subprocess.Popen(command, cwd=REPO)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the daemon did not start")


def options_for(mode: str, compact: bool, seed: int) -> GameOptions:
    if mode == "self-play":
        return GameOptions(interactive=True, quiet=True, compact=compact, seed=seed)
    if mode == "observe":  # the heuristic AI on both seats: payloads of sensibly played games
        return GameOptions(observe=True, quiet=True, compact=compact, seed=seed)
    return GameOptions(p1="agent", p2="ai", quiet=True, compact=compact, seed=seed)


async def play_for(host: str, port: int, games_at_once: int, seconds: float, mode: str, compact: bool,
                   pairs: list[tuple[str, str]], seed_base: int) -> Tally:  # fmt: skip
    tally = Tally()
    stop_at = time.monotonic() + seconds
    async with AsyncDaemonClient(host, port, read_timeout=120) as client:
        await client.hello()

        async def one_seat(slot: int) -> None:
            for round_ in itertools.count():
                if time.monotonic() >= stop_at:
                    return
                deck1, deck2 = pairs[(slot + round_) % len(pairs)]
                seed = seed_base + slot * 1_000_003 + round_
                game = await client.start_game(deck1, deck2, options_for(mode, compact, seed))
                while (decision := await game.next_decision()) is not None:
                    if decision.expects_reply:
                        await game.reply(first_option_reply(decision.payload))
                tally.games += 1
                tally.decisions += game.progress.decisions
                tally.decision_bytes += game.progress.decision_bytes

        await asyncio.gather(*(one_seat(slot) for slot in range(games_at_once)))
    return tally


def client_process(args: tuple) -> Tally:
    return asyncio.run(play_for(*args))


def measure(host, port, daemon_pid, games_at_once, seconds, mode, compact, pairs, processes) -> dict:
    per_process = [
        games_at_once // processes + (1 if i < games_at_once % processes else 0) for i in range(processes)
    ]
    per_process = [n for n in per_process if n]
    cpu_before = cpu_seconds(daemon_pid) if daemon_pid else None
    started = time.monotonic()
    with ProcessPoolExecutor(len(per_process)) as pool:
        jobs = [
            (host, port, n, seconds, mode, compact, pairs, 7919 * (i + 1)) for i, n in enumerate(per_process)
        ]
        tallies = list(pool.map(client_process, jobs))
    elapsed = time.monotonic() - started
    total = Tally()
    for tally in tallies:
        total.add(tally)
    daemon_cpu = cpu_seconds(daemon_pid) - cpu_before if daemon_pid else None
    return {
        "games_at_once": games_at_once,
        "compact": compact,
        "mode": mode,
        "seconds": round(elapsed, 2),
        "games": total.games,
        "decisions": total.decisions,
        "decisions_per_s": round(total.decisions / elapsed),
        "games_per_s": round(total.games / elapsed, 1),
        "daemon_cpu_s": round(daemon_cpu, 2) if daemon_cpu is not None else None,
        "decisions_per_daemon_cpu_s": round(total.decisions / daemon_cpu) if daemon_cpu else None,
        "games_per_daemon_cpu_s": round(total.games / daemon_cpu, 1) if daemon_cpu else None,
        "bytes_per_decision": round(total.decision_bytes / max(total.decisions, 1)),
    }


def line_sizes(host: str, port: int, mode: str, compact: bool, pairs, games: int) -> dict:
    """Distribution of DECISION line sizes (bytes, newline included) over whole games."""
    sizes: list[int] = []
    with DaemonClient(host, port, read_timeout=120) as client:
        for i in range(games):
            game = client.start_game(*pairs[i % len(pairs)], options_for(mode, compact, 1000 + i))
            while (decision := game.next_decision()) is not None:
                if decision.expects_reply:
                    game.reply(first_option_reply(decision.payload))
            sizes += [len(line.encode()) + 1 for line in game.lines if line.startswith("DECISION:")]
    sizes.sort()
    return {
        "compact": compact,
        "mode": mode,
        "decisions": len(sizes),
        "mean": round(statistics.fmean(sizes)),
        "median": sizes[len(sizes) // 2],
        "p90": sizes[int(len(sizes) * 0.9)],
        "max": sizes[-1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connect", metavar="HOST:PORT", help="use a running daemon instead of starting one")
    parser.add_argument("--decks", type=Path, default=REPO / "decks", help="deck directory of the daemon")
    parser.add_argument("--deck-names", default="red_aggro,white_weenie,green_midrange,blue_control")
    parser.add_argument("--concurrency", default="1,16,64,256", help="numbers of concurrent games")
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--mode", choices=["self-play", "vs-ai"], default="self-play",
                        help="self-play: both seats answered by the client (-i); vs-ai: -p1 agent -p2 ai")  # fmt: skip
    parser.add_argument("--client-processes", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--size-games", type=int, default=40,
                        help="games for the line-size distribution; 0: none")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    names = [n for n in args.deck_names.split(",") if n]
    pairs = [(a, b) for a in names for b in names if a != b] or [(names[0], names[0])]
    levels = [int(n) for n in args.concurrency.split(",")]
    proc = None
    if args.connect:
        host, _, port_text = args.connect.rpartition(":")
        port, daemon_pid = int(port_text), None
    else:
        proc, port = start_daemon(args.decks, max(levels) + 8)
        host, daemon_pid = "127.0.0.1", proc.pid
    try:
        sizes = [
            line_sizes(host, port, mode, compact, pairs, args.size_games)
            for mode in dict.fromkeys([args.mode, "observe"])
            for compact in (False, True)
            if args.size_games > 0
        ]
        rows = [
            measure(host, port, daemon_pid, n, args.seconds, args.mode, compact, pairs, args.client_processes)
            for compact in (True, False)
            for n in levels
        ]
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)

    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}"
    print(f"daemon over TCP, one daemon process, mode {args.mode}, {machine}")
    if sizes:
        print("DECISION line bytes (observe: the heuristic AI plays both seats):")
    for s in sizes:
        print(f"  {s['mode']:9}  compact={s['compact']!s:5}  n={s['decisions']:6}  mean={s['mean']:6}  median={s['median']:6}"
              f"  p90={s['p90']:6}  max={s['max']:6}")  # fmt: skip
    print(
        f"{'games':>6} {'compact':>7} {'dec/s':>8} {'games/s':>8} {'dec/cpu-s':>10} {'games/cpu-s':>11} {'B/dec':>7}"
    )
    for r in rows:
        print(f"{r['games_at_once']:>6} {r['compact']!s:>7} {r['decisions_per_s']:>8} {r['games_per_s']:>8} "
              f"{r['decisions_per_daemon_cpu_s']!s:>10} {r['games_per_daemon_cpu_s']!s:>11} {r['bytes_per_decision']:>7}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "line_sizes": sizes, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
