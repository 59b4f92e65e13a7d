"""After an outage under write load, the API serves what the storage holds (issue 22).

On etcd, as an operator met it and as the issue's targeted reproduction does it, every run:
32 clients write ConfigMaps through `kyb apiserver`; etcd is killed (kill -9) and the API
server is cut off from it (its etcd client port rejected); etcd is restarted, and a second
client writes a backlog of revisions straight into etcd through another client port, as a
second API server sharing the etcd would; the cut is lifted while those writes go on. Every
list served from then on (the default consistent list, asked for again and again while the
API server catches up, then right after `/readyz` turns green that and `resourceVersion=0`
and `resourceVersionMatch=NotOlderThan`) must equal etcd at the list's resourceVersion, and
informers (list, then watch from the list's resourceVersion, reopening a watch that ends
from the last resourceVersion seen and relisting on 410 Gone) must end equal to etcd: one
started from the first list after `/readyz`, and one that has watched since before the first
run. The scenario runs 10 times in a row in one test (the code before the fix served a stale
list in about one run in five; bench/etcd_restart.py runs more). On SQLite, the same check follows
kill -9 of the server under load.

etcd, the API server and this test's own sockets live in a network namespace the test makes
(tests/kubelet/netns.py; the test's thread enters it, tests/e2e/nodens.py), so the cut is an
iptables rule on that namespace's loopback and nothing touches the host's network. The
second etcd client is a child process started inside the namespace (gRPC's own threads would
not be in it), spoken to in lines on its stdin and stdout; run as
`python -m tests.e2e.test_etcd_restart ENDPOINT`.

bench/etcd_restart.py times the recovery with this module's scenario.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import shutil
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from kybernetes.apiserver.pki import Pki, ssl_client_context
from kybernetes.storage.etcd import EtcdStorage
from kybernetes.storage.interface import KeyValue, StorageError
from kybernetes.storage.sqlite import SQLiteStorage
from tests.e2e.cluster import Server, etcd_storage_args
from tests.e2e.nodens import inside
from tests.etcd_cluster import EtcdCluster, etcd_binary, free_port
from tests.kubelet import netns

NS = "restart"
CONFIGMAPS = f"/api/v1/namespaces/{NS}/configmaps"
PREFIX = f"/registry/configmaps/{NS}/"
# Runs of the scenario in a row, and revisions the second client writes into etcd in each
# while the API server is cut off: etcd replays 1000 revisions per catch-up pass, so the API
# server's watch resumes over several, the window in which etcd 3.4 answered a progress
# request ahead of the replay (bench/etcd_restart.py uses as many).
RUNS = 10
BACKLOG = 3000
# Clients writing through the API meanwhile.
WRITERS = 32
# A guard against hangs, not a measure.
PATIENCE = 60.0
ROOT = Path(__file__).resolve().parents[2]

# name -> (resourceVersion, data) of the ConfigMaps in NS.
Snapshot = dict[str, tuple[int, Any]]


def _configmap(name: str, serial: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": NS},
            "data": {"serial": str(serial), "payload": "x" * 500}}


def _snapshot(items: list[KeyValue]) -> Snapshot:
    return {kv.key[len(PREFIX):]: (kv.mod_revision, json.loads(kv.value).get("data"))
            for kv in items}


def difference(served: Snapshot, truth: Snapshot) -> str:
    """What `served` gets wrong about `truth` ("" when nothing)."""
    missing = sorted(truth.keys() - served.keys())
    extra = sorted(served.keys() - truth.keys())
    stale = sorted(n for n in served.keys() & truth.keys() if served[n] != truth[n])
    if not (missing or extra or stale):
        return ""
    return (f"{len(missing)} missing {missing[:5]}, {len(extra)} that should not be there "
            f"{extra[:5]}, {len(stale)} with other content "
            f"{[(n, served[n][0], truth[n][0]) for n in stale[:5]]}")


class Truth(Protocol):
    async def state(self, revision: int) -> Snapshot:
        """The ConfigMaps of NS in the storage at `revision`."""
        ...


# -- the second etcd client (a child process inside the namespace) --------------------------


async def _write_backlog(storage: EtcdStorage, present: dict[str, int],
                         serial: Iterator[int], count: int) -> int:
    """`count` writes (creates, updates, deletes; one revision each) of ConfigMaps of its
    own, 16 at a time; returns the last revision written."""
    left = count
    top = 0

    async def worker(index: int) -> None:
        nonlocal left, top
        keys = [f"{PREFIX}direct-{index:02d}-{k}" for k in range(8)]
        while left > 0:
            left -= 1
            key = random.choice(keys)
            value = json.dumps(_configmap(key[len(PREFIX):], next(serial))).encode()
            try:
                if key not in present:
                    kv = await storage.create(key, value)
                    present[key] = kv.mod_revision
                elif random.random() < 0.75:
                    kv = await storage.update(key, value, expected_revision=present[key])
                    present[key] = kv.mod_revision
                else:
                    kv = await storage.delete(key, expected_revision=present[key])
                    del present[key]
            except StorageError:
                left += 1
                with contextlib.suppress(StorageError):
                    found = await storage.get(key)
                    present.pop(key, None)
                    if found is not None:
                        present[key] = found.mod_revision
                await asyncio.sleep(0.05)
                continue
            top = max(top, kv.mod_revision)

    await asyncio.gather(*(worker(i) for i in range(16)))
    return top


async def _second_client(endpoint: str) -> None:
    """Answer `write COUNT` with the last revision written, `state REVISION` with the
    Snapshot at that revision (JSON), one line each."""
    storage = EtcdStorage([endpoint])
    await storage.start()
    present: dict[str, int] = {}
    serial = itertools.count()
    try:
        while line := await asyncio.to_thread(sys.stdin.readline):
            command, argument = line.split()
            if command == "write":
                answer = str(await _write_backlog(storage, present, serial, int(argument)))
            else:
                listed = await storage.list(PREFIX, revision=int(argument))
                answer = json.dumps(_snapshot(listed.items))
            sys.stdout.write(answer + "\n")
            sys.stdout.flush()
    finally:
        await storage.close()


class SecondClient:
    """The test's side of the second etcd client."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._turn = asyncio.Lock()

    @classmethod
    async def start(cls, endpoint: str) -> SecondClient:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.e2e.test_etcd_restart", endpoint, cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 26)
        return cls(process)

    async def _ask(self, line: str) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        async with self._turn:
            self.process.stdin.write(f"{line}\n".encode())
            await self.process.stdin.drain()
            answer = await asyncio.wait_for(self.process.stdout.readline(), PATIENCE)
        if not answer:
            raise AssertionError(f"the second etcd client exited ({line!r})")
        return answer.decode()

    async def write(self, count: int) -> int:
        return int(await self._ask(f"write {count}"))

    async def state(self, revision: int) -> Snapshot:
        answer = json.loads(await self._ask(f"state {revision}"))
        return {name: (rv, data) for name, (rv, data) in answer.items()}

    async def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


