"""The actor as a process against real daemons and a real redis-server."""

from __future__ import annotations

import re
import time
import urllib.request
from collections import defaultdict

import numpy as np
import pytest
import redis
import yaml
from conftest import Daemon, free_port

from tests.actor.conftest import KEYS, policy_bytes, publish_policy, read_segments, wait_until, write_spec
from tolaria.keys import LEARNER_GROUP, StatsField
from tolaria.matchmaking.league import League
from tolaria.rollouts import Segment

pytestmark = pytest.mark.integration


def games_of(segments: list[Segment]) -> dict[tuple, list[Segment]]:
    games: dict[tuple, list[Segment]] = defaultdict(list)
    for segment in segments:
        games[(segment.meta["actor"], segment.meta["seed"], segment.meta["seat"])].append(segment)
    return games


def check_complete_games(segments: list[Segment], from_start: bool = True) -> dict[tuple, list[Segment]]:
    """Every shipped trajectory is a whole game: contiguous segments, the last one done with the
    outcome as its only reward, cut segments bootstrapped. `from_start=False` accepts games whose
    first segments went elsewhere (to a Redis that was then lost): a contiguous run to the end."""
    games = games_of(segments)
    for key, parts in games.items():
        parts.sort(key=lambda s: s.meta["segment"])
        first = parts[0].meta["segment"] if not from_start else 0
        assert [s.meta["segment"] for s in parts] == list(range(first, first + len(parts))), key
        if first == 0:
            assert sum(s.steps for s in parts) == parts[-1].meta["game_steps"], key
        assert [s.meta["first_step"] for s in parts] == [64 * i for i in range(first, first + len(parts))], (
            key
        )
        for part in parts[:-1]:
            assert not part.done.any() and not part.reward.any()
            assert part.steps == 64
        last = parts[-1]
        assert last.done[-1] and not last.done[:-1].any()
        winner, seat = last.meta["winner_seat"], last.meta["seat"]
        expected = 0.0 if winner is None else (1.0 if winner == seat else -1.0)
        assert last.reward[-1] == expected and not last.reward[:-1].any()
        assert last.bootstrap_value == 0.0
        for part in parts:
            assert (part.log_prob <= 0).all()
    return games


def test_self_play_ships_both_seats_with_rewards_and_version(redis_server, daemon, start_actor, tmp_path):
    client = redis.Redis.from_url(redis_server.url)
    publish_policy(client, 3)
    spec = write_spec(tmp_path / "run.yaml", redis_server.url, self_play=1.0, builtin_ai=0.0)
    actor = start_actor(spec, redis_server.url, daemon.endpoint, "--max-games", "6")
    assert actor.proc.wait(timeout=180) == 0, actor.log()
    segments = read_segments(client)
    games = check_complete_games(segments)
    assert {s.meta["opponent_kind"] for s in segments} == {"self_play"}
    assert all((s.policy_version == 3).all() for s in segments)
    by_game: dict[tuple, set[int]] = defaultdict(set)
    for actor_id, seed, seat in games:
        by_game[(actor_id, seed)].add(seat)
    assert len(by_game) >= 6 and all(seats == {1, 2} for seats in by_game.values())
    for (actor_id, seed), _ in by_game.items():  # one winner, one loser (or a draw for both)
        rewards = sorted(games[(actor_id, seed, seat)][-1].reward[-1] for seat in (1, 2))
        assert rewards in ([-1.0, 1.0], [0.0, 0.0])
    stats = {k.decode(): int(v) for k, v in client.hgetall(KEYS.stats).items()}
    assert stats[StatsField.GAMES] == len(by_game)
    assert sum(stats.get(f, 0) for f in (StatsField.WINS, StatsField.LOSSES, StatsField.DRAWS)) == len(
        by_game
    )
    assert stats[StatsField.DECISIONS] == sum(s.steps for s in segments)
    assert stats[f"{StatsField.GAMES}:self_play"] == len(by_game)


