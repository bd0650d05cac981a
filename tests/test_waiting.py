"""Waiting for a dependency at start: backoff, a bounded wait that names the dependency, stop."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from tolaria import waiting
from tolaria.waiting import DependencyUnavailable, Stopped, await_for, wait_for


class Flaky:
    """Raises ConnectionError `failures` times, then answers."""

    def __init__(self, failures: int):
        self.failures = failures
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"refused (call {self.calls})")
        return "PONG"


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(waiting, "FIRST_DELAY_S", 0.01)
    monkeypatch.setattr(waiting, "MAX_DELAY_S", 0.04)


def test_retries_until_the_dependency_answers_and_says_what_it_waits_for(caplog):
    probe = Flaky(failures=3)
    with caplog.at_level(logging.WARNING, logger="tolaria.waiting"):
        assert wait_for("Redis at redis://r:6379/0", probe, (ConnectionError,), timeout=5) == "PONG"
    assert probe.calls == 4
    waits = [r.getMessage() for r in caplog.records]
    assert len(waits) == 3
    assert all(m.startswith("waiting for Redis at redis://r:6379/0: ConnectionError: refused") for m in waits)


def test_gives_up_after_the_timeout_naming_the_dependency_and_the_cause():
    with pytest.raises(
        DependencyUnavailable, match=r"gave up waiting for the store after 0s: ConnectionError"
    ):
        wait_for("the store", Flaky(failures=10**6), (ConnectionError,), timeout=0.1)


def test_errors_not_listed_are_not_waited_for():
    def refuses():
        raise PermissionError("no access")

    with pytest.raises(PermissionError):
        wait_for("the store", refuses, (ConnectionError,), timeout=5)


def test_a_stop_ends_the_wait():
    stop = threading.Event()
    stop.set()
    with pytest.raises(Stopped, match="stopped while waiting for Redis"):
        wait_for("Redis", Flaky(failures=10**6), (ConnectionError,), timeout=60, stop=stop)


def test_backoff_doubles_up_to_its_ceiling():
    backoff = waiting._Backoff("x", timeout=60)
    delays = [backoff.next_delay(ConnectionError()) for _ in range(5)]
    assert delays == [0.01, 0.02, 0.04, 0.04, 0.04]


def test_the_asyncio_twin_retries_gives_up_and_stops():
    async def scenario():
        flaky = Flaky(failures=2)

        async def probe():
            return flaky()

        assert await await_for("Redis", probe, (ConnectionError,), timeout=5) == "PONG"
        assert flaky.calls == 3

        async def never():
            raise ConnectionError("refused")

        with pytest.raises(DependencyUnavailable, match="gave up waiting for Redis"):
            await await_for("Redis", never, (ConnectionError,), timeout=0.1)
        stop = asyncio.Event()
        stop.set()
        with pytest.raises(Stopped):
            await await_for("Redis", never, (ConnectionError,), timeout=60, stop=stop)

    asyncio.run(scenario())


def test_a_daemon_is_waited_for_until_one_endpoint_takes_connections(caplog):
    """A name that does not resolve yet and a port nobody listens on are waited for, each named
    with its cause; the wait ends as soon as one endpoint listens."""
    from conftest import free_port

    unresolvable, late = ("tolaria-no-such-host.invalid", 17171), ("127.0.0.1", free_port())
    endpoints = [unresolvable, late]

    async def scenario() -> None:
        with pytest.raises(DependencyUnavailable) as refused:
            await waiting.await_daemon(endpoints, timeout=0.1)
        message = str(refused.value)
        assert message.startswith(
            f"gave up waiting for a daemon at tolaria-no-such-host.invalid:17171,127.0.0.1:{late[1]} after 0s:"
            " DaemonUnavailable: tolaria-no-such-host.invalid:17171 does not resolve ("
        )
        assert message.endswith(f"; 127.0.0.1:{late[1]} (127.0.0.1): Connection refused")

        async def listen_later() -> asyncio.Server:
            await asyncio.sleep(0.1)
            return await asyncio.start_server(lambda r, w: w.close(), *late)

        server = asyncio.create_task(listen_later())
        await waiting.await_daemon(endpoints, timeout=10)
        (await server).close()

    with caplog.at_level(logging.WARNING, logger="tolaria.waiting"):
        asyncio.run(scenario())
    assert any(
        r.getMessage().startswith("waiting for a daemon at tolaria-no-such-host") for r in caplog.records
    )


def test_a_pool_that_may_be_empty_is_waited_for_without_a_limit(caplog):
    """minReplicas 0: no daemon may be up for longer than any bound (the autoscaler empties the
    pool while rollouts pile up), so the wait ignores the timeout and never says it gives up."""
    from conftest import free_port

    endpoints = [("127.0.0.1", free_port())]

    async def scenario() -> None:
        async def listen_later() -> asyncio.Server:
            await asyncio.sleep(0.3)  # many times the timeout below
            return await asyncio.start_server(lambda r, w: w.close(), *endpoints[0])

        server = asyncio.create_task(listen_later())
        await waiting.await_daemon(endpoints, timeout=0.01, pool_may_be_empty=True)
        (await server).close()

    with caplog.at_level(logging.WARNING, logger="tolaria.waiting"):
        asyncio.run(scenario())
    waits = [r.getMessage() for r in caplog.records]
    assert len(waits) >= 2 and all("giving up" not in m for m in waits), waits
