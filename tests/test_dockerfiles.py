"""The Dockerfiles' bases: pinned by tag and digest, and the same Python base in both files (the
trainer's and the daemon's layers are built on one base, and scripts/images makes one stand-in);
each daemon stage's health check asks its daemon for STATUS in the daemon's own dialect."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKERFILES = ["Dockerfile.daemon", "Dockerfile.trainer"]
PINNED = re.compile(r"^[a-z0-9.-]+(/[a-z0-9._-]+)*:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$")


def base_arguments(dockerfile: str) -> dict[str, str]:
    text = (REPO / dockerfile).read_text()
    return dict(re.findall(r"^ARG ([A-Z_]+_IMAGE)=(\S+)$", text, re.MULTILINE))


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_every_base_is_pinned_by_tag_and_digest(dockerfile):
    text = (REPO / dockerfile).read_text()
    bases = base_arguments(dockerfile)
    assert bases, f"{dockerfile} names no base image argument"
    for name, reference in bases.items():
        assert PINNED.match(reference), f"{dockerfile}: {name}={reference} is not NAME:TAG@sha256:DIGEST"
    for line in re.findall(r"^FROM (\S+)", text, re.MULTILINE):
        assert line.startswith("${") or line.startswith("engine-"), (
            f"{dockerfile}: FROM {line} is not a pinned argument"
        )


def test_both_dockerfiles_build_on_the_same_python_base():
    assert (
        base_arguments("Dockerfile.daemon")["PYTHON_IMAGE"]
        == base_arguments("Dockerfile.trainer")["PYTHON_IMAGE"]
    )


def test_each_daemon_stage_checks_health_with_a_status_in_its_dialect():
    text = (REPO / "Dockerfile.daemon").read_text()
    stages = dict(re.findall(r"^FROM \S+ AS (\S+)\n(.*?)(?=^FROM |\Z)", text, re.MULTILINE | re.DOTALL))
    checks = {
        name: re.findall(r"^HEALTHCHECK .* CMD (.+)$", body, re.MULTILINE) for name, body in stages.items()
    }
    assert checks["engine-builtin"] == ['["tolaria", "status", "127.0.0.1:17171"]']
    # forge-status reads Forge's STATUS (tests/daemon/test_forge_image_scripts.py), which a Forge
    # daemon serves only when one of its 10 game slots is free: the timeout allows a game's end.
    assert checks["engine-forge"] == ['["/opt/forge/bin/forge-status"]']
    assert "--timeout=60s" in re.search(r"^HEALTHCHECK .*forge-status.*$", text, re.MULTILINE).group(0)