class SQLiteTruth:
    """The server's SQLite file, read beside it."""

    def __init__(self, path: Path) -> None:
        self.storage = SQLiteStorage(path)

    async def state(self, revision: int) -> Snapshot:
        return _snapshot((await self.storage.list(PREFIX, revision=revision)).items)


# -- clients of the API ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def api_client(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
            base_url=server.url, verify=ssl_client_context(Pki.at(server.data_dir)),
            timeout=30, limits=httpx.Limits(max_connections=2 * WRITERS)) as api:
        yield api


class Writers:
    """WRITERS clients creating, updating and deleting ConfigMaps of their own through the
    API, each as fast as it can (pausing briefly after a failure)."""

    def __init__(self, api: httpx.AsyncClient) -> None:
        self.api = api
        self.acknowledged = 0
        self._serial = itertools.count()
        self._stop = asyncio.Event()
        self._tasks = [asyncio.create_task(self._write(i)) for i in range(WRITERS)]

    async def _write(self, index: int) -> None:
        names = [f"api-{index:02d}-{k}" for k in range(4)]
        present: set[str] = set()
        while not self._stop.is_set():
            name = random.choice(names)
            body = _configmap(name, next(self._serial))
            try:
                if name not in present:
                    response = await self.api.post(CONFIGMAPS, json=body)
                    if response.status_code in (201, 409):
                        present.add(name)
                elif random.random() < 0.8:
                    response = await self.api.put(f"{CONFIGMAPS}/{name}", json=body)
                    if response.status_code == 404:
                        present.discard(name)
                else:
                    response = await self.api.delete(f"{CONFIGMAPS}/{name}")
                    if response.status_code in (200, 404):
                        present.discard(name)
                done = response.status_code < 300
            except httpx.HTTPError:
                done = False
            if done:
                self.acknowledged += 1
            else:
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


