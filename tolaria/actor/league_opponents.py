"""The league snapshots an actor plays against, held in memory only while they are in the league.

A snapshot is loaded (from the league's store, into its own inference batcher) the first time a
game draws it, and kept for the games that draw it later. Each one costs a whole network, and a
run keeps only the newest `evaluation.leagueSize` snapshots while new ones join all the time,
so an actor that never let go would end up holding every version that ever passed through the
league. After each reading of the league (`retain`), the snapshots that left it are dropped; one
still answering a game in flight goes when its last such game ends. The actor therefore holds at
most the league's size in snapshots, plus, briefly, those of games in flight that left it
meanwhile, plus its own current policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import Executor

from tolaria.inference.backend import InferenceBackend
from tolaria.inference.batcher import InferenceBatcher
from tolaria.trainer.checkpoint import CheckpointError

log = logging.getLogger(__name__)


class LeagueOpponents:
    def __init__(
        self,
        load: Callable[[int], InferenceBackend],
        max_batch: int,
        max_wait: float,
        executor: Executor | None = None,
    ):
        """`load(version)` builds the snapshot's backend (run in a worker thread); KeyError,
        CheckpointError, OSError or ValueError mean the snapshot is unavailable. `executor`: the
        thread of the snapshots' inference passes (see `InferenceBatcher`)."""
        self._load = load
        self._max_batch = max_batch
        self._max_wait = max_wait
        self._executor = executor
        self._players: dict[int, InferenceBatcher] = {}
        self._games: Counter[int] = Counter()  # games in flight per loaded version
        self._members: set[int] | None = None  # the league at the last reading (None: not read yet)
        self._loading = asyncio.Lock()

    @property
    def versions(self) -> list[int]:
        """The snapshots held now."""
        return sorted(self._players)

    @contextlib.asynccontextmanager
    async def playing(self, version: int) -> AsyncIterator[InferenceBatcher | None]:
        """The snapshot's batcher for one game (None when it cannot be loaded)."""
        player = await self._acquire(version)
        try:
            yield player
        finally:
            if player is not None:
                await self._release(version)

    async def retain(self, league: Iterable[int]) -> None:
        """The league now holds `league`: drop the snapshots that left it (see the module)."""
        self._members = set(league)
        for version in [v for v in self._players if v not in self._members and not self._games[v]]:
            await self._drop(version)

    async def close(self) -> None:
        for version in list(self._players):
            await self._drop(version)

    async def _acquire(self, version: int) -> InferenceBatcher | None:
        if version not in self._players:
            async with self._loading:  # one load at a time: many games may draw a new snapshot at once
                if version not in self._players:
                    try:
                        backend = await asyncio.to_thread(self._load, version)
                    except (KeyError, CheckpointError, OSError, ValueError) as e:
                        log.warning(
                            "league snapshot v%d unavailable (%s): playing self-play instead", version, e
                        )
                        return None
                    batcher = InferenceBatcher(
                        backend, self._max_batch, self._max_wait, executor=self._executor
                    )
                    self._players[version] = await batcher.__aenter__()
        self._games[version] += 1
        return self._players[version]

    async def _release(self, version: int) -> None:
        self._games[version] -= 1
        if not self._games[version]:
            del self._games[version]
            if self._members is not None and version not in self._members and version in self._players:
                await self._drop(version)

    async def _drop(self, version: int) -> None:
        player = self._players.pop(version)
        self._games.pop(version, None)
        await player.__aexit__(None, None, None)
        log.info("league snapshot v%d released", version)
