"""Printers for the core ("" group, v1) resources, after upstream's internalversion printers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kybernetes.api.printers._common import (
    Cells,
    Context,
    Obj,
    Printer,
    age,
    age_col,
    b,
    col,
    containers_cols,
    dct,
    format_labels,
    get,
    i,
    is_deleting,
    join_host_port,
    layout_containers,
    lb_ingress,
    lst,
    name,
    name_col,
    parse_time,
    quantity,
    s,
    since,
)

# --- pods ------------------------------------------------------------------------------


def _later(current: datetime | None, candidate: datetime | None) -> datetime | None:
    """`if last.Before(&candidate) { last = candidate }` with None as the zero time."""
    if candidate is None:
        return current
    if current is None or current < candidate:
        return candidate
    return current


def _restartable(container: Any) -> bool:
    return isinstance(container, dict) and container.get("restartPolicy") == "Always"


def _terminated_reason(term: dict[str, Any], prefix: str) -> str:
    if s(term, "reason"):
        return prefix + s(term, "reason")
    if i(term, "signal"):
        return f"{prefix}Signal:{i(term, 'signal')}"
    return f"{prefix}ExitCode:{i(term, 'exitCode')}"


def _condition_true(conditions: list[Any], type_: str) -> bool:
    return any(s(c, "type") == type_ and s(c, "status") == "True" for c in conditions)


def _initialized(conditions: list[Any]) -> bool:
    for cond in conditions:
        if s(cond, "type") == "Initialized":
            return s(cond, "status") == "True"
    return False


def _pod_cells(pod: Obj, ctx: Context) -> Cells:
    spec, status = dct(pod, "spec"), dct(pod, "status")
    conditions = lst(status, "conditions")
    init_specs = lst(spec, "initContainers")
    restarts = restartable_restarts = ready = 0
    total = len(lst(spec, "containers"))
    last_restart: datetime | None = None
    last_restartable_restart: datetime | None = None
    phase = s(status, "phase")
    reason = s(status, "reason") or phase
    for cond in conditions:
        if s(cond, "type") == "PodScheduled" and s(cond, "reason") == "SchedulingGated":
            reason = "SchedulingGated"

    by_name = {s(c, "name"): c for c in init_specs}
    total += sum(1 for c in init_specs if _restartable(c))

    initializing = False
    for index, cs in enumerate(lst(status, "initContainerStatuses")):
        restarts += i(cs, "restartCount")
        finished = get(cs, "lastState", "terminated")
        if finished is not None:
            last_restart = _later(last_restart, parse_time(get(finished, "finishedAt")))
        restartable = _restartable(by_name.get(s(cs, "name")))
        if restartable:
            restartable_restarts += i(cs, "restartCount")
            if finished is not None:
                last_restartable_restart = _later(
                    last_restartable_restart, parse_time(get(finished, "finishedAt")))
        term, waiting = get(cs, "state", "terminated"), get(cs, "state", "waiting")
        if term is not None and i(term, "exitCode") == 0:
            continue
        if restartable and get(cs, "started") is True:
            if b(cs, "ready"):
                ready += 1
            continue
        if term is not None:
            reason = _terminated_reason(term, "Init:")
        elif waiting is not None and s(waiting, "reason") \
                and s(waiting, "reason") != "PodInitializing":
            reason = "Init:" + s(waiting, "reason")
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _initialized(conditions):
        restarts, last_restart = restartable_restarts, last_restartable_restart
        has_running = False
        for cs in reversed(lst(status, "containerStatuses")):
            restarts += i(cs, "restartCount")
            finished = get(cs, "lastState", "terminated")
            if finished is not None:
                last_restart = _later(last_restart, parse_time(get(finished, "finishedAt")))
            term, waiting = get(cs, "state", "terminated"), get(cs, "state", "waiting")
            if waiting is not None and s(waiting, "reason"):
                reason = s(waiting, "reason")
            elif term is not None:
                reason = _terminated_reason(term, "")
            elif b(cs, "ready") and get(cs, "state", "running") is not None:
                has_running = True
                ready += 1
        # a pod whose last container completed but another still runs is "Running"
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(conditions, "Ready") else "NotReady"

    if is_deleting(pod) and s(status, "reason") == "NodeLost":
        reason = "Unknown"
    elif is_deleting(pod) and phase not in ("Failed", "Succeeded"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts != 0 and last_restart is not None:
        restarts_text = f"{restarts} ({since(last_restart, ctx)} ago)"

    pod_ip = s(status, "podIP") or s(status, "podIPs", 0, "ip") or "<none>"
    gates = lst(spec, "readinessGates")
    readiness = "<none>"
    if gates:
        true_count = 0
        for gate in gates:
            for cond in conditions:
                if s(cond, "type") == s(gate, "conditionType"):
                    true_count += s(cond, "status") == "True"
                    break
        readiness = f"{true_count}/{len(gates)}"
    return [name(pod), f"{ready}/{total}", reason, restarts_text, age(pod, ctx), pod_ip,
            s(spec, "nodeName") or "<none>", s(status, "nominatedNodeName") or "<none>",
            readiness]


def _pod_conditions(pod: Obj) -> list[dict[str, Any]]:
    phase = s(pod, "status", "phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed",
                 "message": "The pod failed."}]
    return []


PODS = Printer((
    name_col(),
    col("Ready", "string",
        text="The aggregate readiness state of this pod for accepting traffic."),
    col("Status", "string", text="The aggregate status of the containers in this pod."),
    col("Restarts", "string", text="The number of times the containers in this pod have been "
        "restarted and when the last container in this pod has restarted."),
    age_col(),
    col("IP", "string", "core.PodStatus.podIP", priority=1),
    col("Node", "string", "core.PodSpec.nodeName", priority=1),
    col("Nominated Node", "string", "core.PodStatus.nominatedNodeName", priority=1),
    col("Readiness Gates", "string", "core.PodSpec.readinessGates", priority=1),
), _pod_cells, conditions=_pod_conditions)


def _pod_template_cells(obj: Obj, ctx: Context) -> Cells:
    names, images = layout_containers(lst(obj, "template", "spec", "containers"))
    return [name(obj), names, images, format_labels(dct(obj, "template", "metadata", "labels"))]


POD_TEMPLATES = Printer((
    name_col(),
    *containers_cols(priority=0),
    col("Pod Labels", "string", text="The labels for the pod template."),
), _pod_template_cells)


def _rc_cells(obj: Obj, ctx: Context) -> Cells:
    names, images = layout_containers(lst(obj, "spec", "template", "spec", "containers"))
    return [name(obj), i(obj, "spec", "replicas", default=1), i(obj, "status", "replicas"),
            i(obj, "status", "readyReplicas"), age(obj, ctx), names, images,
            format_labels(dct(obj, "spec", "selector"))]


REPLICATION_CONTROLLERS = Printer((
    name_col(),
    col("Desired", "integer", "core.ReplicationControllerSpec.replicas"),
    col("Current", "integer", "core.ReplicationControllerStatus.replicas"),
    col("Ready", "integer", "core.ReplicationControllerStatus.readyReplicas"),
    age_col(),
    *containers_cols(),
    col("Selector", "string", "core.ReplicationControllerSpec.selector", priority=1),
), _rc_cells)

# --- services and endpoints ------------------------------------------------------------


def _service_external_ip(svc: Obj) -> str:
    spec = dct(svc, "spec")
    external_ips = [str(ip) for ip in lst(spec, "externalIPs")]
    svc_type = s(spec, "type") or "ClusterIP"
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) or "<none>"
    if svc_type == "LoadBalancer":
        lb_ips = lb_ingress(lst(svc, "status", "loadBalancer", "ingress"))
        if external_ips:
            return ",".join((lb_ips.split(",") if lb_ips else []) + external_ips)
        return lb_ips or "<pending>"
    if svc_type == "ExternalName":
        return s(spec, "externalName")
    return "<unknown>"


def _port_string(ports: list[Any]) -> str:
    pieces = []
    for port in ports:
        protocol = s(port, "protocol") or "TCP"
        if i(port, "nodePort") > 0:
            pieces.append(f"{i(port, 'port')}:{i(port, 'nodePort')}/{protocol}")
        else:
            pieces.append(f"{i(port, 'port')}/{protocol}")
    return ",".join(pieces)


def _service_cells(svc: Obj, ctx: Context) -> Cells:
    spec = dct(svc, "spec")
    cluster_ip = s(spec, "clusterIP") or s(spec, "clusterIPs", 0) or "<none>"
    return [name(svc), s(spec, "type") or "ClusterIP", cluster_ip, _service_external_ip(svc),
            _port_string(lst(spec, "ports")) or "<none>", age(svc, ctx),
            format_labels(dct(spec, "selector"))]


SERVICES = Printer((
    name_col(),
    col("Type", "string", "core.ServiceSpec.type"),
    col("Cluster-IP", "string", "core.ServiceSpec.clusterIP"),
    col("External-IP", "string", "core.ServiceSpec.externalIPs"),
    col("Port(s)", "string", "core.ServiceSpec.ports"),
    age_col(),
    col("Selector", "string", "core.ServiceSpec.selector", priority=1),
), _service_cells)


def format_endpoints(endpoints: Obj) -> str:
    """`formatEndpoints(ep, nil)`: up to three `ip:port` pairs, then `+ N more...`."""
    subsets = lst(endpoints, "subsets")
    if not subsets:
        return "<none>"
    found: list[str] = []
    limit, more, count = 3, False, 0
    for subset in subsets:
        addresses = lst(subset, "addresses")
        ports = lst(subset, "ports")
        if not ports:
            count += len(addresses)
            for address in addresses:
                if len(found) == limit:
                    more = True
                    break
                found.append(s(address, "ip"))
            continue
        for port in ports:
            count += len(addresses)
            for address in addresses:
                if len(found) == limit:
                    more = True
                    break
                found.append(join_host_port(s(address, "ip"), i(port, "port")))
    text = ",".join(found)
    return f"{text} + {count - limit} more..." if more else text


ENDPOINTS = Printer((
    name_col(),
    col("Endpoints", "string", "core.Endpoints.subsets"),
    age_col(),
), lambda obj, ctx: [name(obj), format_endpoints(obj), age(obj, ctx)])

# --- nodes -----------------------------------------------------------------------------

NODE_ROLE_PREFIX = "node-role.kubernetes.io/"


def node_roles(node: Obj) -> list[str]:
    """`findNodeRoles`: `node-role.kubernetes.io/<role>` keys and `kubernetes.io/role`."""
    roles = set()
    for key, value in dct(node, "metadata", "labels").items():
        if key.startswith(NODE_ROLE_PREFIX):
            if role := key[len(NODE_ROLE_PREFIX):]:
                roles.add(role)
        elif key == "kubernetes.io/role" and value != "":
            roles.add(str(value))
    return sorted(roles)


def _node_address(node: Obj, type_: str) -> str:
    for address in lst(node, "status", "addresses"):
        if s(address, "type") == type_:
            return s(address, "address")
    return "<none>"


def _node_cells(node: Obj, ctx: Context) -> Cells:
    conditions = {s(c, "type"): c for c in lst(node, "status", "conditions")}
    status = []
    if "Ready" in conditions:
        status.append("Ready" if s(conditions["Ready"], "status") == "True" else "NotReady")
    if not status:
        status.append("Unknown")
    if b(node, "spec", "unschedulable"):
        status.append("SchedulingDisabled")
    info = dct(node, "status", "nodeInfo")
    return [name(node), ",".join(status), ",".join(node_roles(node)) or "<none>",
            age(node, ctx), s(info, "kubeletVersion"), _node_address(node, "InternalIP"),
            _node_address(node, "ExternalIP"), s(info, "osImage") or "<unknown>",
            s(info, "kernelVersion") or "<unknown>",
            s(info, "containerRuntimeVersion") or "<unknown>"]


NODES = Printer((
    name_col(),
    col("Status", "string", text="The status of the node"),
    col("Roles", "string", text="The roles of the node"),
    age_col(),
    col("Version", "string", "core.NodeSystemInfo.kubeletVersion"),
    col("Internal-IP", "string", "core.NodeStatus.addresses", priority=1),
    col("External-IP", "string", "core.NodeStatus.addresses", priority=1),
    col("OS-Image", "string", "core.NodeSystemInfo.osImage", priority=1),
    col("Kernel-Version", "string", "core.NodeSystemInfo.kernelVersion", priority=1),
    col("Container-Runtime", "string", "core.NodeSystemInfo.containerRuntimeVersion",
        priority=1),
), _node_cells)

# --- events ----------------------------------------------------------------------------


def _core_event(event: Obj) -> Obj:
    """An events.k8s.io/v1 Event in core/v1 field names (both share one storage)."""
    if "regarding" not in event and "note" not in event \
            and not s(event, "apiVersion").startswith("events.k8s.io/"):
        return event
    source = dct(event, "deprecatedSource")
    return {**event, "involvedObject": dct(event, "regarding"), "message": s(event, "note"),
            "source": source, "firstTimestamp": get(event, "deprecatedFirstTimestamp"),
            "lastTimestamp": get(event, "deprecatedLastTimestamp"),
            "count": i(event, "deprecatedCount")}


def _event_source(event: Obj) -> str:
    component = s(event, "source", "component") or s(event, "reportingController")
    instance = s(event, "source", "host") or s(event, "reportingInstance")
    return component if not instance else f"{component}, {instance}"


def _event_cells(obj: Obj, ctx: Context) -> Cells:
    event = _core_event(obj)
    first_seen = since(get(event, "firstTimestamp"), ctx)
    if parse_time(get(event, "firstTimestamp")) is None:
        first_seen = since(get(event, "eventTime"), ctx)
    last_seen = since(get(event, "lastTimestamp"), ctx)
    if parse_time(get(event, "lastTimestamp")) is None:
        last_seen = first_seen
    count = i(event, "count")
    if get(event, "series") is not None:
        last_seen = since(get(event, "series", "lastObservedTime"), ctx)
        count = i(event, "series", "count")
    elif count == 0:
        count = 1  # singleton events don't set a count in the new API
    kind = s(event, "involvedObject", "kind").lower()
    involved = s(event, "involvedObject", "name")
    target = f"{kind}/{involved}" if involved else kind
    return [last_seen, s(event, "type"), s(event, "reason"), target,
            s(event, "involvedObject", "fieldPath"), _event_source(event),
            s(event, "message").strip(), first_seen, count, name(event)]


EVENTS = Printer((
    col("Last Seen", "string", "core.Event.lastTimestamp"),
    col("Type", "string", "core.Event.type"),
    col("Reason", "string", "core.Event.reason"),
    col("Object", "string", "core.Event.involvedObject"),
    col("Subobject", "string", "core.ObjectReference.fieldPath", priority=1),
    col("Source", "string", "core.Event.source", priority=1),
    col("Message", "string", "core.Event.message"),
    col("First Seen", "string", "core.Event.firstTimestamp", priority=1),
    col("Count", "string", "core.Event.count", priority=1),
    col("Name", "string", "meta.ObjectMeta.name", priority=1, fmt="name"),
), _event_cells)

# --- namespaces, config ----------------------------------------------------------------

NAMESPACES = Printer((
    name_col(),
    col("Status", "string", text="The status of the namespace"),
    age_col(),
), lambda obj, ctx: [name(obj), s(obj, "status", "phase"), age(obj, ctx)])

SECRETS = Printer((
    name_col(),
    col("Type", "string", "core.Secret.type"),
    col("Data", "string", "core.Secret.data"),
    age_col(),
), lambda obj, ctx: [name(obj), s(obj, "type") or "Opaque", len(dct(obj, "data")),
                     age(obj, ctx)])

SERVICE_ACCOUNTS = Printer((
    name_col(),
    col("Secrets", "string", "core.ServiceAccount.secrets"),
    age_col(),
), lambda obj, ctx: [name(obj), len(lst(obj, "secrets")), age(obj, ctx)])

CONFIG_MAPS = Printer((
    name_col(),
    col("Data", "string", "core.ConfigMap.data"),
    age_col(),
), lambda obj, ctx: [name(obj), len(dct(obj, "data")) + len(dct(obj, "binaryData")),
                     age(obj, ctx)])

# --- storage ---------------------------------------------------------------------------

BETA_STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def access_modes(modes: list[Any]) -> str:
    """`helper.GetAccessModesAsString`: RWO,ROX,RWX,RWOP in that order."""
    abbreviations = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"),
                     ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP"))
    return ",".join(short for mode, short in abbreviations if mode in modes)


def _storage_class(obj: Obj, spec_class: str) -> str:
    annotations = dct(obj, "metadata", "annotations")
    if BETA_STORAGE_CLASS_ANNOTATION in annotations:
        return str(annotations[BETA_STORAGE_CLASS_ANNOTATION])
    return spec_class


def _pv_cells(pv: Obj, ctx: Context) -> Cells:
    spec = dct(pv, "spec")
    claim = ""
    if get(spec, "claimRef") is not None:
        claim = f"{s(spec, 'claimRef', 'namespace')}/{s(spec, 'claimRef', 'name')}"
    phase = "Terminating" if is_deleting(pv) else s(pv, "status", "phase")
    return [name(pv), quantity(get(spec, "capacity", "storage")),
            access_modes(lst(spec, "accessModes")),
            s(spec, "persistentVolumeReclaimPolicy") or "Retain", phase, claim,
            _storage_class(pv, s(spec, "storageClassName")),
            s(spec, "volumeAttributesClassName") or "<unset>", s(pv, "status", "reason"),
            age(pv, ctx), s(spec, "volumeMode") or "<unset>"]


PERSISTENT_VOLUMES = Printer((
    name_col(),
    col("Capacity", "string", "core.PersistentVolumeSpec.capacity"),
    col("Access Modes", "string", "core.PersistentVolumeSpec.accessModes"),
    col("Reclaim Policy", "string", "core.PersistentVolumeSpec.persistentVolumeReclaimPolicy"),
    col("Status", "string", "core.PersistentVolumeStatus.phase"),
    col("Claim", "string", "core.PersistentVolumeSpec.claimRef"),
    col("StorageClass", "string", text="StorageClass of the pv"),
    col("VolumeAttributesClass", "string", text="VolumeAttributesClass of the pv"),
    col("Reason", "string", "core.PersistentVolumeStatus.reason"),
    age_col(),
    col("VolumeMode", "string", "core.PersistentVolumeSpec.volumeMode", priority=1),
), _pv_cells)


def _pvc_cells(pvc: Obj, ctx: Context) -> Cells:
    spec = dct(pvc, "spec")
    phase = "Terminating" if is_deleting(pvc) else s(pvc, "status", "phase")
    capacity = modes = ""
    if s(spec, "volumeName"):
        modes = access_modes(lst(pvc, "status", "accessModes"))
        capacity = quantity(get(pvc, "status", "capacity", "storage"))
    return [name(pvc), phase, s(spec, "volumeName"), capacity, modes,
            _storage_class(pvc, s(spec, "storageClassName")),
            s(spec, "volumeAttributesClassName") or "<unset>", age(pvc, ctx),
            s(spec, "volumeMode") or "<unset>"]


PERSISTENT_VOLUME_CLAIMS = Printer((
    name_col(),
    col("Status", "string", "core.PersistentVolumeClaimStatus.phase"),
    col("Volume", "string", "core.PersistentVolumeClaimSpec.volumeName"),
    col("Capacity", "string", "core.PersistentVolumeClaimStatus.capacity"),
    col("Access Modes", "string", "core.PersistentVolumeClaimStatus.accessModes"),
    col("StorageClass", "string", text="StorageClass of the pvc"),
    col("VolumeAttributesClass", "string", text="VolumeAttributesClass of the pvc"),
    age_col(),
    col("VolumeMode", "string", "core.PersistentVolumeClaimSpec.volumeMode", priority=1),
), _pvc_cells)


def _quota_cells(quota: Obj, ctx: Context) -> Cells:
    hard, used = dct(quota, "status", "hard"), dct(quota, "status", "used")
    requests: list[str] = []
    limits: list[str] = []
    for resource in sorted(hard):
        column = limits if resource.split(".")[0] == "limits" and "." in resource else requests
        column.append(f"{resource}: {quantity(used.get(resource))}/{quantity(hard[resource])}")
    return [name(quota), ", ".join(requests), ", ".join(limits), age(quota, ctx)]


RESOURCE_QUOTAS = Printer((
    name_col(),
    col("Request", "string", text="Request represents a minimum amount of cpu/memory that a "
        "container may consume."),
    col("Limit", "string", text="Limits control the maximum amount of cpu/memory that a "
        "container may use independent of contention on the node."),
    age_col(),
), _quota_cells)

def _component_status_cells(obj: Obj, ctx: Context) -> Cells:
    status, message, error = "Unknown", "", ""
    for condition in lst(obj, "conditions"):
        if s(condition, "type") == "Healthy":
            status = "Healthy" if s(condition, "status") == "True" else "Unhealthy"
            message, error = s(condition, "message"), s(condition, "error")
            break
    return [name(obj), status, message, error]


COMPONENT_STATUSES = Printer((
    name_col(),
    col("Status", "string", text="Status of the component conditions"),
    col("Message", "string", text="Message of the component conditions"),
    col("Error", "string", text="Error of the component conditions"),
), _component_status_cells)

PRINTERS: dict[str, Printer] = {
    "componentstatuses": COMPONENT_STATUSES,
    "pods": PODS,
    "podtemplates": POD_TEMPLATES,
    "replicationcontrollers": REPLICATION_CONTROLLERS,
    "services": SERVICES,
    "endpoints": ENDPOINTS,
    "nodes": NODES,
    "events": EVENTS,
    "namespaces": NAMESPACES,
    "secrets": SECRETS,
    "serviceaccounts": SERVICE_ACCOUNTS,
    "configmaps": CONFIG_MAPS,
    "persistentvolumes": PERSISTENT_VOLUMES,
    "persistentvolumeclaims": PERSISTENT_VOLUME_CLAIMS,
    "resourcequotas": RESOURCE_QUOTAS,
}
