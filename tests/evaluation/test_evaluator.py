"""The evaluator end to end: a real daemon subprocess, a real redis-server, real policies."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from conftest import Daemon, MinioServer, free_port

from tolaria.evaluation.confidence import WinRate
from tolaria.evaluation.elo import GameCounts, fit_ratings
from tolaria.evaluation.evaluator import EvaluationSettings, Evaluator
from tolaria.evaluation.record import DOCUMENT, EvaluationRecord, RecordUnavailable
from tolaria.inference.backend import PolicyBackend
from tolaria.keys import LEARNER_GROUP, RunKeys
from tolaria.matchmaking.league import League
from tolaria.protocol import DaemonClient, parse_endpoints
from tolaria.protocol.daemon_clients import DaemonClients
from tolaria.trainer.checkpoint import open_store

from .conftest import REPO, policy_bytes

pytestmark = pytest.mark.integration

KEYS = RunKeys("default", "evalrun")
PAIRINGS = (("red_aggro", "white_weenie"), ("white_weenie", "red_aggro"))


def settings(**overrides) -> EvaluationSettings:
    values = {
        "games": 8,
        "baselines": ("random", "heuristic"),
        "pairings": PAIRINGS,
        "games_in_flight": 8,
        "every_updates": 1,
        **overrides,
    }
    return EvaluationSettings(**values)


def publish(client: redis.Redis, version: int) -> bytes:
    data = policy_bytes(version)
    client.set(KEYS.policy, data)
    client.set(KEYS.policy_version, version)
    return data


def games_played(daemon) -> int:
    with DaemonClient("127.0.0.1", daemon.port, read_timeout=30) as client:
        return client.status().games_played


async def evaluate(redis_url: str, daemon, s: EvaluationSettings, league: League | None = None):
    client = aioredis.Redis.from_url(redis_url)
    pool = DaemonClients(parse_endpoints(daemon.endpoint), "tolaria-evaluator")
    try:
        return await Evaluator(s, client, KEYS, pool, league).evaluate_published()
    finally:
        await pool.close()
        await client.aclose()


def text_map(raw: dict) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


def test_fresh_policy_against_random_and_heuristic(redis_server, daemon):
    r = redis.Redis.from_url(redis_server.url)
    publish(r, 1)
    # the learner's consumer group exists, as in a running training
    r.xgroup_create(KEYS.rollouts, LEARNER_GROUP, id="0", mkstream=True)
    played_before = games_played(daemon)

    report = asyncio.run(evaluate(redis_server.url, daemon, settings()))

    assert report["policy_version"] == 1 and report["action_selection"] == "greedy"
    for baseline in ("random", "heuristic"):
        result = report["baselines"][baseline]
        assert result["games"] == 8 and result["errors"] == 0
        assert result["wins"] + result["draws"] + result["losses"] == 8
        assert 0.0 <= result["ci_low"] <= result["win_rate"] <= result["ci_high"] <= 1.0
        # every pairing, the agent in seat 1 and in seat 2
        assert sorted(result["by_setting"]) == [
            "red_aggro vs white_weenie, agent seat 1", "red_aggro vs white_weenie, agent seat 2",
            "white_weenie vs red_aggro, agent seat 1", "white_weenie vs red_aggro, agent seat 2",
        ]  # fmt: skip
        assert all(s["games"] == 2 for s in result["by_setting"].values())
    # the games were real daemon games...
    assert games_played(daemon) - played_before == 16
    # ...and none of them reached the learner
    assert r.xlen(KEYS.rollouts) == 0
    assert r.xinfo_groups(KEYS.rollouts)[0]["entries-read"] in (0, None)

    evaluation = text_map(r.hgetall(KEYS.eval))
    assert evaluation["policy_version"] == "1"
    random_rate = report["baselines"]["random"]
    assert float(evaluation["winrate_vs_random"]) == pytest.approx(random_rate["win_rate"])
    assert float(evaluation["winrate_ci_low_vs_random"]) == pytest.approx(random_rate["ci_low"])
    assert float(evaluation["winrate_ci_high_vs_random"]) == pytest.approx(random_rate["ci_high"])
    heuristic = report["baselines"]["heuristic"]
    assert evaluation["baseline"] == "heuristic"
    assert float(evaluation["winrate"]) == pytest.approx(heuristic["win_rate"])
    assert float(evaluation["winrate_ci_low"]) == pytest.approx(heuristic["ci_low"])
    assert float(evaluation["winrate_ci_high"]) == pytest.approx(heuristic["ci_high"])
    assert json.loads(evaluation["v1"]) == json.loads(evaluation["latest"]) == report

    stats = text_map(r.hgetall(KEYS.stats))
    assert float(stats["win_rate:random"]) == pytest.approx(random_rate["win_rate"])
    assert float(stats["win_rate:heuristic"]) == pytest.approx(heuristic["win_rate"])

    # the games behind the ratings, and the Bradley-Terry fit over them (random anchored at 1000)
    recorded = GameCounts.from_fields(r.hgetall(KEYS.elo_games))
    assert recorded.between("v1", "random") == WinRate(*(random_rate[k] for k in ("wins", "draws", "losses")))
    assert recorded.between("v1", "heuristic") == WinRate(
        *(heuristic[k] for k in ("wins", "draws", "losses"))
    )
    assert recorded.games == 16
    elo = {k: float(v) for k, v in text_map(r.hgetall(KEYS.elo)).items()}
    assert elo == pytest.approx(fit_ratings(recorded), abs=1e-3)
    assert set(elo) == {"v1", "random", "heuristic"} and elo["random"] == 1000.0
    assert float(evaluation["elo"]) == pytest.approx(elo["v1"], abs=1e-3)
    assert report["elo"] == pytest.approx(fit_ratings(recorded))
    assert not r.exists(KEYS.policy_promoted)  # no promotion gate in this spec


def test_league_opponents_and_promotion_gate(redis_server, daemon, tmp_path):
    r = redis.Redis.from_url(redis_server.url)
    league = League.open(f"file://{tmp_path}/checkpoints", size=10)
    gate = settings(baselines=("random", "league"), promotion_margin=1.0, games=4)

    publish(r, 1)
    first = asyncio.run(evaluate(redis_server.url, daemon, gate, league))
    assert "league" not in first["baselines"]  # nothing in the league yet
    assert first["promotion"] == {
        "candidate": 1,
        "against": None,
        "promoted": True,
        "reason": "first evaluated version",
    }
    assert league.versions() == [1]
    assert r.get(KEYS.policy_promoted_version) == b"1" and r.get(KEYS.policy_promoted) == r.get(KEYS.policy)

    publish(r, 2)
    second = asyncio.run(evaluate(redis_server.url, daemon, gate, league))
    assert second["baselines"]["league"]["opponents"] == [1]
    assert second["baselines"]["league"]["games"] == 4
    assert second["promotion"]["against"] == 1 and second["promotion"]["games"] == 4
    assert second["promotion"]["promoted"] is True  # margin 1: anything passes
    assert r.get(KEYS.policy_promoted_version) == b"2"
    assert league.versions() == [1, 2]
    elo = text_map(r.hgetall(KEYS.elo))
    assert set(elo) == {"v1", "v2", "random"}
    # v2's league games and its gate games against v1 are both in the counts
    recorded = GameCounts.from_fields(r.hgetall(KEYS.elo_games))
    assert recorded.between("v2", "v1").games == 4 + 4
    assert recorded.between("v2", "random").games == 4 and recorded.games == 4 + 4 + 8

    # margin 0: v3 is promoted exactly when its interval's lower end is at least half
    strict = settings(baselines=("random",), promotion_margin=0.0, games=4)
    publish(r, 3)
    third = asyncio.run(evaluate(redis_server.url, daemon, strict, league))
    gate_result = third["promotion"]
    assert gate_result["threshold"] == 0.5
    assert gate_result["promoted"] == (gate_result["games"] > 0 and gate_result["ci_low"] >= 0.5)
    assert gate_result["promoted"] is False  # 4 games can never show a policy better than even
    assert r.get(KEYS.policy_promoted_version) == (b"3" if gate_result["promoted"] else b"2")
    assert r.xlen(KEYS.rollouts) == 0


def test_the_policy_and_its_opponents_share_one_inference_thread(redis_server, daemon, tmp_path, monkeypatch):
    """The evaluated policy's passes and those of its league and gate opponents all run on the
    evaluator's one inference thread, one at a time."""
    threads: set[str] = set()
    running = most = 0
    act = PolicyBackend.act

    def watched_act(backend, payloads):
        nonlocal running, most
        threads.add(threading.current_thread().name)
        running += 1
        most = max(most, running)
        try:
            return act(backend, payloads)
        finally:
            running -= 1

    monkeypatch.setattr(PolicyBackend, "act", watched_act)
    r = redis.Redis.from_url(redis_server.url)
    league = League.open(f"file://{tmp_path}/checkpoints", size=10)
    s = settings(baselines=("league",), promotion_margin=1.0, games=8)
    publish(r, 1)
    asyncio.run(evaluate(redis_server.url, daemon, s, league))
    publish(r, 2)
    report = asyncio.run(evaluate(redis_server.url, daemon, s, league))
    assert report["baselines"]["league"]["games"] == 8 and report["promotion"]["games"] == 8
    assert len(threads) == 1 and threads.pop().startswith("inference"), threads
    assert most == 1


