"""The inference batcher: one forward pass for many games' decisions, versions swapped between batches."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from tolaria.inference.backend import Answer, StepRecord
from tolaria.inference.batcher import InferenceBatcher


def record(n: int, version: int) -> StepRecord:
    return StepRecord({}, np.array([n], np.int32), log_prob=0.0, value=0.0, policy_version=version)


class EchoBackend:
    """Answers each payload with its `n`; records the batches it was given."""

    def __init__(self, version: int, batches: list[tuple[int, list[int]]]):
        self.version = version
        self.encoder_shape: dict[str, int] = {}
        self.batches = batches

    def act(self, payloads: Sequence[dict[str, Any]]) -> list[Answer]:
        if any(p.get("bad") for p in payloads):
            raise ValueError("cannot encode a bad payload")
        self.batches.append((self.version, [p["n"] for p in payloads]))
        return [Answer(str(p["n"]), record(p["n"], self.version)) for p in payloads]


async def _answers(batcher: InferenceBatcher, payloads: list[dict[str, Any]]) -> list[Any]:
    return await asyncio.gather(*(batcher.answer(p) for p in payloads), return_exceptions=True)


def test_concurrent_decisions_share_one_forward_pass_up_to_the_batch_limit():
    batches: list[tuple[int, list[int]]] = []
    sizes: list[int] = []

    async def main() -> list[Any]:
        async with InferenceBatcher(EchoBackend(1, batches), max_batch=8, max_wait=0.05,
                                    on_batch=lambda n, _s: sizes.append(n)) as batcher:  # fmt: skip
            return await _answers(batcher, [{"n": i} for i in range(20)])

    answers = asyncio.run(main())
    assert [a.reply for a in answers] == [str(i) for i in range(20)]
    assert sizes == [8, 8, 4]
    assert [n for _, ns in batches for n in ns] == list(range(20))


def test_a_lone_decision_waits_only_the_batch_window():
    batches: list[tuple[int, list[int]]] = []

    async def main() -> float:
        async with InferenceBatcher(EchoBackend(1, batches), max_batch=64, max_wait=0.01) as batcher:
            loop = asyncio.get_running_loop()
            started = loop.time()
            await batcher.answer({"n": 0})
            return loop.time() - started

    assert asyncio.run(main()) < 0.5
    assert batches == [(1, [0])]


def test_a_new_backend_takes_over_between_batches_never_within_one():
    batches: list[tuple[int, list[int]]] = []

    async def main() -> list[Answer]:
        async with InferenceBatcher(EchoBackend(1, batches), max_batch=4, max_wait=0.05) as batcher:
            first = await _answers(batcher, [{"n": i} for i in range(4)])
            batcher.swap(EchoBackend(2, batches))
            assert batcher.version == 2
            second = await _answers(batcher, [{"n": i} for i in range(4, 10)])
            return first + second

    answers = asyncio.run(main())
    assert [a.record.policy_version for a in answers] == [1] * 4 + [2] * 6
    for version, ns in batches:  # every batch is answered by one version
        assert all(answers[n].record.policy_version == version for n in ns)


def test_a_payload_the_backend_refuses_fails_only_its_own_decision():
    batches: list[tuple[int, list[int]]] = []

    async def main() -> list[Any]:
        async with InferenceBatcher(EchoBackend(1, batches), max_batch=8, max_wait=0.05) as batcher:
            return await _answers(batcher, [{"n": 0}, {"n": 1, "bad": True}, {"n": 2}])

    answers = asyncio.run(main())
    assert answers[0].reply == "0" and answers[2].reply == "2"
    assert isinstance(answers[1], ValueError)


def test_the_batcher_refuses_to_answer_when_not_running():
    async def main() -> None:
        await InferenceBatcher(EchoBackend(1, [])).answer({"n": 0})

    with pytest.raises(RuntimeError, match="not running"):
        asyncio.run(main())


class SlowBackend(EchoBackend):
    """An EchoBackend whose passes take a while, noting the threads they ran on and how many ran at once."""

    def __init__(
        self, version: int, batches: list[tuple[int, list[int]]], running: list[int], threads: set[str]
    ):
        super().__init__(version, batches)
        self.running, self.threads = running, threads

    def act(self, payloads: Sequence[dict[str, Any]]) -> list[Answer]:
        self.running[0] += 1
        self.running[1] = max(self.running[1], self.running[0])
        self.threads.add(threading.current_thread().name)
        time.sleep(0.01)
        self.running[0] -= 1
        return super().act(payloads)


def test_batchers_sharing_one_executor_never_run_their_passes_at_once():
    batches: list[tuple[int, list[int]]] = []
    running, threads = [0, 0], set()  # passes running now, the most at once

    async def main() -> None:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference") as executor:
            async with contextlib.AsyncExitStack() as stack:
                batchers = [
                    await stack.enter_async_context(
                        InferenceBatcher(
                            SlowBackend(v, batches, running, threads),
                            max_batch=2,
                            max_wait=0.001,
                            executor=executor,
                        )
                    )
                    for v in (1, 2, 3)
                ]
                await asyncio.gather(*(_answers(b, [{"n": i} for i in range(6)]) for b in batchers))

    asyncio.run(main())
    assert len(batches) == 9  # three batchers, three passes of two each
    assert running[1] == 1
    assert len(threads) == 1 and threads.pop().startswith("inference")
