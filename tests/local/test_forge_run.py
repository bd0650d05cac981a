"""An `engine: forge` run end to end on this machine: the daemons speak Forge's dialect exactly
(`tolaria daemon --dialect forge`, see tests/daemon/test_forge_dialect.py for how exactly), so the
learner's warm start (observe mode), the actors (self-play and league, `-i`) and the evaluator
(league) run as they would against a Forge daemon."""

from __future__ import annotations

import json

import pytest
import yaml

from local.local_run import finish, processes_of, shortened_quickstart, tolaria_run

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_an_engine_forge_run_trains_from_a_warm_start_to_its_stop(tmp_path, run_dir):
    path = shortened_quickstart(tmp_path, warm_start_games=8, maxGames=120)
    document = yaml.safe_load(path.read_text())
    spec = document["spec"]
    spec["daemons"]["engine"] = "forge"
    spec["actors"]["opponents"] = {"selfPlay": 0.7, "builtinAi": 0.0, "randomPlayer": 0.0, "league": 0.3}
    spec["evaluation"]["baselines"] = ["league"]
    path.write_text(yaml.safe_dump(document))
    code, out = finish(tolaria_run(str(path), "--run-dir", str(run_dir), cwd=tmp_path), 240)
    assert code == 0, out
    assert processes_of(run_dir) == []
    assert "daemon(s) in Forge's dialect" in out
    daemon_log = (run_dir / "logs" / "daemon-0.log").read_text()
    assert "in Forge's dialect listening" in daemon_log
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["outcome"] == "succeeded" and summary["reason"].startswith("maxGames reached"), out
    assert summary["games"] >= 120 and summary["decisions"] > summary["games"]
    assert summary["policy_version"] >= 2 and summary["learner_step"] >= 1
    learner_log = (run_dir / "logs" / "learner.log").read_text()
    assert " decisions from 8 games (0 failed)" in learner_log, learner_log
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["warm_start_games"] == 8
    for component in ("actor-0", "evaluator"):
        log = (run_dir / "logs" / f"{component}.log").read_text()
        assert "Traceback" not in log and "does not support" not in log, log[-3000:]
    assert summary["evaluations"], "the evaluator measured no policy against the league"
    assert summary["evaluations"][-1]["baselines"]["league"]["games"] >= 6
    assert summary["training_results"]["errors"] <= summary["games"] // 20, summary["training_results"]