@dataclass
class Listed:
    revision: int
    objects: Snapshot
    query: dict[str, str]


async def list_configmaps(api: httpx.AsyncClient, query: dict[str, str] | None = None
                          ) -> Listed:
    response = await api.get(CONFIGMAPS, params=query or {})
    assert response.status_code == 200, (query, response.status_code, response.text[:500])
    body = response.json()
    return Listed(int(body["metadata"]["resourceVersion"]),
                  {o["metadata"]["name"]: (int(o["metadata"]["resourceVersion"]), o.get("data"))
                   for o in body["items"]}, query or {})


async def fresh_lists(api: httpx.AsyncClient) -> list[Listed]:
    """The lists a client may ask for right after `/readyz`: the default (consistent) one,
    `resourceVersion=0`, and `NotOlderThan` the first's resourceVersion."""
    first = await list_configmaps(api)
    return [first, await list_configmaps(api, {"resourceVersion": "0"}),
            await list_configmaps(api, {"resourceVersion": str(first.revision),
                                        "resourceVersionMatch": "NotOlderThan"})]


async def wait_ready(api: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + PATIENCE
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if (await api.get("/readyz", timeout=10)).status_code == 200:
                return
        assert time.monotonic() < deadline, f"/readyz not green in {PATIENCE}s"
        await asyncio.sleep(0.02)


@dataclass
class Informer:
    """client-go's reflector, plainly: list, then watch from the list's resourceVersion; a
    watch that ends or breaks is reopened from the last resourceVersion seen, and 410 Gone
    (an answer or an ERROR event) relists."""

    api: httpx.AsyncClient
    objects: Snapshot = field(default_factory=dict)
    revision: int = 0
    relists: int = 0
    # Events whose resourceVersion did not move past the one before.
    disorder: list[str] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self, listed: Listed) -> None:
        self.objects, self.revision = dict(listed.objects), listed.revision
        self._task = asyncio.create_task(self._run())

    async def _relist(self) -> None:
        self.relists += 1
        while True:
            with contextlib.suppress(httpx.HTTPError, AssertionError):
                listed = await list_configmaps(self.api)
                self.objects, self.revision = listed.objects, listed.revision
                return
            await asyncio.sleep(0.1)

    async def _run(self) -> None:
        while True:
            gone = False
            try:
                async with self.api.stream(
                        "GET", CONFIGMAPS, params={"watch": "1", "timeoutSeconds": "60",
                                                   "resourceVersion": str(self.revision)},
                        timeout=httpx.Timeout(10, read=None)) as response:
                    gone = response.status_code == 410
                    if response.status_code == 200:
                        async for line in response.aiter_lines():
                            if line.strip() and not self._apply(json.loads(line)):
                                gone = True
                                break
            except httpx.HTTPError:
                pass
            if gone:
                await self._relist()
            else:
                await asyncio.sleep(0.1)

    def _apply(self, event: dict[str, Any]) -> bool:
        """Apply a watch event; False for 410 Gone."""
        obj = event["object"]
        if event["type"] == "ERROR":
            return obj.get("code") != 410
        revision = int(obj["metadata"]["resourceVersion"])
        if event["type"] != "BOOKMARK":
            if revision <= self.revision:
                self.disorder.append(f"{event['type']} {obj['metadata']['name']} at "
                                     f"{revision} after {self.revision}")
            name = obj["metadata"]["name"]
            if event["type"] == "DELETED":
                self.objects.pop(name, None)
            else:
                self.objects[name] = (revision, obj.get("data"))
        self.revision = max(self.revision, revision)
        return True

    async def reach(self, revision: int) -> None:
        deadline = time.monotonic() + PATIENCE
        while self.revision < revision:
            assert self._task is not None and not self._task.done()
            assert time.monotonic() < deadline, \
                f"the informer stayed at {self.revision}, short of {revision}"
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


