"""Failures are never silent (issue 17): `/livez` lists its checks as upstream does, each
component of `kyb server` among them; a component that keeps dying turns `/livez` red and
then takes the process down with a clear message and a non-zero exit. An exception in the
scheduler's loop or in a kubelet pod worker costs that one pod a retry: the next pod is
still scheduled, or synced (in-process, the failure injected by wrapping the function).

The component is made to die for real: the scheduler's Lease is taken over (through the
API), so the scheduler stops and `kyb server` starts it again, and its configuration file
has meanwhile become unreadable, so every new start fails.
"""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kybernetes.kubelet.podworkers import PodWorkers, SyncOutcome
from kybernetes.scheduler.queue import QueuedPodInfo
from tests.apiserver import inprocess
from tests.e2e.cluster import Server, wait_until
from tests.scheduler.helpers import node, pod
from tests.scheduler.test_scheduler import FakeApi, scheduler

pytestmark = pytest.mark.e2e

LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler"


async def test_livez_and_readyz_list_their_checks(tmp_path: Path) -> None:
    async with inprocess.apiserver(tmp_path, authorization_mode="AlwaysAllow") as server, \
            inprocess.http_client(server.app) as http:
        app = server.app
        app.liveness["scheduler"] = lambda: None
        assert (await http.get("/livez")).text == "ok"
        verbose = await http.get("/livez?verbose")
        assert verbose.status_code == 200
        assert verbose.text == "[+]ping ok\n[+]watch-cache ok\n[+]scheduler ok\n" \
                               "livez check passed\n"
        ready = await http.get("/readyz?verbose")
        assert ready.status_code == 200
        assert ready.text == "[+]ping ok\n[+]watch-cache ok\n[+]storage ok\n" \
                             "[+]watch-cache-fresh ok\nreadyz check passed\n"

        app.liveness["controller-manager"] = lambda: "failed (injected)"
        for path in ("/livez", "/livez?verbose", "/healthz"):
            failed = await http.get(path)
            assert failed.status_code == 503
            assert failed.text.splitlines() == [
                "[+]ping ok", "[+]watch-cache ok", "[+]scheduler ok",
                "[-]controller-manager failed: reason withheld",
                f"{path.removeprefix('/').split('?')[0]} check failed"]
        # A dead component does not make the API unready, and a check can be excluded.
        assert (await http.get("/readyz")).status_code == 200
        assert (await http.get("/livez?exclude=controller-manager")).text == "ok"


async def test_the_scheduler_loop_goes_on_after_an_exception() -> None:
    api = FakeApi()
    s = scheduler(api)
    schedule_one = s.schedule_one
    failures = 0

    def failing_once(qpi: QueuedPodInfo) -> None:
        nonlocal failures
        if qpi.key == "default/bad" and failures == 0:
            failures += 1
            raise RuntimeError("injected: the scheduling cycle breaks")
        schedule_one(qpi)

    async def informers_of_the_test() -> None:
        s._on_node_add(node("n1"))
        for obj in (pod("bad", cpu="1"), pod("good", cpu="1")):
            s.pods.store.add(obj)
            s._on_pod_add(obj)

    s.schedule_one = failing_once  # type: ignore[method-assign]
    s.start_informers = informers_of_the_test  # type: ignore[method-assign]
    loop = asyncio.create_task(s.run())

    async def bound(name: str) -> None:
        while not api.of("POST", f"/pods/{name}/binding"):  # noqa: ASYNC110 - the fake API
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(bound("good"), 10)  # the next pod is scheduled
        await asyncio.wait_for(bound("bad"), 30)  # and the failed one after its backoff
        assert failures == 1 and not loop.done()
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        await s.shutdown()


async def test_a_pod_worker_retries_a_failed_sync_and_others_go_on() -> None:
    synced: list[str] = []
    failures = 0

    async def sync(uid: str) -> SyncOutcome:
        nonlocal failures
        if uid == "bad" and failures == 0:
            failures += 1
            raise RuntimeError("injected: the pod's sync breaks")
        synced.append(uid)
        return None

    workers = PodWorkers(sync, retry_after=0.01)
    workers.wake("bad")
    workers.wake("good")
    try:
        async with asyncio.timeout(10):
            while len(synced) < 2:  # noqa: ASYNC110 - waiting on the workers
                await asyncio.sleep(0.01)
        assert sorted(synced) == ["bad", "good"] and failures == 1
        assert "bad" in workers  # the worker lives on, waiting to be woken
    finally:
        await workers.stop()


def _livez(server: Server) -> str:
    with server.client() as api:
        return api.get("/livez?verbose").text


def _take_over_the_scheduler_lease(server: Server) -> None:
    with server.client() as api:
        lease: dict[str, Any] = wait_until(
            lambda: (r.json() if (r := api.get(LEASE)).status_code == 200 and
                     r.json()["spec"].get("holderIdentity") else None), "a scheduler leader")
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lease["spec"].update(holderIdentity="intruder", leaseDurationSeconds=2,
                             acquireTime=now, renewTime=now)
        response = api.put(LEASE, json=lease)
        assert response.status_code == 200, response.text


@pytest.mark.e2e
def test_a_component_that_keeps_dying_takes_the_server_down(tmp_path: Path) -> None:
    config = tmp_path / "scheduler.yaml"
    config.write_text("apiVersion: kubescheduler.config.k8s.io/v1\n"
                      "kind: KubeSchedulerConfiguration\n")
    server = Server(tmp_path / "data", extra_args=["--scheduler-config", str(config)])
    (tmp_path / "data").mkdir()
    server.start()
    try:
        healthy = wait_until(lambda: text if "[+]scheduler ok" in (text := _livez(server))
                             else None, "the scheduler running")
        assert healthy.splitlines() == [
            "[+]ping ok", "[+]watch-cache ok", "[+]controller-manager ok",
            "[+]metrics-server ok", "[+]scheduler ok",
            "livez check passed"]
        config.write_text("kind: [not, a, configuration")
        _take_over_the_scheduler_lease(server)
        red = wait_until(lambda: text if "[-]scheduler" in (text := _livez(server)) else None,
                         "/livez naming the scheduler")
        assert "[-]scheduler failed: reason withheld" in red.splitlines()
        assert "[+]controller-manager ok" in red.splitlines()
        assert red.splitlines()[-1] == "livez check failed"
        assert server.process is not None
        code = server.process.wait(60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"kyb server still runs: {server.log_tail()}") from None
    finally:
        server.stop()
    assert code != 0
    assert "kyb server: scheduler ended 5 times within 300s" in server.log_tail()