def test_ratings_survive_redis_losing_them_and_do_not_depend_on_the_order(redis_server, daemon, tmp_path):
    r = redis.Redis.from_url(redis_server.url)
    record = EvaluationRecord(open_store(f"file://{tmp_path}/checkpoints"))
    league = League.open(f"file://{tmp_path}/checkpoints", size=10)
    s = settings(games=4, baselines=("random", "league"))

    async def evaluate_with_record() -> dict:
        client = aioredis.Redis.from_url(redis_server.url)
        pool = DaemonClients(parse_endpoints(daemon.endpoint), "tolaria-evaluator")
        try:
            return await Evaluator(s, client, KEYS, pool, league, record=record).evaluate_published()
        finally:
            await pool.close()
            await client.aclose()

    for version in (1, 2):
        publish(r, version)
        asyncio.run(evaluate_with_record())
    ratings_before = text_map(r.hgetall(KEYS.elo))
    games_before = r.hgetall(KEYS.elo_games)
    assert GameCounts.from_fields(games_before).games == 4 + 4 + 4

    r.flushall()  # Redis lost everything; the next evaluation puts the record back first
    publish(r, 3)
    third = asyncio.run(evaluate_with_record())
    recorded = GameCounts.from_fields(r.hgetall(KEYS.elo_games))
    assert recorded.games == 12 + 4 + 4  # the restored games and v3's
    assert third["elo"]["v3"] == pytest.approx(fit_ratings(recorded)["v3"])

    # The same games, recorded in the other order (v3's first), fit to the same ratings; and
    # the restored counts alone give back exactly the ratings Redis had lost.
    earlier = GameCounts.from_fields(games_before)
    v3_games = GameCounts({pair: outcomes for pair, outcomes in recorded.pairs().items() if "v3" in pair})
    assert v3_games.games == 8 and v3_games + earlier == recorded
    assert fit_ratings(v3_games + earlier) == fit_ratings(recorded)
    assert {k: str(round(v, 3)) for k, v in fit_ratings(earlier).items()} == ratings_before