@pytest.mark.parametrize(
    ("kind", "mix"),
    [("builtin_ai", {"builtin_ai": 1.0}), ("random_player", {"builtin_ai": 0.0, "random_player": 1.0})],
)
def test_vs_the_daemons_players_ships_the_agent_seat_only_alternating_seats(
    redis_server, daemon, start_actor, tmp_path, kind, mix
):
    client = redis.Redis.from_url(redis_server.url)
    publish_policy(client, 1)
    spec = write_spec(tmp_path / "run.yaml", redis_server.url, self_play=0.0, **mix)
    actor = start_actor(spec, redis_server.url, daemon.endpoint, "--max-games", "6")
    assert actor.proc.wait(timeout=180) == 0, actor.log()
    segments = read_segments(client)
    games = check_complete_games(segments)
    assert {s.meta["opponent_kind"] for s in segments} == {kind}
    assert all(s.meta["seat"] == s.meta["agent_seat"] for s in segments)
    assert {seat for _, _, seat in games} == {1, 2}
    for parts in games.values():  # the agent plays the matchup's agent deck in its seat
        assert parts[0].meta["agent_deck"] == "red_aggro"
    stats = {k.decode(): int(v) for k, v in client.hgetall(KEYS.stats).items()}
    assert stats[f"{StatsField.GAMES}:{kind}"] == len(games)
    assert sum(stats.get(f, 0) for f in (StatsField.WINS, StatsField.LOSSES, StatsField.DRAWS)) == len(games)


def test_pairing_priority_measures_each_pairing_on_the_agents_games_against_the_ai(
    redis_server, daemon, start_actor, tmp_path
):
    client = redis.Redis.from_url(redis_server.url)
    publish_policy(client, 1)
    spec = write_spec(tmp_path / "run.yaml", redis_server.url, self_play=0.5, builtin_ai=0.5)
    document = yaml.safe_load(spec.read_text())
    document["spec"]["matchups"].append({"agentDeck": "white_weenie", "opponentDeck": "red_aggro"})
    document["spec"]["actors"]["pairingPriority"] = {"exponent": 2, "window": 50}
    spec.write_text(yaml.safe_dump(document))
    actor = start_actor(spec, redis_server.url, daemon.endpoint, "--max-games", "12")
    assert actor.proc.wait(timeout=240) == 0, actor.log()
    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (_, _, seat), parts in check_complete_games(read_segments(client)).items():
        meta = parts[-1].meta
        if meta["opponent_kind"] == "builtin_ai":
            winner = meta["winner_seat"]
            scores[meta["agent_deck"], meta["opponent_deck"]].append(
                0.5 if winner is None else float(winner == seat)
            )
    assert scores, "no game against the built-in AI among 12"
    line = next(line for line in actor.log().splitlines() if "pairing priority:" in line)
    for (agent, opponent), results in scores.items():  # self-play games leave the estimate alone
        win_rate = (sum(results) + 1) / (len(results) + 2)
        assert f"{agent} v {opponent} {win_rate:.2f} ({len(results)} games)" in line, line


def test_league_opponent_is_a_past_snapshot_and_only_the_agent_seat_ships(
    redis_server, daemon, start_actor, tmp_path
):
    client = redis.Redis.from_url(redis_server.url)
    uri = f"file://{tmp_path / 'checkpoints'}"
    League.open(uri, size=5).add(policy_bytes(1))
    publish_policy(client, 4)
    spec = write_spec(tmp_path / "run.yaml", redis_server.url, self_play=0.0, builtin_ai=0.0, league=1.0)
    actor = start_actor(spec, redis_server.url, daemon.endpoint, "--checkpoint-uri", uri, "--max-games", "8")
    assert actor.proc.wait(timeout=180) == 0, actor.log()
    segments = read_segments(client)
    check_complete_games(segments)
    # games that start before the league has been listed once play self-play
    league_segments = [s for s in segments if s.meta["opponent_kind"] == "league"]
    assert league_segments, actor.log()
    assert all(s.meta["opponent_version"] == 1 for s in league_segments)
    assert all(s.meta["seat"] == s.meta["agent_seat"] for s in league_segments)
    assert all((s.policy_version == 4).all() for s in segments)
    stats = {k.decode(): int(v) for k, v in client.hgetall(KEYS.stats).items()}
    assert stats[f"{StatsField.GAMES}:league"] == len(games_of(league_segments))


def test_new_policy_version_is_picked_up(redis_server, daemon, start_actor, tmp_path):
    client = redis.Redis.from_url(redis_server.url)
    publish_policy(client, 1)
    spec = write_spec(tmp_path / "run.yaml", redis_server.url, self_play=1.0, builtin_ai=0.0)
    actor = start_actor(spec, redis_server.url, daemon.endpoint)
    wait_until(lambda: client.xlen(KEYS.rollouts) >= 4, 120, "segments of version 1", actor)
    publish_policy(client, 2)
    wait_until(
        lambda: any(s.policy_version.max() == 2 for s in read_segments(client)),
        120,
        "segments of version 2",
        actor,
    )
    metrics = (
        urllib.request.urlopen(f"http://127.0.0.1:{actor.metrics_port}/metrics", timeout=10).read().decode()
    )
    assert "tolaria_actor_policy_version 2.0" in metrics
    assert actor.terminate() == 0
    versions = [int(v) for s in read_segments(client) for v in s.policy_version]
    assert set(versions) <= {1, 2}
    # a version never goes back within a trajectory
    for parts in games_of(read_segments(client)).values():
        steps = np.concatenate([p.policy_version for p in sorted(parts, key=lambda s: s.meta["segment"])])
        assert (np.diff(steps) >= 0).all()


