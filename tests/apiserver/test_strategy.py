"""The REST strategies of the generic store (apiserver/strategies), on plain objects:
what a create sets, what a main-endpoint update keeps or counts, what a `/status` update
takes, and the few per-kind rules (pods' QoS class, namespaces' finalizers, DaemonSets'
template generation)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kybernetes.apiserver.strategies import ResourceStrategy, StrategyRegistry, builtin_strategies

Obj = dict[str, Any]
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"


@pytest.fixture(scope="module")
def strategies() -> StrategyRegistry:
    return builtin_strategies()


def of(strategies: StrategyRegistry, group: str, resource: str) -> ResourceStrategy:
    found = strategies.get(group, resource)
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


def created(what: ResourceStrategy, obj: Obj) -> Obj:
    """`obj` prepared for create and given the system metadata the store sets."""
    what.prepare_for_create(obj)
    obj["metadata"].update(uid="uid-1", creationTimestamp="2026-01-01T00:00:00Z")
    return obj


# -- generation ---------------------------------------------------------------------------


def test_generation_is_tracked_by_kinds_with_a_spec_as_upstream(
        strategies: StrategyRegistry) -> None:
    assert of(strategies, "apps", "deployments").tracks_generation
    assert of(strategies, "", "pods").tracks_generation
    assert of(strategies, "batch", "jobs").tracks_generation
    assert not of(strategies, "", "configmaps").tracks_generation
    assert not of(strategies, "", "services").tracks_generation
    assert not of(strategies, "", "namespaces").tracks_generation


def test_a_create_starts_generation_at_1_and_status_empty(strategies: StrategyRegistry) -> None:
    deployments = of(strategies, "apps", "deployments")
    obj = deployment()
    obj["metadata"]["generation"] = 7
    obj["status"] = {"replicas": 5}
    deployments.prepare_for_create(obj)
    assert obj["metadata"]["generation"] == 1
    assert obj["status"] == {}  # a client's status is not taken on create
    assert obj["spec"]["replicas"] == 1  # defaults are applied
    configmap: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    of(strategies, "", "configmaps").prepare_for_create(configmap)
    assert "generation" not in configmap["metadata"]
    assert "status" not in configmap


def test_only_spec_changes_count_as_generations(strategies: StrategyRegistry) -> None:
    deployments = of(strategies, "apps", "deployments")
    old = created(deployments, deployment())

    relabelled = copy.deepcopy(old)
    relabelled["metadata"]["labels"] = {"new": "label"}
    deployments.prepare_for_update(relabelled, old)
    assert relabelled["metadata"]["generation"] == 1

    status_only = copy.deepcopy(old)
    status_only["status"] = {"replicas": 3}
    deployments.prepare_for_update(status_only, old)
    assert status_only["metadata"]["generation"] == 1
    assert status_only["status"] == old["status"]  # status is the /status endpoint's

    rolled = copy.deepcopy(old)
    rolled["spec"]["template"]["spec"]["containers"][0]["image"] = "app:2"
    deployments.prepare_for_update(rolled, old)
    assert rolled["metadata"]["generation"] == 2


def test_a_client_cannot_set_generation(strategies: StrategyRegistry) -> None:
    deployments = of(strategies, "apps", "deployments")
    old = created(deployments, deployment())
    new = copy.deepcopy(old)
    new["metadata"]["generation"] = 40
    deployments.prepare_for_update(new, old)
    assert new["metadata"]["generation"] == 1


# -- system metadata ----------------------------------------------------------------------


def test_an_update_keeps_system_metadata(strategies: StrategyRegistry) -> None:
    deployments = of(strategies, "apps", "deployments")
    old = created(deployments, deployment())
    old["metadata"].update(deletionTimestamp="2026-01-02T00:00:00Z",
                           deletionGracePeriodSeconds=0)
    new = copy.deepcopy(old)
    new["metadata"].update(creationTimestamp="1999-01-01T00:00:00Z",
                           deletionGracePeriodSeconds=30)
    del new["metadata"]["deletionTimestamp"]
    del new["metadata"]["uid"]  # an update without a uid keeps the stored one
    deployments.prepare_for_update(new, old)
    for name in ("uid", "creationTimestamp", "deletionTimestamp",
                 "deletionGracePeriodSeconds"):
        assert new["metadata"][name] == old["metadata"][name], name


def test_a_uid_in_an_update_is_left_for_validation_to_compare(strategies: StrategyRegistry) -> None:
    """A uid sent with an update is a precondition: it stays, and validation refuses it
    when it differs (the field is immutable)."""
    configmaps = of(strategies, "", "configmaps")
    old = created(configmaps, {"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "c", "namespace": "ns"}})
    new = copy.deepcopy(old)
    new["metadata"]["uid"] = "someone-else"
    configmaps.prepare_for_update(new, old)
    assert new["metadata"]["uid"] == "someone-else"
    assert configmaps.validate_update(new, old)


def test_system_metadata_absent_before_stays_absent(strategies: StrategyRegistry) -> None:
    configmaps = of(strategies, "", "configmaps")
    old = created(configmaps, {"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "c", "namespace": "ns"}})
    new = copy.deepcopy(old)
    new["metadata"].update(deletionTimestamp="2026-01-02T00:00:00Z", generation=3)
    configmaps.prepare_for_update(new, old)
    assert "deletionTimestamp" not in new["metadata"]
    assert "generation" not in new["metadata"]


# -- status -------------------------------------------------------------------------------


def test_a_status_update_takes_only_status(strategies: StrategyRegistry) -> None:
    deployments = of(strategies, "apps", "deployments")
    old = created(deployments, deployment())
    new = copy.deepcopy(old)
    new["status"] = {"replicas": 2, "observedGeneration": 1}
    new["spec"]["replicas"] = 9
    new["metadata"]["labels"] = {"sneaked": "in"}
    merged = of(strategies, "apps", "deployments").prepare_for_status_update(new, old)
    assert merged["status"]["replicas"] == 2
    assert merged["status"]["observedGeneration"] == 1
    assert merged["spec"] == old["spec"]
    assert "labels" not in merged["metadata"]
    assert merged["metadata"]["generation"] == 1


def test_a_deployment_status_update_takes_annotations(strategies: StrategyRegistry) -> None:
    """The deployment controller records its revision annotation through /status, as
    upstream's deployment status strategy allows; other kinds' annotations stay."""
    deployments = of(strategies, "apps", "deployments")
    old = created(deployments, deployment())
    new = copy.deepcopy(old)
    new["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "1"}
    merged = of(strategies, "apps", "deployments").prepare_for_status_update(new, old)
    assert merged["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "1"}
    other = of(strategies, "apps", "replicasets").prepare_for_status_update(new, old)
    assert "annotations" not in other["metadata"]


def test_a_status_update_without_status_drops_it(strategies: StrategyRegistry) -> None:
    jobs = of(strategies, "batch", "jobs")
    old = created(jobs, {"apiVersion": "batch/v1", "kind": "Job",
                         "metadata": {"name": "j", "namespace": "ns"},
                         "spec": {"template": {**template(),
                                               "spec": {**template()["spec"],
                                                        "restartPolicy": "Never"}}}})
    old["status"] = {"active": 1}
    new = copy.deepcopy(old)
    del new["status"]
    merged = of(strategies, "batch", "jobs").prepare_for_status_update(new, old)
    assert "active" not in merged.get("status", {})


def test_initial_status_of_pods_namespaces_and_claims(strategies: StrategyRegistry) -> None:
    pods = of(strategies, "", "pods")
    best_effort = pod({"name": "c", "image": "i"})
    pods.prepare_for_create(best_effort)
    assert best_effort["status"]["phase"] == "Pending"
    assert best_effort["status"]["qosClass"] == "BestEffort"

    namespace: Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}
    of(strategies, "", "namespaces").prepare_for_create(namespace)
    assert namespace["status"]["phase"] == "Active"

    claim: Obj = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                  "metadata": {"name": "c", "namespace": "ns"},
                  "spec": {"accessModes": ["ReadWriteOnce"],
                           "resources": {"requests": {"storage": "1Gi"}}}}
    of(strategies, "", "persistentvolumeclaims").prepare_for_create(claim)
    assert claim["status"]["phase"] == "Pending"


def test_a_node_keeps_the_status_its_kubelet_registers_with(strategies: StrategyRegistry) -> None:
    node: Obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
                 "status": {"capacity": {"pods": "110"}}}
    of(strategies, "", "nodes").prepare_for_create(node)
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
def test_a_pod_qos_class_as_upstream(strategies: StrategyRegistry, resources: Obj,
                                     qos: str) -> None:
    obj = pod({"name": "c", "image": "i", "resources": resources})
    of(strategies, "", "pods").prepare_for_create(obj)
    assert obj["status"]["qosClass"] == qos


# -- per-kind rules -----------------------------------------------------------------------


def test_namespace_finalizers_change_only_through_finalize(strategies: StrategyRegistry) -> None:
    namespaces = of(strategies, "", "namespaces")
    old = created(namespaces, {"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": "n"}, "spec": {"finalizers": ["kubernetes"]}})
    assert namespaces.spec_finalizers(old) == ["kubernetes"]
    cleared = copy.deepcopy(old)
    cleared["spec"]["finalizers"] = []
    namespaces.prepare_for_update(cleared, old)
    assert cleared["spec"]["finalizers"] == ["kubernetes"]
    finalized = copy.deepcopy(old)
    finalized["spec"]["finalizers"] = []
    namespaces.prepare_for_update(finalized, old, subresource="finalize")
    assert finalized["spec"]["finalizers"] == []
    assert of(strategies, "", "configmaps").spec_finalizers(old) == []


def test_daemonset_template_generation_counts_template_changes(
        strategies: StrategyRegistry) -> None:
    daemonsets = of(strategies, "apps", "daemonsets")
    old = created(daemonsets, daemonset())
    assert old["metadata"]["annotations"][TEMPLATE_GENERATION] == "1"

    scaled = copy.deepcopy(old)
    scaled["spec"]["minReadySeconds"] = 5
    daemonsets.prepare_for_update(scaled, old)
    assert scaled["metadata"]["annotations"][TEMPLATE_GENERATION] == "1"
    assert scaled["metadata"]["generation"] == 2

    rolled = copy.deepcopy(old)
    rolled["spec"]["template"]["spec"]["containers"][0]["image"] = "app:2"
    rolled["metadata"]["annotations"][TEMPLATE_GENERATION] = "99"  # not the client's
    daemonsets.prepare_for_update(rolled, old)
    assert rolled["metadata"]["annotations"][TEMPLATE_GENERATION] == "2"


def test_validation_is_the_kinds(strategies: StrategyRegistry) -> None:
    deployments = of(strategies, "apps", "deployments")
    bad = deployment()
    bad["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    deployments.prepare_for_create(bad)
    assert deployments.validate_create(bad)
    good = deployment()
    deployments.prepare_for_create(good)
    assert deployments.validate_create(good) == []


def test_which_kinds_answer_a_delete_with_the_object(strategies: StrategyRegistry) -> None:
    assert of(strategies, "", "pods").returns_deleted_object
    assert of(strategies, "", "namespaces").returns_deleted_object
    assert not of(strategies, "", "configmaps").returns_deleted_object
    assert not of(strategies, "apps", "deployments").returns_deleted_object
