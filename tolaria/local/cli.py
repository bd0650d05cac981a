"""`tolaria run`: run a TrainingRun spec on this machine, no Kubernetes.

    tolaria run SPEC.yaml [--run-dir DIR]     a new run (default directory runs/<name>-<time>)
    tolaria run --resume RUN_DIR              continue a stopped run from its newest checkpoint

The spec is validated exactly as the API server validates it before anything starts. Exit
status: 0 when a stop criterion ended the run, 130 when Ctrl-C or SIGTERM stopped it (after a
checkpoint; `--resume` continues it), 1 when it failed, 2 for an invalid spec or arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import tolaria
from tolaria.local import topology
from tolaria.local.rundir import RunDirectory, default_run_dir
from tolaria.spec import SpecError, load_trainingrun

REPOSITORY_DECKS = Path(tolaria.__file__).resolve().parent.parent / "decks"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", type=Path, help="TrainingRun YAML (as for kubectl apply)")
    parser.add_argument("--run-dir", type=Path, help="directory of the new run (default runs/<name>-<time>)")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR")
    parser.add_argument(
        "--decks",
        action="append",
        type=Path,
        metavar="DIR",
        help=f"deck directory for the daemons; repeat for several (default {REPOSITORY_DECKS})",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=None,
        help="seconds between progress snapshots (default 2 on a terminal, 15 otherwise)",
    )
    parser.add_argument(
        "--cores", type=int, default=None, help="CPU cores to size the processes for (default: all usable)"
    )


def _machine(cores: int | None) -> topology.Machine:
    usable = cores or len(os.sched_getaffinity(0))
    try:
        import torch

        gpu = torch.cuda.is_available()
    except ImportError:
        gpu = False
    return topology.Machine(cores=usable, gpu=gpu)


def _deck_exists(name: str, directories: list[Path]) -> bool:
    from tolaria.engine.deck import DeckError, find_deck

    try:
        find_deck(name, directories)
    except DeckError:
        return False
    return True


def run(args: argparse.Namespace) -> int:
    from tolaria.local.runner import LocalRun, Options

    if (args.spec is None) == (args.resume is None):
        print("tolaria run: give either SPEC.yaml or --resume RUN_DIR", file=sys.stderr)
        return 2
    if args.resume is not None and args.run_dir is not None:
        print(
            "tolaria run: --run-dir does not apply to --resume (the run keeps its directory)", file=sys.stderr
        )
        return 2
    deck_dirs = [d.resolve() for d in (args.decks or [REPOSITORY_DECKS])]
    missing = [d for d in deck_dirs if not d.is_dir()]
    if missing:
        print(f"tolaria run: --decks {missing[0]}: no such directory", file=sys.stderr)
        return 2
    try:
        if args.resume is not None:
            directory = RunDirectory.open(args.resume)
            training_run = directory.load_run()
        else:
            training_run = load_trainingrun(args.spec)
        unknown = [deck for deck in training_run.spec.decks if not _deck_exists(deck, deck_dirs)]
        if unknown:
            where = ", ".join(map(str, deck_dirs))
            print(f"tolaria run: spec.decks: no deck {unknown[0]!r} in {where}", file=sys.stderr)
            return 2
        if args.resume is None:
            directory = RunDirectory.create(args.run_dir or default_run_dir(training_run), training_run)
            training_run = directory.load_run()
    except SpecError as e:
        print(f"tolaria run: {e.source or 'spec'} is not a valid TrainingRun:", file=sys.stderr)
        for error in e.errors:
            print(f"  {error}", file=sys.stderr)
        return 2
    except (FileExistsError, FileNotFoundError) as e:
        print(f"tolaria run: {e}", file=sys.stderr)
        return 2
    live = sys.stdout.isatty()
    interval = args.interval if args.interval is not None else (2.0 if live else 15.0)
    options = Options(deck_dirs=deck_dirs, interval=interval, live=live, machine=_machine(args.cores))
    return LocalRun(directory, training_run, options).execute()
