"""Pod startup latency on a real node, beside bare `runc run` of the same image, and memory.

Measures, in one run (needs root, runc, iproute2 and the CNI plugins):

1. **bare runc** (the baseline), before and after the cluster part so that a change of the
   machine's load shows: `--runs` times, an overlay rootfs over the image's unpacked layer
   (the very directory the kubelet stacks), a `config.json` from `runc spec` (its own
   pid/net/ipc/uts/mount/cgroup namespaces, argv `sh -c "echo hi; sleep 3600"`), then
   `runc run -d` timed from invoking to its return (the process is running), then deleted.
   Both `runc run -d` alone and bundle+run (overlay mount, config.json, run) are reported.
2. **kybernetes**: a `kyb server` with its node agent in a network namespace made here (as
   tests/e2e/test_kubelet.py runs it: the CNI bridge and iptables rules live there), on a
   fresh data dir with the busybox image imported (`kyb image import`). `--runs` pods
   (`imagePullPolicy: Never`, the same argv) are created one at a time; each latency is
   from the create request returning to a watch event showing `phase: Running` (and,
   separately, the Ready condition True). Nearest-rank percentiles.
3. a **breakdown** of each of those pods from what the runtime reports (its CRI calls and
   two files), adding nothing to the kubelet: sandbox files written (resolv.conf mtime: the
   sync began creating the sandbox), namespaces pinned (the sandbox's created_at), then two
   things side by side until `runc start` (the container's started_at, stamped before it):
   CNI (done at the pod's ips.json mtime) and the container's create (its created_at:
   volumes, environment, rootfs mount + spec; then the monitor and its `runc create`), and
   the watch event. Wall clock throughout (the
   kubelet stamps with time.time_ns()); file mtimes are as coarse as the kernel's clock
   tick (a few ms). Also the pod's watch events (each one a write of the pod: binding,
   status patches) until Running and in all.
4. **scale**: more pods up to `--scale` (10 at a time), then the RSS and PSS of the
   `kyb server` process, which holds the API server, controllers and scheduler as well as
   the kubelet (its RSS with no pods is printed for the difference), and of every
   container monitor (each process whose command line names the bench's data dir: shims
   or conmons; sum and per monitor), from /proc; the server's CPU over `--idle` seconds
   with no pods (after settling for half as long) and again with the `--scale` pods
   running idle: the difference is the kubelet's per-pod work (relists, resyncs, probes'
   absence included), beside the rest of the server; and the wall time to delete
   them all (one collection delete, grace 1 s, until none is listed).

Everything is removed at the end: the pods (through the API), leftover runc containers and
sandboxes, the bench's cgroups, mounts and the namespace.

    sudo python bench/pod_startup.py [--runs 50] [--scale 100] [--idle 30]
                                     [--loop asyncio] [--profile server.prof]

`--profile` runs the server under cProfile (its main thread: the event loop) and prints the
top functions by cumulative and own time. `--loop asyncio` runs the server on asyncio's own
event loop instead of uvloop, to compare (uvloop forks the whole server for every
subprocess, on the loop).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import pstats
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.cluster import Server
from tests.e2e.nodens import NODE_IP, add_node_address, inside
from tests.kubelet import netns
from tests.kubelet.imagebuild import busybox_image, write_oci_archive

from kybernetes.apiserver.pki import Pki, ssl_client_context
from kybernetes.kubelet.images import ImageStore
from kybernetes.kubelet.runtime.runc.runtime import RuncRuntime
from kybernetes.kubelet.runtime.runc.sandbox import cgroup_dirs

Obj = dict[str, Any]
IMAGE = "busybox:1.36"
NODE = "bench-node"
NAMESPACE = "bench"
SCRIPT = "echo hi; sleep 3600"
WAIT = 120.0


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank: with 50 samples p99 is the largest."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(values: Sequence[float]) -> str:
    return (f"p50 {percentile(values, 50) * 1000:7.1f} ms   p99 "
            f"{percentile(values, 99) * 1000:7.1f} ms   mean "
            f"{sum(values) / len(values) * 1000:7.1f} ms")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# -- bare runc ---------------------------------------------------------------------------


@dataclass
class RuncTimes:
    run: list[float] = field(default_factory=list)  # `runc run -d` alone
    total: list[float] = field(default_factory=list)  # overlay mount + config.json + run
    cpu: float = 0.0  # user+sys seconds of the `runc run -d` processes, all runs


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _runc_config(template: Obj, rootfs: Path, cgroup: str) -> Obj:
    config: Obj = json.loads(json.dumps(template))
    config["process"]["terminal"] = False
    config["process"]["args"] = ["sh", "-c", SCRIPT]
    config["root"] = {"path": str(rootfs), "readonly": False}
    config["hostname"] = "runc"
    config["linux"]["cgroupsPath"] = cgroup
    return config


def bare_runc(layers: Sequence[Path], work: Path, runs: int, cgroup_root: str) -> RuncTimes:
    """`runs` containers, one at a time, each deleted before the next (plus one warm-up)."""
    root = work / "runc-root"
    root.mkdir(parents=True, exist_ok=True)
    if not (work / "config.json").exists():
        subprocess.run(["runc", "spec"], cwd=work, check=True)
    template = json.loads((work / "config.json").read_text())
    lower = ":".join(str(layer) for layer in reversed(layers))
    times = RuncTimes()
    for i in range(runs + 1):
        cid = f"kyb-bench-{secrets.token_hex(6)}"
        bundle = work / cid
        rootfs, upper, overlay_work = bundle / "rootfs", bundle / "upper", bundle / "work"
        start = time.perf_counter()
        for d in (rootfs, upper, overlay_work):
            d.mkdir(parents=True)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={lower},upperdir={upper},workdir={overlay_work}",
                        str(rootfs)], check=True)
        (bundle / "config.json").write_text(json.dumps(
            _runc_config(template, rootfs, f"{cgroup_root}/{cid}")))
        cpu = children_cpu()
        run_start = time.perf_counter()
        subprocess.run(["runc", "--root", str(root), "run", "-d", "--bundle", str(bundle),
                        cid], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.perf_counter()
        if i > 0:
            times.run.append(end - run_start)
            times.total.append(end - start)
            times.cpu += children_cpu() - cpu
        subprocess.run(["runc", "--root", str(root), "delete", "--force", cid], check=True)
        subprocess.run(["umount", str(rootfs)], check=True)
        shutil.rmtree(bundle)
    return times


# -- the node -----------------------------------------------------------------------------


@dataclass
class PodTimes:
    """Wall-clock seconds (time.time()) of what the bench saw of one pod."""

    created: float = 0.0  # the create request returned
    scheduled: float = 0.0  # first watch event with spec.nodeName
    running: float = 0.0  # first watch event with phase Running
    ready: float = 0.0  # first watch event with the Ready condition True
    uid: str = ""
    events: int = 0  # watch events of the pod (its writes) so far
    events_to_running: int = 0  # of those, until the one showing Running


class PodWatch:
    """One watch on the bench namespace's pods, noting when each pod reached each stage."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.pods: dict[str, PodTimes] = {}
        self._ready: dict[str, asyncio.Event] = {}
        self._task: asyncio.Task[None] | None = None

    def expect(self, name: str) -> asyncio.Event:
        self.pods[name] = PodTimes()
        self._ready[name] = asyncio.Event()
        return self._ready[name]

    async def start(self) -> None:
        listed = (await self.client.get(f"/api/v1/namespaces/{NAMESPACE}/pods")).json()
        rv = listed["metadata"]["resourceVersion"]
        self._task = asyncio.create_task(self._watch(rv))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self, rv: str) -> None:
        """From `rv` on, again from the last version seen when the server ends a watch."""
        while True:
            params = {"watch": "1", "resourceVersion": rv}
            async with self.client.stream("GET", f"/api/v1/namespaces/{NAMESPACE}/pods",
                                          params=params, timeout=None) as response:
                async for line in response.aiter_lines():
                    if line:
                        pod = orjson.loads(line)["object"]
                        self._seen(pod, time.time())
                        rv = pod["metadata"]["resourceVersion"]

    def _seen(self, pod: Obj, now: float) -> None:
        name = pod["metadata"]["name"]
        times = self.pods.get(name)
        if times is None:
            return
        times.uid = pod["metadata"]["uid"]
        times.events += 1
        status = pod.get("status") or {}
        if not times.scheduled and (pod.get("spec") or {}).get("nodeName"):
            times.scheduled = now
        if not times.running and status.get("phase") == "Running":
            times.running = now
            times.events_to_running = times.events
        if not times.ready and any(c.get("type") == "Ready" and c.get("status") == "True"
                                   for c in status.get("conditions") or ()):
            times.ready = now
        if times.running and times.ready:
            self._ready[name].set()


