"""kr8s (asyncio API), unmodified, against `kyb server`: a custom resource class from
`new_class` is created, read, listed, patched (merge, json, status), labelled, scaled
through its scale subresource, watched (by kr8s's own name field selector) and deleted; Pods
are listed by label and field selectors; `api_resources` discovery sees the CRD."""

from __future__ import annotations

import asyncio
from pathlib import Path

import kr8s.asyncio
import pytest
from kr8s.asyncio.objects import Pod, new_class

from tests.e2e.cluster import Kubectl, Server

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # a client library's use of the API, whatever the storage (conftest.py)

Widget = new_class(kind="Widget", version="kyb.example.com/v1", namespaced=True,
                   scalable=True, scalable_spec="replicas", plural="widgets")


@pytest.fixture(scope="module")
def crd(kubectl: Kubectl, manifests: Path) -> None:
    kubectl("apply", "-f", str(manifests / "widgets-crd.yaml"))
    kubectl("wait", "--for", "condition=established", "crd/widgets.kyb.example.com",
            "--timeout=60s")


async def test_custom_resource_crud_and_watch(server: Server, crd: None, ns: str) -> None:
    api = await kr8s.asyncio.api(kubeconfig=str(server.kubeconfig))
    resources = await api.api_resources()
    widgets = next(r for r in resources if r["name"] == "widgets")
    assert widgets["shortNames"] == ["wd"] and widgets["namespaced"] is True

    widget = Widget({"apiVersion": "kyb.example.com/v1", "kind": "Widget",
                     "metadata": {"name": "w1", "namespace": ns}, "spec": {"size": "small"}},
                    api=api)
    await widget.create()
    assert widget.spec.replicas == 1  # defaulted by the CRD's schema
    assert await widget.exists()

    seen: list[tuple[str, int]] = []

    async def watch() -> None:
        async for event, obj in widget.watch():
            seen.append((event, obj.spec.replicas))
            if event == "DELETED":
                return

    watcher = asyncio.create_task(watch())
    await widget.patch({"spec": {"replicas": 2}})
    assert widget.spec.replicas == 2
    await widget.patch([{"op": "add", "path": "/spec/color", "value": "red"}], type="json")
    assert widget.spec.color == "red"
    await widget.label(team="blue")
    await widget.scale(3)
    await widget.refresh()
    assert widget.spec.replicas == 3
    assert widget.labels == {"team": "blue"}
    await widget.patch({"status": {"phase": "Ready", "replicas": 3}}, subresource="status")
    await widget.refresh()
    assert widget.status.phase == "Ready"

    listed = [w async for w in api.get("widgets.kyb.example.com", namespace=ns,
                                       label_selector={"team": "blue"})]
    assert [w.name for w in listed] == ["w1"]
    assert isinstance(listed[0], Widget)
    got = await Widget.get("w1", namespace=ns, api=api)
    assert got.spec.color == "red"

    await widget.delete()
    await asyncio.wait_for(watcher, 30)
    # From the resourceVersion the object had: merge, json, label, scale, status, delete.
    assert seen == [("MODIFIED", 2), ("MODIFIED", 2), ("MODIFIED", 2), ("MODIFIED", 3),
                    ("MODIFIED", 3), ("DELETED", 3)]
    assert not await widget.exists()


async def test_pod_list(server: Server, ns: str) -> None:
    api = await kr8s.asyncio.api(kubeconfig=str(server.kubeconfig))
    for name, tier in (("web", "front"), ("db", "back")):
        pod = Pod({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": name, "namespace": ns, "labels": {"tier": tier}},
                   "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, api=api)
        await pod.create()
    pods = [p async for p in api.get("pods", namespace=ns)]
    assert sorted(p.name for p in pods) == ["db", "web"]
    assert all(isinstance(p, Pod) for p in pods)
    back = [p async for p in api.get("pods", namespace=ns, label_selector="tier=back")]
    assert [p.name for p in back] == ["db"]
    named = [p async for p in api.get("pods", namespace=ns,
                                      field_selector="metadata.name=web")]
    assert [p.name for p in named] == ["web"]
    everywhere = [p async for p in api.get("pods", namespace=kr8s.ALL)]
    assert {"db", "web"} <= {p.name for p in everywhere}