def test_no_evaluation_while_the_record_cannot_be_read(redis_server, daemon, tmp_path, monkeypatch):
    """Redis lost the record and the store holding its copy does not answer: evaluating then
    would write a short record over the only full one, so the evaluation is postponed (a
    ConnectionError, which the evaluator's loop logs and retries) and writes nothing. Once the
    store answers, the next evaluation restores the record first."""
    minio = MinioServer(tmp_path / "minio-data")
    for key, value in minio.server.env.items():
        monkeypatch.setenv(key, value)
    r = redis.Redis.from_url(redis_server.url)
    record = EvaluationRecord(open_store("s3://tolaria/runs/evalrun", endpoint_url=minio.server.endpoint))
    s = settings(games=4, baselines=("random",))

    async def evaluate_with_record() -> dict:
        client = aioredis.Redis.from_url(redis_server.url)
        pool = DaemonClients(parse_endpoints(daemon.endpoint), "tolaria-evaluator")
        try:
            return await Evaluator(s, client, KEYS, pool, record=record).evaluate_published()
        finally:
            await pool.close()
            await client.aclose()

    try:
        for version in (1, 2):
            publish(r, version)
            asyncio.run(evaluate_with_record())
        minio.stop()
        r.flushall()
        publish(r, 3)
        with pytest.raises(RecordUnavailable, match="the evaluation record in s3://tolaria/runs/evalrun"):
            asyncio.run(evaluate_with_record())
        assert not r.exists(KEYS.eval) and not r.exists(KEYS.elo_games)

        minio = MinioServer(tmp_path / "minio-data", port=minio.port)
        report = asyncio.run(evaluate_with_record())
        assert report["policy_version"] == 3
        assert GameCounts.from_fields(r.hgetall(KEYS.elo_games)).games == 4 + 4 + 4
        assert {"v1", "v2", "v3"} <= set(record.store.read_document(DOCUMENT)["eval"])
    finally:
        minio.stop()


