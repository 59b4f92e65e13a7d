"""FitError renders upstream's FailedScheduling message word for word."""

from __future__ import annotations

from kybernetes.scheduler.status import (
    Code,
    Diagnosis,
    FitError,
    NodeToStatus,
    Status,
    truncate_message,
    unresolvable,
    unschedulable,
)


def test_reasons_are_counted_and_sorted_as_strings() -> None:
    statuses = NodeToStatus()
    statuses.set("a", unschedulable("Insufficient cpu"))
    statuses.set("b", unschedulable("Insufficient cpu", "Insufficient memory"))
    statuses.set("c", unresolvable("node(s) had untolerated taint(s)"))
    error = FitError("ns/p", 3, Diagnosis(node_to_status=statuses))
    assert str(error) == ("0/3 nodes are available: 1 Insufficient memory, "
                          "1 node(s) had untolerated taint(s), 2 Insufficient cpu.")


def test_absent_nodes_take_the_absent_status() -> None:
    statuses = NodeToStatus(absent=unresolvable("Preemption is not helpful for scheduling"))
    statuses.set("a", unresolvable("No preemption victims found for incoming pod"))
    error = FitError("ns/p", 3, Diagnosis(node_to_status=statuses))
    assert str(error) == ("0/3 nodes are available: 1 No preemption victims found for "
                          "incoming pod, 2 Preemption is not helpful for scheduling.")


def test_prefilter_message_replaces_the_histogram_and_postfilter_follows() -> None:
    diagnosis = Diagnosis(pre_filter_msg="node(s) didn't satisfy plugin NodeAffinity",
                          post_filter_msg="preemption: 0/2 nodes are available: 2 Preemption "
                                          "is not helpful for scheduling.")
    diagnosis.node_to_status.absent = unresolvable("ignored")
    assert str(FitError("ns/p", 2, diagnosis)) == (
        "0/2 nodes are available: node(s) didn't satisfy plugin NodeAffinity. preemption: "
        "0/2 nodes are available: 2 Preemption is not helpful for scheduling.")


def test_status_helpers() -> None:
    status = Status(Code.UNSCHEDULABLE, ("a", "b"))
    assert status.message == "a, b" and status.is_rejected
    assert status.with_plugin("X").plugin == "X"
    assert not Status(Code.ERROR).is_rejected
    assert truncate_message("x" * 2000).endswith("...")
    assert len(truncate_message("x" * 2000)) == 1024
