"""pods/binding as upstream's BindingREST: the pure update and its refusals."""

from __future__ import annotations

import pytest

from kybernetes.apiserver.binding import _Refused, bind_pod, set_condition, validate_binding


def binding(node: str = "n1", **meta: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p", **meta},
            "target": {"kind": "Node", "name": node}}


def pending() -> dict[str, object]:
    return {"metadata": {"name": "p", "namespace": "default", "uid": "u1",
                         "resourceVersion": "7"},
            "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}


def test_binding_sets_node_name_condition_and_annotations() -> None:
    bound = bind_pod(pending(), binding(annotations={"a": "b"}),  # type: ignore[arg-type]
                     "2026-02-02T00:00:00Z")
    assert bound["spec"]["nodeName"] == "n1"
    assert bound["metadata"]["annotations"] == {"a": "b"}
    (condition,) = bound["status"]["conditions"]
    assert condition["status"] == "True" and condition["type"] == "PodScheduled"
    assert condition["lastTransitionTime"] == "2026-02-02T00:00:00Z"
    assert "reason" not in condition


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: p["spec"].update(nodeName="n2"), 'pod p is already assigned to node "n2"'),
    (lambda p: p["metadata"].update(deletionTimestamp="x"),
     "pod p is being deleted, cannot be assigned to a host"),
    (lambda p: p["spec"].update(schedulingGates=[{"name": "g"}]),
     "pod p has non-empty .spec.schedulingGates"),
])
def test_refusals(change: object, message: str) -> None:
    pod = pending()
    change(pod)  # type: ignore[operator]
    with pytest.raises(_Refused, match=message):
        bind_pod(pod, binding(), "now")


def test_preconditions() -> None:
    with pytest.raises(_Refused, match="UID in precondition: other"):
        bind_pod(pending(), binding(uid="other"), "now")
    with pytest.raises(_Refused, match="ResourceVersion in precondition: 3"):
        bind_pod(pending(), binding(resourceVersion="3"), "now")
    assert bind_pod(pending(), binding(uid="u1", resourceVersion="7"), "now")


def test_validation() -> None:
    assert validate_binding(binding()) == []
    bad = validate_binding({"target": {"kind": "Pod"}})
    assert [e.field for e in bad] == ["target.kind", "target.name"]


def test_condition_keeps_transition_time_when_status_unchanged() -> None:
    status = {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "t0"}]}
    set_condition(status, {"type": "Ready", "status": "True"}, "t1")
    assert status["conditions"][0]["lastTransitionTime"] == "t0"
