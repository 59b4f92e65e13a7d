"""How fast an HA cluster recovers from losing a server (issue 19): three `kyb server`s on the
embedded etcd, each in a network namespace of its own on a bridge (tests/e2e/hacluster.py),
formed with `--cluster-init` and two joins.

The bench talks to them from the hub namespace through the agent's load balancer
(cli/agentloadbalancer.py, run in this process on a port of the hub's 127.0.0.1 and
following the `kubernetes` endpoints, as a `kyb agent` does): a client that knows every
server. Three simulated nodes (`kyb sim nodes`, also through the balancer) take the pods.
Throughout, a steady stream of GETs (`--rate` a second, each started on time, not after the
previous one, 5 s timeout, kept-alive connections as a client's) runs through the balancer.

Faults, each a `kill -9` of one server (its etcd member dies with it):

- **api**: the server the balancer currently forwards to; recovered at the first
  successful write (a ConfigMap create, retried every 20 ms from the kill on).
- **scheduler**: the server whose scheduler holds the `kube-scheduler` Lease; a pod is
  created right after the kill; recovered when it is seen bound (polled every 50 ms).
- **controller-manager**: the server whose controller manager holds the
  `kube-controller-manager` Lease; a ReplicaSet with one pod is scaled to 2 right after the
  kill; recovered when its second pod exists (polled every 50 ms).

Per fault the table gives the killed server, whether its etcd member was the etcd leader
(from the members' logs: the last to become leader), the seconds from the kill to recovery,
and the stream's requests (and failed ones) among those in flight at or after the kill that
started before recovery. After each fault the killed server is restarted with the same flags and
the cluster left to settle, so the next fault starts from three. Everything (processes,
namespaces, data) is removed at the end. Needs root, iproute2 and Debian's etcd.

    sudo python3 bench/failover.py [--runs 1] [--rate 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.cluster import free_port
from tests.e2e.hacluster import (
    ADDRESSES,
    HaServer,
    balancer_kubeconfig,
    etcd_leader_term,
    form,
    lan,
)
from tests.e2e.nodens import inside
from tests.e2e.test_ha_etcd import _etcd_of
from tests.etcd_cluster import etcd_binary
from tests.kubelet import netns

from kybernetes.apiserver.pki import Pki, ssl_client_context
from kybernetes.cli.agentloadbalancer import LoadBalancer
from kybernetes.client import ApiClient, ClientError, load_kubeconfig, resource

PODS = resource("", "v1", "pods")
NODES = resource("", "v1", "nodes")
LEASES = resource("coordination.k8s.io", "v1", "leases")
CONFIGMAPS = resource("", "v1", "configmaps")
REPLICASETS = resource("apps", "v1", "replicasets")
SERVICEACCOUNTS = resource("", "v1", "serviceaccounts")
NAMESPACE = "default"
SIM_NODES = 3
STREAM_TIMEOUT = 5.0
RECOVERY_LIMIT = 90.0
SETTLE = 10.0


async def _until(check: Callable[[], Awaitable[bool]], what: str, limit: float,
                 interval: float = 0.05) -> float:
    """Poll `check` (errors count as not yet) until true; the monotonic time it was."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with contextlib.suppress(ClientError, httpx.HTTPError, OSError):
            if await check():
                return time.monotonic()
        await asyncio.sleep(interval)
    raise RuntimeError(f"no {what} within {limit:.0f}s")


class Stream:
    """GETs through the balancer at a steady rate: when each started and ended, and
    whether it succeeded."""

    def __init__(self, http: httpx.AsyncClient, rate: float) -> None:
        self.http = http
        self.interval = 1 / rate
        self.results: list[tuple[float, float, bool]] = []

    async def run(self) -> None:
        due = time.monotonic()
        async with asyncio.TaskGroup() as group:
            while True:
                group.create_task(self._one())
                due += self.interval
                await asyncio.sleep(max(0.0, due - time.monotonic()))

    async def _one(self) -> None:
        started = time.monotonic()
        try:
            ok = (await self.http.get(f"/api/v1/namespaces/{NAMESPACE}")).status_code == 200
        except httpx.HTTPError:
            ok = False
        self.results.append((started, time.monotonic(), ok))

    def during(self, killed: float, recovered: float) -> tuple[int, int]:
        """(requests, failed) of those in flight at or after `killed` that started before
        `recovered`."""
        hit = [ok for start, end, ok in self.results if end >= killed and start <= recovered]
        return len(hit), hit.count(False)


