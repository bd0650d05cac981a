"""One real node for the test bed: containerd, runc, kubelet, kube-proxy, CoreDNS and a NetworkPolicy
enforcer, running pods.

kwok's nodes run no containers, so they cannot show that an image starts, that a pod finds its
Service by name, or that SIGTERM reaches a learner. This node does. It lives in a network
namespace of its own, joined to the host by a veth pair (host NODE_LINK_HOST, node NODE_IP):

- containerd (root in the cache, so images are imported once; everything else in the test's
  workdir) with runc and the CNI bridge plugin from Debian; pods get addresses in NODE_POD_CIDR;
- kubelet (cgroupfs driver, this host's cgroup v1 accepted, image GC off), registered as NODE_NAME;
- kube-proxy in iptables mode, masquerading Service traffic, so Services work without
  br_netfilter;
- CoreDNS on NODE_IP:53 serving cluster.local from the API (the kubelet's clusterDNS);
- kube-router as a NetworkPolicy controller only (firewall on; no routing, no service proxy),
  so the runs' NetworkPolicies are enforced as on a cluster with a policy-aware CNI.

All of them are children of one `ip netns exec` shell, so they share one mount namespace: the
kubelet's volume mounts are visible to containerd, and every mount they make (overlay roots,
tmpfs volumes, network namespace handles) disappears with that namespace. Teardown stops the
pods and the processes, deletes the network namespace (and with it the veth pair, the bridge and
every iptables rule the node made), and removes the node's cgroups and files.

Facts this depends on, measured on the development machines: containerd needs
`restrict_oom_score_adj` (no CAP_SYS_RESOURCE: without it every sandbox fails with "can't get
final child's PID from pipe"); the kubelet needs `failCgroupV1: false` on these cgroup-v1 hosts;
its image GC deletes locally imported images unless `imageGCHighThresholdPercent` is 100 (ext4's
reserved blocks make the disk look fuller than it is).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

NODE_NAME = "testbed-real-0"
NODE_LINK_HOST = "10.240.0.1"
NODE_IP = "10.240.0.2"
NODE_LINK_PREFIX = 30
NODE_POD_CIDR = "10.245.0.0/24"
CNI_BIN_DIR = Path("/usr/lib/cni")
HOST_TOOLS = ("containerd", "runc", "ip", "iptables", "conntrack", "ctr", "ipset")
NODE_BINARIES = ("kubelet", "kube-proxy", "coredns", "kube-router")
CGROUP_ROOT = "tolaria-node"
CGROUP_V1 = Path("/sys/fs/cgroup")
CACHE = Path(os.environ.get("TOLARIA_CACHE", Path.home() / ".cache" / "tolaria"))
REPO = Path(__file__).resolve().parents[2]
NETNS_DIR = Path("/run/netns")
# The node's addresses, pod CIDR, cgroups and iptables chains are fixed, so one real node runs on a
# machine at a time, whichever cache (TOLARIA_CACHE) or checkout it runs from.
MACHINE_LOCK = Path("/run/lock/tolaria-real-node.lock")


class NodeUnavailable(RuntimeError):
    """This machine cannot run the real node; the message says what is missing."""


def missing_prerequisites(bin_dir: Path) -> list[str]:
    missing = []
    if os.geteuid() != 0:
        missing.append("root (the node creates a network namespace, cgroups and mounts)")
    missing += [
        f"{tool} (Debian packages containerd, runc, iptables, conntrack, ipset)"
        for tool in HOST_TOOLS
        if shutil.which(tool) is None
    ]
    if not (CNI_BIN_DIR / "bridge").exists():
        missing.append(f"the CNI plugins in {CNI_BIN_DIR} (Debian package containernetworking-plugins)")
    missing += [
        f"{name} in {bin_dir} (scripts/testbed build)"
        for name in NODE_BINARIES
        if not (bin_dir / name).exists()
    ]
    return missing


def images_layout() -> Path:
    """The OCI layout of Tolaria's images, built (or found up to date) by `scripts/images build`."""
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [str(repo / "scripts" / "images"), "build"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise NodeUnavailable(f"scripts/images build failed:\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def machine_lock(wait: bool = True) -> Iterator[None]:
    """Held while a real node exists on this machine; a second one waits for the first (or, not
    to wait, raises BlockingIOError). Whoever takes it first removes what a node that was never
    torn down left (`remove_leftovers`)."""
    MACHINE_LOCK.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(MACHINE_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        remove_leftovers()
        yield
    finally:
        os.close(fd)


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False).stdout


def node_netns() -> list[str]:
    return [
        line.split(" ", 1)[0]
        for line in _ip("netns", "list").splitlines()
        if line.startswith("tolaria-node-")
    ]


def node_links() -> list[str]:
    links = (line.split(":")[1].strip().split("@", 1)[0] for line in _ip("-o", "link", "show").splitlines())
    return [link for link in links if link.startswith("tlnode")]


def node_cgroups() -> list[Path]:
    return [c / CGROUP_ROOT for c in CGROUP_V1.iterdir() if not c.is_symlink() and (c / CGROUP_ROOT).is_dir()]


def leftovers() -> list[str]:
    """What of a real node is still on this machine: nothing, once its teardown is done."""
    route = _ip("route", "show", NODE_POD_CIDR).strip()
    return [
        *(f"network namespace {netns}" for netns in node_netns()),
        *(f"link {link}" for link in node_links()),
        *([f"route {route}"] if route else []),
        *(f"cgroup {cgroup}" for cgroup in node_cgroups()),
    ]


def remove_leftovers() -> None:
    """Removes a node that was never torn down: a killed test run (SIGKILL, a CI timeout) leaves
    its processes running in their own session and network namespace, its veth link and its
    route to NODE_POD_CIDR on the host, and its cgroups. Only a holder of MACHINE_LOCK calls this,
    so whatever carries the node's names is a leftover, never a live node. A route to
    NODE_POD_CIDR that is not the node's means this host uses those addresses itself."""
    kill_cgroup_processes()
    for netns in node_netns():
        kill_netns_processes(netns)
        subprocess.run(["ip", "netns", "delete", netns], capture_output=True, check=False)
    for link in node_links():
        subprocess.run(["ip", "link", "delete", link], capture_output=True, check=False)
    remove_cgroups()
    route = _ip("route", "show", NODE_POD_CIDR).strip()
    if route:
        raise NodeUnavailable(
            f"this host already routes the real node's pod CIDR {NODE_POD_CIDR} ({route}); "
            "the node's addresses are fixed in tests/e2e/realnode.py"
        )


def kill_netns_processes(netns: str) -> None:
    for pid in _ip("netns", "pids", netns).split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), 9)