def test_cadence_every_n_versions(redis_server, daemon):
    r = redis.Redis.from_url(redis_server.url)
    evaluated: list[int] = []

    async def scenario() -> None:
        client = aioredis.Redis.from_url(redis_server.url)
        pool = DaemonClients(parse_endpoints(daemon.endpoint), "tolaria-evaluator")
        evaluator = Evaluator(settings(games=2, baselines=("random",), every_updates=2), client, KEYS, pool)
        original = evaluator.evaluate

        async def recording(data: bytes):
            report = await original(data)
            evaluated.append(report["policy_version"])
            return report

        evaluator.evaluate = recording  # type: ignore[method-assign]
        stop = asyncio.Event()
        task = asyncio.create_task(evaluator.run(stop, poll_seconds=0.1))
        for version in (1, 2, 3, 4, 5):
            publish(r, version)
            deadline = time.monotonic() + 30
            while (
                time.monotonic() < deadline
                and (evaluator.last_version or 0) < version
                and version in (1, 3, 5)
            ):
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
        stop.set()
        await task
        await pool.close()
        await client.aclose()

    asyncio.run(scenario())
    assert evaluated == [1, 3, 5]


SPEC = """\
apiVersion: tolaria.dev/v1alpha1
kind: TrainingRun
metadata: {{name: evalrun}}
spec:
  decks: [red_aggro, white_weenie]
  matchups:
    - {{agentDeck: red_aggro, opponentDeck: white_weenie}}
    - {{agentDeck: white_weenie, opponentDeck: red_aggro}}
  checkpoints: {{uri: "file://{checkpoints}"}}
  evaluation: {{games: 4, everyUpdates: 1, baselines: [random, heuristic]}}
"""


def evaluator_command(spec: Path, redis_url: str, daemons: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tolaria.cli", "evaluator", "--spec", str(spec), "--redis", redis_url,
            "--daemons", daemons, "--metrics-port", "0", *extra]  # fmt: skip


