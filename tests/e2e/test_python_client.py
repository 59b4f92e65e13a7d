"""The official Python client (`kubernetes` on PyPI) drives the API server unmodified:
discovery-free typed calls, watch streams, patches, subresources and error mapping."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from kubernetes import client, config, watch

from tests.e2e.cluster import Server

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # a client library's use of the API, whatever the storage (conftest.py)


@pytest.fixture(scope="module")
def api(server: Server) -> Iterator[client.ApiClient]:
    with config.new_client_from_config(str(server.kubeconfig)) as api_client:
        yield api_client


def test_list_create_watch_patch_delete(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    assert {"default", "kube-system"} <= {n.metadata.name for n in core.list_namespace().items}
    listed = core.list_namespaced_config_map("default")
    events: list[tuple[str, str, str]] = []
    done = threading.Event()

    def follow() -> None:
        stream = watch.Watch()
        for event in stream.stream(core.list_namespaced_config_map, "default",
                                   resource_version=listed.metadata.resource_version,
                                   timeout_seconds=30):
            obj = event["object"]
            events.append((event["type"], obj.metadata.name, (obj.data or {}).get("k", "")))
            if event["type"] == "DELETED":
                stream.stop()
        done.set()

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    core.create_namespaced_config_map("default", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="py"), data={"k": "1"}))
    core.patch_namespaced_config_map("py", "default", {"data": {"k": "2"}})
    core.delete_namespaced_config_map("py", "default")
    assert done.wait(30)
    assert events == [("ADDED", "py", "1"), ("MODIFIED", "py", "2"), ("DELETED", "py", "2")]


def test_typed_subresources_and_errors(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="py-web"),
        spec=client.V1DeploymentSpec(
            replicas=1, selector=client.V1LabelSelector(match_labels={"app": "py-web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "py-web"}),
                spec=client.V1PodSpec(containers=[
                    client.V1Container(name="web", image="nginx:1.25")]))))
    created = apps.create_namespaced_deployment("default", body)
    assert created.spec.strategy.type == "RollingUpdate"
    apps.patch_namespaced_deployment_scale("py-web", "default", {"spec": {"replicas": 3}})
    assert apps.read_namespaced_deployment_scale("py-web", "default").spec.replicas == 3
    with pytest.raises(client.ApiException) as missing:
        apps.read_namespaced_deployment("absent", "default")
    assert missing.value.status == 404
    with pytest.raises(client.ApiException) as taken:
        apps.create_namespaced_deployment("default", body)
    assert taken.value.status == 409
    apps.delete_namespaced_deployment("py-web", "default")
