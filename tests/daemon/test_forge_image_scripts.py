"""The scripts of the Forge daemon image (docker/forge/), run as the image runs them: the probe
against a daemon speaking Forge's dialect, the start script against a stand-in `java` that
reports how it was called, then with the real `java` and the stand-in forge.jar that
`scripts/images` builds the Forge stand-in image with (tests/e2e/test_real_node.py runs that image)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port, wait_for_port

from daemon.conftest import alive, wait_until
from daemon.wire import exchange

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "docker" / "forge"


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


@pytest.fixture(scope="module")
def standin_jar(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("forge-jar")
    done = subprocess.run(
        [REPO / "scripts" / "images", "forge-jar", out], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return out / "forge.jar"


def test_the_standin_forge_jar_serves_the_decks_of_its_profile_under_the_start_scripts_jvm(
    standin_jar, tmp_path
):
    """forge-daemon starts the stand-in jar with its JVM settings; the jar reads
    forge.profile.properties from its working directory as Forge does, creates the user and cache
    folders, serves NEWGAME from decksConstructedDir only, and stops its emulation on SIGTERM."""
    forge_dir, home, decks, bin_dir = (tmp_path / p for p in ("forge", "home", "profile-decks", "bin"))
    for folder in (forge_dir, decks, bin_dir):
        folder.mkdir()
    shutil.copy(standin_jar, forge_dir)
    for deck in ("red_aggro", "white_weenie"):
        shutil.copy(REPO / "decks" / f"{deck}.dck", decks)
    (forge_dir / "forge.profile.properties").write_text(
        f"userDir={home}/user/\ncacheDir={home}/cache/\ndecksConstructedDir={decks}\n"
    )
    # The image's python3 runs the emulation from forge/emulation/; here this test's interpreter.
    python = bin_dir / "python3"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    port = free_port()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FORGE_DIR": str(forge_dir),
           "FORGE_HOME": str(home), "FORGE_HEAP": "64m", "FORGE_PORT": str(port)}  # fmt: skip
    log = tmp_path / "forge.log"
    with log.open("wb") as out:
        java = subprocess.Popen([SCRIPTS / "forge-daemon"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=60)
        assert probe(port).returncode == 0, log.read_text()
        cmdline = Path(f"/proc/{java.pid}/cmdline").read_bytes().split(b"\0")
        assert (
            b"-Xms64m" in cmdline
            and b"-Xmx64m" in cmdline
            and cmdline[-4:-1] == [b"daemon", b"-p", str(port).encode()]
        )
        assert (
            f"decks from {decks}/ (decksConstructedDir of {forge_dir}/forge.profile.properties)"
            in log.read_text()
        )
        assert (home / "cache" / "pics" / "cards").is_dir() and (home / "user").is_dir()

        played = exchange(port, "NEWGAME red_aggro white_weenie -q -s 1\n", timeout=60)
        assert played[-1].startswith("GAME_RESULT: "), played
        # In the repository's decks, not in the profile's folder.
        assert exchange(port, "NEWGAME blue_control red_aggro\n") == [
            "ERROR: Could not load deck: blue_control"
        ]

        (emulation,) = children(java.pid)
        java.send_signal(signal.SIGTERM)
        assert java.wait(timeout=30) != 0
        assert wait_until(lambda: not alive(emulation), timeout=10), "the emulation outlived its JVM"
    finally:
        started = children(java.pid)
        if java.poll() is None:
            java.kill()
            java.wait()
        for pid in started:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def children(pid: int) -> list[int]:
    """The processes that `pid` started from any of its threads (the JVM starts them from one of its
    own, not from the process's first thread that daemon.conftest.child_pids reads)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # a thread or the process gone meanwhile
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def test_the_standin_forge_jar_refuses_what_forge_would_not_run(standin_jar, tmp_path):
    runs = {
        ("daemon", "-p", "seventeen"): "-p seventeen is not a TCP port",
        ("daemon", "-p"): "unsupported arguments [daemon, -p]",
        ("play",): "unsupported arguments [play]",
    }
    for args, message in runs.items():
        done = subprocess.run(
            ["java", "-jar", standin_jar, *args], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
    no_python = subprocess.run(
        ["java", "-jar", standin_jar, "daemon", "-p", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PATH": str(Path(shutil.which("java")).resolve().parent), "HOME": str(tmp_path)},
    )
    assert no_python.returncode == 1 and "the emulation needs python3 on PATH" in no_python.stderr