# -- the scenario ----------------------------------------------------------------------------


@dataclass
class EtcdEnv:
    """etcd and `kyb apiserver` in a namespace of their own: etcd serves the API server on
    `api_port` (the port the cut rejects) and the second client on the member's port."""

    ns: netns.NetNS
    cluster: EtcdCluster
    api_port: int
    server: Server
    second: SecondClient

    @property
    def _rule(self) -> list[str]:
        return ["INPUT", "-p", "tcp", "--dport", str(self.api_port), "-j", "REJECT",
                "--reject-with", "tcp-reset"]

    def cut(self) -> None:
        self.ns.run("iptables", "-I", *self._rule)

    def lift(self) -> None:
        self.ns.run("iptables", "-D", *self._rule)


def namespace_problem() -> str:
    """Why the etcd scenario cannot run here ("" when it can)."""
    if etcd_binary() is None:
        return "etcd binary not found: install Debian's etcd-server"
    return netns.available() or ("" if shutil.which("iptables") else
                                 "iptables is not installed")


@contextlib.contextmanager
def etcd_namespace() -> Iterator[netns.NetNS]:
    """A namespace of the test's, which the calling thread is in until the block ends."""
    with netns.netns("kyb-etcd-restart") as ns, inside(ns):
        yield ns


@contextlib.asynccontextmanager
async def etcd_env(ns: netns.NetNS, base: Path) -> AsyncIterator[EtcdEnv]:
    """Call inside `etcd_namespace()`: everything started here lives in it."""
    cluster = EtcdCluster(base / "etcd", size=1)
    api_port = free_port()
    member = cluster.members[0]
    cluster.extra_args = ("--listen-client-urls",
                          f"http://{member.address},http://127.0.0.1:{api_port}")
    data_dir = base / "kyb"
    data_dir.mkdir()
    server = Server(data_dir, command="apiserver",
                    extra_args=etcd_storage_args([f"127.0.0.1:{api_port}"]))
    second: SecondClient | None = None
    try:
        cluster.start()
        server.start()
        second = await SecondClient.start(member.address)
        yield EtcdEnv(ns, cluster, api_port, server, second)
    finally:
        if second is not None:
            await second.close()
        server.stop()
        cluster.stop()


@dataclass
class Recovery:
    ready: float  # seconds from the cut's lifting to /readyz
    listed: float  # ... to the first list served
    # Every list served from the lifting on: those right after /readyz (first), and those
    # asked for while the API server caught up (each waits until the cache is fresh, or
    # fails).
    lists: list[Listed]


async def _keep_listing(api: httpx.AsyncClient, served: list[tuple[float, Listed]],
                        stop: asyncio.Event) -> None:
    """List again and again (one at a time) until `stop`, keeping what is served, timed."""
    while not stop.is_set():
        with contextlib.suppress(httpx.HTTPError, AssertionError):
            listed = await list_configmaps(api)
            served.append((time.monotonic(), listed))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.02)


