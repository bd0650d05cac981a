"""`tolaria operator` flags: scope, peering, ports, log level."""

from __future__ import annotations

import argparse

import pytest

from tolaria.operator import cli


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.configure_parser(parser)
    return parser.parse_args(argv)


def test_defaults_match_the_chart():
    args = parse("--all-namespaces")
    assert (args.metrics_port, args.health_port, args.log_level) == (9090, 8080, "info")
    assert args.peering is None and not args.standalone


def test_repeatable_namespaces():
    assert parse("-n", "a", "--namespace=b").namespaces == ["a", "b"]


@pytest.mark.parametrize(
    "argv",
    [(), ("-n", "a", "-A"), ("-A", "--peering=x", "--standalone"), ("-A", "--log-level=loud")],
)
def test_refused_combinations(argv):
    with pytest.raises(SystemExit):
        parse(*argv)


def test_log_level_is_case_insensitive():
    assert parse("-A", "--log-level=WARNING").log_level == "warning"


def test_priority_needs_peering():
    with pytest.raises(SystemExit, match="--priority needs --peering"):
        cli.run(parse("-A", "--priority=5"))


def test_ports_are_checked():
    with pytest.raises(SystemExit, match="--metrics-port must be a TCP port"):
        cli.run(parse("-A", "--metrics-port=70000"))


def test_missing_credentials_are_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with pytest.raises(SystemExit, match="no Kubernetes credentials"):
        cli.run(parse("-A", "--metrics-port=0", "--health-port=0"))
