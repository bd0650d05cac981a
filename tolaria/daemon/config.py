"""Settings of one daemon process, from the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DaemonConfig:
    host: str = "0.0.0.0"
    port: int = 17171
    deck_dirs: tuple[Path, ...] = (Path("decks"),)
    workers: int = 1
    max_games: int = 64  # concurrent games per worker process; the daemon's capacity is workers x this
    reply_timeout: float = 60.0  # seconds a client may take to answer one decision
    default_game_timeout: float = 120.0  # NEWGAME without -c
    grace: float = 10.0  # seconds running games get to finish on SHUTDOWN / SIGTERM
    idle_timeout: float = 600.0  # seconds a connection may wait between commands
    max_line_bytes: int = 64 * 1024  # longest command or reply line accepted
    metrics_port: int = 9090  # 0 disables
    full_observability: bool = False  # debugging only: payloads show the opponent's hand
    dialect: str = "tolaria"  # or "forge": Forge's framing and shapes (daemon/forge_dialect.py)
    worker_index: int = 0
    supervised: bool = False  # a supervisor process runs this worker (--workers > 1)
    pool_file: Path | None = None  # counters shared by the workers (daemon/pool.py)