def kill_cgroup_processes() -> None:
    """containerd's shims run in sessions of their own; they and the containers are found by
    the node's cgroups."""
    for cgroup in node_cgroups():
        for procs in cgroup.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                for pid in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), 9)


def remove_cgroups() -> None:
    for top in node_cgroups():
        for directory in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


@dataclass
class NodeNetwork:
    """The node's network namespace and its veth link to the host."""

    netns: str
    host_link: str

    @classmethod
    def create(cls, suffix: str) -> NodeNetwork:
        network = cls(netns=f"tolaria-node-{suffix}", host_link=f"tlnode{suffix}"[:15])
        steps = [
            ["ip", "netns", "add", network.netns],
            [
                "ip",
                "link",
                "add",
                network.host_link,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                network.netns,
            ],
            ["ip", "addr", "add", f"{NODE_LINK_HOST}/{NODE_LINK_PREFIX}", "dev", network.host_link],
            ["ip", "link", "set", network.host_link, "up"],
            ["ip", "route", "add", NODE_POD_CIDR, "via", NODE_IP, "dev", network.host_link],
            *(
                ["ip", "netns", "exec", network.netns, *step]
                for step in (
                    ["ip", "addr", "add", f"{NODE_IP}/{NODE_LINK_PREFIX}", "dev", "eth0"],
                    ["ip", "link", "set", "eth0", "up"],
                    ["ip", "link", "set", "lo", "up"],
                    ["ip", "route", "add", "default", "via", NODE_LINK_HOST],
                    ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"],
                )
            ),
        ]
        try:
            for step in steps:
                subprocess.run(step, check=True, capture_output=True, text=True)
        except subprocess.CalledProcessError as error:
            network.delete()
            raise NodeUnavailable(f"{' '.join(error.cmd)} failed: {error.stderr.strip()}") from error
        return network

    def delete(self) -> None:
        # Deleting the namespace deletes the veth pair (and so the host's route), the bridge and
        # every iptables rule made inside it.
        subprocess.run(["ip", "netns", "delete", self.netns], capture_output=True, check=False)
        subprocess.run(["ip", "link", "delete", self.host_link], capture_output=True, check=False)


