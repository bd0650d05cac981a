"""`tolaria run` end to end: real redis-server, daemons, actor, learner and evaluator processes.

Each test runs the command as a user would, then checks the run directory and that no process
of the run is left (`local_run.processes_of`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
import yaml

from local.local_run import finish, processes_of, shortened_quickstart, tolaria_run
from tolaria.spec import SpecError, load_trainingrun
from tolaria.trainer.checkpoint import open_store


def wait_for_metrics(run_dir: Path, condition, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        path = run_dir / "metrics.jsonl"
        if path.exists():
            for line in reversed(path.read_text().splitlines()):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if condition(record):
                    return record
        time.sleep(0.5)
    pytest.fail(f"no snapshot in {run_dir / 'metrics.jsonl'} met the condition in {timeout}s")


@pytest.mark.timeout(240)
def test_shortened_quickstart_runs_from_start_to_summary(tmp_path, run_dir):
    process = tolaria_run(
        str(shortened_quickstart(tmp_path, warm_start_games=8, maxGames=120)),
        "--run-dir",
        str(run_dir),
        cwd=tmp_path,
    )
    code, out = finish(process, 200)
    assert code == 0, out
    assert processes_of(run_dir) == []
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["outcome"] == "succeeded" and summary["reason"].startswith("maxGames reached"), out
    assert summary["games"] >= 120 and summary["decisions"] > summary["games"]
    assert summary["policy_version"] >= 2 and summary["learner_step"] >= 1
    # the final policy was evaluated before the daemons stopped
    evaluation = summary["evaluation"]
    assert evaluation["policy_version"] == summary["policy_version"]
    for baseline in ("random", "heuristic"):
        result = evaluation["baselines"][baseline]
        # (the evaluator's Wilson bounds carry float rounding: 2.8e-17 for a win rate of 0)
        assert -1e-9 <= result["ci_low"] <= result["win_rate"] + 1e-9
        assert result["win_rate"] <= result["ci_high"] + 1e-9 <= 1 + 2e-9 and result["games"] >= 6
    assert summary["evaluations"][-1]["policy_version"] == summary["policy_version"]
    assert summary["evaluations"][-1]["baselines"] == evaluation["baselines"]
    text = (run_dir / "summary.txt").read_text()
    assert "run quickstart: succeeded" in text and "vs random" in text and text in out
    assert (run_dir / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    # the final evaluation by pairing: both pairings of the quickstart
    assert set(evaluation["baselines"]["heuristic"]["by_pairing"]) == {
        "red_aggro vs white_weenie",
        "white_weenie vs red_aggro",
    }
    assert "vs heuristic, by pairing:" in text
    assert (run_dir / "pairings.png").read_bytes()[:4] == b"\x89PNG"
    effective = load_trainingrun(run_dir / "spec.yaml")
    assert effective.spec.checkpoints.uri == f"file://{(run_dir / 'checkpoints').resolve()}"
    checkpoint = open_store(effective.spec.checkpoints.uri).latest()
    assert checkpoint is not None and checkpoint.policy_version == summary["policy_version"]
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(records) >= 3 and records[-1]["counters"]["games"] == summary["games"]
    # the learner warmed up on the daemon's AI (observe mode) before the first PPO update
    assert records[-1]["warm_start_games"] == 8
    learner_log = (run_dir / "logs" / "learner.log").read_text()
    assert "warm start: " in learner_log and " decisions from 8 games (0 failed)" in learner_log
    logs = {p.name for p in (run_dir / "logs").iterdir()}
    assert {"redis.log", "daemon-0.log", "learner.log", "actor-0.log", "evaluator.log"} <= logs
    assert (run_dir / "redis" / "dump.rdb").is_file()
    assert "games " in out and "policy v" in out  # plain progress lines when not on a terminal


@pytest.mark.timeout(300)
def test_sigterm_then_resume_continues_with_the_same_version_and_counters(tmp_path, run_dir):
    spec = shortened_quickstart(tmp_path, maxGames=100_000, maxWallClock="20m")
    process = tolaria_run(str(spec), "--run-dir", str(run_dir), cwd=tmp_path)
    wait_for_metrics(run_dir, lambda r: r["policy_version"] >= 3 and r["counters"]["games"] > 0, 150)
    process.send_signal(signal.SIGTERM)
    code, out = finish(process, 120)
    assert code == 130, out
    assert "stopping: checkpointing the learner" in out and f"tolaria run --resume {run_dir}" in out
    assert processes_of(run_dir) == []
    first = json.loads((run_dir / "summary.json").read_text())
    assert first["outcome"] == "interrupted" and first["reason"] == "stopped by SIGTERM"
    store = open_store(load_trainingrun(run_dir / "spec.yaml").spec.checkpoints.uri)
    stopped_at = store.latest()
    assert stopped_at.policy_version == first["policy_version"] and stopped_at.step == first["learner_step"]
    sessions_before = len((run_dir / "metrics.jsonl").read_text().splitlines())

    resumed = tolaria_run("--resume", str(run_dir), cwd=tmp_path)
    # the resumed learner goes on from the checkpoint: one more version than where it stopped
    later = wait_for_metrics(run_dir, lambda r: r["policy_version"] > first["policy_version"], 150)
    resumed.send_signal(signal.SIGINT)
    code, out = finish(resumed, 120)
    assert code == 130, out
    assert processes_of(run_dir) == []
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    continued = records[sessions_before]  # the resumed session's first look at the run
    assert continued["policy_version"] == first["policy_version"]
    assert continued["counters"] == {
        **continued["counters"],
        "games": first["games"],
        "decisions": first["decisions"],
    }
    assert continued["elapsed"] >= first["elapsed_seconds"]
    assert later["counters"]["games"] >= first["games"]
    learner_log = (run_dir / "logs" / "learner.log").read_text()
    assert f"step {first['learner_step']}, version {first['policy_version']}" in learner_log
    second = json.loads((run_dir / "summary.json").read_text())
    assert second["games"] >= first["games"] and second["policy_version"] > first["policy_version"]


@pytest.mark.timeout(240)
def test_a_run_whose_directory_is_removed_stops_at_once_and_says_so(tmp_path, run_dir):
    """Nothing is left running, nothing brings the directory back (a last checkpoint or Redis
    dump), and the user reads why the run stopped."""
    spec = shortened_quickstart(tmp_path, maxGames=100_000, maxWallClock="20m")
    process = tolaria_run(str(spec), "--run-dir", str(run_dir), cwd=tmp_path)
    wait_for_metrics(run_dir, lambda r: r["policy_version"] >= 1 and r["counters"]["games"] > 0, 150)
    started = time.monotonic()
    while run_dir.exists():  # the run's processes may write into it while it is being removed
        shutil.rmtree(run_dir, ignore_errors=True)
    code, out = finish(process, 60)
    assert code == 1, out
    assert f"tolaria run: the run directory {run_dir} was removed while the run was going" in out, out
    assert "Traceback" not in out, out
    assert time.monotonic() - started < 30, out
    assert processes_of(run_dir) == []
    assert not run_dir.exists()


def child_of(parent: int, role: str) -> int:
    """The pid of the run's child process `tolaria <role>` (the supervisor's direct child)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and role.encode() in argv:
            return int(entry.name)
    pytest.fail(f"no {role} process under {parent}")


