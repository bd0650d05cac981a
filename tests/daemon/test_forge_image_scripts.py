"""The scripts of the Forge daemon image (docker/forge/), run as the image runs them: the probe
against a daemon speaking Forge's dialect, the start script against a stand-in `java` that
reports how it was called."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import free_port

pytestmark = pytest.mark.integration

SCRIPTS = Path(__file__).resolve().parents[2] / "docker" / "forge"


def probe(port: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FORGE_PORT": str(port)}
    return subprocess.run([SCRIPTS / "forge-status"], env=env, capture_output=True, text=True, timeout=30)


def test_the_probe_reads_forges_status_and_fails_without_a_daemon(start_daemon):
    forge = start_daemon("--dialect", "forge")
    done = probe(forge.port)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "FORGE DAEMON STATUS" and "  Max concurrent: 10" in done.stdout
    assert probe(free_port()).returncode != 0


def test_the_start_script_gives_java_a_fixed_heap_g1_and_headless_awt(tmp_path):
    bin_dir, forge_dir, home = tmp_path / "bin", tmp_path / "forge", tmp_path / "home"
    bin_dir.mkdir()
    forge_dir.mkdir()
    java = bin_dir / "java"
    java.write_text('#!/bin/sh\nprintf "%s\\n" "$PWD" "$@" > "$CALLED"\n')
    java.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLED": str(tmp_path / "called"),
           "FORGE_DIR": str(forge_dir), "FORGE_HOME": str(home), "FORGE_HEAP": "2g"}  # fmt: skip
    done = subprocess.run([SCRIPTS / "forge-daemon"], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    cwd, *args = (tmp_path / "called").read_text().splitlines()
    assert cwd == str(forge_dir) and (home / "user").is_dir() and (home / "cache").is_dir()
    assert args == ["-Xms2g", "-Xmx2g", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=50", "-XX:+ParallelRefProcEnabled",
                    "-Djava.awt.headless=true", "-jar", "forge.jar", "daemon", "-p", "17171"]  # fmt: skip
    refused = subprocess.run(
        [SCRIPTS / "forge-daemon"],
        env={**env, "FORGE_HEAP": "lots"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2 and "FORGE_HEAP=lots" in refused.stderr


def test_forges_profile_puts_user_data_on_the_volume_and_decks_in_the_image():
    properties = dict(
        line.split("=", 1)
        for line in (SCRIPTS / "forge.profile.properties").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert properties["userDir"].startswith("/var/lib/forge/") and properties["cacheDir"].startswith(
        "/var/lib/forge/"
    )
    assert properties["decksConstructedDir"] == "/opt/forge/decks/constructed/"
    dockerfile = (SCRIPTS.parents[1] / "Dockerfile.daemon").read_text()
    assert "COPY decks /opt/forge/decks/constructed/" in dockerfile