def pause_image() -> str:
    """The pod sandbox image, as `scripts/images` names its stand-in (one name, kept there)."""
    names = subprocess.run(
        [str(REPO / "scripts" / "images"), "names"], capture_output=True, text=True, check=True
    ).stdout.split()
    (pause,) = [n for n in names if n.rsplit(":", 1)[0].endswith("/pause")]
    return pause


def containerd_config(root: Path, state: Path, socket: Path, cni_conf_dir: Path) -> str:
    return f"""version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{socket}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{state}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause_image()}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni_conf_dir}"
"""


def cni_config(ipam_dir: Path) -> dict:
    return {
        "cniVersion": "1.0.0",
        "name": "tolaria-node",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": NODE_POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(socket: Path, ca_file: Path, resolv_conf: Path) -> dict:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_file)},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{CGROUP_ROOT}",
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{socket}",
        "clusterDNS": [NODE_IP],
        "clusterDomain": "cluster.local",
        "resolvConf": str(resolv_conf),
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "readOnlyPort": 0,
        "serializeImagePulls": False,
        "syncFrequency": "10s",
        "nodeStatusUpdateFrequency": "5s",
    }


def kube_proxy_config(kubeconfig: Path) -> dict:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "bindAddress": NODE_IP,
        "clusterCIDR": NODE_POD_CIDR,
        "iptables": {"masqueradeAll": True, "syncPeriod": "5s", "minSyncPeriod": "0s"},
        "conntrack": {"maxPerCore": 0},
        "metricsBindAddress": f"{NODE_IP}:10249",
        "healthzBindAddress": f"{NODE_IP}:10256",
    }


def corefile(kubeconfig: Path) -> str:
    return f""".:53 {{
    bind {NODE_IP}
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} testbed
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
}}
"""


MOUNT_FLAGS = frozenset({"rw", "ro", "relatime", "noatime", "nosuid", "nodev", "noexec"})


def cgroup_mounts() -> str:
    """Shell lines that mount this host's cgroup hierarchies again: `ip netns exec` mounts a
    fresh /sys for the namespace, without the cgroup file systems the kubelet needs."""
    lines = ["mount -t tmpfs -o mode=755 cgroup-root /sys/fs/cgroup"]
    for entry in Path("/proc/self/mounts").read_text().splitlines():
        _, target, kind, options, *_ = entry.split()
        if kind not in ("cgroup", "cgroup2") or not target.startswith(str(CGROUP_V1) + "/"):
            continue
        controllers = ",".join(o for o in options.split(",") if o not in MOUNT_FLAGS)
        option = f" -o {controllers}" if controllers else ""
        lines.append(f"mkdir -p {target} && mount -t {kind}{option} {kind} {target}")
        # The kubelet's cgroupRoot must exist; a new cpuset cgroup starts with no CPUs.
        lines.append(f"mkdir -p {target}/{CGROUP_ROOT}")
        if "cpuset" in controllers.split(","):
            lines += [f"cat {target}/cpuset.{f} >{target}/{CGROUP_ROOT}/cpuset.{f}" for f in ("cpus", "mems")]
    return "\n".join(lines)


