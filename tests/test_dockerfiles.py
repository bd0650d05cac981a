"""The Dockerfiles' bases: pinned by tag and digest, and the same Python base in both files (the
trainer's and the daemon's layers are built on one base, and scripts/images makes one stand-in)."""

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