def _metric(actor, name: str) -> float | None:
    url = f"http://127.0.0.1:{actor.metrics_port}/metrics"
    try:
        text = urllib.request.urlopen(url, timeout=10).read().decode()
    except OSError:  # not serving yet
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_an_announced_version_is_played_from_the_next_batch_not_the_next_poll(
    redis_server, daemon, start_actor, tmp_path
):
    """The poll comes every 10 minutes here: only the learner's announcement can explain a switch
    within seconds; the segments shipped meanwhile (mid-game ones too) carry the new version."""
    client = redis.Redis.from_url(redis_server.url)
    publish_policy(client, 1)
    spec = write_spec(
        tmp_path / "run.yaml", redis_server.url, self_play=1.0, builtin_ai=0.0, policy_sync_interval=600
    )
    actor = start_actor(spec, redis_server.url, daemon.endpoint)
    wait_until(lambda: client.xlen(KEYS.rollouts) >= 2, 120, "segments of version 1", actor)
    publish_policy(client, 2)
    announced = time.monotonic()
    client.publish(KEYS.policy_announce, 2)
    wait_until(lambda: _metric(actor, "tolaria_actor_policy_version") == 2.0, 10, "the switch", actor)
    assert time.monotonic() - announced < 10
    wait_until(
        lambda: any(s.policy_version.max() == 2 for s in read_segments(client)), 60, "version 2 data", actor
    )
    assert actor.terminate() == 0


def test_back_pressure_holds_rollouts_and_new_games_while_the_queue_is_full(
    redis_server, daemon, start_actor, tmp_path
):
    """No learner consumes: once 8 entries wait the actor writes no more and starts no game;
    when the queue is drained (as the learner acknowledges and trims) it carries on."""
    client = redis.Redis.from_url(redis_server.url)
    publish_policy(client, 1)
    spec = write_spec(
        tmp_path / "run.yaml", redis_server.url, self_play=1.0, builtin_ai=0.0, max_queue_depth=8
    )
    actor = start_actor(spec, redis_server.url, daemon.endpoint)
    wait_until(lambda: _metric(actor, "tolaria_actor_queue_full") == 1.0, 120, "the gate to shut", actor)
    held = client.xlen(KEYS.rollouts)
    assert held >= 8
    time.sleep(3)  # games in flight go on; their segments wait in the actor
    assert client.xlen(KEYS.rollouts) == held
    games = int(client.hget(KEYS.stats, "games") or 0)
    time.sleep(3)
    assert _metric(actor, "tolaria_actor_queue_full") == 1.0
    assert int(client.hget(KEYS.stats, "games") or 0) <= games + 4  # at most the games in flight end

    client.xgroup_create(KEYS.rollouts, LEARNER_GROUP, id="0")
    for entry_id, _ in client.xreadgroup(LEARNER_GROUP, "test", {KEYS.rollouts: ">"})[0][1]:
        client.xack(KEYS.rollouts, LEARNER_GROUP, entry_id)
    client.xtrim(KEYS.rollouts, maxlen=0)
    wait_until(lambda: client.xlen(KEYS.rollouts) > 0, 60, "rollouts again once drained", actor)
    wait_until(lambda: _metric(actor, "tolaria_actor_queue_full") == 0.0, 10, "the gate to open", actor)
    assert actor.terminate() == 0


def test_daemon_killed_mid_run_costs_only_its_games(
    redis_server, daemon, second_daemon, start_actor, tmp_path
):
    client = redis.Redis.from_url(redis_server.url)
    publish_policy(client, 1)
    spec = write_spec(
        tmp_path / "run.yaml", redis_server.url, self_play=1.0, builtin_ai=0.0, games_in_flight=8
    )
    actor = start_actor(spec, redis_server.url, f"{daemon.endpoint},{second_daemon.endpoint}")
    wait_until(lambda: client.xlen(KEYS.rollouts) >= 8, 120, "first segments", actor)
    daemon.kill()
    wait_until(lambda: int(client.hget(KEYS.stats, StatsField.ERRORS) or 0) >= 1, 60, "a failed game", actor)
    after_kill = client.xlen(KEYS.rollouts)
    wait_until(lambda: client.xlen(KEYS.rollouts) >= after_kill + 20, 120, "games on the other daemon", actor)
    assert actor.terminate() == 0
    check_complete_games(read_segments(client))  # no partial trajectory was shipped


