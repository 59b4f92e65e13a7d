"""Durability: a write the server acknowledged survives `kill -9` of the server.

Each round kills the server (SIGKILL: no shutdown, no flush) right after its last
acknowledged write and starts a new one on the same data dir. Restarts also give the only
way to reach a revision the watch cache no longer holds without waiting for compaction
(there is no flag for a smaller window), which is how the 410 test below gets one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import Server, assert_status, make_namespace, watch_events

pytestmark = pytest.mark.e2e

NS = "durable"
CONFIGMAPS = f"/api/v1/namespaces/{NS}/configmaps"


def _configmap(name: str, value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"value": value}}


@pytest.fixture
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("durable")


@pytest.fixture
def servers(data_dir: Path) -> Iterator[list[Server]]:
    """Servers a test starts on `data_dir`; any still running is checked for 5xx and
    stopped at the end."""
    started: list[Server] = []
    yield started
    errors: dict[tuple[str, int], int] = {}
    for server in started:
        if server.process is not None:
            errors.update(server.server_errors())
            server.stop()
    assert not errors, f"the server answered 5xx: {errors}"


def _start(servers: list[Server], data_dir: Path) -> Server:
    server = Server(data_dir)
    server.start()
    servers.append(server)
    return server


def test_acknowledged_writes_survive_kill_9(servers: list[Server], data_dir: Path) -> None:
    expected: dict[str, str] = {}  # name -> data.value, for every acknowledged write
    deleted: set[str] = set()
    last_rv = 0
    for round_ in range(6):
        server = _start(servers, data_dir)
        with server.client() as api:
            if round_ == 0:
                make_namespace(api, NS)
            # Everything acknowledged before the previous kill is there, nothing more.
            listed = api.get(CONFIGMAPS).json()
            assert {i["metadata"]["name"]: i["data"]["value"] for i in listed["items"]} == \
                expected, f"round {round_}"
            for name in deleted:
                assert_status(api.get(f"{CONFIGMAPS}/{name}"), 404, "NotFound")
            assert int(listed["metadata"]["resourceVersion"]) >= last_rv

            for i in range(3):
                name = f"r{round_}-{i}"
                response = api.post(CONFIGMAPS, json=_configmap(name, "created"))
                assert response.status_code == 201, response.text
                expected[name] = "created"
                rv = int(response.json()["metadata"]["resourceVersion"])
                assert rv > last_rv, "resourceVersion went backwards after a restart"
                last_rv = rv
            # The last write before the kill: a create, an update or a delete.
            last = round_ % 3
            if last == 0:
                response = api.post(CONFIGMAPS, json=_configmap(f"r{round_}-last", "created"))
                assert response.status_code == 201, response.text
                expected[f"r{round_}-last"] = "created"
            elif last == 1:
                current = api.get(f"{CONFIGMAPS}/r{round_}-0").json()
                current["data"]["value"] = "updated"
                response = api.put(f"{CONFIGMAPS}/r{round_}-0", json=current)
                assert response.status_code == 200, response.text
                expected[f"r{round_}-0"] = "updated"
            else:
                response = api.delete(f"{CONFIGMAPS}/r{round_}-1")
                assert response.status_code == 200, response.text
                del expected[f"r{round_}-1"]
                deleted.add(f"r{round_}-1")
        server.kill()

    server = _start(servers, data_dir)
    with server.client() as api:
        listed = api.get(CONFIGMAPS).json()
        assert {i["metadata"]["name"]: i["data"]["value"] for i in listed["items"]} == expected


def test_concurrent_acknowledged_creates_survive_kill_9(servers: list[Server],
                                                        data_dir: Path) -> None:
    """Writers keep creating; the server is killed mid-stream. Every create that got its
    201 is there after the restart (writes still in flight may or may not be)."""
    server = _start(servers, data_dir)
    with server.client() as api:
        make_namespace(api, NS)
    acknowledged: list[str] = []
    answered_5xx: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()

    def writer(worker: int) -> None:
        with server.client() as api:
            for i in range(200):
                name = f"w{worker}-{i}"
                try:
                    response = api.post(CONFIGMAPS, json=_configmap(name, str(i)))
                except httpx.HTTPError:
                    return  # the server is gone
                with lock:
                    if response.status_code == 201:
                        acknowledged.append(name)
                    elif response.status_code >= 500:
                        answered_5xx.append(f"{name}: {response.text}")
                    if len(acknowledged) >= 60:
                        enough.set()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    try:
        assert enough.wait(60), "the writers did not get 60 creates acknowledged"
        server.kill()
    finally:
        for thread in threads:
            thread.join(60)
    assert not answered_5xx, answered_5xx
    with lock:
        acked = set(acknowledged)

    restarted = _start(servers, data_dir)
    with restarted.client() as api:
        listed = api.get(CONFIGMAPS).json()
    present = {i["metadata"]["name"] for i in listed["items"]}
    assert acked <= present, f"acknowledged but lost: {sorted(acked - present)}"


def test_watch_from_before_a_restart_is_410_gone(servers: list[Server], data_dir: Path
                                                 ) -> None:
    """A restarted server's watch cache starts at the current revision: a watch from an
    older one ends with an ERROR event carrying a 410 Status, and the Python client and
    client-go relist on it. A watch from the current revision works."""
    server = _start(servers, data_dir)
    with server.client() as api:
        make_namespace(api, NS)
        first = api.post(CONFIGMAPS, json=_configmap("before", "1")).json()
        response = api.post(CONFIGMAPS, json=_configmap("last", "1"))
        assert response.status_code == 201, response.text
        last_rv = response.json()["metadata"]["resourceVersion"]
    server.kill()

    server = _start(servers, data_dir)
    with server.client() as api:
        old_rv = first["metadata"]["resourceVersion"]
        events = watch_events(api, CONFIGMAPS, {"resourceVersion": old_rv},
                              lambda e: e["type"] == "ERROR")
        assert len(events) == 1, events
        status = events[0]["object"]
        assert status["kind"] == "Status"
        assert status["apiVersion"] == "v1"
        assert status["status"] == "Failure"
        assert status["code"] == 410
        assert status["reason"] == "Expired"
        assert status["message"].startswith(f"too old resource version: {old_rv} (")

        # Relisting gives a revision to watch from, and that watch sees new writes.
        relisted = api.get(CONFIGMAPS).json()
        assert int(relisted["metadata"]["resourceVersion"]) >= int(last_rv)
        assert api.post(CONFIGMAPS, json=_configmap("after", "1")).status_code == 201
        events = watch_events(api, CONFIGMAPS,
                              {"resourceVersion": relisted["metadata"]["resourceVersion"]},
                              lambda e: e["object"]["metadata"].get("name") == "after")
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
            ("ADDED", "after")]