def node_script(bin_dir: Path, work: Path, config: Path, socket: Path, service_cidr: str) -> str:
    """The shell that runs inside the node's namespaces: every node process is its child."""
    logs = work / "logs"
    return f"""set -u
{cgroup_mounts()}
trap 'kill -TERM $(jobs -p) 2>/dev/null; wait' TERM INT
containerd --config {config / "containerd.toml"} >{logs}/containerd.log 2>&1 &
for _ in $(seq 300); do [ -S {socket} ] && break; sleep 0.1; done
{bin_dir}/kubelet --config={config / "kubelet.yaml"} --kubeconfig={config / "kubeconfig"} \\
  --root-dir={work / "kubelet"} --cert-dir={work / "kubelet-pki"} --hostname-override={NODE_NAME} \\
  --node-ip={NODE_IP} --node-labels=tolaria.dev/testbed=real --v=1 >{logs}/kubelet.log 2>&1 &
{bin_dir}/kube-proxy --config={config / "kube-proxy.yaml"} --v=1 >{logs}/kube-proxy.log 2>&1 &
{bin_dir}/coredns -conf {config / "Corefile"} >{logs}/coredns.log 2>&1 &
# kube-router exits when the node is not registered yet: it tries again until the kubelet has.
(for _ in $(seq 60); do
  {bin_dir}/kube-router --run-firewall=true --run-router=false --run-service-proxy=false \
    --kubeconfig={config / "kubeconfig"} --hostname-override={NODE_NAME} \
    --service-cluster-ip-range={service_cidr} --health-port=0 --iptables-sync-period=10s
  sleep 2
done) >{logs}/kube-router.log 2>&1 &
echo started >{work / "started"}
wait
"""


