"""Server-side Table output: upstream's columns and cells for each printed resource."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.builtin_strategy import strategy_for

from kybernetes.api.errors import StatusError
from kybernetes.api.printers._common import (
    format_label_selector,
    format_labels,
    human_duration,
    quantity,
)
from kybernetes.api.tables import build_table, column_definitions
from kybernetes.apiserver.strategies import builtin_strategies

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)


def ts(**delta: float) -> str:
    """A timestamp `delta` before NOW, as the API serializes it."""
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, *, created: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "uid": f"uid-{name}",
            "creationTimestamp": created or ts(days=3), **extra}


def cells(resource: str, obj: dict[str, Any]) -> list[Any]:
    table = build_table(strategy_for(resource).printer, [obj], now=NOW)
    assert len(table["rows"]) == 1
    row_cells: list[Any] = table["rows"][0]["cells"]
    assert len(row_cells) == len(table["columnDefinitions"])
    return row_cells


def headers(resource: str, wide: bool = False) -> list[str]:
    return [c["name"] for c in column_definitions(strategy_for(resource).printer)
            if wide or c["priority"] == 0]


# --- durations, quantities, selectors --------------------------------------------------

@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (5, "5s"), (119, "119s"), (120, "2m"), (182, "3m2s"), (600, "10m"),
    (179 * 60 + 59, "179m"), (3 * 3600 + 25 * 60, "3h25m"), (8 * 3600, "8h"),
    (47 * 3600, "47h"), (2 * 86400 + 3 * 3600, "2d3h"), (7 * 86400, "7d"), (8 * 86400, "8d"),
    (400 * 86400, "400d"), (730 * 86400, "2y"), (800 * 86400, "2y70d"),
    (5 * 365 * 86400, "5y"), (10 * 365 * 86400, "10y"), (-1, "0s"), (-3, "<invalid>"),
])
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds * 1_000_000_000) == text


@pytest.mark.parametrize(("raw", "text"), [
    ("1Gi", "1Gi"), ("1024Mi", "1Gi"), ("1536Mi", "1536Mi"), ("0.5Gi", "512Mi"),
    ("1.5", "1500m"), ("100m", "100m"), ("1000", "1k"), ("1500", "1500"), ("10000M", "10G"),
    ("2e3", "2e3"), ("1000e0", "1e3"), ("0.1n", "1n"), ("0", "0"), (None, "0"), (5, "5"),
])
def test_quantity_string(raw: Any, text: str) -> None:
    assert quantity(raw) == text


def test_label_formatting() -> None:
    assert format_labels({"b": "2", "a": "1"}) == "a=1,b=2"
    assert format_labels({}) == "<none>"
    selector = {"matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In",
                                      "values": ["fe", "be"]},
                                     {"key": "canary", "operator": "DoesNotExist"}]}
    assert format_label_selector(selector) == "app=web,!canary,tier in (be,fe)"
    assert format_label_selector({}) == "<none>"
    assert format_label_selector(None) == "<none>"
    assert format_label_selector({"matchExpressions": [{"key": "a", "operator": "Gt"}]}) \
        == "<error>"


# --- table envelope --------------------------------------------------------------------

def test_table_envelope_and_include_object() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta("p", labels={"a": "b"}),
           "spec": {"containers": [{"name": "c", "image": "nginx"}]},
           "status": {"phase": "Pending"}}
    pods = strategy_for("pods").printer
    table = build_table(pods, [pod], now=NOW)
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {}
    assert table["rows"][0]["object"] == {"kind": "PartialObjectMetadata",
                                          "apiVersion": "meta.k8s.io/v1",
                                          "metadata": pod["metadata"]}
    assert "conditions" not in table["rows"][0]
    assert build_table(pods, [pod], include_object="Object", now=NOW)["rows"][0]["object"] \
        is pod
    assert build_table(pods, [pod], include_object="None", now=NOW)["rows"][0]["object"] \
        is None
    headless = build_table(pods, [pod], no_headers=True, now=NOW)
    assert headless["columnDefinitions"] is None
    assert len(headless["rows"][0]["cells"]) == 9
    with pytest.raises(StatusError):
        build_table(pods, [pod], include_object="Everything")
    assert build_table(pods, [], now=NOW)["rows"] == []


def test_pod_columns() -> None:
    columns = column_definitions(strategy_for("pods").printer)
    assert [(c["name"], c["type"], c["format"], c["priority"]) for c in columns] == [
        ("Name", "string", "name", 0), ("Ready", "string", "", 0), ("Status", "string", "", 0),
        ("Restarts", "string", "", 0), ("Age", "string", "", 0), ("IP", "string", "", 1),
        ("Node", "string", "", 1), ("Nominated Node", "string", "", 1),
        ("Readiness Gates", "string", "", 1),
    ]
    assert columns[0]["description"].startswith("Name must be unique within a namespace.")
    assert columns[1]["description"] == \
        "The aggregate readiness state of this pod for accepting traffic."
    assert columns[4]["description"].startswith("CreationTimestamp is a timestamp")
    assert columns[5]["description"] == ("podIP address allocated to the pod. Routable at "
                                         "least within the cluster. Empty if not yet allocated.")


def test_unknown_resource_uses_default_columns() -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget",
              "metadata": {"name": "w1", "creationTimestamp": "2024-05-01T10:20:30Z"}}
    table = build_table(strategy_for("widgets.example.com").printer, [widget], now=NOW)
    assert [(c["name"], c["type"], c["format"]) for c in table["columnDefinitions"]] == [
        ("Name", "string", "name"), ("Created At", "date", "")]
    assert table["columnDefinitions"][1]["description"].startswith("CreationTimestamp")
    assert table["rows"][0]["cells"] == ["w1", "2024-05-01T10:20:30Z"]
    assert strategy_for("widgets.example.com").printer is None
    for resource in ("roles", "clusterroles", "limitranges"):
        assert headers(resource) == ["Name", "Created At"]
    assert cells("roles", {"metadata": {"name": "r"}}) == ["r", "0001-01-01T00:00:00Z"]


@pytest.mark.parametrize("resource", sorted({s.resource for s in builtin_strategies()
                                             if s.printer is not None}))
def test_every_printer_handles_a_bare_object(resource: str) -> None:
    row = cells(resource, {"metadata": {"name": "x"}})
    assert "x" in str(row)


# --- pods ------------------------------------------------------------------------------

def pod(name: str, *, status: dict[str, Any], containers: int = 1,
        spec: dict[str, Any] | None = None, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": meta(name, **metadata),
        "spec": {"nodeName": "node-1",
                 "containers": [{"name": f"c{n}", "image": "busybox"} for n in range(containers)],
                 **(spec or {})},
        "status": status,
    }


def running(name: str = "c0", restarts: int = 0, **extra: Any) -> dict[str, Any]:
    return {"name": name, "ready": True, "restartCount": restarts, "started": True,
            "state": {"running": {"startedAt": ts(hours=1)}}, **extra}


READY = [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}]


def test_running_pod_with_restarts() -> None:
    obj = pod("web-1", containers=2, status={
        "phase": "Running", "podIP": "10.42.0.7", "podIPs": [{"ip": "10.42.0.7"}],
        "conditions": READY,
        "containerStatuses": [
            running("c0", 3, lastState={"terminated": {"exitCode": 1, "reason": "Error",
                                                       "finishedAt": ts(minutes=5)}}),
            running("c1", 1, lastState={"terminated": {"exitCode": 0,
                                                       "finishedAt": ts(hours=2)}}),
        ]})
    assert cells("pods", obj) == ["web-1", "2/2", "Running", "4 (5m ago)", "3d", "10.42.0.7",
                                  "node-1", "<none>", "<none>"]


def test_crashlooping_pod() -> None:
    obj = pod("crash", status={"phase": "Running", "podIP": "10.42.0.8", "containerStatuses": [{
        "name": "c0", "ready": False, "restartCount": 7, "started": False,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
        "lastState": {"terminated": {"exitCode": 2, "reason": "Error",
                                     "finishedAt": ts(seconds=42)}}}]})
    assert cells("pods", obj)[:4] == ["crash", "0/1", "CrashLoopBackOff", "7 (42s ago)"]


def test_terminating_and_node_lost_pods() -> None:
    status = {"phase": "Running", "conditions": READY, "containerStatuses": [running()]}
    assert cells("pods", pod("bye", status=status, deletionTimestamp=ts(seconds=10)))[2] \
        == "Terminating"
    lost = {**status, "reason": "NodeLost"}
    assert cells("pods", pod("lost", status=lost, deletionTimestamp=ts(seconds=10)))[2] \
        == "Unknown"
    done = {"phase": "Succeeded", "containerStatuses": [{
        "name": "c0", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}
    assert cells("pods", pod("done", status=done, deletionTimestamp=ts(seconds=10)))[2] \
        == "Completed"


def test_init_container_pods() -> None:
    init_spec = {"initContainers": [{"name": "i0", "image": "busybox"},
                                    {"name": "i1", "image": "busybox"}]}
    waiting = [{"name": "c0", "ready": False, "restartCount": 0,
                "state": {"waiting": {"reason": "PodInitializing"}}}]
    status = {"phase": "Pending", "containerStatuses": waiting, "initContainerStatuses": [
        {"name": "i0", "ready": True, "restartCount": 0,
         "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
        {"name": "i1", "ready": False, "restartCount": 0,
         "state": {"running": {"startedAt": ts(seconds=3)}}}]}
    assert cells("pods", pod("init", status=status, spec=init_spec))[:4] == \
        ["init", "0/1", "Init:1/2", "0"]

    failing = {"phase": "Pending", "containerStatuses": waiting, "initContainerStatuses": [
        {"name": "i0", "restartCount": 2, "state": {"terminated": {"exitCode": 1,
                                                                   "reason": "Error"}},
         "lastState": {"terminated": {"exitCode": 1, "finishedAt": ts(minutes=1)}}}]}
    assert cells("pods", pod("init-err", status=failing, spec=init_spec))[2:4] == \
        ["Init:Error", "2 (60s ago)"]

    backoff = {"phase": "Pending", "initContainerStatuses": [
        {"name": "i0", "restartCount": 4,
         "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
    assert cells("pods", pod("init-crash", status=backoff, spec=init_spec))[2:4] == \
        ["Init:CrashLoopBackOff", "4"]

    killed = {"phase": "Pending", "initContainerStatuses": [
        {"name": "i0", "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}
    assert cells("pods", pod("init-kill", status=killed, spec=init_spec))[2] == "Init:Signal:9"


def test_sidecar_pod_counts_restartable_init_containers() -> None:
    spec = {"initContainers": [{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}]}
    status = {"phase": "Running", "conditions": READY,
              "initContainerStatuses": [running("proxy", 1, lastState={
                  "terminated": {"exitCode": 1, "finishedAt": ts(minutes=30)}})],
              "containerStatuses": [running("c0")]}
    assert cells("pods", pod("side", status=status, spec=spec))[1:4] == \
        ["2/2", "Running", "1 (30m ago)"]


def test_pending_and_creating_pods() -> None:
    assert cells("pods", pod("new", status={"phase": "Pending"}, spec={"nodeName": ""})) == [
        "new", "0/1", "Pending", "0", "3d", "<none>", "<none>", "<none>", "<none>"]
    creating = {"phase": "Pending", "containerStatuses": [
        {"name": "c0", "state": {"waiting": {"reason": "ContainerCreating"}}}]}
    assert cells("pods", pod("mk", status=creating))[2] == "ContainerCreating"
    gated = {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}
    assert cells("pods", pod("gated", status=gated))[2] == "SchedulingGated"


def test_completed_and_failed_pods() -> None:
    done = {"phase": "Succeeded", "containerStatuses": [{
        "name": "c0", "ready": False, "restartCount": 0,
        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}
    table = build_table(strategy_for("pods").printer, [pod("job-x", status=done)], now=NOW)
    assert table["rows"][0]["cells"][1:3] == ["0/1", "Completed"]
    assert table["rows"][0]["conditions"] == [{
        "type": "Completed", "status": "True", "reason": "Succeeded",
        "message": "The pod has completed successfully."}]
    oom = {"phase": "Failed", "containerStatuses": [
        {"name": "c0", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}
    table = build_table(strategy_for("pods").printer, [pod("oom", status=oom)], now=NOW)
    assert table["rows"][0]["cells"][2] == "OOMKilled"
    assert table["rows"][0]["conditions"][0]["reason"] == "Failed"
    no_reason = {"phase": "Running", "containerStatuses": [
        {"name": "c0", "state": {"terminated": {"exitCode": 3}}}]}
    assert cells("pods", pod("ec", status=no_reason))[2] == "ExitCode:3"


def test_completed_container_beside_running_one() -> None:
    statuses = [{"name": "c0", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                running("c1")]
    ready = {"phase": "Running", "conditions": READY, "containerStatuses": statuses}
    assert cells("pods", pod("mixed", containers=2, status=ready))[1:3] == ["1/2", "Running"]
    unready = {"phase": "Running", "containerStatuses": statuses}
    assert cells("pods", pod("mixed", containers=2, status=unready))[2] == "NotReady"


def test_pod_wide_cells() -> None:
    status = {"phase": "Running", "podIPs": [{"ip": "fd00::5"}], "nominatedNodeName": "node-9",
              "conditions": [*READY, {"type": "example.com/lb", "status": "True"}],
              "containerStatuses": [running()]}
    spec = {"readinessGates": [{"conditionType": "example.com/lb"},
                               {"conditionType": "example.com/dns"}]}
    assert cells("pods", pod("wide", status=status, spec=spec))[5:] == \
        ["fd00::5", "node-1", "node-9", "1/2"]


# --- workloads -------------------------------------------------------------------------

TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
    {"name": "nginx", "image": "nginx:1.27"}, {"name": "sidecar", "image": "busybox"}]}}


def test_deployment() -> None:
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web"),
              "spec": {"replicas": 3, "template": TEMPLATE, "selector": {
                  "matchLabels": {"app": "web"},
                  "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]}},
              "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3,
                         "availableReplicas": 2}}
    assert headers("deployments") == ["Name", "Ready", "Up-to-date", "Available", "Age"]
    assert headers("deployments", wide=True)[5:] == ["Containers", "Images", "Selector"]
    assert cells("deployments", deploy) == ["web", "2/3", 3, 2, "3d", "nginx,sidecar",
                                            "nginx:1.27,busybox", "app=web,env notin (dev)"]
    bare = {"metadata": meta("empty"), "spec": {"replicas": 0}}
    assert cells("deployments", bare) == ["empty", "0/0", 0, 0, "3d", "", "", ""]


def test_replica_sets_stateful_sets_daemon_sets_rcs() -> None:
    selector = {"matchLabels": {"app": "web"}}
    rs = {"metadata": meta("web-5d9"), "spec": {"replicas": 2, "selector": selector,
                                                "template": TEMPLATE},
          "status": {"replicas": 2, "readyReplicas": 1}}
    assert cells("replicasets", rs) == ["web-5d9", 2, 2, 1, "3d", "nginx,sidecar",
                                        "nginx:1.27,busybox", "app=web"]
    sts = {"metadata": meta("db"), "spec": {"replicas": 3, "template": TEMPLATE},
           "status": {"readyReplicas": 3}}
    assert cells("statefulsets", sts) == ["db", "3/3", "3d", "nginx,sidecar",
                                          "nginx:1.27,busybox"]
    ds = {"metadata": meta("agent"), "spec": {"selector": selector, "template": {
        "spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                 "containers": [{"name": "a", "image": "agent:1"}]}}},
          "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                     "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}}
    assert headers("daemonsets") == ["Name", "Desired", "Current", "Ready", "Up-to-date",
                                     "Available", "Node Selector", "Age"]
    assert cells("daemonsets", ds) == ["agent", 3, 3, 2, 3, 2, "kubernetes.io/os=linux", "3d",
                                       "a", "agent:1", "app=web"]
    rc = {"metadata": meta("old"), "spec": {"replicas": 1, "selector": {"app": "old"},
                                            "template": TEMPLATE},
          "status": {"replicas": 1, "readyReplicas": 1}}
    assert cells("replicationcontrollers", rc) == ["old", 1, 1, 1, "3d", "nginx,sidecar",
                                                   "nginx:1.27,busybox", "app=old"]


def test_controller_revisions_and_pod_templates() -> None:
    rev = {"metadata": meta("web-7b8", ownerReferences=[
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": True}]),
        "revision": 4}
    assert cells("controllerrevisions", rev) == ["web-7b8", "statefulset.apps/web", 4, "3d"]
    assert cells("controllerrevisions", {"metadata": meta("r"), "revision": 1})[1] == "<none>"
    template = {"metadata": meta("tpl"), "template": TEMPLATE}
    assert headers("podtemplates") == ["Name", "Containers", "Images", "Pod Labels"]
    assert cells("podtemplates", template) == ["tpl", "nginx,sidecar", "nginx:1.27,busybox",
                                               "app=web"]


def test_jobs_and_cron_jobs() -> None:
    job = {"metadata": meta("pi"), "spec": {"completions": 1, "parallelism": 1,
                                            "template": TEMPLATE,
                                            "selector": {"matchLabels": {"job": "pi"}}},
           "status": {"succeeded": 1, "startTime": ts(minutes=10),
                      "completionTime": ts(minutes=9, seconds=20),
                      "conditions": [{"type": "Complete", "status": "True"}]}}
    assert cells("jobs", job) == ["pi", "Complete", "1/1", "40s", "3d", "nginx,sidecar",
                                  "nginx:1.27,busybox", "job=pi"]
    work = {"metadata": meta("work"), "spec": {"parallelism": 3},
            "status": {"active": 3, "startTime": ts(minutes=4, seconds=5)}}
    assert cells("jobs", work)[1:4] == ["Running", "0/1 of 3", "4m5s"]
    suspended = {"metadata": meta("s"), "spec": {"completions": 5, "suspend": True},
                 "status": {"conditions": [{"type": "Suspended", "status": "True"}]}}
    assert cells("jobs", suspended)[1:4] == ["Suspended", "0/5", ""]
    cron = {"metadata": meta("nightly"), "spec": {
        "schedule": "0 2 * * *", "timeZone": "Etc/UTC", "suspend": False,
        "jobTemplate": {"spec": {"template": TEMPLATE}}},
        "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": ts(hours=10)}}
    assert headers("cronjobs") == ["Name", "Schedule", "Timezone", "Suspend", "Active",
                                   "Last Schedule", "Age"]
    assert cells("cronjobs", cron) == ["nightly", "0 2 * * *", "Etc/UTC", "False", 1, "10h",
                                       "3d", "nginx,sidecar", "nginx:1.27,busybox", "<none>"]


def test_hpa() -> None:
    hpa = {"metadata": meta("web"), "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1,
        "maxReplicas": 10, "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 80}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {
                "type": "AverageValue", "averageValue": "512Mi"}}},
            {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {
                "type": "AverageValue", "averageValue": "1k"}}}]},
        "status": {"currentReplicas": 2, "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {
                "averageUtilization": 35, "averageValue": "70m"}}}]}}
    assert cells("horizontalpodautoscalers", hpa) == [
        "web", "Deployment/web", "cpu: 35%/80%, memory: <unknown>/512Mi + 1 more...", "1", 10,
        2, "3d"]
    empty = {"metadata": meta("idle"), "spec": {"maxReplicas": 3}}
    assert cells("horizontalpodautoscalers", empty)[2:4] == ["<none>", "<unset>"]


# --- services and networking -----------------------------------------------------------

def service(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name), "spec": spec}


def test_services() -> None:
    node_port = service("web", type="NodePort", clusterIP="10.43.12.5",
                        clusterIPs=["10.43.12.5"], selector={"app": "web", "tier": "fe"},
                        ports=[{"name": "http", "port": 80, "targetPort": 8080,
                                "protocol": "TCP", "nodePort": 30080},
                               {"name": "dns", "port": 53, "protocol": "UDP"}])
    assert headers("services") == ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)",
                                   "Age"]
    assert cells("services", node_port) == ["web", "NodePort", "10.43.12.5", "<none>",
                                            "80:30080/TCP,53/UDP", "3d", "app=web,tier=fe"]
    pending = service("lb", type="LoadBalancer", clusterIP="10.43.0.9",
                      ports=[{"port": 443, "protocol": "TCP", "nodePort": 31443}])
    assert cells("services", pending)[1:5] == ["LoadBalancer", "10.43.0.9", "<pending>",
                                               "443:31443/TCP"]
    pending["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"},
                                                      {"hostname": "lb.example.com"}]}}
    pending["spec"]["externalIPs"] = ["198.51.100.1"]
    assert cells("services", pending)[3] == "203.0.113.9,lb.example.com,198.51.100.1"
    external = service("ext", type="ExternalName", externalName="db.example.com")
    assert cells("services", external)[1:5] == ["ExternalName", "<none>", "db.example.com",
                                                "<none>"]
    headless = service("hl", clusterIP="None", ports=[{"port": 5432, "protocol": "TCP"}])
    assert cells("services", headless)[1:7] == ["ClusterIP", "None", "<none>", "5432/TCP",
                                                "3d", "<none>"]


def test_endpoints_and_endpoint_slices() -> None:
    ep = {"metadata": meta("web"), "subsets": [
        {"addresses": [{"ip": "10.42.0.5"}, {"ip": "10.42.1.6"}],
         "ports": [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9090}]}]}
    assert cells("endpoints", ep) == [
        "web", "10.42.0.5:8080,10.42.1.6:8080,10.42.0.5:9090 + 1 more...", "3d"]
    assert cells("endpoints", {"metadata": meta("none")})[1] == "<none>"
    headless = {"metadata": meta("hl"), "subsets": [{"addresses": [{"ip": "fd00::1"}]}]}
    assert cells("endpoints", headless)[1] == "fd00::1"
    slice_ = {"metadata": meta("web-abc"), "addressType": "IPv4",
              "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
              "endpoints": [{"addresses": ["10.42.0.5"]}, {"addresses": ["10.42.1.6"]}]}
    assert cells("endpointslices", slice_) == ["web-abc", "IPv4", "8080",
                                               "10.42.0.5,10.42.1.6", "3d"]
    assert cells("endpointslices", {"metadata": meta("e"), "addressType": "IPv6"})[2:4] == \
        ["<unset>", "<unset>"]


def test_ingresses_and_network_policies() -> None:
    ing = {"metadata": meta("web"), "spec": {
        "ingressClassName": "traefik", "tls": [{"hosts": ["a.example.com"]}],
        "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}, {},
                  {"host": "c.example.com"}, {"host": "d.example.com"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.20"}]}}}
    assert cells("ingresses", ing) == ["web", "traefik", "a.example.com,b.example.com,"
                                       "c.example.com + 2 more...", "192.168.1.20", "80, 443",
                                       "3d"]
    plain = {"metadata": meta("any"), "spec": {"defaultBackend": {}}}
    assert cells("ingresses", plain)[1:5] == ["<none>", "*", "", "80"]
    klass = {"metadata": meta("nginx"), "spec": {
        "controller": "k8s.io/ingress-nginx",
        "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters",
                       "name": "external-lb"}}}
    assert cells("ingressclasses", klass) == [
        "nginx", "k8s.io/ingress-nginx", "IngressParameters.k8s.example.com/external-lb", "3d"]
    netpol = {"metadata": meta("deny"), "spec": {"podSelector": {}}}
    assert cells("networkpolicies", netpol) == ["deny", "<none>", "3d"]


# --- cluster and config ----------------------------------------------------------------

def test_nodes() -> None:
    node = {"metadata": meta("cp-1", labels={"node-role.kubernetes.io/control-plane": "",
                                             "node-role.kubernetes.io/master": "",
                                             "kubernetes.io/role": "etcd"}),
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"},
                                      {"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "192.168.1.10"},
                                     {"type": "Hostname", "address": "cp-1"}],
                       "nodeInfo": {"kubeletVersion": "v1.31.0+kyb", "osImage": "Debian 12",
                                    "kernelVersion": "6.1.0", "containerRuntimeVersion":
                                    "runc://1.1.12"}}}
    assert headers("nodes") == ["Name", "Status", "Roles", "Age", "Version"]
    assert headers("nodes", wide=True)[5:] == ["Internal-IP", "External-IP", "OS-Image",
                                               "Kernel-Version", "Container-Runtime"]
    assert cells("nodes", node) == ["cp-1", "Ready,SchedulingDisabled",
                                    "control-plane,etcd,master", "3d", "v1.31.0+kyb",
                                    "192.168.1.10", "<none>", "Debian 12", "6.1.0",
                                    "runc://1.1.12"]
    down = {"metadata": meta("w-1"), "status": {"conditions": [
        {"type": "Ready", "status": "Unknown"}]}}
    assert cells("nodes", down) == ["w-1", "NotReady", "<none>", "3d", "", "<none>", "<none>",
                                    "<unknown>", "<unknown>", "<unknown>"]
    assert cells("nodes", {"metadata": meta("new")})[1] == "Unknown"


def test_events() -> None:
    event = {"metadata": meta("web.17a"), "type": "Warning", "reason": "BackOff",
             "message": "Back-off restarting failed container\n", "count": 12,
             "involvedObject": {"kind": "Pod", "name": "web-1",
                                "fieldPath": "spec.containers{nginx}"},
             "source": {"component": "kubelet", "host": "node-1"},
             "firstTimestamp": ts(hours=2), "lastTimestamp": ts(seconds=30)}
    assert headers("events") == ["Last Seen", "Type", "Reason", "Object", "Message"]
    assert headers("events", wide=True) == ["Last Seen", "Type", "Reason", "Object",
                                            "Subobject", "Source", "Message", "First Seen",
                                            "Count", "Name"]
    assert cells("events", event) == ["30s", "Warning", "BackOff", "pod/web-1",
                                      "spec.containers{nginx}", "kubelet, node-1",
                                      "Back-off restarting failed container", "120m", 12,
                                      "web.17a"]
    new_style = {"metadata": meta("sched.1"), "type": "Normal", "reason": "Scheduled",
                 "message": "assigned", "eventTime": "2024-06-01T11:58:00.123456Z",
                 "reportingComponent": "", "reportingController": "default-scheduler",
                 "reportingInstance": "default-scheduler-cp-1",
                 "involvedObject": {"kind": "Pod", "name": "web-1"}}
    assert cells("events", new_style) == ["119s", "Normal", "Scheduled", "pod/web-1", "",
                                          "default-scheduler, default-scheduler-cp-1",
                                          "assigned", "119s", 1, "sched.1"]
    series = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": meta("e.2"),
              "type": "Warning", "reason": "FailedMount", "note": "mount failed",
              "eventTime": ts(hours=1), "series": {"count": 5, "lastObservedTime": ts(minutes=3)},
              "reportingController": "kubelet", "regarding": {"kind": "Node", "name": ""}}
    assert cells("events", series) == ["3m", "Warning", "FailedMount", "node", "", "kubelet",
                                       "mount failed", "60m", 5, "e.2"]


def test_config_and_access_objects() -> None:
    assert cells("namespaces", {"metadata": meta("kube-system"),
                                "status": {"phase": "Active"}}) == ["kube-system", "Active",
                                                                    "3d"]
    cm = {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert cells("configmaps", cm) == ["cfg", 3, "3d"]
    secret = {"metadata": meta("tls"), "type": "kubernetes.io/tls",
              "data": {"tls.crt": "", "tls.key": ""}}
    assert headers("secrets") == ["Name", "Type", "Data", "Age"]
    assert cells("secrets", secret) == ["tls", "kubernetes.io/tls", 2, "3d"]
    assert cells("serviceaccounts", {"metadata": meta("default")}) == ["default", 0, "3d"]
    rb = {"metadata": meta("admins"), "roleRef": {"kind": "ClusterRole", "name": "admin"},
          "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "ops"},
                       {"kind": "ServiceAccount", "namespace": "ci", "name": "bot"},
                       {"kind": "User", "name": "bob"}]}
    assert headers("rolebindings", wide=True) == ["Name", "Role", "Age", "Users", "Groups",
                                                  "ServiceAccounts"]
    assert cells("rolebindings", rb) == ["admins", "ClusterRole/admin", "3d", "alice, bob",
                                         "ops", "ci/bot"]
    assert cells("clusterrolebindings", {"metadata": meta("x"),
                                         "roleRef": {"kind": "ClusterRole", "name": "view"}}) \
        == ["x", "ClusterRole/view", "3d", "", "", ""]
    quota = {"metadata": meta("q"), "status": {
        "hard": {"pods": "10", "requests.cpu": "2", "limits.memory": "2Gi",
                 "limits.cpu": "4000m"},
        "used": {"pods": "3", "requests.cpu": "500m", "limits.memory": "1024Mi"}}}
    assert cells("resourcequotas", quota) == [
        "q", "pods: 3/10, requests.cpu: 500m/2", "limits.cpu: 0/4, limits.memory: 1Gi/2Gi",
        "3d"]


def test_policy_scheduling_coordination() -> None:
    pdb = {"metadata": meta("web"), "spec": {"minAvailable": "50%"},
           "status": {"disruptionsAllowed": 1}}
    assert cells("poddisruptionbudgets", pdb) == ["web", "50%", "N/A", 1, "3d"]
    pdb2 = {"metadata": meta("db"), "spec": {"maxUnavailable": 1}}
    assert cells("poddisruptionbudgets", pdb2)[1:4] == ["N/A", "1", 0]
    pc = {"metadata": meta("high"), "value": 1000000, "globalDefault": False,
          "preemptionPolicy": "PreemptLowerPriority"}
    assert headers("priorityclasses") == ["Name", "Value", "Global-Default", "Age",
                                          "PreemptionPolicy"]
    assert cells("priorityclasses", pc) == ["high", 1000000, False, "3d",
                                            "PreemptLowerPriority"]
    lease = {"metadata": meta("node-1"), "spec": {"holderIdentity": "node-1"}}
    assert cells("leases", lease) == ["node-1", "node-1", "3d"]


def test_storage() -> None:
    pv = {"metadata": meta("pv-1"), "spec": {
        "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
        "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "local-path",
        "claimRef": {"namespace": "default", "name": "data"}, "volumeMode": "Filesystem"},
        "status": {"phase": "Bound"}}
    assert headers("persistentvolumes") == [
        "Name", "Capacity", "Access Modes", "Reclaim Policy", "Status", "Claim",
        "StorageClass", "VolumeAttributesClass", "Reason", "Age"]
    assert cells("persistentvolumes", pv) == ["pv-1", "10Gi", "RWO,RWX", "Delete", "Bound",
                                              "default/data", "local-path", "<unset>", "",
                                              "3d", "Filesystem"]
    pvc = {"metadata": meta("data"), "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}},
        "storageClassName": "local-path", "volumeName": "pv-1"},
        "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                   "capacity": {"storage": "10240Mi"}}}
    assert cells("persistentvolumeclaims", pvc) == ["data", "Bound", "pv-1", "10Gi", "RWO",
                                                    "local-path", "<unset>", "3d", "<unset>"]
    unbound = {"metadata": meta("wait", deletionTimestamp=ts(seconds=1)),
               "spec": {"resources": {"requests": {"storage": "1Gi"}}},
               "status": {"phase": "Pending"}}
    assert cells("persistentvolumeclaims", unbound)[1:6] == ["Terminating", "", "", "", ""]

    default_ann = {"storageclass.kubernetes.io/is-default-class": "true"}
    older = {"metadata": meta("local-path", annotations=default_ann, created=ts(days=9)),
             "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"}
    newer = {"metadata": meta("fast", annotations=default_ann, created=ts(days=1)),
             "provisioner": "example.com/fast", "reclaimPolicy": "Retain",
             "allowVolumeExpansion": True}
    table = build_table(strategy_for("storageclasses").printer, [older, newer], now=NOW)
    assert [row["cells"] for row in table["rows"]] == [
        ["local-path", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", False, "9d"],
        ["fast (default)", "example.com/fast", "Retain", "Immediate", True, "24h"]]
    assert cells("storageclasses", older)[0] == "local-path (default)"

    driver = {"metadata": meta("csi.example.com"), "spec": {
        "attachRequired": False, "podInfoOnMount": True,
        "volumeLifecycleModes": ["Persistent", "Ephemeral"],
        "tokenRequests": [{"audience": "vault"}, {"audience": "gcp"}]}}
    assert headers("csidrivers") == ["Name", "AttachRequired", "PodInfoOnMount",
                                     "StorageCapacity", "TokenRequests", "RequiresRepublish",
                                     "Modes", "Age"]
    assert cells("csidrivers", driver) == ["csi.example.com", False, True, False, "vault,gcp",
                                           False, "Persistent,Ephemeral", "3d"]
    assert cells("csidrivers", {"metadata": meta("d"), "spec": {}})[1:7] == [
        True, False, False, "<unset>", False, "<none>"]
    csinode = {"metadata": meta("node-1"), "spec": {"drivers": [{"name": "csi.example.com"}]}}
    assert cells("csinodes", csinode) == ["node-1", 1, "3d"]
    attachment = {"metadata": meta("csi-123"), "spec": {
        "attacher": "csi.example.com", "nodeName": "node-1",
        "source": {"persistentVolumeName": "pv-1"}}, "status": {"attached": True}}
    assert cells("volumeattachments", attachment) == ["csi-123", "csi.example.com", "pv-1",
                                                      "node-1", True, "3d"]


def test_ages_use_the_supplied_clock() -> None:
    obj = {"metadata": meta("cm", created=ts(minutes=3, seconds=2))}
    assert cells("configmaps", obj)[-1] == "3m2s"
    naive_now = NOW.replace(tzinfo=None)
    table = build_table(strategy_for("configmaps").printer, [obj], now=naive_now)
    assert table["rows"][0]["cells"][-1] == "3m2s"
    assert cells("configmaps", {"metadata": {"name": "x"}})[-1] == "<unknown>"