@pytest.mark.timeout(300)
def test_killed_children_are_restarted_and_the_learner_resumes_from_its_checkpoint(tmp_path, run_dir):
    """As the operator would in a cluster: a daemon that dies is restarted, and a learner that
    dies comes back from its newest checkpoint; the run goes on and publishes newer versions."""
    spec = shortened_quickstart(tmp_path, maxGames=100_000, maxWallClock="20m")
    document = yaml.safe_load(spec.read_text())
    document["spec"]["evaluation"]["enabled"] = False  # not under test here; its games slow the run
    spec.write_text(yaml.safe_dump(document))
    process = tolaria_run(str(spec), "--run-dir", str(run_dir), cwd=tmp_path)
    before = wait_for_metrics(run_dir, lambda r: r["policy_version"] >= 6 and r["counters"]["games"] > 0, 150)
    for role in ("daemon", "learner"):
        os.kill(child_of(process.pid, role), signal.SIGKILL)
    learner_log = run_dir / "logs" / "learner.log"
    deadline = time.monotonic() + 120
    while "resumed from file://" not in learner_log.read_text():
        assert time.monotonic() < deadline, f"the learner did not resume:\n{learner_log.read_text()}"
        time.sleep(0.5)
    # the metrics may still show what the killed learner published; count from the resumed one on
    resumed = wait_for_metrics(run_dir, lambda r: True, 10)
    wait_for_metrics(
        run_dir,
        lambda r: (
            r["policy_version"] >= max(before["policy_version"], resumed["policy_version"]) + 2
            and r["counters"]["games"] >= resumed["counters"]["games"] + 10
        ),
        150,
    )
    process.send_signal(signal.SIGTERM)
    code, out = finish(process, 120)
    assert code == 130, out
    assert processes_of(run_dir) == []
    for name in ("daemon-0", "learner"):
        assert f"{name} exited with status -9; restarting in" in out, out
        assert f"restarting {name} (restart 1)" in out, out


INVALID = {
    "apiVersion": "tolaria.dev/v1alpha1",
    "kind": "TrainingRun",
    "metadata": {"name": "bad"},
    "spec": {
        "decks": ["red_aggro"],
        "daemons": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}},
        "learner": {"ppo": {"clipRange": 2}},
    },
}


@pytest.mark.timeout(60)
def test_an_invalid_spec_fails_before_anything_starts(tmp_path, run_dir):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(INVALID))
    with pytest.raises(SpecError) as expected:
        load_trainingrun(path)
    code, out = finish(tolaria_run(str(path), "--run-dir", str(run_dir), cwd=tmp_path), 50)
    assert code == 2
    assert f"{path} is not a valid TrainingRun" in out
    for error in expected.value.errors:
        assert f"  {error}\n" in out
    # The API server's own words (tests/e2e/test_crd.py holds them to it).
    assert (
        "spec.daemons.autoscaling.minReplicas: Invalid value: minReplicas must be less than or equal to"
        " maxReplicas" in out
    )
    assert (
        "spec.learner.ppo.clipRange: Invalid value: 2: spec.learner.ppo.clipRange in body should be less"
        " than or equal to 1" in out
    )
    assert not run_dir.exists() and processes_of(run_dir) == []


@pytest.mark.timeout(60)
def test_unknown_decks_and_bad_arguments_fail_before_anything_starts(tmp_path):
    document = {**INVALID, "spec": {"decks": ["no_such_deck"]}}
    path = tmp_path / "bad-decks.yaml"
    path.write_text(yaml.safe_dump(document))
    code, out = finish(tolaria_run(str(path), "--run-dir", str(tmp_path / "run"), cwd=tmp_path), 50)
    assert code == 2 and "spec.decks: no deck 'no_such_deck'" in out
    code, out = finish(tolaria_run("--resume", str(tmp_path), cwd=tmp_path), 50)
    assert code == 2 and "is not a run directory" in out
    code, out = finish(tolaria_run(cwd=tmp_path), 50)
    assert code == 2 and "give either SPEC.yaml or --resume RUN_DIR" in out
