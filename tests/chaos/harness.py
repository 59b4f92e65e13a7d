"""The chaos harness (issue 19): three `kyb server`s and two `kyb agent`s, each in a network
namespace the test makes, on one bridge (tests/e2e/hacluster.py's LAN), formed from the
README's HA commands; a Deployment of 10 pods and a 3-replica StatefulSet running on the
agents; and the watchers that tell whether a fault broke anything.

The test itself sits in the hub namespace and reaches the API through a load balancer of
its own (cli/agentloadbalancer.py, the one every agent runs, here on a thread), as a user
reaches an HA cluster through a fixed registration address: `kubectl` there answers
through whichever servers survive. Faults are the test's to make: `kill -9` of a server
(with its scheduler and controller manager), of an agent (the kubelet), of an etcd member;
a link taken down; nftables rules cutting one server off from the others; an agent started
under libfaketime.

Throughout, three watchers record what a user would see:
- `Writes`: a ConfigMap created every 0.2 s through the balancer; every acknowledged one
  must be there at the end (no acknowledged write lost);
- `Answers`: `kubectl get pods` through the balancer every second, each success or failure
  with its time, so a fault's failed requests are counted;
- `Identities`: the containers actually running on each agent (read from its runtime's
  state, not from the API, which may still show a pod it cannot reach), so that two pods of
  one StatefulSet identity running at once is seen even when the API would hide it.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kybernetes.apiserver.pki import Pki, ssl_client_context
from kybernetes.cli.agentloadbalancer import LoadBalancer
from kybernetes.client import ApiClient, load_kubeconfig
from kybernetes.kubelet.runtime.cri import ContainerState
from kybernetes.kubelet.runtime.runc.runtime import RuncRuntime
from tests.e2e.cluster import Kubectl, find_kubectl, free_port, stop_process, wait_until
from tests.e2e.hacluster import ADDRESSES, HaServer, balancer_kubeconfig, form, lan
from tests.e2e.nodens import cleanup_runtime, import_busybox, inside, node_ready
from tests.kubelet import netns

AGENTS = {"a1": "198.51.100.21", "a2": "198.51.100.22"}
NAMESPACE = "chaos"
IMAGE = "busybox:1.36"
WEB_REPLICAS = 10
DB_REPLICAS = 3
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
# A node is NotReady 25 s after its last heartbeat (the kubelet renews every 10 s), and
# its pods are evicted 10 s after that: the faults play out in a minute, not upstream's 5.
SERVER_FLAGS = ("--node-monitor-grace-period", "25", "--node-monitor-period", "2",
                "--default-not-ready-toleration-seconds", "10",
                "--default-unreachable-toleration-seconds", "10")
SETTLE = 240.0


@dataclass
class Agent:
    name: str
    address: str
    namespace: netns.NetNS
    data_dir: Path
    server_url: str
    token: str
    process: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> None:
        log = open(self.data_dir / "agent.log", "ab")  # noqa: SIM115 - the process's
        with inside(self.namespace):
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kybernetes.cli.main", "agent", "--server",
                 self.server_url, "--token", self.token, "--data-dir", str(self.data_dir),
                 "--node-name", self.name, "--node-ip", self.address, "--run-dir",
                 str(self.data_dir / "run"), "--disable-ingress"],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process, 30, signal.SIGTERM)
        self.process = None

    def runtime(self) -> RuncRuntime:
        return RuncRuntime(self.data_dir / "agent" / "containers", self.data_dir / "run" / "runc")


class Balancer:
    """The test's load balancer over the servers, on a thread of its own (started in the
    hub namespace, where the thread stays), following the `kubernetes` endpoints."""

    def __init__(self, first: HaServer, kubeconfig: Path) -> None:
        self.balancer = LoadBalancer(first.url, free_port())
        self.kubeconfig = kubeconfig
        balancer_kubeconfig(first.kubeconfig, kubeconfig, self.balancer.url)
        self._loop = asyncio.new_event_loop()
        self._stopped = asyncio.Event()
        self._thread = threading.Thread(target=self._loop.run_until_complete,
                                        args=(self._run(),), daemon=True)
        self._started = threading.Event()
        self._thread.start()
        self._started.wait(30)

    async def _run(self) -> None:
        await self.balancer.start()
        self._started.set()
        async with ApiClient(load_kubeconfig(self.kubeconfig).replace(qps=0)) as api:
            following = asyncio.create_task(self.balancer.run(api))
            await self._stopped.wait()
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
        await self.balancer.close()  # which waits for its relays to end

    @property
    def url(self) -> str:
        return self.balancer.url

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(30)
        self._loop.close()


class Watcher(abc.ABC):
    """A loop on a thread that records (time, ok, detail) outcomes until stopped."""

    interval = 1.0

    def __init__(self) -> None:
        self.outcomes: list[tuple[float, bool, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            ok, detail = self.once()
            self.outcomes.append((started, ok, detail))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    @abc.abstractmethod
    def once(self) -> tuple[bool, str]:
        """One round: whether it went well, and what to show if not."""

    def failed_since(self, since: float) -> list[str]:
        return [detail for at, ok, detail in self.outcomes if at >= since and not ok]

    def count_since(self, since: float) -> int:
        return sum(at >= since for at, _, _ in self.outcomes)


class Writes(Watcher):
    """A ConfigMap created through the balancer every 0.2 s; the acknowledged ones kept."""

    interval = 0.2

    def __init__(self, url: str, pki: Pki) -> None:
        super().__init__()
        self.acknowledged: list[str] = []
        self._client = httpx.Client(base_url=url, verify=ssl_client_context(pki), timeout=5)
        self._next = 0

    def once(self) -> tuple[bool, str]:
        name = f"write-{self._next}"
        self._next += 1
        try:
            response = self._client.post(
                f"/api/v1/namespaces/{NAMESPACE}/configmaps",
                json={"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": name, "labels": {"chaos": "write"}}})
        except httpx.HTTPError as err:
            return False, f"{name}: {err!r}"
        if response.status_code == 201:
            self.acknowledged.append(name)
            return True, name
        return False, f"{name}: {response.status_code} {response.text[:200]}"

    def stop(self) -> None:
        super().stop()
        self._client.close()


class Answers(Watcher):
    """`kubectl get pods` through the balancer every second."""

    def __init__(self, kubeconfig: Path) -> None:
        super().__init__()
        self.kubectl = Kubectl(kubeconfig, find_kubectl())

    def once(self) -> tuple[bool, str]:
        try:
            result = self.kubectl.run("get", "pods", "-n", NAMESPACE, "-o", "name",
                                      "--request-timeout=5s", check=False, timeout=15)
        except subprocess.TimeoutExpired:
            return False, "kubectl timed out"
        return result.returncode == 0, result.stderr.strip()[-300:]


class Identities(Watcher):
    """Which StatefulSet pods (by name and uid) have a running container on any agent, every
    0.3 s; `violations` lists the moments a name ran under two uids at once."""

    interval = 0.3

    def __init__(self, agents: list[Agent], prefix: str) -> None:
        super().__init__()
        self.agents = agents
        self.prefix = prefix
        self.violations: list[str] = []
        self._runtime_loop = asyncio.new_event_loop()
        self._runtimes: list[RuncRuntime] = []

    def once(self) -> tuple[bool, str]:
        running = self._runtime_loop.run_until_complete(self._running())
        for name, where in running.items():
            if len({uid for uid, _ in where}) > 1:
                self.violations.append(f"{name} running as {sorted(where)}")
        return True, ""

    async def _running(self) -> dict[str, set[tuple[str, str]]]:
        found: dict[str, set[tuple[str, str]]] = {}
        if not self._runtimes:  # made on the watcher's own thread and loop
            self._runtimes = [agent.runtime() for agent in self.agents]
        for agent, runtime in zip(self.agents, self._runtimes, strict=True):
            sandboxes = {s.id: s for s in await runtime.list_pod_sandboxes()}
            for container in await runtime.list_containers():
                sandbox = sandboxes.get(container.sandbox_id)
                if container.state != ContainerState.CONTAINER_RUNNING or sandbox is None:
                    continue
                if sandbox.namespace == NAMESPACE and sandbox.name.startswith(self.prefix):
                    found.setdefault(sandbox.name, set()).add((sandbox.uid, agent.name))
        return found

    def stop(self) -> None:
        super().stop()
        self._runtime_loop.close()


@dataclass
class ChaosCluster:
    servers: list[HaServer]
    agents: list[Agent]
    hub: netns.NetNS
    balancer: Balancer
    kubectl: Kubectl
    writes: Writes
    answers: Answers
    identities: Identities
    _seen: str = ""  # what the last look at the cluster found

    def server_kubectl(self, index: int) -> Kubectl:
        return Kubectl(self.servers[index].kubeconfig, find_kubectl())

    def pods(self, app: str) -> list[dict[str, Any]]:
        return list(self.kubectl.json("get", "pods", "-n", NAMESPACE, "-l",
                                      f"app={app}")["items"])

    def settled(self, what: str, limit: float = SETTLE, *, every_server: bool = True) -> None:
        """Wait until every server is ready (unless not `every_server`: one may be down),
        both nodes Ready, and the Deployment's and the StatefulSet's pods all Running, ready
        and not terminating."""
        try:
            wait_until(lambda: self._settled(every_server),
                       f"the cluster to settle after {what}", limit)
        except AssertionError as err:
            raise AssertionError(f"{err}; last seen: {self._seen}") from None

    def _settled(self, every_server: bool) -> bool:
        result = self.kubectl.run("get", "pods,nodes", "-A", "-o", "json",
                                  "--request-timeout=5s", check=False, timeout=15)
        if result.returncode != 0:
            self._seen = f"kubectl failed: {result.stderr.strip()[-300:]}"
            return False
        items = json.loads(result.stdout)["items"]
        nodes = [i for i in items if i["kind"] == "Node"]
        pods = [i for i in items if i["kind"] == "Pod"
                and i["metadata"]["namespace"] == NAMESPACE]
        ready_nodes = {n["metadata"]["name"] for n in nodes if _condition(n, "Ready")}
        serving = [p for p in pods if not p["metadata"].get("deletionTimestamp")
                   and p["status"].get("phase") == "Running" and _condition(p, "Ready")]
        web = [p for p in serving if p["metadata"]["labels"].get("app") == "web"]
        db = {p["metadata"]["name"] for p in serving
              if p["metadata"]["labels"].get("app") == "db"}
        ready_servers = [s.address for s in self.servers if self._ready(s)]
        self._seen = (f"nodes Ready {sorted(ready_nodes)}, servers ready {ready_servers}, "
                      f"pods {[_shown(p) for p in pods]}")
        return (ready_nodes >= set(AGENTS) and len(web) == WEB_REPLICAS
                and db == {f"db-{i}" for i in range(DB_REPLICAS)}
                and (not every_server or len(ready_servers) == len(self.servers)))

    @staticmethod
    def _ready(server: HaServer) -> bool:
        if server.process is None:
            return False
        try:
            with server.client() as client:
                return client.get("/readyz", timeout=3).status_code == 200
        except (httpx.HTTPError, OSError):
            return False

    def holder(self, lease: str) -> HaServer:
        """The server whose component holds kube-system/`lease` (named in its log)."""
        identity = self.kubectl.json("get", "lease", lease, "-n", "kube-system")["spec"][
            "holderIdentity"]
        for server in self.servers:
            log = (server.data_dir / "server.log").read_text(errors="replace")
            if f"{identity}: became leader" in log:
                return server
        raise AssertionError(f"no server's log names the holder {identity!r} of {lease}")

    def restart(self, server: HaServer) -> None:
        """A killed server started again with its flags, once its etcd member is gone."""
        from tests.e2e.test_ha_etcd import _etcd_of

        wait_until(lambda: not _etcd_of(server.data_dir), "the killed etcd member gone", 30)
        server.start(timeout=120)


def _shown(pod: dict[str, Any]) -> str:
    """A pod as `name@node:phase[,ready][,terminating]`."""
    meta, status = pod["metadata"], pod.get("status") or {}
    return (f"{meta['name']}@{pod['spec'].get('nodeName', '-')}:{status.get('phase')}"
            + (",ready" if _condition(pod, "Ready") else "")
            + (",terminating" if meta.get("deletionTimestamp") else ""))


def _condition(obj: dict[str, Any], kind: str) -> bool:
    return any(c["type"] == kind and c["status"] == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def workloads() -> list[dict[str, Any]]:
    """The Deployment `web` (10 pods) and the StatefulSet `db` (3, Parallel) with its
    headless Service: busybox sleeping, a second's grace on deletion, spread over the nodes
    where they can be."""
    def template(app: str) -> dict[str, Any]:
        return {"metadata": {"labels": {"app": app}}, "spec": {
            "terminationGracePeriodSeconds": 1,
            "topologySpreadConstraints": [{
                "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app": app}}}],
            "containers": [{"name": "main", "image": IMAGE,
                            "command": ["sh", "-c", "trap 'exit 0' TERM; "
                                        "while true; do sleep 1; done"]}]}}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
         "spec": {"replicas": WEB_REPLICAS, "selector": {"matchLabels": {"app": "web"}},
                  "template": template("web")}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
         "spec": {"clusterIP": "None", "selector": {"app": "db"},
                  "ports": [{"port": 80}]}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
         "spec": {"replicas": DB_REPLICAS, "serviceName": "db",
                  "podManagementPolicy": "Parallel",
                  "selector": {"matchLabels": {"app": "db"}}, "template": template("db")}},
    ]


def faketime_env(offset: str) -> dict[str, str]:
    """The environment that runs a process (and what it forks) with its wall clock moved by
    `offset` (libfaketime's syntax, e.g. "+5m"). Its monotonic clock moves by as much, which
    changes none of its intervals; keeping it true (FAKETIME_DONT_FAKE_MONOTONIC) would
    break every sleep: libfaketime 0.9.10 then fails Python's absolute clock_nanosleep with
    EINVAL."""
    return {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME": offset}


def missing() -> str:
    """Why the harness cannot run here ("" when it can)."""
    from tests.etcd_cluster import etcd_binary

    if problem := netns.available():
        return problem
    if shutil.which("runc") is None or not Path("/usr/lib/cni/bridge").exists():
        return "needs runc and the CNI plugins"
    if etcd_binary() is None:
        return "needs Debian's etcd-server"
    if not LIBFAKETIME.exists():
        return "needs Debian's faketime (libfaketime)"
    return ""


@contextlib.contextmanager
def chaos_cluster(base: Path) -> Iterator[ChaosCluster]:
    """The cluster formed, its workloads running and its watchers started; everything
    stopped and removed at the end."""
    spokes = [(f"kyb-ch-s{i + 1}", a) for i, a in enumerate(ADDRESSES)]
    spokes += [(f"kyb-ch-{name}", address) for name, address in AGENTS.items()]
    with lan("kyb-ch-hub", spokes) as (hub, made), inside(hub):
        servers: list[HaServer] = []
        agents: list[Agent] = []
        watchers: list[Watcher] = []
        balancer: Balancer | None = None
        try:
            form(base, made[:3], servers, *SERVER_FLAGS)
            token = (servers[0].data_dir / "token").read_text().strip()
            for (name, address), ns in zip(AGENTS.items(), made[3:], strict=True):
                data = base / name
                data.mkdir()
                import_busybox(data, IMAGE)
                agent = Agent(name, address, ns, data, servers[0].url, token)
                agent.start()
                agents.append(agent)
            balancer = Balancer(servers[0], base / "balancer.kubeconfig")
            kubectl = Kubectl(balancer.kubeconfig, find_kubectl())
            wait_until(lambda: len(balancer.balancer.servers) == len(ADDRESSES)
                       if balancer else False, "the balancer to know every server", 60)
            # Both nodes first: the scheduler does not move what it placed on one alone.
            wait_until(lambda: all(node_ready(kubectl, name) for name in AGENTS),
                       "both nodes Ready", 120)
            kubectl("create", "namespace", NAMESPACE)
            wait_until(lambda: kubectl.run("get", "serviceaccount", "default", "-n",
                                           NAMESPACE, check=False).returncode == 0,
                       "the namespace's default service account", 60)
            kubectl("apply", "-n", NAMESPACE, "-f", "-",
                    input="\n---\n".join(json.dumps(o) for o in workloads()))
            cluster = ChaosCluster(
                servers, agents, hub, balancer, kubectl,
                Writes(balancer.url, Pki.at(servers[0].data_dir)),
                Answers(balancer.kubeconfig), Identities(agents, "db-"))
            cluster.settled("forming", 300)
            watchers += [cluster.writes, cluster.answers, cluster.identities]
            for watcher in watchers:
                watcher.start()
            yield cluster
        finally:
            for watcher in watchers:
                watcher.stop()
            if balancer is not None:
                balancer.stop()
            for agent in agents:
                agent.stop()
            for server in servers:
                server.stop()
    # Outside every namespace (the runtime's worker threads live on in this process).
    for agent in agents:
        cleanup_runtime(agent.data_dir)