def test_cli_once_prints_the_report(redis_server, daemon, tmp_path):
    spec = tmp_path / "run.yaml"
    spec.write_text(SPEC.format(checkpoints=tmp_path / "ckpt"))
    redis.Redis.from_url(redis_server.url).config_set("requirepass", "s3cret")
    r = redis.Redis.from_url(redis_server.url, password="s3cret")
    publish(r, 7)
    done = subprocess.run(
        evaluator_command(spec, redis_server.url, daemon.endpoint, "--once"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TOLARIA_REDIS_PASSWORD": "s3cret"},  # as the operator passes the Secret
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["policy_version"] == 7 and report["baselines"]["heuristic"]["games"] == 4
    assert r.hget(KEYS.eval, "policy_version") == b"7"
    assert League.open(f"file://{tmp_path / 'ckpt'}", size=5).versions() == [7]


def test_cli_runs_until_sigterm(redis_server, daemon, tmp_path):
    spec = tmp_path / "run.yaml"
    spec.write_text(SPEC.format(checkpoints=tmp_path / "ckpt"))
    r = redis.Redis.from_url(redis_server.url)
    publish(r, 3)
    proc = subprocess.Popen(
        evaluator_command(spec, redis_server.url, daemon.endpoint, "--poll-seconds", "0.2"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and r.hget(KEYS.eval, "policy_version") != b"3":
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.2)
        assert r.hget(KEYS.eval, "policy_version") == b"3"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _log_shows(text: str, log: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert proc.poll() is None, f"the evaluator exited ({proc.returncode}):\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} in the evaluator's log:\n{log.read_text()}"
        time.sleep(0.2)


def test_cli_waits_for_redis_a_daemon_and_the_store_that_start_after_it(redis_server, tmp_path):
    """On a cluster the evaluator's pod may start before the run's Redis, before any daemon pod
    and before its checkpoint store answers: it waits for each, saying what for, and evaluates
    once all are up."""
    spec = tmp_path / "run.yaml"
    spec.write_text(SPEC.format(checkpoints=tmp_path / "ckpt"))
    minio = MinioServer(tmp_path / "minio-data")  # its bucket made; then it is down until needed
    minio.stop()
    redis_server.stop()
    daemon_port = free_port()
    report, log = tmp_path / "report.json", tmp_path / "evaluator.log"
    command = evaluator_command(
        spec, redis_server.url, f"127.0.0.1:{daemon_port}", "--once", "--games", "2",
        "--checkpoint-uri", "s3://tolaria/runs/evalrun",
    )  # fmt: skip
    with report.open("w") as out, log.open("w") as err:
        proc = subprocess.Popen(
            command, cwd=REPO, stdout=out, stderr=err, env={**os.environ, **minio.server.env}
        )
    try:
        _log_shows(f"waiting for Redis at {redis_server.url}: ConnectionError", log, proc)
        redis_server.start()
        publish(redis.Redis.from_url(redis_server.url), 5)
        _log_shows(f"waiting for a daemon at 127.0.0.1:{daemon_port}: DaemonUnavailable", log, proc)
        daemon = Daemon(tmp_path / "daemon.log", daemon_port)
        try:
            _log_shows(
                "waiting for the checkpoint store s3://tolaria/runs/evalrun: EndpointConnectionError",
                log,
                proc,
            )
            minio = MinioServer(tmp_path / "minio-data", port=minio.port)
            try:
                assert proc.wait(timeout=120) == 0, log.read_text()
            finally:
                minio.stop()
        finally:
            daemon.stop()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert json.loads(report.read_text())["policy_version"] == 5


@pytest.mark.parametrize(
    ("redis_url", "daemons", "what", "cause"),
    [
        (
            "redis://127.0.0.1:{port}/0",
            "127.0.0.1:17171",
            "Redis at redis://127.0.0.1:{port}/0",
            "ConnectionError: ",
        ),
        (
            "{redis}",
            "tolaria-no-such-host.invalid:17171",  # .invalid never resolves (RFC 2606)
            "a daemon at tolaria-no-such-host.invalid:17171",
            "DaemonUnavailable: tolaria-no-such-host.invalid:17171 does not resolve (",
        ),
    ],
    ids=["redis", "daemon"],
)
def test_cli_gives_up_on_a_dependency_that_never_answers(
    redis_server, tmp_path, redis_url, daemons, what, cause
):
    spec = tmp_path / "run.yaml"
    spec.write_text(SPEC.format(checkpoints=tmp_path / "ckpt"))
    port = free_port()
    redis_url, what = redis_url.format(port=port, redis=redis_server.url), what.format(port=port)
    done = subprocess.run(
        evaluator_command(spec, redis_url, daemons, "--dependency-timeout", "2"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.count(f"waiting for {what}: {cause}") >= 2, done.stderr
    assert f"gave up waiting for {what} after 2s: {cause}" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no spec"),
        (["--spec", "/nonexistent/run.yaml"], "cannot read /nonexistent/run.yaml"),
        (["--spec", "{spec}", "--daemons", "host:notaport"], "daemon endpoint 'host:notaport'"),
    ],
)
def test_cli_refuses_bad_configuration(tmp_path, args, message):
    spec = tmp_path / "run.yaml"
    spec.write_text(SPEC.format(checkpoints=tmp_path / "ckpt"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLARIA_")}
    done = subprocess.run(
        [sys.executable, "-m", "tolaria.cli", "evaluator", *(a.format(spec=spec) for a in args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 2
    assert message in done.stderr


def test_switching_the_gate_off_releases_the_promoted_version(redis_server):
    r = redis.Redis.from_url(redis_server.url)
    r.set(KEYS.policy_promoted, policy_bytes(2))
    r.set(KEYS.policy_promoted_version, 2)

    async def start_and_stop(s: EvaluationSettings) -> None:
        client = aioredis.Redis.from_url(redis_server.url)
        stop = asyncio.Event()
        stop.set()
        try:
            await Evaluator(s, client, KEYS, DaemonClients([], "tolaria-evaluator")).run(stop)
        finally:
            await client.aclose()

    asyncio.run(start_and_stop(settings(promotion_margin=0.1)))
    assert r.get(KEYS.policy_promoted_version) == b"2"  # gate on: kept
    asyncio.run(start_and_stop(settings()))
    assert not r.exists(KEYS.policy_promoted) and not r.exists(KEYS.policy_promoted_version)


def test_no_policy_published_yet(redis_server, daemon):
    assert asyncio.run(evaluate(redis_server.url, daemon, settings())) is None


def test_unreachable_daemons_postpone_the_evaluation(redis_server):
    r = redis.Redis.from_url(redis_server.url)
    publish(r, 1)

    async def scenario() -> None:
        client = aioredis.Redis.from_url(redis_server.url)
        pool = DaemonClients(parse_endpoints(f"127.0.0.1:{free_port()}"), "tolaria-evaluator")
        try:
            with pytest.raises(ConnectionError, match="all 4 evaluation games of policy v1 failed"):
                await Evaluator(
                    settings(games=4, baselines=("random",)), client, KEYS, pool
                ).evaluate_published()
        finally:
            await pool.close()
            await client.aclose()

    asyncio.run(scenario())
    assert not r.exists(KEYS.eval) and not r.exists(KEYS.elo)


def test_refused_weights_are_skipped_not_retried(redis_server, daemon, caplog):
    r = redis.Redis.from_url(redis_server.url)
    r.set(KEYS.policy, b"\x80\x04\x95" + b"pickle payload")
    r.set(KEYS.policy_version, 1)

    async def scenario() -> Evaluator:
        client = aioredis.Redis.from_url(redis_server.url)
        pool = DaemonClients(parse_endpoints(daemon.endpoint), "tolaria-evaluator")
        evaluator = Evaluator(settings(games=2, baselines=("random",)), client, KEYS, pool)
        stop = asyncio.Event()
        task = asyncio.create_task(evaluator.run(stop, poll_seconds=0.1))
        deadline = time.monotonic() + 10
        while evaluator.last_version != 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        publish(r, 2)  # the next version is evaluated as usual
        while evaluator.last_version != 2 and time.monotonic() < deadline + 60:
            await asyncio.sleep(0.05)
        stop.set()
        await task
        await pool.close()
        await client.aclose()
        return evaluator

    evaluator = asyncio.run(scenario())
    assert evaluator.last_version == 2
    assert "policy version 1 refused" in caplog.text
    assert "pickle" in caplog.text
    assert r.hget(KEYS.eval, "policy_version") == b"2"


def test_sigterm_during_an_evaluation_abandons_it_cleanly(redis_server, daemon, tmp_path):
    spec = tmp_path / "run.yaml"
    spec.write_text(SPEC.format(checkpoints=tmp_path / "ckpt"))
    r = redis.Redis.from_url(redis_server.url)
    publish(r, 4)
    command = evaluator_command(
        spec, redis_server.url, daemon.endpoint, "--games", "2000", "--poll-seconds", "0.2"
    )
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        with DaemonClient("127.0.0.1", daemon.port, read_timeout=30) as status_client:
            while time.monotonic() < deadline and status_client.status().active_games == 0:
                assert proc.poll() is None, proc.communicate()[1]
                time.sleep(0.1)
            assert status_client.status().active_games > 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert "evaluation in progress abandoned" in proc.communicate()[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not r.exists(KEYS.eval)  # nothing half-written
    with DaemonClient("127.0.0.1", daemon.port, read_timeout=30) as status_client:
        deadline = time.monotonic() + 30
        while status_client.status().active_games and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status_client.status().active_games == 0  # the daemon dropped the abandoned games
