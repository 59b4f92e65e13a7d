"""Simulated nodes complete Job pods as kwok's `pod-complete` stage does.

Intent: the terminal status keeps the running one's containers and conditions but shows
them terminated (reason Completed and exit code 0, or Error and the exit code asked for by
the pod's annotation), not ready, in phase Succeeded or Failed.
"""

from __future__ import annotations

from kybernetes.kubelet.runtime.simulated import running_status
from kybernetes.kubelet.simnodes import terminated_status


def pod() -> dict[str, object]:
    started = {"metadata": {"name": "p", "namespace": "ns", "uid": "u"},
               "spec": {"containers": [{"name": "a", "image": "i"},
                                       {"name": "b", "image": "j"}]}}
    started["status"] = running_status(started, "172.16.0.1", "10.42.0.2",
                                       "2026-11-23T12:00:00Z")
    return started


def test_completed_and_failed_status() -> None:
    done = terminated_status(pod(), 0)
    assert done["phase"] == "Succeeded"
    for cs in done["containerStatuses"]:
        terminated = cs["state"]["terminated"]
        assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
        assert terminated["startedAt"] == "2026-11-23T12:00:00Z"
        assert cs["ready"] is False and cs["containerID"] == terminated["containerID"]
    ready = {c["type"]: c for c in done["conditions"]}
    assert ready["Ready"]["status"] == "False" and ready["Ready"]["reason"] == "PodCompleted"
    assert ready["ContainersReady"]["status"] == "False"
    assert ready["PodScheduled"]["status"] == "True"

    failed = terminated_status(pod(), 3)
    assert failed["phase"] == "Failed"
    assert {(cs["state"]["terminated"]["exitCode"], cs["state"]["terminated"]["reason"])
            for cs in failed["containerStatuses"]} == {(3, "Error")}
