"""One daemon process: loads the card pool, serves until SHUTDOWN or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal

from prometheus_client import start_http_server

from tolaria.daemon.config import DaemonConfig
from tolaria.daemon.decks import DeckLibrary
from tolaria.daemon.server import DaemonServer
from tolaria.engine import CardPool

log = logging.getLogger(__name__)


def run_worker(config: DaemonConfig) -> int:
    decks = DeckLibrary(config.deck_dirs, CardPool.default())
    if config.metrics_port and not config.supervised:
        try:
            start_http_server(config.metrics_port, addr=config.host)
        except OSError as e:
            log.error("cannot serve metrics on %s:%s: %s", config.host, config.metrics_port, e)
            return 1
    return asyncio.run(_serve(config, decks))


async def _serve(config: DaemonConfig, decks: DeckLibrary) -> int:
    server = DaemonServer(config, decks)
    try:
        await server.start()
    except OSError as e:
        log.error("cannot listen on %s:%s: %s", config.host, config.port, e)
        return 1
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, server.request_shutdown)
    await server.wait_stopped()
    log.info("worker %d stopped after %d games", config.worker_index + 1, server.games_played)
    return 0