def test_redis_restart_buffers_and_delivers_afterwards(redis_server, daemon, start_actor, tmp_path):
    client = redis.Redis.from_url(redis_server.url)
    publish_policy(client, 1)
    spec = write_spec(tmp_path / "run.yaml", redis_server.url, self_play=1.0, builtin_ai=0.0)
    actor = start_actor(spec, redis_server.url, daemon.endpoint)
    wait_until(lambda: client.xlen(KEYS.rollouts) >= 4, 120, "first segments", actor)
    redis_server.stop()
    time.sleep(6)  # games go on meanwhile; their segments wait in the actor's buffer
    assert actor.proc.poll() is None, actor.log()
    redis_server.start()  # same port, empty: no weights, no stream
    client = redis.Redis.from_url(redis_server.url)
    wait_until(lambda: client.xlen(KEYS.rollouts) >= 4, 60, "buffered segments after the restart", actor)
    metrics = (
        urllib.request.urlopen(f"http://127.0.0.1:{actor.metrics_port}/metrics", timeout=10).read().decode()
    )
    errors = [line for line in metrics.splitlines() if line.startswith("tolaria_actor_redis_errors_total")]
    assert errors and float(errors[0].split()[-1]) >= 1
    assert actor.terminate() == 0
    assert "redis unreachable" in actor.log()
    # Read after the stop, when every game has ended: a game under way has shipped only its first
    # segments. Games under way when Redis went shipped their first segments to the lost Redis.
    check_complete_games(read_segments(client), from_start=False)


def test_sigterm_exits_cleanly_and_flushes(redis_server, daemon, start_actor, tmp_path):
    client = redis.Redis.from_url(redis_server.url)
    publish_policy(client, 1)
    spec = write_spec(tmp_path / "run.yaml", redis_server.url, self_play=0.5, builtin_ai=0.5)
    actor = start_actor(spec, redis_server.url, daemon.endpoint)
    wait_until(lambda: client.xlen(KEYS.rollouts) >= 2, 120, "first segments", actor)
    started = time.monotonic()
    assert actor.terminate(timeout=30) == 0, actor.log()
    assert time.monotonic() - started < 25
    stats = {k.decode(): int(v) for k, v in client.hgetall(KEYS.stats).items()}
    games = games_of(read_segments(client))
    # everything the actor counted as a finished game reached Redis before it exited
    finished = stats[StatsField.GAMES]
    shipped_games = {(a, seed) for a, seed, _ in games}
    assert len(shipped_games) == finished
    assert "stopped:" in actor.log()


def test_against_a_forge_daemon_one_connection_per_game_and_no_extension_flags(
    redis_server, start_actor, tmp_path
):
    from tests.protocol.forge_like import ForgeLikeServer

    client = redis.Redis.from_url(redis_server.url)
    publish_policy(client, 1)
    # the built-in AI needs the `seats` extension: against Forge those games are played as self-play
    spec = write_spec(tmp_path / "run.yaml", redis_server.url, self_play=0.0, builtin_ai=1.0)
    with ForgeLikeServer() as forge:
        actor = start_actor(spec, redis_server.url, f"127.0.0.1:{forge.port}", "--max-games", "5")
        assert actor.proc.wait(timeout=120) == 0, actor.log()
        commands = list(forge.commands)
        connections = forge.connections
    newgames = [c for c in commands if c.startswith("NEWGAME")]
    assert len(newgames) >= 5 and connections >= len(newgames)
    assert all(" -i" in c and "-p1" not in c and "-p2" not in c and "-x" not in c for c in newgames)
    segments = read_segments(client)
    check_complete_games(segments)
    assert {s.meta["opponent_kind"] for s in segments} == {"self_play"}
    assert all(s.steps == 1 and s.meta["seat"] == 1 and s.reward[-1] == 1.0 for s in segments)


UNRESOLVABLE = "tolaria-no-such-host.invalid"  # .invalid never resolves (RFC 2606)