def pod_manifest(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": IMAGE, "imagePullPolicy": "Never",
                                     "command": ["sh", "-c", SCRIPT]}],
                     "terminationGracePeriodSeconds": 1}}


async def create_pod(client: httpx.AsyncClient, watch: PodWatch, name: str) -> PodTimes:
    done = watch.expect(name)
    response = await client.post(f"/api/v1/namespaces/{NAMESPACE}/pods",
                                 content=orjson.dumps(pod_manifest(name)),
                                 headers={"content-type": "application/json"})
    watch.pods[name].created = time.time()
    response.raise_for_status()
    try:
        await asyncio.wait_for(done.wait(), WAIT)
    except TimeoutError:
        pod = (await client.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{name}")).json()
        raise RuntimeError(f"pod {name} not Running and Ready after {WAIT:g}s: "
                           f"{json.dumps(pod.get('status'))}") from None
    return watch.pods[name]


@dataclass
class Stages:
    """Per pod, seconds spent in each stage (see the module docstring)."""

    names: tuple[str, ...] = (
        "create -> scheduled (watch)", "scheduled -> sandbox begun",
        "sandbox: shm, namespaces, lo (syscalls)",
        "namespaces -> `runc start` (the longer of:",
        "  CNI ADD (bridge, portmap, bandwidth)",
        "  container create, then monitor + runc create)",
        "    of which: volumes, env, rootfs, spec",
        "-> Running seen (runc start, status, watch)")
    values: list[list[float]] = field(default_factory=list)


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


async def breakdown(pods: Sequence[PodTimes], agent: Path, run_dir: Path) -> Stages:
    """Ask the runtime (CRI calls, read-only) about each pod; call while the pods run."""
    runtime = RuncRuntime(agent / "containers", run_dir / "runc")
    sandboxes = {s.uid: s for s in await runtime.list_pod_sandboxes()}
    containers = {c.sandbox_id: c for c in await runtime.list_containers()}
    stages = Stages()
    for pod in pods:
        sandbox = sandboxes[pod.uid]
        container = await runtime.container_status(containers[sandbox.id].id)
        begun = _mtime(agent / "containers" / "sandboxes" / sandbox.id / "resolv.conf")
        networked = _mtime(agent / "pods" / pod.uid / "ips.json")
        pinned, created = sandbox.created_at / 1e9, container.created_at / 1e9
        started = container.started_at / 1e9
        # conmon writes the init's pid file once `runc create` is done.
        monitored = _mtime(runtime.paths.container_run_dir(container.id) / "init.pid")
        serial = [b - a for a, b in itertools.pairwise(
            [pod.created, pod.scheduled, begun, pinned, started])]
        stages.values.append([*serial, networked - pinned, monitored - pinned,
                              created - pinned, pod.running - started])
    return stages


def rss_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB: PSS splits the pages shared between shims fairly."""
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text()
               .splitlines() if line.startswith("VmRSS:"))
    pss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/smaps_rollup").read_text()
               .splitlines() if line.startswith("Pss:"))
    return rss, pss


def process_cpu(pid: int) -> tuple[float, float]:
    """(own, waited-for children's) user+sys seconds of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    tick = os.sysconf("SC_CLK_TCK")
    return (utime + stime) / tick, (cutime + cstime) / tick


def monitor_pids(data: Path, server_pid: int) -> list[int]:
    """The container monitors (shims, conmons): every process but the server whose command
    line names the data dir (the containers' own processes do not; runc runs briefly)."""
    needle = str(data).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == server_pid:
            continue
        with contextlib.suppress(OSError):
            if needle in (entry / "cmdline").read_bytes() and \
                    b"runc" not in (entry / "comm").read_bytes():
                pids.append(int(entry.name))
    return pids


async def idle_cpu(pid: int, seconds: float) -> float:
    """Percent of one core the process used (its own threads) over `seconds`."""
    before = process_cpu(pid)[0]
    start = time.perf_counter()
    await asyncio.sleep(seconds)
    return (process_cpu(pid)[0] - before) / (time.perf_counter() - start) * 100


# Runs `kyb` with asyncio's own event loop in place of uvloop (`--loop asyncio`): uvloop
# spawns subprocesses with fork(), whose cost grows with the parent's size, on the loop.
ASYNCIO_LAUNCHER = """import asyncio, sys, uvloop
uvloop.run = asyncio.run
from kybernetes.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def start_server(server: Server, profile: Path | None, loop: str) -> None:
    """`Server.start`, under cProfile and/or on asyncio's loop if asked."""
    if profile is None and loop == "uvloop":
        server.start()
        return
    argv = [sys.executable]
    if profile is not None:
        argv += ["-m", "cProfile", "-o", str(profile)]
    if loop == "asyncio":
        launcher = server.data_dir / "asyncio_launcher.py"
        launcher.write_text(ASYNCIO_LAUNCHER)
        argv.append(str(launcher))
    else:
        argv += ["-m", "kybernetes.cli.main"]
    # No ingress: its nginx would count among the monitors (its command line names the
    # data dir), and the figures compare the node with bare runc.
    argv += ["server", "--data-dir", str(server.data_dir), "--bind-address", "127.0.0.1",
             "--https-listen-port", str(server.port), "--disable-ingress", *server.extra_args]
    log = open(server.data_dir / "server.log", "ab")  # noqa: SIM115 - owned by the process
    server.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"kyb server exited: {server.log_tail()}")
        with contextlib.suppress(httpx.HTTPError, OSError), server.client() as client:
            if client.get("/readyz").status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"kyb server not ready: {server.log_tail()}")


