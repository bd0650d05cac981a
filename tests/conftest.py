"""Fixtures shared by every kind of test: free ports, a real redis-server, a real S3 server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
E2E = REPO / "tests" / "e2e"


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which turns the groups into node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist's `--dist loadgroup` (scripts/test), each of the two clusters goes to one
    worker with every test that uses it: the real node (`tests/e2e/test_real_node.py`, one per
    machine, behind a lock) and the simulated test bed (the rest of `tests/e2e`). Both spend much
    of their time waiting on pods, which the other worker fills with the rest of the suite."""
    for item in items:
        if item.path == E2E / "test_real_node.py":
            item.add_marker(pytest.mark.xdist_group("realnode"))
        elif item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.xdist_group("testbed"))


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


class Daemon:
    """The built daemon (`tolaria daemon`) on a free loopback port, serving the repository's decks."""

    def __init__(self, log_path: Path, port: int | None = None):
        self.port = port or free_port()
        self._log = log_path.open("wb")
        self.log_path = log_path
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tolaria.cli", "daemon", "--host", "127.0.0.1", "--port", str(self.port),
             "--decks", str(REPO / "decks"), "--metrics-port", "0", "--reply-timeout", "60"],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip
        try:
            wait_for_port(self.port, timeout=60)
        except TimeoutError:
            self.stop()
            raise AssertionError(f"daemon did not start:\n{log_path.read_text()}") from None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        """Dies at once, games in flight and all (SIGKILL: no graceful shutdown)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class RedisServer:
    """A real redis-server on a free loopback port, in a private directory."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed; run scripts/bootstrap")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def testbed_bin_dir() -> Path:
    """The directory of the test bed's binaries (`scripts/testbed build`): $TOLARIA_TESTBED, else
    what `scripts/testbed path` prints. Fails the test with the command that builds it."""
    configured = os.environ.get("TOLARIA_TESTBED")
    if configured:
        return Path(configured)
    found = subprocess.run(
        [str(REPO / "scripts" / "testbed"), "path"], capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        pytest.fail(
            "the test bed's binaries are not built: run `scripts/testbed build` "
            f"(scripts/testbed path said: {found.stderr.strip()})",
            pytrace=False,
        )
    return Path(found.stdout.strip().splitlines()[-1])


S3_ACCESS_KEY = "tolaria-test"
S3_SECRET_KEY = "tolaria-test-secret"


@dataclass
class S3Server:
    endpoint: str
    env: dict[str, str]

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
        )


class MinioServer:
    """MinIO (built by `scripts/testbed build`) as its own process, with a `tolaria` bucket."""

    def __init__(self, data_dir: Path, host: str = "127.0.0.1", port: int | None = None):
        minio = testbed_bin_dir() / "minio"
        if not os.access(minio, os.X_OK):
            pytest.fail(f"{minio} is missing: run `scripts/testbed build`", pytrace=False)
        self.port, console_port = port or free_port(), free_port()
        self.host = host
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(minio), "server", str(data_dir), "--quiet",
                 "--address", f"{host}:{self.port}", "--console-address", f"127.0.0.1:{console_port}"],
                stdout=log, stderr=subprocess.STDOUT,
                env={"PATH": os.environ.get("PATH", ""), "HOME": str(data_dir.parent),
                     "MINIO_ROOT_USER": S3_ACCESS_KEY, "MINIO_ROOT_PASSWORD": S3_SECRET_KEY,
                     "MINIO_BROWSER": "off", "MINIO_UPDATE": "off"},
            )  # fmt: skip
        try:
            try:
                wait_for_port(self.port, timeout=60, host=host)
            except TimeoutError:
                raise AssertionError(f"MinIO did not start:\n{self.log_path.read_text()}") from None
            self.server = S3Server(
                f"http://{host}:{self.port}",
                {
                    "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
                    "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
                    "AWS_DEFAULT_REGION": "us-east-1",
                    "TOLARIA_S3_ENDPOINT": f"http://{host}:{self.port}",
                },
            )
            _create_bucket(self.server, "tolaria")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def s3_server(monkeypatch, tmp_path: Path) -> Iterator[S3Server]:
    """A real S3 server (MinIO, its own process on loopback) with a `tolaria` bucket; this
    process's environment points boto3 at it."""
    minio = MinioServer(tmp_path / "minio-data")
    try:
        for key, value in minio.server.env.items():
            monkeypatch.setenv(key, value)
        yield minio.server
    finally:
        minio.stop()


def _create_bucket(server: S3Server, bucket: str, timeout: float = 30.0) -> None:
    # MinIO listens before its object layer is ready and answers 503 meanwhile.
    from botocore.exceptions import ClientError, EndpointConnectionError

    deadline = time.monotonic() + timeout
    while True:
        try:
            server.client().create_bucket(Bucket=bucket)
            return
        except (ClientError, EndpointConnectionError) as error:
            if (
                isinstance(error, ClientError)
                and error.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
            ):
                return  # a restart on old data
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
