"""The run directory, the effective spec, the summary and the plot, and sizing (pure functions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tolaria.local.progress import Snapshot
from tolaria.local.rundir import RunDirectory
from tolaria.local.summary import (
    build_summary,
    games_at_versions,
    plot_learning_curve,
    summary_text,
    write_summary,
)
from tolaria.local.topology import Machine, size
from tolaria.spec import load_trainingrun

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def manifest(**spec) -> dict:
    return {
        "apiVersion": "tolaria.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "r"},
        "spec": {"decks": ["red_aggro"], **spec},
    }


def test_create_writes_the_effective_spec_with_checkpoints_in_the_run_directory(tmp_path):
    directory = RunDirectory.create(tmp_path / "run", load_trainingrun(manifest()))
    run = RunDirectory.open(tmp_path / "run").load_run()
    assert run.spec.checkpoints.uri == f"file://{(tmp_path / 'run' / 'checkpoints').resolve()}"
    assert run.spec.daemons.games_per_daemon == 64  # defaults are written out
    assert "gamesPerDaemon" in directory.spec_path.read_text()
    for sub in ("checkpoints", "redis", "logs"):
        assert (tmp_path / "run" / sub).is_dir()


def test_a_chosen_checkpoint_store_is_kept(tmp_path):
    run = load_trainingrun(manifest(checkpoints={"uri": "s3://bucket/x"}))
    assert RunDirectory.create(tmp_path / "run", run).load_run().spec.checkpoints.uri == "s3://bucket/x"


def test_a_used_directory_is_refused_and_a_non_run_cannot_be_resumed(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not empty; pass --resume"):
        RunDirectory.create(tmp_path / "used", load_trainingrun(manifest()))
    with pytest.raises(FileNotFoundError, match="is not a run directory"):
        RunDirectory.open(tmp_path / "used")


def test_metrics_survive_a_torn_last_line(tmp_path):
    directory = RunDirectory.create(tmp_path / "run", load_trainingrun(manifest()))
    directory.append_metrics({"games": 1})
    with open(directory.metrics_path, "a") as f:
        f.write('{"games": 2, "ti')
    assert directory.read_metrics() == [{"games": 1}]
    directory.write_state({"elapsed_seconds": 5})
    assert directory.read_state() == {"elapsed_seconds": 5}


def test_summary_and_learning_curve(tmp_path):
    directory = RunDirectory.create(tmp_path / "run", load_trainingrun(manifest()))
    snapshots = [
        Snapshot(
            time=t,
            elapsed=t,
            counters={"games": 10 * t, "decisions": 400 * t},
            policy_version=t,
            eval_policy_version=(t // 2) * 2 or None,
            win_rates={"random": t / 10} if t >= 2 else {},
        )
        for t in range(8)
    ]
    for s in snapshots:
        directory.append_metrics(s.to_record())
    evaluation = {
        "policy_version": 6,
        "elo": 1301.2,
        "baselines": {"random": {"win_rate": 0.9, "ci_low": 0.8, "ci_high": 0.95, "games": 200}},
    }
    history = [
        {
            "policy_version": v,
            "evaluated_at": 1.0 + v,
            "baselines": {"random": {"win_rate": v / 10, "ci_low": 0.0, "ci_high": 0.9, "games": 20}},
        }
        for v in (2, 4, 6)
    ]
    summary = build_summary(
        name="r",
        outcome="succeeded",
        reason="maxGames reached (70 games)",
        last=snapshots[-1],
        evaluation=evaluation,
        history=history,
        restarts={"actor-0": 1, "learner": 0},
        checkpoint_uri="file:///c",
    )
    text = write_summary(directory, summary)
    assert json.loads(directory.summary_json.read_text())["games"] == 70
    assert text == summary_text(summary)
    assert "run r: succeeded (maxGames reached (70 games))" in text
    assert "vs random     0.900  [0.800, 0.950]  over 200 games" in text
    assert "(Elo 1301)" in text and "restarts  actor-0 1" in text and "learner 0" not in text
    assert json.loads(directory.summary_json.read_text())["evaluations"] == history
    plot_learning_curve(directory.read_metrics(), history, directory.curve_png)
    assert directory.curve_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_games_at_versions_interpolates_between_snapshots():
    records = [{"policy_version": v, "counters": {"games": g}} for v, g in ((0, 0), (2, 100), (4, 300))]
    assert games_at_versions(records, [1, 2, 3, 9]) == [50.0, 100.0, 200.0, 300.0]
    assert games_at_versions([], [1]) == [0.0]


def test_summary_without_evaluation():
    summary = build_summary(
        name="r",
        outcome="interrupted",
        reason="stopped by SIGINT",
        last=None,
        evaluation={},
        history=[],
        restarts={},
        checkpoint_uri="file:///c",
    )
    assert "no evaluation finished" in summary_text(summary) and summary["games"] == 0


def test_sizing_follows_cores_and_the_spec():
    two = Machine(cores=2, gpu=False)
    quick = load_trainingrun(EXAMPLES / "quickstart.yaml")
    assert size(quick, two).daemons == 1 and size(quick, two).actors == 1
    # PPO shares the cores with the games; the warm start's cloning has them to itself
    assert (size(quick, two).learner_threads, size(quick, two).warm_start_threads) == (1, 2)
    default = load_trainingrun(manifest())  # perDaemon 1, autoscaling 1..4, learner.gpus 1
    big = size(default, Machine(cores=16, gpu=True))
    assert (big.daemons, big.actors, big.learner_device, big.learner_threads) == (4, 4, "cuda", 8)
    assert size(default, two).learner_device == "cpu"
    assert size(load_trainingrun(manifest(actors={"perDaemon": 0.5})), Machine(6, False)).actors == 2
