"""`tolaria daemon`: serve engine games over the Forge daemon protocol (PROTOCOL.md)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tolaria.daemon.config import DaemonConfig
from tolaria.protocol.forge import FORGE_MAX_CONCURRENT

defaults = DaemonConfig()
DIALECTS = ("tolaria", "forge")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=defaults.host, help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=defaults.port, help="TCP port (default %(default)s)")
    parser.add_argument(
        "--decks",
        action="append",
        type=Path,
        metavar="DIR",
        help="deck directory; repeat for several (default: ./decks)",
    )
    parser.add_argument("--workers", type=int, default=defaults.workers, help="processes sharing the port")
    parser.add_argument(
        "--max-games",
        type=int,
        default=None,
        help=f"concurrent games per worker; the daemon takes workers x this (default {defaults.max_games};"
        f" {FORGE_MAX_CONCURRENT} with --dialect forge)",
    )
    parser.add_argument(
        "--dialect",
        choices=DIALECTS,
        default=defaults.dialect,
        help="tolaria: the protocol with its extensions; forge: exactly as a Forge RL daemon frames and"
        " shapes it (no HELLO, one command per connection, Forge's payloads; to test what must work"
        " against Forge) (default %(default)s)",
    )
    parser.add_argument(
        "--reply-timeout",
        type=float,
        default=defaults.reply_timeout,
        metavar="S",
        help="seconds a client may take to answer a decision (default %(default)s)",
    )
    parser.add_argument(
        "--game-timeout",
        type=float,
        default=defaults.default_game_timeout,
        metavar="S",
        help="whole-game timeout when NEWGAME has no -c (default %(default)s)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=defaults.grace,
        metavar="S",
        help="seconds running games get to finish on SHUTDOWN/SIGTERM (default %(default)s)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=defaults.idle_timeout,
        metavar="S",
        help="seconds a connection may stay silent between commands (default %(default)s)",
    )
    parser.add_argument(
        "--max-line-bytes",
        type=int,
        default=defaults.max_line_bytes,
        help="longest command or reply line (default %(default)s)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=defaults.metrics_port,
        help="Prometheus /metrics port, 0 disables (default %(default)s)",
    )
    parser.add_argument(
        "--full-observability",
        action="store_true",
        help="debugging: DECISION payloads also show the opponent's hand",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pool-file", type=Path, help=argparse.SUPPRESS)


def config_from_args(args: argparse.Namespace) -> DaemonConfig:
    """The checked configuration; ValueError names the offending option."""
    forge = args.dialect == "forge"
    max_games = (
        args.max_games
        if args.max_games is not None
        else (FORGE_MAX_CONCURRENT if forge else defaults.max_games)
    )
    if forge and args.workers != 1:
        raise ValueError("--dialect forge emulates one Forge process: --workers must be 1")
    positive = {
        "--workers": args.workers,
        "--max-games": max_games,
        "--reply-timeout": args.reply_timeout,
        "--game-timeout": args.game_timeout,
        "--idle-timeout": args.idle_timeout,
        "--max-line-bytes": args.max_line_bytes,
    }
    for option, value in positive.items():
        if not value > 0:
            raise ValueError(f"{option} must be positive, not {value}")
    if args.grace < 0:
        raise ValueError(f"--grace must not be negative, not {args.grace}")
    if not 0 <= args.port <= 65535 or not 0 <= args.metrics_port <= 65535:
        raise ValueError("--port and --metrics-port must be in 0..65535")
    if args.workers > 1 and args.port == 0:
        raise ValueError("--workers > 1 needs a fixed --port (the workers share it)")
    deck_dirs = tuple(args.decks or [Path("decks")])
    for directory in deck_dirs:
        if not directory.is_dir():
            raise ValueError(f"--decks {directory}: no such directory")
    return DaemonConfig(
        host=args.host,
        port=args.port,
        deck_dirs=tuple(d.resolve() for d in deck_dirs),
        workers=args.workers,
        max_games=max_games,
        reply_timeout=args.reply_timeout,
        default_game_timeout=args.game_timeout,
        grace=args.grace,
        idle_timeout=args.idle_timeout,
        max_line_bytes=args.max_line_bytes,
        metrics_port=args.metrics_port,
        full_observability=args.full_observability,
        dialect=args.dialect,
        worker_index=args.worker_index,
        supervised=args.supervised,
        pool_file=args.pool_file,
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level,
        format=f"%(asctime)s daemon[{args.worker_index + 1}] %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        config = config_from_args(args)
    except ValueError as e:
        print(f"tolaria daemon: {e}", file=sys.stderr)
        return 2
    if config.workers > 1 and not config.supervised:
        from tolaria.daemon.supervisor import run_supervisor

        return run_supervisor(config)
    from tolaria.daemon.worker import run_worker

    return run_worker(config)
