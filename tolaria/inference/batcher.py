"""The inference batcher: the pending decisions of many games answered by one forward pass.

Games `await batcher.answer(payload)`. The first request of a batch opens a window of
`max_wait` seconds (a few ms) during which further requests join, or until `max_batch` are
waiting; the batch then runs on the backend in a worker thread, so the event loop keeps reading
daemon lines (and filling the next batch) meanwhile. Requests that arrive during a pass wait for
the next one, so under load batches grow on their own.

Several batchers in one process (an actor's current policy and its league snapshots) should
share one single-thread `executor`. A small network's pass is mostly Python dispatching many
tiny operators with the GIL held; passes in threads of their own would run at the same time
and take the GIL from each other and from the event loop at every operator, costing more CPU
than they overlap (`bench/league_opponents.py`).

A new policy version is installed with `swap(backend)` and takes effect at the start of the next
batch: a batch is never split across two versions. A batch the backend refuses (a payload it
cannot encode) is retried one payload at a time, so only the game that sent the bad payload fails.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from tolaria.inference.backend import Answer, InferenceBackend


class InferenceBatcher:
    def __init__(
        self,
        backend: InferenceBackend,
        max_batch: int = 256,
        max_wait: float = 0.002,
        on_batch: Callable[[int, float], None] | None = None,
        executor: Executor | None = None,
    ):
        """`executor` runs the passes (None: the event loop's default executor)."""
        if max_batch < 1 or max_wait < 0:
            raise ValueError(f"max_batch must be >= 1 and max_wait >= 0, got {max_batch} and {max_wait}")
        self.backend = backend
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.on_batch = on_batch  # (batch size, seconds of the pass), for metrics
        self.executor = executor
        self._next_backend: InferenceBackend | None = None
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[Answer]]] = []
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def version(self) -> int:
        """The version the next batch will be answered by."""
        return (self._next_backend or self.backend).version

    def swap(self, backend: InferenceBackend) -> None:
        """Use `backend` from the next batch on."""
        self._next_backend = backend

    async def __aenter__(self) -> InferenceBatcher:
        self._task = asyncio.create_task(self._serve(), name="inference-batcher")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, future in self._waiting:
            future.cancel()
        self._waiting.clear()

    async def answer(self, payload: dict[str, Any]) -> Answer:
        if self._task is None or self._task.done():
            raise RuntimeError("the inference batcher is not running (use it as an async context manager)")
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.append((payload, future))
        self._arrived.set()
        return await future

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._arrived.wait()
            deadline = loop.time() + self.max_wait
            while len(self._waiting) < self.max_batch and loop.time() < deadline:
                # a timer rather than wait_for, which would make a task for every arrival
                self._arrived.clear()
                timer = loop.call_at(deadline, self._arrived.set)
                await self._arrived.wait()
                timer.cancel()
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
            if not self._waiting:
                self._arrived.clear()
            live = [(p, f) for p, f in batch if not f.done()]
            if not live:
                continue
            if self._next_backend is not None:
                self.backend, self._next_backend = self._next_backend, None
            backend = self.backend
            started = loop.time()
            answers: list[Answer | Exception]
            try:
                answers = list(await loop.run_in_executor(self.executor, backend.act, [p for p, _ in live]))
            except Exception:
                answers = [await loop.run_in_executor(self.executor, _act_one, backend, p) for p, _ in live]
            for (_, future), answer in zip(live, answers, strict=True):
                if future.done():
                    continue
                if isinstance(answer, Exception):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)
            if self.on_batch is not None:
                self.on_batch(len(live), loop.time() - started)


def _act_one(backend: InferenceBackend, payload: dict[str, Any]) -> Answer | Exception:
    try:
        return backend.act([payload])[0]
    except Exception as e:
        return e
