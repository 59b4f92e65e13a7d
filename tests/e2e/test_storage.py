"""Persistent volumes on a real node: `kyb server` with its kubelet and runc in a network
namespace this module makes (as tests/e2e/test_kubelet.py does), driven by kubectl.

Intent: the default StorageClass `local-path` is there; a claim on it stays Pending
(WaitForFirstConsumer) until a pod uses it, then is provisioned on the pod's node and
bound, and the pod writes into it; the claim grows when asked; a later pod with the claim
(read-only) reads the file and cannot write; deleting the claim deletes its volume and the
volume's directory on the node. A static volume binds to a matching claim and, with
Retain, is Released (data kept) when the claim goes. A pod's ephemeral volume is a claim
made for it, provisioned like the others and collected with the pod.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, wait_until
from tests.e2e.nodens import REAL_NODE, import_busybox, new_namespace, real_node
from tests.e2e.test_kubelet import LOCAL_IMAGE

pytestmark = [pytest.mark.e2e, REAL_NODE]

NODE = "storage-node"
Obj = dict[str, Any]


@dataclass
class Cluster:
    kubectl: Kubectl
    data: Path

    def apply(self, ns: str, manifest: Obj) -> None:
        self.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))

    def get(self, *args: str) -> Obj | None:
        result = self.kubectl.run("get", *args, "-o", "json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def phase(self, *args: str) -> str:
        return str(((self.get(*args) or {}).get("status") or {}).get("phase") or "")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    data = tmp_path_factory.mktemp("kyb-storage")
    import_busybox(data, LOCAL_IMAGE)
    with real_node(data, "kyb-e2e-storage", NODE) as (_, kubectl):
        yield Cluster(kubectl, data)


@pytest.fixture
def ns(cluster: Cluster) -> str:
    return new_namespace(cluster.kubectl, "s")


def claim(name: str, size: str, **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": size}}, **spec}}


def pod_with_claim(name: str, claim_name: str, script: str, *, read_only: bool = False,
                   restart: str = "Always") -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "restartPolicy": restart, "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "app", "image": LOCAL_IMAGE, "command": ["sh", "-c", script],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        "volumes": [{"name": "data", "persistentVolumeClaim": {
            "claimName": claim_name, "readOnly": read_only}}]}}


def events_of(cluster: Cluster, ns: str, name: str) -> str:
    return cluster.kubectl("get", "events", "-n", ns, "--field-selector",
                           f"involvedObject.name={name}")


def test_default_class_is_local_path(cluster: Cluster) -> None:
    table = cluster.kubectl("get", "storageclass")
    assert table.split("\n")[0].split() == ["NAME", "PROVISIONER", "RECLAIMPOLICY",
                                            "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION",
                                            "AGE"]
    assert table.split("\n")[1].split()[:6] == ["local-path", "(default)",
                                                "rancher.io/local-path", "Delete",
                                                "WaitForFirstConsumer", "true"]


def test_local_path_claim_lifecycle(cluster: Cluster, ns: str) -> None:
    cluster.apply(ns, claim("data", "64Mi"))
    wait_until(lambda: "waiting for first consumer to be created before binding" in
               events_of(cluster, ns, "data"), "the claim waiting for its consumer")
    assert cluster.phase("pvc", "data", "-n", ns) == "Pending"

    cluster.apply(ns, pod_with_claim("writer", "data", "echo hello > /data/file; sleep 3600"))
    wait_until(lambda: cluster.phase("pod", "writer", "-n", ns) == "Running", "writer runs")
    bound = wait_until(lambda: (lambda c: c if c and c["status"].get("phase") == "Bound"
                                else None)(cluster.get("pvc", "data", "-n", ns)),
                       "the claim Bound")
    volume_name = bound["spec"]["volumeName"]
    volume = cluster.get("pv", volume_name)
    assert volume is not None
    path = Path(volume["spec"]["hostPath"]["path"])
    assert path == cluster.data / "storage" / f"{volume_name}_{ns}_data"
    assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0][
        "matchExpressions"][0]["values"] == [NODE]
    assert bound["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == NODE
    row = cluster.kubectl("get", "pvc", "data", "-n", ns).split("\n")[1].split()
    assert row[:6] == ["data", "Bound", volume_name, "64Mi", "RWO", "local-path"]
    wait_until(lambda: (path / "file").is_file(), "the file on the node")
    assert (path / "file").read_text() == "hello\n"

    cluster.kubectl("patch", "pvc", "data", "-n", ns, "-p",
                    '{"spec":{"resources":{"requests":{"storage":"128Mi"}}}}')
    wait_until(lambda: (cluster.get("pvc", "data", "-n", ns) or {}).get("status", {}).get(
        "capacity") == {"storage": "128Mi"}, "the claim expanded")
    assert (cluster.get("pv", volume_name) or {})["spec"]["capacity"] == {"storage": "128Mi"}

    cluster.kubectl("delete", "pod", "writer", "-n", ns, "--wait=true")
    cluster.apply(ns, pod_with_claim(
        "reader", "data", "cat /data/file; touch /data/other 2>/dev/null || echo read-only",
        read_only=True, restart="Never"))
    wait_until(lambda: cluster.phase("pod", "reader", "-n", ns) == "Succeeded", "reader done")
    assert cluster.kubectl("logs", "reader", "-n", ns).splitlines() == ["hello", "read-only"]
    cluster.kubectl("delete", "pod", "reader", "-n", ns, "--wait=true")

    cluster.kubectl("delete", "pvc", "data", "-n", ns, "--wait=true")
    wait_until(lambda: cluster.get("pv", volume_name) is None, "the volume deleted")
    wait_until(lambda: not path.exists(), "the volume's directory removed")


def test_static_volume_retained(cluster: Cluster, ns: str) -> None:
    disk = cluster.data / f"disk-{ns}"
    disk.mkdir()
    (disk / "kept").write_text("data")
    cluster.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"static-{ns}"},
        "spec": {"capacity": {"storage": "100Mi"}, "accessModes": ["ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "manual",
                 "hostPath": {"path": str(disk)}}}))
    cluster.apply(ns, claim("small", "50Mi", storageClassName="manual"))
    wait_until(lambda: cluster.phase("pvc", "small", "-n", ns) == "Bound", "the claim Bound")
    row = cluster.kubectl("get", "pv", f"static-{ns}").split("\n")[1].split()
    assert row[:7] == [f"static-{ns}", "100Mi", "RWO", "Retain", "Bound", f"{ns}/small",
                       "manual"]
    cluster.kubectl("delete", "pvc", "small", "-n", ns, "--wait=true")
    wait_until(lambda: cluster.phase("pv", f"static-{ns}") == "Released", "the volume Released")
    assert (disk / "kept").read_text() == "data"
    cluster.kubectl("delete", "pv", f"static-{ns}", "--wait=true")


def test_ephemeral_volume(cluster: Cluster, ns: str) -> None:
    cluster.apply(ns, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "scratch"},
                       "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                                "containers": [{"name": "app", "image": LOCAL_IMAGE,
                                                "command": ["sh", "-c",
                                                            "echo hi > /data/f; cat /data/f"],
                                                "volumeMounts": [{"name": "data",
                                                                  "mountPath": "/data"}]}],
                                "volumes": [{"name": "data", "ephemeral": {
                                    "volumeClaimTemplate": {"spec": {
                                        "accessModes": ["ReadWriteOnce"],
                                        "resources": {"requests": {"storage": "8Mi"}}}}}}]}})
    wait_until(lambda: cluster.phase("pod", "scratch", "-n", ns) == "Succeeded", "scratch done")
    assert cluster.kubectl("logs", "scratch", "-n", ns).splitlines() == ["hi"]
    claim_obj = cluster.get("pvc", "scratch-data", "-n", ns)
    assert claim_obj is not None and claim_obj["status"]["phase"] == "Bound"
    assert claim_obj["metadata"]["ownerReferences"][0]["name"] == "scratch"
    cluster.kubectl("delete", "pod", "scratch", "-n", ns, "--wait=true")
    wait_until(lambda: cluster.get("pvc", "scratch-data", "-n", ns) is None,
               "the claim collected with its pod")


def test_a_stateful_set_keeps_each_pods_data(cluster: Cluster, ns: str) -> None:
    """Issue 12: a 3-replica StatefulSet with a volumeClaimTemplate starts its pods in order,
    each with a local-path claim of its own; what pod 1 wrote is there after
    `kubectl delete pod web-1`; scaling down and up keeps the claims."""
    labels = {"app": "web"}
    cluster.apply(ns, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                       "spec": {"clusterIP": "None", "selector": labels,
                                "ports": [{"port": 80}]}})
    cluster.apply(ns, {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
        "spec": {"serviceName": "web", "replicas": 3, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "app", "image": LOCAL_IMAGE,
                                     "command": ["sh", "-c", "sleep 3600"],
                                     "volumeMounts": [{"name": "data",
                                                       "mountPath": "/data"}]}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "16Mi"}}}}]}})
    cluster.kubectl("rollout", "status", "statefulset/web", "-n", ns, "--timeout=120s")
    pods = (cluster.get("pods", "-n", ns, "-l", "app=web") or {})["items"]
    started = sorted(pods, key=lambda p: p["status"]["startTime"])
    assert [p["metadata"]["name"] for p in started] == ["web-0", "web-1", "web-2"]
    claims = (cluster.get("pvc", "-n", ns) or {})["items"]
    assert sorted((c["metadata"]["name"], c["status"]["phase"]) for c in claims) == [
        ("data-web-0", "Bound"), ("data-web-1", "Bound"), ("data-web-2", "Bound")]
    uids = {c["metadata"]["name"]: c["metadata"]["uid"] for c in claims}

    cluster.kubectl("exec", "-n", ns, "web-1", "--", "sh", "-c", "echo one > /data/who")
    old_uid = next(p["metadata"]["uid"] for p in pods if p["metadata"]["name"] == "web-1")
    cluster.kubectl("delete", "pod", "web-1", "-n", ns)
    wait_until(lambda: (lambda p: p is not None and p["metadata"]["uid"] != old_uid
                        and p["status"].get("phase") == "Running")(
        cluster.get("pod", "web-1", "-n", ns)), "web-1 again")
    assert cluster.kubectl("exec", "-n", ns, "web-1", "--", "cat", "/data/who").strip() == \
        "one"

    cluster.kubectl("scale", "statefulset/web", "-n", ns, "--replicas=1")
    wait_until(lambda: [p["metadata"]["name"] for p in (cluster.get(
        "pods", "-n", ns, "-l", "app=web") or {"items": []})["items"]] == ["web-0"],
        "one pod left")
    cluster.kubectl("scale", "statefulset/web", "-n", ns, "--replicas=3")
    cluster.kubectl("rollout", "status", "statefulset/web", "-n", ns, "--timeout=120s")
    claims = (cluster.get("pvc", "-n", ns) or {})["items"]
    assert {c["metadata"]["name"]: c["metadata"]["uid"] for c in claims} == uids
    assert cluster.kubectl("exec", "-n", ns, "web-1", "--", "cat", "/data/who").strip() == \
        "one"
