"""The run's NetworkPolicies: who may reach its daemons, its Redis and its metrics."""

from __future__ import annotations

import pytest

from tolaria.operator.network_policies import OperatorPods, network_policies
from tolaria.spec import load_trainingrun

OPERATOR = OperatorPods(
    "tolaria-system", {"app.kubernetes.io/name": "tolaria", "app.kubernetes.io/instance": "t"}
)


def make_run(spec: dict | None = None):
    return load_trainingrun(
        {
            "apiVersion": "tolaria.dev/v1alpha1",
            "kind": "TrainingRun",
            "metadata": {"name": "r1", "namespace": "team", "uid": "u"},
            "spec": {"decks": ["a"], **(spec or {})},
        }
    )


def by_name(policies: list[dict]) -> dict[str, dict]:
    return {p["metadata"]["name"]: p["spec"] for p in policies}


def test_daemons_take_games_only_from_the_runs_players_and_scrapes_from_monitoring():
    daemon = by_name(network_policies(make_run(), OPERATOR))["r1-daemon"]
    assert daemon["podSelector"] == {
        "matchLabels": {"tolaria.dev/run": "r1", "tolaria.dev/component": "daemon"}
    }
    assert daemon["policyTypes"] == ["Ingress"]
    games, metrics = daemon["ingress"]
    assert games["ports"] == [{"protocol": "TCP", "port": 17171}]
    (players,) = games["from"]
    assert "namespaceSelector" not in players  # the run's own namespace only
    assert players["podSelector"]["matchLabels"] == {"tolaria.dev/run": "r1"}
    assert players["podSelector"]["matchExpressions"][0]["values"] == ["actor", "evaluator", "learner"]
    assert metrics == {
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
        "ports": [{"protocol": "TCP", "port": 9090}],
    }


def test_redis_takes_the_runs_pods_and_the_operator():
    redis = by_name(network_policies(make_run(), OPERATOR))["r1-redis"]
    (clients,) = redis["ingress"]
    assert clients["ports"] == [{"protocol": "TCP", "port": 6379}]
    run_pods, operator = clients["from"]
    assert run_pods == {"podSelector": {"matchLabels": {"tolaria.dev/run": "r1"}}}
    assert operator == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "tolaria-system"}},
        "podSelector": {"matchLabels": OPERATOR.labels},
    }
    # An operator outside the cluster is not a pod: only the run's pods.
    alone = by_name(network_policies(make_run(), None))["r1-redis"]
    assert alone["ingress"][0]["from"] == [run_pods]


def test_the_players_listen_only_for_metrics_from_the_configured_namespace():
    run = make_run({"networkPolicies": {"metricsNamespace": "prometheus"}})
    trainer = by_name(network_policies(run, OPERATOR))["r1-trainer"]
    assert trainer["podSelector"]["matchExpressions"][0]["values"] == ["actor", "evaluator", "learner"]
    ((scrapes),) = trainer["ingress"]
    assert scrapes["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "prometheus"
    }


def test_no_redis_policy_for_an_external_redis_and_none_at_all_when_disabled():
    external = by_name(network_policies(make_run({"redis": {"url": "redis://r:6379/0"}}), OPERATOR))
    assert set(external) == {"r1-daemon", "r1-trainer"}
    assert network_policies(make_run({"networkPolicies": {"enabled": False}}), OPERATOR) == []


def test_every_policy_is_owned_by_the_run():
    for policy in network_policies(make_run(), OPERATOR):
        assert policy["metadata"]["ownerReferences"][0]["uid"] == "u"
        assert policy["metadata"]["labels"]["tolaria.dev/run"] == "r1"


@pytest.mark.parametrize("selector", ["", "a", "a=", "=b", "a=b,c"])
def test_a_bad_operator_selector_is_refused(selector):
    with pytest.raises(ValueError, match="key=value"):
        OperatorPods.parse("ns", selector)
