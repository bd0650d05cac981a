"""The learner's memory at the end of a warm start's watching: the games joined and saved.

    python bench/warm_start_memory.py --games 600

Synthetic watched games (`--decisions` decisions each, every array of the encoder's shapes for
`--preset`) are joined (`Observation.take_games`) and saved to a file store
(`WarmStartProgress.save_games`) as the learner does once it has watched them; prints the bytes a
decision holds and the process's peak resident memory above what it held before the games, per
decision and as a multiple of the decisions' size. The figure is exact and repeatable (no timing),
so a change to the join or the save can be checked against the commit before it.
"""

from __future__ import annotations

import argparse
import resource
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
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--games", type=int, default=600)
    ap.add_argument("--decisions", type=int, default=150, help="decisions a game (pool games: about 150)")
    ap.add_argument("--preset", default="small")
    args = ap.parse_args()

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
    print(
        f"{decisions:,} decisions of {held / decisions:,.0f} bytes ({held / 1e9:.2f} GB); peak "
        f"{peak / decisions:,.0f} bytes a decision ({peak / held:.2f} x the decisions)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
