"""The Kubernetes test bed: a real control plane with simulated nodes, for the e2e tests.

etcd, kube-apiserver (secure serving, generated certificates, RBAC, service-account keys, as
controller-runtime's envtest configures it), kube-controller-manager, kube-scheduler and kwok run as
local processes built by `scripts/testbed build`. kwok plays the kubelet of a few fake nodes: two CPU
nodes and one GPU node, so Deployments, Jobs, garbage collection and scheduling behave as on a real
cluster, without containers. How the pods of a Job end is chosen per pod with the annotation
`testbed.tolaria.dev/outcome` (see tests/e2e/testbed/kwok-stages.yaml).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import datetime
import ipaddress
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes import client, config

from tests.conftest import free_port, testbed_bin_dir

REPO = Path(__file__).resolve().parents[2]
KWOK_STAGES = Path(__file__).resolve().parent / "testbed" / "kwok-stages.yaml"
BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
    "helm",
)

# kwok manages only the nodes carrying this annotation, as its documentation recommends.
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
GPU_RESOURCE = "nvidia.com/gpu"
CPU_NODES = ("testbed-cpu-0", "testbed-cpu-1")
GPU_NODE = "testbed-gpu-0"
GPUS_PER_NODE = 8
STARTUP_TIMEOUT_S = 120.0
LOG_TAIL_LINES = 40


def find_bin_dir() -> Path:
    """The directory of the test bed's binaries, with every binary the e2e tests run."""
    bin_dir = testbed_bin_dir()
    missing = [name for name in BINARIES if not os.access(bin_dir / name, os.X_OK)]
    if missing:
        pytest.fail(
            f"the Kubernetes test bed in {bin_dir} lacks {', '.join(missing)}: run `scripts/testbed build`",
            pytrace=False,
        )
    return bin_dir


# --- certificates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256 keys are generated in microseconds, RSA keys in tens of milliseconds; both are accepted
    # by every component.
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _issue(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    extensions: list[tuple[x509.ExtensionType, bool]],
) -> bytes:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer if issuer is not None else (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Pki:
    ca: KeyPair
    serving: KeyPair
    admin: KeyPair
    service_account_key_pem: bytes
    service_account_public_pem: bytes


def generate_pki(extra_ips: tuple[str, ...] = ()) -> Pki:
    ca_key = _new_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tolaria-testbed-ca")])
    ca_cert = _issue(
        ca_name,
        ca_key,
        None,
        [
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (x509.KeyUsage(False, False, False, False, False, True, True, False, False), True),
        ],
    )
    signer = (ca_name, ca_key)
    service_ip = next(ipaddress.ip_network(SERVICE_CIDR).hosts())
    serving_key = _new_key()
    serving_cert = _issue(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
        serving_key,
        signer,
        [
            (
                x509.SubjectAlternativeName(
                    [
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                        x509.IPAddress(service_ip),
                        *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in extra_ips),
                        x509.DNSName("localhost"),
                        x509.DNSName("kubernetes"),
                        x509.DNSName("kubernetes.default"),
                        x509.DNSName("kubernetes.default.svc"),
                        x509.DNSName("kubernetes.default.svc.cluster.local"),
                    ]
                ),
                False,
            ),
            (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False),
        ],
    )
    # system:masters is bound to cluster-admin by the API server's bootstrap RBAC policy.
    admin_key = _new_key()
    admin_cert = _issue(
        x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                x509.NameAttribute(NameOID.COMMON_NAME, "tolaria-testbed-admin"),
            ]
        ),
        admin_key,
        signer,
        [(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), False)],
    )
    service_account_key = _new_key()
    return Pki(
        ca=KeyPair(ca_cert, _key_pem(ca_key)),
        serving=KeyPair(serving_cert, _key_pem(serving_key)),
        admin=KeyPair(admin_cert, _key_pem(admin_key)),
        service_account_key_pem=_key_pem(service_account_key),
        service_account_public_pem=service_account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def kubeconfig_yaml(server: str, pki: Pki) -> str:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "testbed",
                    "cluster": {"server": server, "certificate-authority-data": b64(pki.ca.cert_pem)},
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate-data": b64(pki.admin.cert_pem),
                        "client-key-data": b64(pki.admin.key_pem),
                    },
                }
            ],
            "contexts": [{"name": "testbed", "context": {"cluster": "testbed", "user": "admin"}}],
            "current-context": "testbed",
        },
        sort_keys=False,
    )


# --- processes ----------------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child before exec: the kernel kills it if pytest itself dies (even by SIGKILL),
    # so an interrupted session leaves no control plane behind.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Component:
    name: str
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM to the whole process group, SIGKILL after the grace period."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        # Children that outlived their leader still belong to its group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        if not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


class StartupError(RuntimeError):
    pass


# --- the test bed -------------------------------------------------------------------------------


