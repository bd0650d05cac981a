"""The learner's memory at the end of a warm start's watching (the games joined and saved), and
when a resumed warm start reads them back.

    python bench/warm_start_memory.py --games 600

Synthetic watched games (`--decisions` decisions each, every array of the encoder's shapes for
`--preset`) are joined (`Observation.take_games`) and saved to a file store
(`WarmStartProgress.save_games`) as the learner does once it has watched them; then a fresh
process reads them back (`WarmStartProgress.load_games`) as a resumed learner does. Prints the
bytes a decision holds and each process's peak resident memory above what it held before, per
decision and as a multiple of the decisions' size. The figures are exact and repeatable (no
timing), so a change to the join, the save or the read can be checked against the commit before it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from tolaria.trainer.checkpoint import open_store  # noqa: E402
from tolaria.trainer.config import NetworkConfig  # noqa: E402
from tolaria.trainer.encoding import Encoder  # noqa: E402
from tolaria.trainer.imitation import Demonstrations, compact  # noqa: E402
from tolaria.trainer.warm_progress import WarmStartProgress  # noqa: E402
from tolaria.trainer.warm_start import Observation  # noqa: E402


def peak_rss() -> int:
    """This process's peak resident memory since its exec (Linux's VmHWM). Not getrusage's
    ru_maxrss: a process started by another inherits its parent's peak there."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--games", type=int, default=600)
    ap.add_argument("--decisions", type=int, default=150, help="decisions a game (pool games: about 150)")
    ap.add_argument("--preset", default="small")
    ap.add_argument(
        "--read-back", metavar="DIR", help="only read the games saved in DIR (the second process)"
    )
    args = ap.parse_args()
    if args.read_back:
        before = peak_rss()
        games = WarmStartProgress(open_store(f"file://{args.read_back}"), "benchmark").load_games()
        print(len(games), peak_rss() - before)
        return 0

    encoder = Encoder(NetworkConfig.from_preset(args.preset))
    before = peak_rss()
    watched = {}
    for index in range(args.games):
        observations = compact({k: np.ones_like(v) for k, v in encoder.empty(args.decisions).items()})
        actions = np.ones((args.decisions, encoder.max_options), np.int64)
        watched[index] = Demonstrations(observations, actions, np.ones(args.decisions, np.float32))
    decisions = args.games * args.decisions
    held = sum(
        sum(v.nbytes for v in game.observations.values()) + game.actions.nbytes + game.returns.nbytes
        for game in watched.values()
    )
    observation = Observation(watched, failed=0, seconds=0.0, complete=True)
    with tempfile.TemporaryDirectory() as directory:
        taken = observation.take_games(encoder.empty(0))
        WarmStartProgress(open_store(f"file://{directory}"), "benchmark").save_games(taken)
        peak = peak_rss() - before
        del taken, observation
        done = subprocess.run(
            [sys.executable, __file__, "--read-back", directory], capture_output=True, text=True, check=True
        )
        games, read_peak = map(int, done.stdout.split())
    assert games == args.games, f"read back {games} games of {args.games}"
    print(
        f"{decisions:,} decisions of {held / decisions:,.0f} bytes ({held / 1e9:.2f} GB); peak "
        f"{peak / decisions:,.0f} bytes a decision ({peak / held:.2f} x the decisions); read back, "
        f"{read_peak / decisions:,.0f} bytes a decision ({read_peak / held:.2f} x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
