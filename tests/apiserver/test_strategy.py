"""The REST strategies of the generic store (apiserver/strategy.py), on plain objects:
what a create sets, what a main-endpoint update keeps or counts, what a `/status` update
takes, and the few per-kind rules (pods' QoS class, namespaces' finalizers, DaemonSets'
template generation)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kybernetes.api.registry import Registry, ResourceInfo, builtin_registry
from kybernetes.apiserver import strategy

Obj = dict[str, Any]
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return builtin_registry()


def info(registry: Registry, group: str, version: str, plural: str) -> ResourceInfo:
    found = registry.get(group, version, plural)
    assert found is not None
    return found


def template(image: str = "app:1") -> Obj:
    return {"metadata": {"labels": {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": image}]}}


def deployment(image: str = "app:1") -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": template(image)}}


def daemonset(image: str = "app:1") -> Obj:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "ds", "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": template(image)}}


def pod(*containers: Obj) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": list(containers)}}


def created(what: ResourceInfo, obj: Obj) -> Obj:
    """`obj` prepared for create and given the system metadata the store sets."""
    strategy.prepare_for_create(what, obj)
    obj["metadata"].update(uid="uid-1", creationTimestamp="2026-01-01T00:00:00Z")
    return obj


# -- generation ---------------------------------------------------------------------------


def test_generation_is_tracked_by_kinds_with_a_spec_as_upstream(registry: Registry) -> None:
    assert strategy.tracks_generation(info(registry, "apps", "v1", "deployments"))
    assert strategy.tracks_generation(info(registry, "", "v1", "pods"))
    assert strategy.tracks_generation(info(registry, "batch", "v1", "jobs"))
    assert not strategy.tracks_generation(info(registry, "", "v1", "configmaps"))
    assert not strategy.tracks_generation(info(registry, "", "v1", "services"))
    assert not strategy.tracks_generation(info(registry, "", "v1", "namespaces"))


def test_a_create_starts_generation_at_1_and_status_empty(registry: Registry) -> None:
    deployments = info(registry, "apps", "v1", "deployments")
    obj = deployment()
    obj["metadata"]["generation"] = 7
    obj["status"] = {"replicas": 5}
    strategy.prepare_for_create(deployments, obj)
    assert obj["metadata"]["generation"] == 1
    assert obj["status"] == {}  # a client's status is not taken on create
    assert obj["spec"]["replicas"] == 1  # defaults are applied
    configmap: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    strategy.prepare_for_create(info(registry, "", "v1", "configmaps"), configmap)
    assert "generation" not in configmap["metadata"]
    assert "status" not in configmap


def test_only_spec_changes_count_as_generations(registry: Registry) -> None:
    deployments = info(registry, "apps", "v1", "deployments")
    old = created(deployments, deployment())

    relabelled = copy.deepcopy(old)
    relabelled["metadata"]["labels"] = {"new": "label"}
    strategy.prepare_for_update(deployments, relabelled, old)
    assert relabelled["metadata"]["generation"] == 1

    status_only = copy.deepcopy(old)
    status_only["status"] = {"replicas": 3}
    strategy.prepare_for_update(deployments, status_only, old)
    assert status_only["metadata"]["generation"] == 1
    assert status_only["status"] == old["status"]  # status is the /status endpoint's

    rolled = copy.deepcopy(old)
    rolled["spec"]["template"]["spec"]["containers"][0]["image"] = "app:2"
    strategy.prepare_for_update(deployments, rolled, old)
    assert rolled["metadata"]["generation"] == 2


def test_a_client_cannot_set_generation(registry: Registry) -> None:
    deployments = info(registry, "apps", "v1", "deployments")
    old = created(deployments, deployment())
    new = copy.deepcopy(old)
    new["metadata"]["generation"] = 40
    strategy.prepare_for_update(deployments, new, old)
    assert new["metadata"]["generation"] == 1


# -- system metadata ----------------------------------------------------------------------


def test_an_update_keeps_system_metadata(registry: Registry) -> None:
    deployments = info(registry, "apps", "v1", "deployments")
    old = created(deployments, deployment())
    old["metadata"].update(deletionTimestamp="2026-01-02T00:00:00Z",
                           deletionGracePeriodSeconds=0)
    new = copy.deepcopy(old)
    new["metadata"].update(creationTimestamp="1999-01-01T00:00:00Z",
                           deletionGracePeriodSeconds=30)
    del new["metadata"]["deletionTimestamp"]
    del new["metadata"]["uid"]  # an update without a uid keeps the stored one
    strategy.prepare_for_update(deployments, new, old)
    for name in ("uid", "creationTimestamp", "deletionTimestamp",
                 "deletionGracePeriodSeconds"):
        assert new["metadata"][name] == old["metadata"][name], name


def test_a_uid_in_an_update_is_left_for_validation_to_compare(registry: Registry) -> None:
    """A uid sent with an update is a precondition: it stays, and validation refuses it
    when it differs (the field is immutable)."""
    configmaps = info(registry, "", "v1", "configmaps")
    old = created(configmaps, {"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "c", "namespace": "ns"}})
    new = copy.deepcopy(old)
    new["metadata"]["uid"] = "someone-else"
    strategy.prepare_for_update(configmaps, new, old)
    assert new["metadata"]["uid"] == "someone-else"
    assert strategy.validate_update(configmaps, new, old)


def test_system_metadata_absent_before_stays_absent(registry: Registry) -> None:
    configmaps = info(registry, "", "v1", "configmaps")
    old = created(configmaps, {"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "c", "namespace": "ns"}})
    new = copy.deepcopy(old)
    new["metadata"].update(deletionTimestamp="2026-01-02T00:00:00Z", generation=3)
    strategy.prepare_for_update(configmaps, new, old)
    assert "deletionTimestamp" not in new["metadata"]
    assert "generation" not in new["metadata"]


# -- status -------------------------------------------------------------------------------


def test_a_status_update_takes_only_status(registry: Registry) -> None:
    deployments = info(registry, "apps", "v1", "deployments")
    old = created(deployments, deployment())
    new = copy.deepcopy(old)
    new["status"] = {"replicas": 2, "observedGeneration": 1}
    new["spec"]["replicas"] = 9
    new["metadata"]["labels"] = {"sneaked": "in"}
    merged = strategy.prepare_for_status_update(new, old, plural="deployments")
    assert merged["status"]["replicas"] == 2
    assert merged["status"]["observedGeneration"] == 1
    assert merged["spec"] == old["spec"]
    assert "labels" not in merged["metadata"]
    assert merged["metadata"]["generation"] == 1


def test_a_deployment_status_update_takes_annotations(registry: Registry) -> None:
    """The deployment controller records its revision annotation through /status, as
    upstream's deployment status strategy allows; other kinds' annotations stay."""
    deployments = info(registry, "apps", "v1", "deployments")
    old = created(deployments, deployment())
    new = copy.deepcopy(old)
    new["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "1"}
    merged = strategy.prepare_for_status_update(new, old, plural="deployments")
    assert merged["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "1"}
    other = strategy.prepare_for_status_update(new, old, plural="replicasets")
    assert "annotations" not in other["metadata"]


def test_a_status_update_without_status_drops_it(registry: Registry) -> None:
    jobs = info(registry, "batch", "v1", "jobs")
    old = created(jobs, {"apiVersion": "batch/v1", "kind": "Job",
                         "metadata": {"name": "j", "namespace": "ns"},
                         "spec": {"template": {**template(),
                                               "spec": {**template()["spec"],
                                                        "restartPolicy": "Never"}}}})
    old["status"] = {"active": 1}
    new = copy.deepcopy(old)
    del new["status"]
    merged = strategy.prepare_for_status_update(new, old, plural="jobs")
    assert "active" not in merged.get("status", {})


def test_initial_status_of_pods_namespaces_and_claims(registry: Registry) -> None:
    pods = info(registry, "", "v1", "pods")
    best_effort = pod({"name": "c", "image": "i"})
    strategy.prepare_for_create(pods, best_effort)
    assert best_effort["status"]["phase"] == "Pending"
    assert best_effort["status"]["qosClass"] == "BestEffort"

    namespace: Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}
    strategy.prepare_for_create(info(registry, "", "v1", "namespaces"), namespace)
    assert namespace["status"]["phase"] == "Active"

    claim: Obj = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                  "metadata": {"name": "c", "namespace": "ns"},
                  "spec": {"accessModes": ["ReadWriteOnce"],
                           "resources": {"requests": {"storage": "1Gi"}}}}
    strategy.prepare_for_create(info(registry, "", "v1", "persistentvolumeclaims"), claim)
    assert claim["status"]["phase"] == "Pending"


def test_a_node_keeps_the_status_its_kubelet_registers_with(registry: Registry) -> None:
    node: Obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
                 "status": {"capacity": {"pods": "110"}}}
    strategy.prepare_for_create(info(registry, "", "v1", "nodes"), node)
    assert node["status"]["capacity"] == {"pods": "110"}


@pytest.mark.parametrize(("resources", "qos"), [
    ({}, "BestEffort"),
    ({"requests": {"cpu": "100m"}}, "Burstable"),
    ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
    ({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
     "Guaranteed"),
    ({"requests": {"cpu": "500m", "memory": "1Gi"},
      "limits": {"cpu": "1", "memory": "1Gi"}}, "Burstable"),
])
def test_a_pod_qos_class_as_upstream(registry: Registry, resources: Obj, qos: str) -> None:
    obj = pod({"name": "c", "image": "i", "resources": resources})
    strategy.prepare_for_create(info(registry, "", "v1", "pods"), obj)
    assert obj["status"]["qosClass"] == qos


# -- per-kind rules -----------------------------------------------------------------------


def test_namespace_finalizers_change_only_through_finalize(registry: Registry) -> None:
    namespaces = info(registry, "", "v1", "namespaces")
    old = created(namespaces, {"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": "n"}, "spec": {"finalizers": ["kubernetes"]}})
    assert strategy.spec_finalizers(namespaces, old) == ["kubernetes"]
    cleared = copy.deepcopy(old)
    cleared["spec"]["finalizers"] = []
    strategy.prepare_for_update(namespaces, cleared, old)
    assert cleared["spec"]["finalizers"] == ["kubernetes"]
    finalized = copy.deepcopy(old)
    finalized["spec"]["finalizers"] = []
    strategy.prepare_for_update(namespaces, finalized, old, subresource="finalize")
    assert finalized["spec"]["finalizers"] == []
    assert strategy.spec_finalizers(info(registry, "", "v1", "configmaps"), old) == []


def test_daemonset_template_generation_counts_template_changes(registry: Registry) -> None:
    daemonsets = info(registry, "apps", "v1", "daemonsets")
    old = created(daemonsets, daemonset())
    assert old["metadata"]["annotations"][TEMPLATE_GENERATION] == "1"

    scaled = copy.deepcopy(old)
    scaled["spec"]["minReadySeconds"] = 5
    strategy.prepare_for_update(daemonsets, scaled, old)
    assert scaled["metadata"]["annotations"][TEMPLATE_GENERATION] == "1"
    assert scaled["metadata"]["generation"] == 2

    rolled = copy.deepcopy(old)
    rolled["spec"]["template"]["spec"]["containers"][0]["image"] = "app:2"
    rolled["metadata"]["annotations"][TEMPLATE_GENERATION] = "99"  # not the client's
    strategy.prepare_for_update(daemonsets, rolled, old)
    assert rolled["metadata"]["annotations"][TEMPLATE_GENERATION] == "2"


def test_validation_is_the_kinds(registry: Registry) -> None:
    deployments = info(registry, "apps", "v1", "deployments")
    bad = deployment()
    bad["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    strategy.prepare_for_create(deployments, bad)
    assert strategy.validate_create(deployments, bad)
    good = deployment()
    strategy.prepare_for_create(deployments, good)
    assert strategy.validate_create(deployments, good) == []


def test_which_kinds_answer_a_delete_with_the_object(registry: Registry) -> None:
    assert strategy.returns_deleted_object(info(registry, "", "v1", "pods"))
    assert strategy.returns_deleted_object(info(registry, "", "v1", "namespaces"))
    assert not strategy.returns_deleted_object(info(registry, "", "v1", "configmaps"))
    assert not strategy.returns_deleted_object(info(registry, "apps", "v1", "deployments"))