async def wait_for(check: Any, what: str, limit: float = WAIT) -> None:
    deadline = time.monotonic() + limit
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.25)


@dataclass
class NodeFigures:
    running: list[float]
    ready: list[float]
    stages: Stages
    scale_running: list[float]
    scale_seconds: float
    server_idle: tuple[int, int]
    server_loaded: tuple[int, int]
    shims: list[tuple[int, int]]
    delete_seconds: float
    server_cpu: tuple[float, float]  # own, its subprocesses': seconds over the measured pods
    shim_cpu: float  # seconds, the monitors' own and their runc's, over the measured pods
    idle_cpu_empty: float  # % of a core, the server with no pods
    idle_cpu_loaded: float  # % of a core, the server with the --scale pods running
    events_to_running: list[int]  # per measured pod: its watch events until Running
    events_total: list[int]  # per measured pod: its watch events by the end of the scaling
    other_pods: int  # pods on the node that are not the bench's (the node's own: mirror pods)


async def drive_node(server: Server, args: argparse.Namespace, agent: Path,
                     run_dir: Path) -> NodeFigures:
    context = ssl_client_context(Pki.at(server.data_dir))
    async with httpx.AsyncClient(base_url=server.url, verify=context, timeout=60) as client:
        async def node_ready() -> bool:
            response = await client.get(f"/api/v1/nodes/{NODE}")
            if response.status_code != 200:
                return False
            return any(c["type"] == "Ready" and c["status"] == "True"
                       for c in response.json()["status"].get("conditions") or ())

        await wait_for(node_ready, "the node Ready")
        (await client.post("/api/v1/namespaces", json={
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": NAMESPACE}})).raise_for_status()
        async def has_default_sa() -> bool:
            return (await client.get(f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/"
                                     "default")).status_code == 200

        await wait_for(has_default_sa, "the default service account")
        others = len((await client.get("/api/v1/pods", params={
            "fieldSelector": f"spec.nodeName={NODE}"})).json()["items"])
        assert server.process is not None
        pid = server.process.pid
        server_idle = rss_kib(pid)
        await asyncio.sleep(args.idle / 2)  # past the start's own work (controllers' syncs)
        empty_cpu = await idle_cpu(pid, args.idle)
        data = agent.parent
        watch = PodWatch(client)
        await watch.start()
        try:
            await create_pod(client, watch, "warmup")
            warm_shims = set(monitor_pids(data, pid))
            cpu_before = process_cpu(pid)
            measured = [await create_pod(client, watch, f"pod-{i}") for i in range(args.runs)]
            cpu_after = process_cpu(pid)
            server_cpu = (cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1])
            shim_cpu = sum(sum(process_cpu(p)) for p in monitor_pids(data, pid)
                           if p not in warm_shims)
            stages = await breakdown(measured, agent, run_dir)
            more = [f"pod-{i}" for i in range(args.runs, args.scale - 1)]
            start = time.perf_counter()
            batch = 10
            scaled: list[PodTimes] = []
            for i in range(0, len(more), batch):
                scaled += await asyncio.gather(
                    *(create_pod(client, watch, name) for name in more[i:i + batch]))
            scale_seconds = time.perf_counter() - start
            await asyncio.sleep(2)  # a relist or two with everything running
            loaded_cpu = await idle_cpu(pid, args.idle)
            server_loaded = rss_kib(pid)
            shims = [rss_kib(p) for p in monitor_pids(data, pid)]
        finally:
            await watch.stop()
            start = time.perf_counter()
            await client.delete(f"/api/v1/namespaces/{NAMESPACE}/pods")

            async def none_left() -> bool:
                listed = (await client.get(f"/api/v1/namespaces/{NAMESPACE}/pods")).json()
                return not listed["items"]

            await wait_for(none_left, "the pods deleted", limit=300)
            delete_seconds = time.perf_counter() - start
    return NodeFigures(
        running=[p.running - p.created for p in measured],
        ready=[p.ready - p.created for p in measured], stages=stages,
        scale_running=[p.running - p.created for p in scaled], scale_seconds=scale_seconds,
        server_idle=server_idle, server_loaded=server_loaded, shims=shims,
        delete_seconds=delete_seconds, server_cpu=server_cpu, shim_cpu=shim_cpu,
        idle_cpu_empty=empty_cpu, idle_cpu_loaded=loaded_cpu,
        events_to_running=[p.events_to_running for p in measured],
        events_total=[p.events for p in measured], other_pods=others)


def cleanup_runtime(agent: Path, run_dir: Path) -> None:
    """Whatever the kubelet left (containers outlive it by design)."""
    async def run() -> None:
        runtime = RuncRuntime(agent / "containers", run_dir / "runc")
        for sandbox in await runtime.list_pod_sandboxes():
            await runtime.stop_pod_sandbox(sandbox.id)
            await runtime.remove_pod_sandbox(sandbox.id)

    asyncio.run(run())


def remove_runc_leftovers(root: Path) -> None:
    """Baseline containers a failed run left behind."""
    if not root.is_dir():
        return
    listed = subprocess.run(["runc", "--root", str(root), "list", "-q"], capture_output=True,
                            text=True, check=False)
    for cid in listed.stdout.split():
        subprocess.run(["runc", "--root", str(root), "delete", "--force", cid], check=False,
                       capture_output=True)


def remove_cgroups(root: str) -> None:
    """The bench's cgroup trees (kubelet's QoS parents, runc's), deepest first."""
    for top in cgroup_dirs(root):
        if top.is_dir():
            for d in sorted((p for p in top.rglob("*") if p.is_dir()),
                            key=lambda p: -len(p.parts)):
                with contextlib.suppress(OSError):
                    d.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()


def unmount_under(base: Path) -> None:
    """Anything still mounted below `base` (a failed run), so that rmtree stays inside."""
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text()
              .splitlines()]
    for target in sorted((m for m in mounts if m.startswith(str(base) + "/")),
                         key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False, capture_output=True)


@contextlib.contextmanager
def node_namespace() -> Iterator[netns.NetNS]:
    with netns.netns("kyb-bench-node") as ns:
        add_node_address(ns)
        with inside(ns):
            yield ns


# -- report -------------------------------------------------------------------------------


def report(args: argparse.Namespace, before: RuncTimes, after: RuncTimes,
           node: NodeFigures, load: list[str]) -> str:
    base_run = before.run + after.run
    base_total = before.total + after.total
    base_cpu = (before.cpu + after.cpu) / len(base_run)
    lines = [
        time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        f"Pod startup: {args.runs} pods one at a time, created -> Running through a watch,"
        f" beside bare runc ({args.runs} runs before and {args.runs} after the cluster);"
        f" server loop: {args.loop}",
        f"load average (1/5/15 min): {' | '.join(load)}  (start | after baseline |"
        " after pods | end); cores: " + str(os.cpu_count()),
        "",
        f"bare `runc run -d`, before           {ms(before.run)}",
        f"bare `runc run -d`, after            {ms(after.run)}",
        f"bare `runc run -d`, both             {ms(base_run)}",
        f"bare overlay+config+run, both        {ms(base_total)}",
        f"kybernetes created -> Running        {ms(node.running)}",
        f"kybernetes created -> Ready          {ms(node.ready)}",
        "ratio created->Running / `runc run -d`:        p50 "
        f"{percentile(node.running, 50) / percentile(base_run, 50):5.2f}x   p99 "
        f"{percentile(node.running, 99) / percentile(base_run, 99):5.2f}x   (goal <= 3x)",
        "ratio created->Running / overlay+config+run:   p50 "
        f"{percentile(node.running, 50) / percentile(base_total, 50):5.2f}x   p99 "
        f"{percentile(node.running, 99) / percentile(base_total, 99):5.2f}x",
        "",
        f"CPU per container, bare `runc run -d`: {base_cpu * 1000:.1f} ms; per pod, kybernetes:"
        f" `kyb server` {node.server_cpu[0] / args.runs * 1000:.1f} ms + its subprocesses "
        f"(CNI plugins, runc...) {node.server_cpu[1] / args.runs * 1000:.1f} ms + "
        f"monitor and its runc {node.shim_cpu / args.runs * 1000:.1f} ms",
        f"writes per pod (watch events): until Running p50 "
        f"{percentile(node.events_to_running, 50)}, max {max(node.events_to_running)}; by "
        f"the end p50 {percentile(node.events_total, 50)}, max {max(node.events_total)}",
        "",
        "breakdown per pod (ms; p50 / p99 / mean of each stage):",
    ]
    for i, name in enumerate(node.stages.names):
        column = [row[i] for row in node.stages.values]
        lines.append(f"  {name:42} {percentile(column, 50) * 1000:7.1f} "
                     f"{percentile(column, 99) * 1000:7.1f} "
                     f"{sum(column) / len(column) * 1000:7.1f}")
    shims_rss = [s[0] for s in node.shims]
    shims_pss = [s[1] for s in node.shims]
    lines += [
        "",
        f"the node's own pods beside the bench's: {node.other_pods} (with --scale "
        f"{args.scale}: {args.scale + node.other_pods} on the node, upstream's limit 110)",
        f"scale to {args.scale} pods: {len(node.scale_running)} more, 10 at a time, in "
        f"{node.scale_seconds:.1f} s; their created -> Running {ms(node.scale_running)}",
        f"`kyb server` (API server + controllers + scheduler + kubelet, one process) with no "
        f"pods: RSS {node.server_idle[0] / 1024:.1f} MiB, PSS {node.server_idle[1] / 1024:.1f}"
        " MiB",
        f"`kyb server` with {args.scale} running pods: RSS {node.server_loaded[0] / 1024:.1f} "
        f"MiB, PSS {node.server_loaded[1] / 1024:.1f} MiB",
        f"monitors: {len(node.shims)}, RSS sum {sum(shims_rss) / 1024:.1f} MiB (each "
        f"{sum(shims_rss) / max(1, len(shims_rss)) / 1024:.2f} MiB mean, "
        f"{max(shims_rss, default=0) / 1024:.2f} max), PSS sum {sum(shims_pss) / 1024:.1f} "
        f"MiB ({sum(shims_pss) / max(1, len(shims_pss)) / 1024:.2f} MiB each)",
        f"`kyb server` RSS + every monitor's with {args.scale} pods: "
        f"{(node.server_loaded[0] + sum(shims_rss)) / 1024:.1f} MiB (goal < 300 MiB at 110)",
        f"`kyb server` CPU over {args.idle:g} s idle: no pods {node.idle_cpu_empty:.2f}% of a "
        f"core, {args.scale} running pods {node.idle_cpu_loaded:.2f}% (the difference is the "
        f"kubelet's per-pod work: {node.idle_cpu_loaded - node.idle_cpu_empty:.2f}%)",
        f"deleting {args.scale} pods (grace 1 s) until none listed: {node.delete_seconds:.1f} s"
        " (goal < 5 s at 110)",
    ]
    return "\n".join(lines)


def print_profile(path: Path) -> None:
    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--scale", type=int, default=100,
                        help="running pods for the memory figures (a warm-up pod included)")
    parser.add_argument("--idle", type=float, default=30.0,
                        help="seconds over which the idle server's CPU is measured")
    parser.add_argument("--profile", type=Path, default=None,
                        help="run the server under cProfile and write its stats here")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                        help="the server's event loop (`kyb` uses uvloop)")
    parser.add_argument("--dir", default=None, help="where the data goes (default: $TMPDIR)")
    parser.add_argument("--server-log", type=Path, default=None,
                        help="keep a copy of the server's log here")
    args = parser.parse_args()
    if netns.available() or shutil.which("runc") is None:
        raise SystemExit("needs root, iproute2 and runc")
    cgroup_root = f"/kyb-bench-{secrets.token_hex(4)}"
    load = [loadavg()]
    with tempfile.TemporaryDirectory(prefix="kyb-bench-pods-", dir=args.dir) as tmp:
        base = Path(tmp)
        data, run_dir = base / "data", base / "data" / "run"
        agent = data / "agent"
        data.mkdir()
        archive = write_oci_archive(base / "busybox.tar",
                                    {f"docker.io/library/{IMAGE}": busybox_image()})
        subprocess.run([sys.executable, "-m", "kybernetes.cli.main", "image", "import",
                        "--data-dir", str(data), str(archive)], check=True,
                       capture_output=True)
        image = ImageStore(data / "images").get(IMAGE)
        assert image is not None
        server = Server(data, agent=True, extra_args=[
            "--node-name", NODE, "--node-ip", NODE_IP, "--run-dir", str(run_dir),
            "--cgroup-root", f"{cgroup_root}/kubepods"])
        try:
            with node_namespace():
                before = bare_runc(image.layer_dirs, base / "runc", args.runs,
                                   f"{cgroup_root}/runc")
                load.append(loadavg())
                start_server(server, args.profile, args.loop)
                try:
                    node = asyncio.run(drive_node(server, args, agent, run_dir))
                except BaseException:
                    print(server.log_tail(), file=sys.stderr)
                    raise
                finally:
                    server.stop()
                    if args.server_log is not None:
                        shutil.copy(data / "server.log", args.server_log)
                    cleanup_runtime(agent, run_dir)
                load.append(loadavg())
                after = bare_runc(image.layer_dirs, base / "runc", args.runs,
                                  f"{cgroup_root}/runc")
                load.append(loadavg())
        finally:
            remove_runc_leftovers(base / "runc" / "runc-root")
            unmount_under(base)
            remove_cgroups(cgroup_root)
    print(report(args, before, after, node, load))
    if args.profile is not None:
        print_profile(args.profile)


if __name__ == "__main__":
    main()