@dataclass
class Testbed:
    """A running control plane. Use `env` for subprocesses (kubectl, helm, the operator)."""

    bin_dir: Path
    workdir: Path
    log_dir: Path
    kubeconfig: Path
    server: str
    env: dict[str, str]
    cpu_nodes: tuple[str, ...] = CPU_NODES
    gpu_node: str = GPU_NODE

    def api_client(self):
        """A new kubernetes.client.ApiClient authenticated as cluster admin."""
        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return self._run("kubectl", args, input, check, timeout)

    def helm(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return self._run("helm", args, input, check, timeout)

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
        """Poll `predicate` until it is true; TimeoutError naming `what` otherwise."""
        wait_until(predicate, timeout, what)

    def create_namespace(self, prefix: str = "test", labels: dict[str, str] | None = None) -> str:
        """A new namespace with a unique name, ready for pods (its default ServiceAccount exists)."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        with self.api_client() as api:
            core = client.CoreV1Api(api)
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels)))
            # The ServiceAccount admission plugin refuses pods until the controller manager has
            # created the namespace's default ServiceAccount.
            wait_until(
                lambda: bool(
                    core.list_namespaced_service_account(name, field_selector="metadata.name=default").items
                ),
                timeout=30,
                what=f"the default ServiceAccount of namespace {name}",
            )
        return name

    def _run(
        self, tool: str, args: tuple[str, ...], input: str | None, check: bool, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.bin_dir / tool), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{tool} {' '.join(args)} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        return done


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except StartupError:
            raise
        except Exception as error:  # the API may refuse while it starts; keep the last reason
            last_error = error
        time.sleep(interval)
    reason = f" (last error: {last_error})" if last_error else ""
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}{reason}")


class ControlPlane:
    """Starts and stops the processes of one test bed in `workdir`.

    With `advertise_address` (the host's end of a real node's link) the API server listens on
    every address and advertises that one, so that pods reach it through the `kubernetes`
    Service, and no kwok node is made: the real node's test bed has the real node alone.
    """

    def __init__(self, bin_dir: Path, workdir: Path, advertise_address: str | None = None):
        self.bin_dir = bin_dir
        self.workdir = workdir
        self.advertise_address = advertise_address
        self.log_dir = workdir / "logs"
        self.pki_dir = workdir / "pki"
        self.components: list[Component] = []

    def start(self) -> Testbed:
        self.log_dir.mkdir(parents=True)
        self.pki_dir.mkdir()
        pki = generate_pki(extra_ips=(self.advertise_address,) if self.advertise_address else ())
        self.pki = pki
        files = {
            "ca.crt": pki.ca.cert_pem,
            "apiserver.crt": pki.serving.cert_pem,
            "apiserver.key": pki.serving.key_pem,
            "sa.key": pki.service_account_key_pem,
            "sa.pub": pki.service_account_public_pem,
            "admin.crt": pki.admin.cert_pem,
            "admin.key": pki.admin.key_pem,
        }
        for name, data in files.items():
            (self.pki_dir / name).write_bytes(data)
            (self.pki_dir / name).chmod(0o600)

        etcd_port, etcd_peer_port = free_port(), free_port()
        self._start_etcd(etcd_port, etcd_peer_port)
        wait_until(
            lambda: self._http_ok(f"http://127.0.0.1:{etcd_port}/health"), STARTUP_TIMEOUT_S, "etcd /health"
        )

        api_port = free_port()
        server = f"https://127.0.0.1:{api_port}"
        kubeconfig = self.workdir / "kubeconfig"
        kubeconfig.write_text(kubeconfig_yaml(server, pki))
        kubeconfig.chmod(0o600)
        self._start_apiserver(api_port, etcd_port)
        tls = self._admin_tls_context(pki)
        wait_until(
            lambda: self._http_ok(f"{server}/readyz", tls), STARTUP_TIMEOUT_S, "kube-apiserver /readyz"
        )

        self._start_controller_manager(kubeconfig)
        self._start_scheduler(kubeconfig)
        if self.advertise_address is None:
            self._start_kwok(kubeconfig)

        helm_home = self.workdir / "helm"
        env = dict(os.environ)
        env.update(
            KUBECONFIG=str(kubeconfig),
            PATH=f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            # Keep helm's repositories, cache and plugins out of the user's home.
            HELM_CACHE_HOME=str(helm_home / "cache"),
            HELM_CONFIG_HOME=str(helm_home / "config"),
            HELM_DATA_HOME=str(helm_home / "data"),
        )
        bed = Testbed(
            bin_dir=self.bin_dir,
            workdir=self.workdir,
            log_dir=self.log_dir,
            kubeconfig=kubeconfig,
            server=server,
            env=env,
        )
        if self.advertise_address is None:
            self._create_nodes(bed)
            self._wait_for_cluster(bed)
        return bed

    def stop(self) -> None:
        for component in reversed(self.components):
            component.stop()

    def failure_report(self) -> str:
        parts = []
        for component in self.components:
            status = component.exited()
            state = "running" if status is None else f"exited {status}"
            parts.append(f"--- {component.name} ({state}), {component.log_path}:\n{component.log_tail()}")
        return "\n".join(parts)

    # -- components

    def _launch(self, name: str, argv: list[str]) -> None:
        component = Component(name, argv, self.log_dir / f"{name}.log")
        self.components.append(component)
        component.start()

    def _start_etcd(self, port: int, peer_port: int) -> None:
        peer = f"http://127.0.0.1:{peer_port}"
        self._launch(
            "etcd",
            [
                str(self.bin_dir / "etcd"),
                "--name=testbed",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{port}",
                f"--advertise-client-urls=http://127.0.0.1:{port}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=testbed={peer}",
                # A throw-away store: durability buys nothing and fsync costs seconds on shared disks.
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )

    def _start_apiserver(self, port: int, etcd_port: int) -> None:
        pki = self.pki_dir
        self._launch(
            "kube-apiserver",
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                f"--bind-address={'0.0.0.0' if self.advertise_address else '127.0.0.1'}",
                f"--advertise-address={self.advertise_address or '127.0.0.1'}",
                # `kubectl logs` and `exec` reach a real kubelet at its node's address, as admin.
                "--kubelet-preferred-address-types=InternalIP",
                f"--kubelet-client-certificate={pki / 'admin.crt'}",
                f"--kubelet-client-key={pki / 'admin.key'}",
                f"--secure-port={port}",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer=https://127.0.0.1:{port}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                # As on GKE and AKS: pods that request GPUs tolerate the GPU nodes' taint.
                "--enable-admission-plugins=ExtendedResourceToleration",
                "--profiling=false",
                "--v=1",
            ],
        )

    def _start_controller_manager(self, kubeconfig: Path) -> None:
        self._launch(
            "kube-controller-manager",
            [
                str(self.bin_dir / "kube-controller-manager"),
                f"--kubeconfig={kubeconfig}",
                "--leader-elect=false",
                # No serving port: nothing scrapes it, and a fixed default port would collide.
                "--secure-port=0",
                f"--service-account-private-key-file={self.pki_dir / 'sa.key'}",
                f"--root-ca-file={self.pki_dir / 'ca.crt'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--profiling=false",
                "--v=1",
            ],
        )

    def _start_scheduler(self, kubeconfig: Path) -> None:
        self._launch(
            "kube-scheduler",
            [
                str(self.bin_dir / "kube-scheduler"),
                f"--kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--secure-port=0",
                "--profiling=false",
                "--v=1",
            ],
        )

    def _start_kwok(self, kubeconfig: Path) -> None:
        key, value = KWOK_NODE_ANNOTATION
        self._launch(
            "kwok",
            [
                str(self.bin_dir / "kwok"),
                f"--kubeconfig={kubeconfig}",
                f"--config={KWOK_STAGES}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={key}={value}",
                f"--cidr={POD_CIDR}",
                "--node-ip=127.0.0.1",
                # Renewed leases keep the node lifecycle controller from marking the nodes NotReady.
                "--node-lease-duration-seconds=40",
            ],
        )

    # -- nodes and readiness

    def _create_nodes(self, bed: Testbed) -> None:
        with bed.api_client() as api:
            core = client.CoreV1Api(api)
            for name in bed.cpu_nodes:
                core.create_node(fake_node(name, capacity={"cpu": "32", "memory": "128Gi", "pods": "110"}))
            core.create_node(
                fake_node(
                    bed.gpu_node,
                    capacity={
                        "cpu": "64",
                        "memory": "512Gi",
                        "pods": "110",
                        GPU_RESOURCE: str(GPUS_PER_NODE),
                    },
                    labels={
                        "nvidia.com/gpu.present": "true",
                        "nvidia.com/gpu.count": str(GPUS_PER_NODE),
                        "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
                    },
                    taints=[client.V1Taint(key=GPU_RESOURCE, value="present", effect="NoSchedule")],
                )
            )

    def _wait_for_cluster(self, bed: Testbed) -> None:
        expected = {*bed.cpu_nodes, bed.gpu_node}
        with bed.api_client() as api:
            core = client.CoreV1Api(api)

            def nodes_ready() -> bool:
                self._raise_if_exited()
                ready = {
                    node.metadata.name
                    for node in core.list_node().items
                    if any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
                }
                return expected <= ready

            def default_service_account() -> bool:
                self._raise_if_exited()
                found = core.list_namespaced_service_account(
                    "default", field_selector="metadata.name=default"
                )
                return bool(found.items)

            wait_until(nodes_ready, STARTUP_TIMEOUT_S, f"nodes {sorted(expected)} to be Ready (kwok)")
            wait_until(
                default_service_account,
                STARTUP_TIMEOUT_S,
                "the default ServiceAccount (kube-controller-manager)",
            )

    def _raise_if_exited(self) -> None:
        for component in self.components:
            status = component.exited()
            if status is not None:
                raise StartupError(f"{component.name} exited with status {status}")

    def _http_ok(self, url: str, tls: ssl.SSLContext | None = None) -> bool:
        self._raise_if_exited()
        try:
            with urllib.request.urlopen(url, timeout=2, context=tls) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _admin_tls_context(self, pki: Pki) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=pki.ca.cert_pem.decode())
        context.load_cert_chain(self.pki_dir / "admin.crt", self.pki_dir / "admin.key")
        return context


def fake_node(name: str, capacity: dict[str, str], labels: dict[str, str] | None = None, taints=None):
    """A Node that kwok manages (its annotation) and that advertises `capacity`."""
    key, value = KWOK_NODE_ANNOTATION
    return client.V1Node(
        metadata=client.V1ObjectMeta(
            name=name,
            annotations={key: value, "node.alpha.kubernetes.io/ttl": "0"},
            labels={
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/role": "agent",
                "node-role.kubernetes.io/agent": "",
                "type": "kwok",
                **(labels or {}),
            },
        ),
        spec=client.V1NodeSpec(taints=taints),
        status=client.V1NodeStatus(allocatable=capacity, capacity=capacity),
    )


@pytest.fixture(scope="session")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    """A running Kubernetes control plane with two fake CPU nodes and one fake GPU node."""
    bin_dir = find_bin_dir()
    plane = ControlPlane(bin_dir, tmp_path_factory.mktemp("testbed"))
    try:
        startup_failure = None
        try:
            bed = plane.start()
        except (StartupError, TimeoutError) as error:
            startup_failure = f"the Kubernetes test bed did not start: {error}\n{plane.failure_report()}"
        if startup_failure is not None:
            pytest.fail(startup_failure, pytrace=False)
        yield bed
    finally:
        plane.stop()


@contextlib.contextmanager
def running_real_cluster(bin_dir: Path, workdir: Path) -> Iterator[Testbed]:
    """A control plane of its own with one real node (tests/e2e/realnode.py) running Tolaria's
    images, as `scripts/images build` made them; StartupError with every log tail when it
    cannot start. Everything it started is stopped and removed on exit."""
    from .realnode import (
        NODE_LINK_HOST,
        NODE_NAME,
        NodeNetwork,
        NodeUnavailable,
        RealNode,
        images_layout,
        machine_lock,
        missing_prerequisites,
    )

    missing = missing_prerequisites(bin_dir)
    if missing:
        raise StartupError("the real node needs " + "; ".join(missing))
    plane = ControlPlane(bin_dir, workdir / "plane", advertise_address=NODE_LINK_HOST)
    network = node = None
    with contextlib.ExitStack() as held:
        try:
            try:
                layout = images_layout()
                held.enter_context(machine_lock())
                network = NodeNetwork.create(str(os.getpid() % 100000))
                bed = plane.start()
                node_kubeconfig = kubeconfig_yaml(bed.server.replace("127.0.0.1", NODE_LINK_HOST), plane.pki)
                node = RealNode(
                    bin_dir,
                    workdir / "node",
                    network,
                    node_kubeconfig,
                    plane.pki.ca.cert_pem,
                    layout,
                    SERVICE_CIDR,
                )
                node.start()
                with bed.api_client() as api:
                    core = client.CoreV1Api(api)

                    def node_ready() -> bool:
                        found = core.read_node(NODE_NAME)
                        return any(
                            c.type == "Ready" and c.status == "True" for c in found.status.conditions or []
                        )

                    wait_until(node_ready, STARTUP_TIMEOUT_S, f"node {NODE_NAME} to be Ready")
            except (NodeUnavailable, StartupError, TimeoutError) as error:
                report = node.report() if node is not None else ""
                raise StartupError(
                    f"the real node did not start: {error}\n{plane.failure_report()}\n{report}"
                ) from None
            yield bed
        finally:
            if node is not None:
                node.stop()
            plane.stop()
            if network is not None:
                network.delete()


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    """The real node's test bed (`running_real_cluster`), shared by the session; its teardown
    fails if anything of the node is left on the machine (`realnode.leftovers`)."""
    cluster = running_real_cluster(find_bin_dir(), tmp_path_factory.mktemp("realnode"))
    try:
        bed = cluster.__enter__()
    except StartupError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield bed
    finally:
        cluster.__exit__(None, None, None)
        from .realnode import leftovers

        left = leftovers()
        assert not left, f"the real node's teardown left {left}"