async def etcd_outage(env: EtcdEnv, api: httpx.AsyncClient, backlog: int) -> Recovery:
    """kill -9 etcd (under the caller's load) and cut the API server off; restart etcd and
    write `backlog` revisions through the second client; lift the cut while a quarter as
    many more are written; list from then on until `/readyz`, and right after it."""
    env.cluster.kill(0)
    env.cut()
    env.cluster.restart(0)
    await env.second.write(backlog)
    env.lift()
    lifted = time.monotonic()
    more = asyncio.create_task(env.second.write(backlog // 4))
    served: list[tuple[float, Listed]] = []
    stop = asyncio.Event()
    lister = asyncio.create_task(_keep_listing(api, served, stop))
    await wait_ready(api)
    ready = time.monotonic() - lifted
    after = await fresh_lists(api)
    first = (served[0][0] if served else time.monotonic()) - lifted
    stop.set()
    await lister
    await more
    return Recovery(ready, first, after + [listed for _, listed in served])


async def sqlite_outage(server: Server) -> None:
    """kill -9 the server (under the caller's load) and start it again, until `/readyz`."""
    server.kill()
    await asyncio.to_thread(server.start)


async def check_runs(api: httpx.AsyncClient, truth: Truth, runs: int,
                     outage: Callable[[], Awaitable[list[Listed]]], server: Server) -> None:
    """`runs` outages under load; after each, the lists served (the first of them right
    after `/readyz`) equal the storage at their resourceVersion, and informers end equal to
    the storage: one started from that first list, one watching all along."""
    created = await api.post("/api/v1/namespaces", json={
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    assert created.status_code == 201, created.text
    veteran = Informer(api)  # watching since before the first outage
    veteran.start(await list_configmaps(api))
    try:
        for run in range(runs):
            writers = Writers(api)
            await asyncio.sleep(0.3)
            lists = await outage()
            newcomer = Informer(api)
            newcomer.start(lists[0])
            await asyncio.sleep(0.3)
            await writers.stop()
            assert writers.acknowledged, f"run {run + 1}: no write went through"
            marker = await api.post(CONFIGMAPS, json=_configmap(f"marker-{run}", run))
            assert marker.status_code == 201, marker.text
            end = int(marker.json()["metadata"]["resourceVersion"])
            wrong = [f"list {listed.query or 'default'} at {listed.revision}: {diff}"
                     for listed in lists
                     if (diff := difference(listed.objects, await truth.state(listed.revision)))]
            for name, informer in (("newcomer", newcomer), ("veteran", veteran)):
                await informer.reach(end)
                diff = difference(informer.objects, await truth.state(informer.revision))
                if diff or informer.disorder:
                    wrong.append(f"{name} informer at {informer.revision} (relisted "
                                 f"{informer.relists}x): {diff} {informer.disorder[:3]}")
            await newcomer.stop()
            assert not wrong, f"run {run + 1} of {runs}:\n" + "\n".join(wrong) + \
                f"\n{server.log_tail()}"
    finally:
        await veteran.stop()


@pytest.mark.e2e
@pytest.mark.timeout(600)
@pytest.mark.skipif(bool(namespace_problem()), reason=namespace_problem())
def test_etcd_restarts_with_a_backlog_leave_lists_and_informers_equal_to_etcd(
        tmp_path: Path) -> None:
    async def scenario(ns: netns.NetNS) -> None:
        async with etcd_env(ns, tmp_path) as env, api_client(env.server) as api:
            async def outage() -> list[Listed]:
                return (await etcd_outage(env, api, BACKLOG)).lists
            await check_runs(api, env.second, RUNS, outage, env.server)

    with etcd_namespace() as ns:
        asyncio.run(scenario(ns))


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_sqlite_server_kills_leave_lists_and_informers_equal_to_the_database(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        server = Server(tmp_path, command="apiserver")
        truth = SQLiteTruth(tmp_path / "state.db")
        try:
            server.start()
            await truth.storage.start()
            async with api_client(server) as api:
                async def outage() -> list[Listed]:
                    await sqlite_outage(server)
                    return await fresh_lists(api)
                await check_runs(api, truth, RUNS, outage, server)
        finally:
            await truth.storage.close()
            server.stop()

    asyncio.run(scenario())


if __name__ == "__main__":
    asyncio.run(_second_client(sys.argv[1]))
