"""What the control loop reads from memory instead of the API server (tolaria/operator/cache.py):
the rules (unit), and a run's loop stepping against a real redis-server that wants a password,
with a stand-in API that counts what it is asked."""

from __future__ import annotations

import asyncio
import base64
import copy
from typing import Any

import pytest
import redis

from tolaria.operator.cache import PasswordCache, RunView, SecretPresence, compare_resource_versions
from tolaria.operator.metrics import OperatorMetrics
from tolaria.operator.reconcile import RunLoop


def test_resource_versions_compare_as_integers_of_any_length():
    assert compare_resource_versions("9", "10") == -1
    assert compare_resource_versions("123456789012345678901", "99") == 1
    assert compare_resource_versions("42", "42") == 0


def test_resource_versions_that_are_not_integers_do_not_compare():
    for a, b in (("", "5"), ("05", "6"), ("0", "1"), ("abc", "7"), ("1.5", "2")):
        assert compare_resource_versions(a, b) is None, (a, b)


def _versioned(rv: str, phase: str) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": rv}, "status": {"phase": phase}}


def test_the_written_object_leads_until_the_watch_catches_up():
    view = RunView()
    assert view.current(_versioned("10", "Pending"))["status"]["phase"] == "Pending"
    view.wrote(_versioned("11", "Running"))
    # The watch has not delivered the write yet: the written object is newer.
    assert view.current(_versioned("10", "Pending"))["status"]["phase"] == "Running"
    # A spec change after the write: the watch leads again.
    newer = _versioned("12", "Running")
    assert view.current(newer) is newer
    assert view.written is None


def test_the_watch_wins_when_versions_cannot_be_compared():
    view = RunView()
    view.wrote(_versioned("opaque-2", "Running"))
    watched = _versioned("opaque-1", "Pending")
    assert view.current(watched) is watched


def test_a_password_is_kept_for_its_reference_only():
    cache = PasswordCache()
    assert cache.get(("s", "password")) is None
    cache.put(("s", "password"), "pw")
    assert cache.get(("s", "password")) == "pw"
    assert cache.get(("s", "other-key")) is None
    assert cache.get(("t", "password")) is None
    cache.forget()
    assert cache.get(("s", "password")) is None


def test_secrets_are_checked_each_tick_while_missing_then_every_interval():
    presence = SecretPresence(recheck_seconds=60)
    refs = (("creds", "spec.checkpoints.credentialsSecret"),)
    assert presence.due(refs, 0)
    presence.checked(refs, 0, all_present=False)
    assert presence.due(refs, 1)
    presence.checked(refs, 1, all_present=True)
    assert not presence.due(refs, 60)
    assert presence.due(refs, 61)
    assert presence.due((("other", "spec.redis.passwordSecret"),), 2)  # a new reference: at once


class CountingKube:
    """Answers the operator's API calls from memory and counts them. A GET of the run itself
    fails the test: the loop must take the run from its watch."""

    def __init__(self, run: dict[str, Any], secrets: dict[str, dict[str, str]]):
        self.run = run
        self.secrets = secrets
        self.calls: list[str] = []
        self.version = int(run["metadata"]["resourceVersion"])

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        raise AssertionError(f"GET {kind} {name}: the control loop reads from the API server")

    def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        self.calls.append(f"read Secret {name}")
        data = self.secrets.get(name)
        if data is None or key not in data:
            return None
        return base64.b64decode(base64.b64encode(data[key].encode())).decode()

    def exists(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        self.calls.append(f"exists {kind} {name}")
        return name in self.secrets

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        self.calls.append("patch status")
        self.version += 1
        merged = dict(self.run.get("status") or {})
        merged.update({k: v for k, v in status.items() if v is not None})
        self.run = {**self.run, "status": merged}
        self.run["metadata"] = {**self.run["metadata"], "resourceVersion": str(self.version)}
        return copy.deepcopy(self.run)

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(f"apply {manifest['kind']}")
        return manifest

    def create(self, manifest: dict[str, Any]) -> bool:
        self.calls.append(f"create {manifest['kind']}")
        return True

    def delete(self, *args: Any) -> bool:
        self.calls.append("delete")
        return True

    def storage_classes(self) -> list[dict[str, Any]]:
        self.calls.append("list StorageClasses")
        return []


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _run_body(redis_url: str) -> dict[str, Any]:
    return {
        "apiVersion": "tolaria.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {
            "name": "r",
            "namespace": "team",
            "uid": "u1",
            "generation": 1,
            "resourceVersion": "100",
        },
        "spec": {
            "decks": ["red_aggro"],
            "redis": {"url": redis_url, "passwordSecret": {"name": "redis-auth", "key": "password"}},
            "checkpoints": {"uri": "s3://bucket/runs/r"},
            "daemons": {"autoscaling": {"minReplicas": 1, "maxReplicas": 1, "pollIntervalSeconds": 5}},
        },
    }


@pytest.mark.integration
def test_a_steady_run_reads_neither_itself_nor_its_password_secret_each_tick(redis_server):
    redis.Redis.from_url(redis_server.url).config_set("requirepass", "first")
    watched = _run_body(redis_server.url)  # the watch never catches up in this test
    kube = CountingKube(copy.deepcopy(watched), {"redis-auth": {"password": "first"}})
    events: list[tuple[str, str]] = []
    clock = Clock()
    loop = RunLoop(
        kube,  # type: ignore[arg-type]
        "team",
        "r",
        lambda: copy.deepcopy(watched),
        dict,
        OperatorMetrics(),
        lambda body, type_, reason, message: events.append((reason, message)),
        clock=clock,
    )

    async def ticks(count: int) -> None:
        for _ in range(count):
            await loop.step()
            clock.now += 5.0

    async def scenario() -> None:
        await ticks(4)
        assert kube.calls.count("read Secret redis-auth") == 1
        assert kube.calls.count("exists Secret redis-auth") == 1
        # The first step wrote the status; later ones saw it through what the write returned.
        assert kube.calls.count("patch status") == 1, kube.calls
        assert [reason for reason, _ in events].count("RunPending") <= 1
        assert not any(reason == "RedisUnavailable" for reason, _ in events), events
        assert loop.redis_error is None

        # The password is rotated in Redis and in the Secret: Redis refuses the kept one, the
        # Secret is read again within the same tick, and no reading is lost.
        redis.Redis.from_url(redis_server.url, password="first").config_set("requirepass", "second")
        kube.secrets["redis-auth"]["password"] = "second"
        await loop.close()  # a new connection, as after a Redis restart
        await ticks(2)
        assert kube.calls.count("read Secret redis-auth") == 2
        assert loop.redis_error is None, loop.redis_error
        assert not any(reason == "RedisUnavailable" for reason, _ in events), events

        # A wrong password in the Secret: each tick reads it again (the user may fix it), and
        # the run says Redis cannot be read.
        kube.secrets["redis-auth"]["password"] = "wrong"
        redis.Redis.from_url(redis_server.url, password="second").config_set("requirepass", "third")
        await loop.close()
        await ticks(2)
        assert kube.calls.count("read Secret redis-auth") == 4
        assert loop.redis_error is not None and "third" not in loop.redis_error
        assert any(reason == "RedisUnavailable" for reason, _ in events)

    async def run_and_close() -> None:
        try:
            await scenario()
        finally:
            await loop.close()

    asyncio.run(run_and_close())