@dataclass
class Row:
    fault: str
    killed: str
    etcd_leader: bool
    seconds: float
    requests: int
    failed: int


class Bench:
    """The faults, on the formed servers, through the balancer's client `api`."""

    def __init__(self, servers: list[HaServer], balancer: LoadBalancer, api: ApiClient,
                 stream: Stream) -> None:
        self.servers = servers
        self.balancer = balancer
        self.api = api
        self.stream = stream

    async def holder(self, lease: str) -> HaServer:
        """The server whose component holds kube-system/`lease` (its identity is
        `<hostname>_<uuid>`, one hostname for all: found in the server's log)."""
        spec = (await self.api.get(LEASES, lease, "kube-system"))["spec"]
        identity = spec.get("holderIdentity")
        for server in self.servers:
            log = (server.data_dir / "server.log").read_text(errors="replace")
            if f"{identity}: became leader" in log:
                return server
        raise RuntimeError(f"no server's log names the holder {identity!r} of {lease}")

    async def fault(self, name: str, victim: HaServer,
                    recovery: Callable[[], Awaitable[float]]) -> Row:
        """Kill `victim`, run `recovery` (the monotonic time it saw recovery), restart."""
        terms = {s.data_dir.name: etcd_leader_term(s.data_dir) for s in self.servers}
        led = terms[victim.data_dir.name] == max(terms.values()) > 0
        killed = time.monotonic()
        victim.kill()
        recovered = await recovery()
        await asyncio.sleep(STREAM_TIMEOUT)  # the requests it counts have all ended
        requests, failed = self.stream.during(killed, recovered)
        await self.restart(victim)
        return Row(name, victim.data_dir.name, led, recovered - killed, requests, failed)

    async def restart(self, server: HaServer) -> None:
        """The same flags again, once its etcd member is gone; then settle."""
        async def member_gone() -> bool:
            return not _etcd_of(server.data_dir)

        await _until(member_gone, "end of the killed etcd member", 30, 0.2)
        await asyncio.to_thread(server.start, 120)
        await asyncio.sleep(SETTLE)

    async def api_fault(self, run: int) -> Row:
        current = self.balancer.current
        victim = next(s for s in self.servers if s.address == current[0])
        counter = iter(range(1_000_000))

        async def written() -> bool:
            await self.api.create(CONFIGMAPS, {
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": f"failover-{run}-{next(counter)}"}}, NAMESPACE)
            return True

        return await self.fault("api", victim,
                                lambda: _until(written, "successful write", RECOVERY_LIMIT,
                                               0.02))

    async def scheduler_fault(self, run: int) -> Row:
        victim = await self.holder("kube-scheduler")
        name = f"failover-pod-{run}"

        async def recovery() -> float:
            await _until(lambda: self._created(PODS, _pod(name)), "pod created",
                         RECOVERY_LIMIT)
            return await _until(lambda: self._bound(name), "binding", RECOVERY_LIMIT)

        return await self.fault("scheduler", victim, recovery)

    async def controller_manager_fault(self, run: int) -> Row:
        name = f"failover-rs-{run}"
        await self.api.create(REPLICASETS, _replicaset(name), NAMESPACE)
        await _until(lambda: self._pods_of(name, 1), "the first pod", RECOVERY_LIMIT)
        victim = await self.holder("kube-controller-manager")

        async def scaled() -> bool:
            await self.api.patch(REPLICASETS, name, {"spec": {"replicas": 2}}, NAMESPACE)
            return True

        async def recovery() -> float:
            await _until(scaled, "scale to 2", RECOVERY_LIMIT)
            return await _until(lambda: self._pods_of(name, 2), "the second pod",
                                RECOVERY_LIMIT)

        return await self.fault("controller-manager", victim, recovery)

    async def _created(self, res: Any, obj: dict[str, Any]) -> bool:
        await self.api.create(res, obj, NAMESPACE)
        return True

    async def _bound(self, name: str) -> bool:
        return bool((await self.api.get(PODS, name, NAMESPACE))["spec"].get("nodeName"))

    async def _pods_of(self, name: str, count: int) -> bool:
        listed = await self.api.list(PODS, NAMESPACE, label_selector=f"app={name}")
        return len(listed.items) >= count


def _pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}


def _replicaset(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": _pod(name)["spec"]}}}


def _nodes_ready(listed: Any) -> int:
    return sum(any(c["type"] == "Ready" and c["status"] == "True"
                   for c in (n.get("status") or {}).get("conditions") or [])
               for n in listed.items)


async def _measure(servers: list[HaServer], base: Path, sim_log: IO[bytes], runs: int,
                   rate: float) -> list[Row]:
    balancer = LoadBalancer(servers[0].url, free_port())
    await balancer.start()
    kubeconfig = base / "balancer.kubeconfig"
    balancer_kubeconfig(servers[0].kubeconfig, kubeconfig, balancer.url)
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kybernetes.cli.main", "sim", "nodes", "--count",
        str(SIM_NODES), "--kubeconfig", str(kubeconfig),
        stdout=sim_log, stderr=subprocess.STDOUT)
    http = httpx.AsyncClient(base_url=balancer.url, timeout=STREAM_TIMEOUT,
                             verify=ssl_client_context(Pki.at(servers[0].data_dir)))
    try:
        async with ApiClient(load_kubeconfig(kubeconfig).replace(qps=0)) as api, \
                asyncio.TaskGroup() as group:
            following = group.create_task(balancer.run(api))
            stream = Stream(http, rate)
            streaming = group.create_task(stream.run())
            bench = Bench(servers, balancer, api, stream)
            await _setup(bench)
            rows = []
            for run in range(runs):
                rows.append(await bench.api_fault(run))
                rows.append(await bench.scheduler_fault(run))
                rows.append(await bench.controller_manager_fault(run))
            outside = sum(not ok for _, _, ok in stream.results) - sum(r.failed for r in rows)
            print(f"stream: {len(stream.results)} requests, {outside} failed outside the "
                  "faults", flush=True)
            following.cancel()
            streaming.cancel()
        return rows
    finally:
        await http.aclose()
        sim.terminate()
        try:
            await asyncio.wait_for(sim.wait(), 20)
        except TimeoutError:
            sim.kill()
            await sim.wait()
        await balancer.close()


async def _setup(bench: Bench) -> None:
    """The balancer knows all three servers, the sim nodes are Ready and pods can be
    admitted (the namespace's default service account exists)."""
    async def every_server() -> bool:
        return len(bench.balancer.servers) == len(ADDRESSES)

    async def nodes_ready() -> bool:
        return _nodes_ready(await bench.api.list(NODES)) >= SIM_NODES

    async def service_account() -> bool:
        await bench.api.get(SERVICEACCOUNTS, "default", NAMESPACE)
        return True

    await _until(every_server, "balancer over every server", 30, 0.5)
    await _until(nodes_ready, "sim nodes Ready", 60, 0.5)
    await _until(service_account, "default service account", 60, 0.5)
    print("cluster formed; measuring", flush=True)


def _table(rows: list[Row], rate: float) -> str:
    lines = [f"{'fault':<20} {'killed':<7} {'etcd leader':<12} {'recovery s':>10} "
             f"{'requests':>9} {'failed':>7}"]
    lines += [f"{r.fault:<20} {r.killed:<7} {'yes' if r.etcd_leader else 'no':<12} "
              f"{r.seconds:>10.2f} {r.requests:>9} {r.failed:>7}" for r in rows]
    lines.append(f"(requests: the {rate:g}/s GET stream through the balancer, in flight "
                 "from the kill to recovery)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="rounds of the three faults")
    parser.add_argument("--rate", type=float, default=20.0,
                        help="GETs a second in the steady stream")
    args = parser.parse_args()
    problem = netns.available() or ("" if etcd_binary() else "no etcd binary: install "
                                    "Debian's etcd-server")
    if problem:
        sys.exit(f"cannot run: {problem}")
    with tempfile.TemporaryDirectory(prefix="kyb-bench-failover-") as tmp, \
            lan("kyb-fo-hub", [(f"kyb-fo-s{i + 1}", a) for i, a in enumerate(ADDRESSES)]
                ) as (hub, spokes), inside(hub):
        servers: list[HaServer] = []
        try:
            started = time.monotonic()
            form(Path(tmp), spokes, servers)
            print(f"three servers formed in {time.monotonic() - started:.0f}s", flush=True)
            with open(Path(tmp) / "sim.log", "ab") as sim_log:
                rows = asyncio.run(_measure(servers, Path(tmp), sim_log, args.runs,
                                            args.rate))
        finally:
            for server in servers:
                server.stop()
    print(_table(rows, args.rate))


if __name__ == "__main__":
    main()
