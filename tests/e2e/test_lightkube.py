"""lightkube, unmodified, against `kyb server`: create, get, list, patch (merge, json,
server-side apply), replace, status, watch and delete of a custom resource (a generic
resource from the widgets CRD), and a list of Pods with a label selector."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from lightkube import ApiError, Client, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.core_v1 import Container, PodSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType

from tests.e2e.cluster import Kubectl, Server

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # a client library's use of the API, whatever the storage (conftest.py)

Widget = create_namespaced_resource("kyb.example.com", "v1", "Widget", "widgets")


@pytest.fixture(scope="module")
def client(server: Server, kubectl: Kubectl, manifests: Path) -> Iterator[Client]:
    kubectl("apply", "-f", str(manifests / "widgets-crd.yaml"))
    kubectl("wait", "--for", "condition=established", "crd/widgets.kyb.example.com",
            "--timeout=60s")
    yield Client(config=KubeConfig.from_file(server.kubeconfig), field_manager="lightkube")


def test_custom_resource_crud_and_watch(client: Client, ns: str) -> None:
    events: list[tuple[str, str, int]] = []
    created = client.create(Widget(metadata=ObjectMeta(name="w1"), spec={"size": "small"}),
                            namespace=ns)
    assert created.spec == {"size": "small", "replicas": 1, "maxReplicas": 3}  # defaulted
    assert created.metadata.uid

    def watch() -> None:
        for kind, obj in client.watch(Widget, namespace=ns,
                                      resource_version=created.metadata.resourceVersion):
            events.append((kind, obj.metadata.name, obj.spec["replicas"]))
            if kind == "DELETED":
                return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()

    got = client.get(Widget, "w1", namespace=ns)
    assert got.metadata.resourceVersion == created.metadata.resourceVersion
    assert [w.metadata.name for w in client.list(Widget, namespace=ns)] == ["w1"]

    patched = client.patch(Widget, "w1", {"spec": {"replicas": 2}}, namespace=ns,
                           patch_type=PatchType.MERGE)
    assert patched.spec["replicas"] == 2
    patched = client.patch(Widget, "w1", [{"op": "replace", "path": "/spec/size",
                                           "value": "large"}],
                           namespace=ns, patch_type=PatchType.JSON)
    assert patched.spec["size"] == "large"
    applied = client.apply(Widget(apiVersion="kyb.example.com/v1", kind="Widget",
                                  metadata=ObjectMeta(name="w1", namespace=ns),
                                  spec={"size": "large", "replicas": 3}), force=True)
    assert applied.spec["replicas"] == 3
    assert any(m.manager == "lightkube" and m.operation == "Apply"
               for m in applied.metadata.managedFields)
    applied.spec["color"] = "blue"
    replaced = client.replace(applied)
    assert replaced.spec["color"] == "blue"

    status = client.patch(Widget.Status, "w1", {"status": {"phase": "Running", "replicas": 3}},
                          namespace=ns, patch_type=PatchType.MERGE)
    assert status.status == {"phase": "Running", "replicas": 3}
    assert client.get(Widget, "w1", namespace=ns).status["phase"] == "Running"

    with pytest.raises(ApiError) as refused:
        client.create(Widget(metadata=ObjectMeta(name="bad"),
                             spec={"size": "small", "replicas": 5, "maxReplicas": 3}),
                      namespace=ns)
    assert refused.value.status.code == 422
    assert "replicas must not exceed maxReplicas" in refused.value.status.message

    client.delete(Widget, "w1", namespace=ns)
    thread.join(30)
    assert not thread.is_alive()
    # Every change after the create, in order: two patches, apply, replace, status, delete.
    assert events == [("MODIFIED", "w1", 2), ("MODIFIED", "w1", 2), ("MODIFIED", "w1", 3),
                      ("MODIFIED", "w1", 3), ("MODIFIED", "w1", 3), ("DELETED", "w1", 3)]
    with pytest.raises(ApiError) as missing:
        client.get(Widget, "w1", namespace=ns)
    assert missing.value.status.code == 404


def test_pod_list(client: Client, ns: str) -> None:
    for name, tier in (("web", "front"), ("db", "back"), ("cache", "back")):
        client.create(Pod(metadata=ObjectMeta(name=name, labels={"tier": tier}),
                          spec=PodSpec(containers=[Container(name="c", image="busybox")])),
                      namespace=ns)
    assert sorted(p.metadata.name for p in client.list(Pod, namespace=ns)) == [
        "cache", "db", "web"]
    back = client.list(Pod, namespace=ns, labels={"tier": "back"})
    assert sorted(p.metadata.name for p in back) == ["cache", "db"]
    assert all(p.spec.containers[0].image == "busybox" for p in back)
    everywhere = client.list(Pod, namespace="*", chunk_size=1)
    assert {"cache", "db", "web"} <= {p.metadata.name for p in everywhere}
    client.deletecollection(Pod, namespace=ns, grace_period=0)
