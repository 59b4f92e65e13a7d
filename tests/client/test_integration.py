"""The client against a real `kyb server` process on loopback (HTTPS, admin cert)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kybernetes.client import (
    AlreadyExistsError,
    ApiClient,
    ConflictError,
    EventRecorder,
    Informer,
    LeaderElectionConfig,
    LeaderElector,
    NotFoundError,
    Preconditions,
    SharedInformerFactory,
    field_index,
    load_kubeconfig,
    resource,
)
from tests.client.helpers import eventually
from tests.e2e.cluster import Server

pytestmark = pytest.mark.e2e

CONFIGMAPS = resource("", "v1", "configmaps")
PODS = resource("", "v1", "pods")
LEASES = resource("coordination.k8s.io", "v1", "leases")
EVENTS = resource("", "v1", "events")
Obj = dict[str, Any]


def configmap(name: str, **data: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": dict(data)}


def pod(name: str, node: str = "") -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": "busybox:1.36"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {
        "app": "web"}}, "spec": spec}


async def test_crud_round_trip(api: ApiClient, namespace: str) -> None:
    created = await api.create(CONFIGMAPS, configmap("cm", a="1"), namespace)
    assert created["metadata"]["namespace"] == namespace
    rv = created["metadata"]["resourceVersion"]
    with pytest.raises(AlreadyExistsError):
        await api.create(CONFIGMAPS, configmap("cm"), namespace)

    got = await api.get(CONFIGMAPS, "cm", namespace)
    assert got["data"] == {"a": "1"}
    got["data"]["a"] = "2"
    updated = await api.update(CONFIGMAPS, got)
    assert updated["data"] == {"a": "2"} and updated["metadata"]["resourceVersion"] != rv
    got["data"]["a"] = "stale"
    with pytest.raises(ConflictError):
        await api.update(CONFIGMAPS, got)  # still carries the old resourceVersion

    merged = await api.patch(CONFIGMAPS, "cm", {"data": {"b": "3"}}, namespace)
    assert merged["data"] == {"a": "2", "b": "3"}
    strategic = await api.patch(CONFIGMAPS, "cm", {"metadata": {"labels": {"x": "y"}}},
                                namespace, patch_type="strategic")
    assert strategic["metadata"]["labels"] == {"x": "y"}
    jsonp = await api.patch(CONFIGMAPS, "cm", [{"op": "remove", "path": "/data/a"}],
                            namespace, patch_type="json")
    assert jsonp["data"] == {"b": "3"}

    with pytest.raises(ConflictError):
        await api.delete(CONFIGMAPS, "cm", namespace,
                         preconditions=Preconditions(uid="not-the-uid"))
    status = await api.delete(CONFIGMAPS, "cm", namespace, propagation_policy="Background",
                              preconditions=Preconditions(uid=created["metadata"]["uid"]))
    assert status["status"] == "Success"
    with pytest.raises(NotFoundError):
        await api.get(CONFIGMAPS, "cm", namespace)


async def test_update_status_keeps_spec(api: ApiClient, namespace: str) -> None:
    body = pod("p")
    # No scheduler takes it: the default one would write its PodScheduled condition (there
    # are no nodes) between the create and the status update.
    body["spec"]["schedulerName"] = "nobody"
    created = await api.create(PODS, body, namespace)
    created["status"] = {"phase": "Running"}
    created["spec"]["activeDeadlineSeconds"] = 5  # ignored through /status
    written = await api.update_status(PODS, created)
    assert written["status"]["phase"] == "Running"
    assert "activeDeadlineSeconds" not in written["spec"]
    await api.delete(PODS, "p", namespace, grace_period_seconds=0)


async def test_list_pagination(api: ApiClient, namespace: str) -> None:
    await asyncio.gather(*(api.create(CONFIGMAPS, configmap(f"cm-{i:02d}"), namespace)
                           for i in range(25)))
    pages = [page async for page in api.list_pages(CONFIGMAPS, namespace, limit=7)]
    assert [len(p["items"]) for p in pages] == [7, 7, 7, 4]
    assert pages[0]["metadata"]["remainingItemCount"] == 18
    result = await api.list(CONFIGMAPS, namespace, limit=7)
    assert [o["metadata"]["name"] for o in result] == [f"cm-{i:02d}" for i in range(25)]
    assert int(result.resource_version) > 0
    everything = await api.list(CONFIGMAPS, limit=0)
    assert len([o for o in everything if o["metadata"]["namespace"] == namespace]) == 25


async def test_watch_delivers_changes_in_order(api: ApiClient, namespace: str) -> None:
    start = (await api.list(CONFIGMAPS, namespace)).resource_version
    seen: list[tuple[str, str]] = []
    watch = api.watch(CONFIGMAPS, namespace, resource_version=start, timeout_seconds=30)

    async def consume() -> None:
        async for kind, obj in watch:
            if kind != "BOOKMARK":
                seen.append((kind, obj["metadata"]["name"]))
            if kind == "DELETED":
                return

    task = asyncio.create_task(consume())
    await api.create(CONFIGMAPS, configmap("w", a="1"), namespace)
    await api.patch(CONFIGMAPS, "w", {"data": {"a": "2"}}, namespace)
    await api.delete(CONFIGMAPS, "w", namespace)
    await asyncio.wait_for(task, 20)
    await watch.aclose()
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


async def test_watch_closed_from_another_task_ends_quietly(api: ApiClient,
                                                           namespace: str) -> None:
    watch = api.watch(CONFIGMAPS, namespace, timeout_seconds=60)
    seen: list[str] = []

    async def consume() -> None:
        async for _, obj in watch:
            seen.append(obj["metadata"]["name"])

    task = asyncio.create_task(consume())
    await api.create(CONFIGMAPS, configmap("x"), namespace)
    await eventually(lambda: seen == ["x"])
    await watch.aclose()
    await asyncio.wait_for(task, 20)  # no exception: the stream just ended
    assert (await api.get(CONFIGMAPS, "x", namespace))["metadata"]["name"] == "x"


async def test_watch_initial_events_and_server_timeout(api: ApiClient, namespace: str
                                                      ) -> None:
    await api.create(CONFIGMAPS, configmap("one"), namespace)
    await api.create(CONFIGMAPS, configmap("two"), namespace)
    events = []
    async with api.watch(CONFIGMAPS, namespace, send_initial_events=True,
                         timeout_seconds=1) as watch:
        async for event in watch:
            events.append(event)
    # The stream ends by itself at timeoutSeconds.
    kinds = [e.type for e in events]
    assert kinds[:3] == ["ADDED", "ADDED", "BOOKMARK"]
    bookmark = events[2].object
    assert bookmark["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert watch.resource_version


async def test_informer_sees_add_update_delete(api: ApiClient, namespace: str) -> None:
    await api.create(PODS, pod("before", node="n1"), namespace)
    informer = Informer(api, PODS, namespace=namespace, label_selector="app=web",
                        indexers={"node": field_index("spec.nodeName")})
    log: list[tuple[str, str]] = []
    informer.add_event_handler(
        lambda o: log.append(("add", o["metadata"]["name"])),
        lambda old, new: log.append(("update", new["metadata"]["name"])),
        lambda o: log.append(("delete", o["metadata"]["name"])))
    informer.start()
    try:
        assert await informer.wait_for_sync(20)
        assert informer.store.index_keys("node", "n1") == [f"{namespace}/before"]
        await api.create(PODS, pod("after", node="n2"), namespace)
        await api.patch(PODS, "after", {"metadata": {"annotations": {"a": "b"}}}, namespace)
        # Relabelled out of the selector: a delete for this informer.
        await api.patch(PODS, "before", {"metadata": {"labels": {"app": "other"}}}, namespace)
        await api.delete(PODS, "after", namespace, grace_period_seconds=0)
        await eventually(lambda: len(log) >= 5)
        assert log[0] == ("add", "before")
        assert ("add", "after") in log and ("update", "after") in log
        assert ("delete", "before") in log and log[-1] == ("delete", "after")
        assert len(informer.store) == 0
        assert informer.store.index_values("node") == []
    finally:
        await informer.stop()


async def test_shared_informers_sync_from_one_list(api: ApiClient, namespace: str) -> None:
    for i in range(3):
        await api.create(CONFIGMAPS, configmap(f"s{i}"), namespace)
    factory = SharedInformerFactory(api, namespace=namespace, watch_list=True)
    first = factory.informer(CONFIGMAPS)
    second = factory.informer(CONFIGMAPS)
    assert first is second
    factory.start()
    try:
        assert await factory.wait_for_cache_sync(20)
        assert sorted(first.store.keys()) == [f"{namespace}/s{i}" for i in range(3)]
    finally:
        await factory.shutdown()


async def test_leader_election_hand_over(server: Server, namespace: str) -> None:
    """Two candidates: one leads; when it stops (releasing the lease) the other takes
    over; when that one stops without releasing, the lease expires and the first one,
    running again, takes it back."""
    timings = {"lease_duration": 2.0, "renew_deadline": 1.5, "retry_period": 0.2}
    leading: dict[str, asyncio.Event] = {"a": asyncio.Event(), "b": asyncio.Event()}
    stopped: list[str] = []
    leaders_seen: list[str] = []

    def elector(client: ApiClient, who: str, release: bool = True) -> LeaderElector:
        async def lead() -> None:
            leading[who].set()
            await asyncio.Event().wait()

        cfg = LeaderElectionConfig(name="lock", namespace=namespace, identity=who,
                                   release_on_cancel=release, **timings)
        return LeaderElector(client, cfg, on_started_leading=lead,
                             on_stopped_leading=lambda: stopped.append(who),
                             on_new_leader=leaders_seen.append)

    async with ApiClient(load_kubeconfig(server.kubeconfig)) as a_api, \
            ApiClient(load_kubeconfig(server.kubeconfig)) as b_api:
        a = elector(a_api, "a")
        a_task = asyncio.create_task(a.run())
        await asyncio.wait_for(leading["a"].wait(), 20)
        b = elector(b_api, "b", release=False)
        b_task = asyncio.create_task(b.run())
        await eventually(lambda: b.leader == "a")
        assert not leading["b"].is_set() and not b.is_leader

        a_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await a_task
        assert stopped == ["a"]
        await asyncio.wait_for(leading["b"].wait(), 20)
        lease = await b_api.get(LEASES, "lock", namespace)
        assert lease["spec"]["holderIdentity"] == "b"
        assert lease["spec"]["leaseTransitions"] == 1

        leading["a"].clear()
        a_again = elector(a_api, "a")
        a_task = asyncio.create_task(a_again.run())
        b_task.cancel()  # b does not release: a must wait for the lease to expire
        with pytest.raises(asyncio.CancelledError):
            await b_task
        await asyncio.wait_for(leading["a"].wait(), 20)
        lease = await a_api.get(LEASES, "lock", namespace)
        assert lease["spec"]["holderIdentity"] == "a"
        assert lease["spec"]["leaseTransitions"] == 2
        assert lease["spec"]["leaseDurationSeconds"] == 2
        assert leaders_seen[:2] == ["a", "a"] and "b" in leaders_seen
        a_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await a_task
        released = await a_api.get(LEASES, "lock", namespace)
        assert not released["spec"].get("holderIdentity")


async def test_events_are_aggregated(api: ApiClient, namespace: str) -> None:
    subject = await api.create(CONFIGMAPS, configmap("subject"), namespace)
    recorder = EventRecorder(api, "test-controller", "node-1")
    for _ in range(3):
        recorder.normal(subject, "Synced", "all good")
    recorder.warning(subject, "Failed", "it broke")
    await recorder.flush()

    def mine(events: list[Obj]) -> dict[str, Obj]:
        return {e["reason"]: e for e in events
                if e["involvedObject"].get("name") == "subject"}

    found = mine((await api.list(EVENTS, namespace)).items)
    assert set(found) == {"Synced", "Failed"}
    synced = found["Synced"]
    assert synced["count"] == 3 and synced["type"] == "Normal"
    assert synced["message"] == "all good"
    assert synced["source"] == {"component": "test-controller", "host": "node-1"}
    assert synced["involvedObject"]["uid"] == subject["metadata"]["uid"]
    assert synced["involvedObject"]["kind"] == "ConfigMap"
    assert synced["firstTimestamp"] <= synced["lastTimestamp"]
    assert found["Failed"]["count"] == 1 and found["Failed"]["type"] == "Warning"

    # Ten different messages for one reason fold into one combined event.
    for i in range(12):
        recorder.normal(subject, "Progress", f"step {i}")
    await recorder.flush()
    progress = [e for e in (await api.list(EVENTS, namespace)).items
                if e["reason"] == "Progress"]
    combined = [e for e in progress if e["message"].startswith(
        "(combined from similar events): ")]
    assert len(progress) == 10 and len(combined) == 1
    assert combined[0]["count"] == 3 and combined[0]["message"].endswith("step 11")
    await recorder.aclose()