def test_waits_for_a_redis_and_a_daemon_that_start_after_it(redis_server, start_actor, tmp_path):
    """On a cluster an actor pod may start before the run's Redis and before any daemon pod: it
    waits for each, saying what for, and plays once both are up; no game fails meanwhile."""
    redis_server.stop()
    daemon_port = free_port()
    spec = write_spec(tmp_path / "run.yaml", redis_server.url, self_play=1.0, builtin_ai=0.0)
    actor = start_actor(spec, redis_server.url, f"127.0.0.1:{daemon_port}", "--max-games", "2")
    waiting_for_redis = f"waiting for Redis at {redis_server.url}: ConnectionError"
    wait_until(lambda: waiting_for_redis in actor.log(), 60, "the wait for Redis", actor)
    redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    publish_policy(client, 1)
    waiting_for_daemon = f"waiting for a daemon at 127.0.0.1:{daemon_port}: DaemonUnavailable"
    wait_until(lambda: waiting_for_daemon in actor.log(), 60, "the wait for a daemon", actor)
    daemon = Daemon(tmp_path / "daemon.log", daemon_port)
    try:
        assert actor.proc.wait(timeout=120) == 0, actor.log()
    finally:
        daemon.stop()
    assert client.xlen(KEYS.rollouts) >= 2
    assert int(client.hget(KEYS.stats, StatsField.GAMES)) >= 2
    assert client.hget(KEYS.stats, StatsField.ERRORS) is None


def test_a_pool_that_may_scale_to_zero_is_waited_for_past_the_dependency_timeout(
    redis_server, start_actor, tmp_path
):
    """`minReplicas: 0`: the pool is empty by design while rollouts pile up, for as long as the
    learner takes to drain them. An actor starting then waits for a daemon past
    `--dependency-timeout` instead of exiting, and plays once one is up."""
    spec = write_spec(tmp_path / "run.yaml", redis_server.url, self_play=1.0, builtin_ai=0.0)
    document = yaml.safe_load(spec.read_text())
    document["spec"]["daemons"] = {"autoscaling": {"minReplicas": 0}}
    spec.write_text(yaml.safe_dump(document))
    client = redis.Redis.from_url(redis_server.url)
    publish_policy(client, 1)
    daemon_port = free_port()
    actor = start_actor(
        spec, redis_server.url, f"127.0.0.1:{daemon_port}", "--max-games", "2", "--dependency-timeout", "1"
    )
    waiting_for_daemon = f"waiting for a daemon at 127.0.0.1:{daemon_port}: DaemonUnavailable"
    wait_until(lambda: actor.log().count(waiting_for_daemon) >= 4, 60, "waits past the timeout", actor)
    daemon = Daemon(tmp_path / "daemon.log", daemon_port)
    try:
        assert actor.proc.wait(timeout=120) == 0, actor.log()
    finally:
        daemon.stop()
    assert "giving up" not in actor.log() and "gave up" not in actor.log()
    assert int(client.hget(KEYS.stats, StatsField.GAMES)) >= 2


def test_gives_up_on_a_redis_name_that_never_resolves(start_actor, tmp_path):
    """The Redis Service of a run that is not there (yet): retried with backoff, then a clear
    error naming Redis without its credentials, and the cause."""
    url = f"redis://{UNRESOLVABLE}:6379/0"
    spec = write_spec(tmp_path / "run.yaml", url, self_play=1.0, builtin_ai=0.0)
    actor = start_actor(
        spec,
        f"redis://tolaria:s3cret@{UNRESOLVABLE}:6379/0",
        f"127.0.0.1:{free_port()}",
        "--dependency-timeout",
        "2",
    )
    assert actor.proc.wait(timeout=120) == 1, actor.log()
    log = actor.log()
    waits = re.findall(rf"waiting for Redis at {re.escape(url)}: ConnectionError: .*{UNRESOLVABLE}:6379", log)
    assert len(waits) >= 2, log
    assert f"gave up waiting for Redis at {url} after 2s: ConnectionError: " in log
    assert "s3cret" not in log


def test_gives_up_on_a_daemon_name_that_never_resolves(redis_server, start_actor, tmp_path):
    spec = write_spec(tmp_path / "run.yaml", redis_server.url, self_play=1.0, builtin_ai=0.0)
    endpoint = f"{UNRESOLVABLE}:17171"
    actor = start_actor(spec, redis_server.url, endpoint, "--dependency-timeout", "2")
    assert actor.proc.wait(timeout=120) == 1, actor.log()
    log = actor.log()
    cause = f"DaemonUnavailable: {endpoint} does not resolve ("
    assert log.count(f"waiting for a daemon at {endpoint}: {cause}") >= 2, log
    assert f"gave up waiting for a daemon at {endpoint} after 2s: {cause}" in log
