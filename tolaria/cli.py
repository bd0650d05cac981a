"""The `tolaria` command.

Each subcommand lives in the module of its component, which exposes
`configure_parser(parser)` and `run(args) -> int`. Modules are imported only when their
subcommand runs, so `tolaria daemon` never pays for importing torch or kopf.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (subcommand, module, one-line help)
SUBCOMMANDS: tuple[tuple[str, str, str], ...] = (
    ("daemon", "tolaria.daemon.cli", "serve engine games over the Forge daemon protocol"),
    ("status", "tolaria.protocol.cli", "ask a game daemon for its STATUS (exit 1 when it does not answer)"),
    ("operator", "tolaria.operator.cli", "run the Kubernetes operator that reconciles TrainingRuns"),
    (
        "evaluator",
        "tolaria.evaluation.cli",
        "measure policy versions against baselines and the league; keep Elo ratings",
    ),
    ("crd", "tolaria.crd", "write the TrainingRun CRD generated from the spec models"),
    ("learner", "tolaria.trainer.cli", "train the policy with PPO from the run's rollout stream"),
    ("run", "tolaria.local.cli", "run a TrainingRun spec on this machine, no Kubernetes"),
    (
        "actor",
        "tolaria.actor.cli",
        "play games against the daemons with the current policy and ship rollouts",
    ),
)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="tolaria", description="Tolaria: RL for Magic: The Gathering agents."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = argv[0] if argv else None
    for name, module, help_text in SUBCOMMANDS:
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.set_defaults(_module=module)
        if name == chosen:
            importlib.import_module(module).configure_parser(sp)
    args = parser.parse_args(argv)
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