class RealNode:
    """Starts and stops the node. `start` raises NodeUnavailable with the reason when it cannot."""

    def __init__(
        self,
        bin_dir: Path,
        workdir: Path,
        network: NodeNetwork,
        kubeconfig_text: str,
        ca_pem: bytes,
        layout: Path,
        service_cidr: str,
    ):
        self.bin_dir = bin_dir
        self.service_cidr = service_cidr
        self.work = workdir
        self.network = network
        self.kubeconfig_text = kubeconfig_text
        self.ca_pem = ca_pem
        self.layout = layout
        self.proc: subprocess.Popen | None = None
        self.root = CACHE / "realnode" / "containerd"
        self.socket = self.work / "containerd.sock"
        self._netns_handles: set[str] = set()

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.work / "config"
        for path in (config, self.work / "logs", self.work / "cni", self.work / "state"):
            path.mkdir(parents=True)
        (config / "containerd.toml").write_text(
            containerd_config(self.root, self.work / "state", self.socket, self.work / "cni")
        )
        (self.work / "cni" / "10-tolaria-node.conflist").write_text(
            json.dumps(cni_config(self.work / "ipam"))
        )
        (config / "kubeconfig").write_text(self.kubeconfig_text)
        (config / "ca.crt").write_bytes(self.ca_pem)
        # Pods with dnsPolicy Default, and CoreDNS, find no name server beyond the cluster.
        (config / "resolv.conf").write_text(f"nameserver {NODE_IP}\n")
        (config / "kubelet.yaml").write_text(
            yaml.safe_dump(kubelet_config(self.socket, config / "ca.crt", config / "resolv.conf"))
        )
        (config / "kube-proxy.yaml").write_text(yaml.safe_dump(kube_proxy_config(config / "kubeconfig")))
        (config / "Corefile").write_text(corefile(config / "kubeconfig"))
        (self.work / "node.sh").write_text(
            node_script(self.bin_dir, self.work, config, self.socket, self.service_cidr)
        )

        self._netns_handles = set(os.listdir(NETNS_DIR)) if NETNS_DIR.is_dir() else set()
        self.proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.network.netns,
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "bash",
                str(self.work / "node.sh"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=(self.work / "logs" / "node.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait(lambda: self.socket.exists(), 60, "containerd's socket")
        self._import_images()

    def _wait(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise NodeUnavailable(
                    f"the node's processes exited while waiting for {what}\n{self.report()}"
                )
            if predicate():
                return
            time.sleep(0.2)
        raise NodeUnavailable(f"timed out after {timeout}s waiting for {what}\n{self.report()}")

    def ctr(self, *args: str, stdin=None, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args],
            stdin=stdin,
            capture_output=True,
            text=stdin is None,
            timeout=timeout,
            check=False,
        )

    def _import_images(self) -> None:
        """Import the layout into containerd, unless this very layout was imported before. Only
        the blobs containerd lacks travel (after a change of code, the MBs of the new layers and
        manifests rather than the GBs of torch); a store that turns out to lack one (collected
        meanwhile) gets the whole layout."""
        index = (self.layout / "index.json").read_bytes()
        marker = self.root.parent / "imported-index.sha256"
        digest = hashlib.sha256(index).hexdigest()
        if marker.exists() and marker.read_text() == digest:
            return
        listed = self.ctr("content", "ls", "--quiet")
        present = set(listed.stdout.split()) if listed.returncode == 0 else set()
        missing = [
            f"blobs/sha256/{blob.name}"
            for blob in sorted((self.layout / "blobs" / "sha256").iterdir())
            if f"sha256:{blob.name}" not in present
        ]
        self._import_tar(["oci-layout", "index.json", *missing])
        if not self._images_complete():
            self._import_tar(["."])
            if not self._images_complete():
                raise NodeUnavailable(f"containerd lacks content of the imported images:\n{self._check()}")
        marker.write_text(digest)

    def _import_tar(self, members: list[str]) -> None:
        listing = self.work / "import-members"
        listing.write_text("\n".join(members) + "\n")
        tar = subprocess.Popen(
            ["tar", "-C", str(self.layout), "-cf", "-", "-T", str(listing)], stdout=subprocess.PIPE
        )
        done = self.ctr("images", "import", "--no-unpack=false", "-", stdin=tar.stdout, timeout=1200)
        tar.wait()
        if done.returncode != 0 or tar.returncode != 0:
            raise NodeUnavailable(f"ctr images import failed: {done.stderr!r}")

    def _check(self) -> str:
        return self.ctr("images", "check").stdout

    def _images_complete(self) -> bool:
        lines = self._check().splitlines()[1:]
        return bool(lines) and all(" complete " in f" {line} " for line in lines)

    def report(self) -> str:
        parts = []
        for log in sorted((self.work / "logs").glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-30:]
            parts.append(f"--- {log}:\n" + "\n".join(lines))
        return "\n".join(parts)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self._stop_pods()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, 9)
                self.proc.wait()
        kill_cgroup_processes()
        kill_netns_processes(self.network.netns)
        remove_cgroups()
        self._remove_netns_handles()

    def _stop_pods(self) -> None:
        """Every sandbox stopped and removed, so no container outlives the node."""
        listed = subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", "k8s.io", "tasks", "list", "-q"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        for task in listed.stdout.split():
            self.ctr("tasks", "kill", "--signal", "SIGKILL", task, timeout=30)

    def _remove_netns_handles(self) -> None:
        """The pods' network namespace handles were bind mounts in the node's mount namespace,
        gone with it; the files they were mounted on are left in the host's /run/netns."""
        if not NETNS_DIR.is_dir():
            return
        for name in set(os.listdir(NETNS_DIR)) - self._netns_handles:
            if name.startswith("cni-"):
                with contextlib.suppress(OSError):
                    (NETNS_DIR / name).unlink()
