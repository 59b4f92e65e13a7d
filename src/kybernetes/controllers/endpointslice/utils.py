"""Helpers the Endpoints, EndpointSlice and mirroring controllers share: upstream's
`staging/src/k8s.io/endpointslice/util` (`ShouldPodBeInEndpoints`, `ShouldSetHostname`,
`GetPodServiceMemberships`, `podEndpointsChanged`, the port-map key), `pkg/api/v1/pod`'s
`FindPort` and `staging/src/k8s.io/endpointslice/utils.go` (address types of a Service,
the slice labels, ownership), over plain dicts.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from typing import Any

from kybernetes.api.objects import meta, spec
from kybernetes.client.informer import NAMESPACE_INDEX, Store
from kybernetes.client.rest import Obj
from kybernetes.controllers import podutil

# discovery.k8s.io labels and the core annotations the controllers write.
LABEL_SERVICE_NAME = "kubernetes.io/service-name"
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
LABEL_SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
LABEL_HEADLESS = "service.kubernetes.io/headless"
LABEL_TOPOLOGY_ZONE = "topology.kubernetes.io/zone"
LAST_CHANGE_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
LAST_APPLIED_CONFIG = "kubectl.kubernetes.io/last-applied-configuration"
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"
IPV4, IPV6 = "IPv4", "IPv6"

_RESERVED_LABELS = frozenset({LABEL_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_HEADLESS})


def service_selector(service: Obj) -> dict[str, str] | None:
    """The Service's selector, None for a selector-less Service (an empty map is one too:
    upstream's storage turns it into nil)."""
    selector = spec(service).get("selector")
    return dict(selector) if isinstance(selector, dict) and selector else None


def selects(selector: Mapping[str, str], labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def is_service_ip_set(service: Obj) -> bool:
    """Upstream's `helper.IsServiceIPSet`: a ClusterIP that is not None (not headless)."""
    ip = spec(service).get("clusterIP")
    return bool(ip) and ip != "None"


def ip_family(address: str) -> str | None:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    return IPV6 if parsed.version == 6 else IPV4


def pod_ips(pod: Obj) -> list[str]:
    status = pod.get("status") or {}
    ips = [str(entry.get("ip")) for entry in status.get("podIPs") or () if entry.get("ip")]
    if not ips and status.get("podIP"):
        ips = [str(status["podIP"])]
    return ips


def should_pod_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """Not terminal, has an IP, and (unless `include_terminating`) not being deleted."""
    if podutil.is_pod_terminal(pod):
        return False
    if not pod_ips(pod):
        return False
    return include_terminating or not meta(pod).get("deletionTimestamp")


def should_set_hostname(pod: Obj, service: Obj) -> bool:
    """A pod's hostname is published when its subdomain names the Service."""
    pod_spec = spec(pod)
    return (bool(pod_spec.get("hostname")) and pod_spec.get("subdomain") == meta(service).get(
        "name") and meta(service).get("namespace") == meta(pod).get("namespace"))


def find_port(pod: Obj, service_port: Mapping[str, Any]) -> int | None:
    """Upstream's `FindPort`: a numeric targetPort as is, a named one resolved against the
    pod's container ports (then its sidecars') of the same protocol; None when not found."""
    target = service_port.get("targetPort")
    if target is None:
        target = service_port.get("port")
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    pod_spec = spec(pod)
    sidecars = [c for c in pod_spec.get("initContainers") or ()
                if c.get("restartPolicy") == "Always"]
    for container in [*(pod_spec.get("containers") or ()), *sidecars]:
        for port in container.get("ports") or ():
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


def address_types_for_service(service: Obj) -> list[str]:
    """Upstream's `getAddressTypesForService`: the Service's IP families; without any, its
    ClusterIP's family, and both for a headless Service."""
    families = [f for f in spec(service).get("ipFamilies") or () if f in (IPV4, IPV6)]
    if families:
        return sorted(set(families))
    if is_service_ip_set(service):
        return [ip_family(str(spec(service)["clusterIP"])) or IPV4]
    return [IPV4, IPV6]


def canonical(value: Any) -> str:
    """A stable text form of a JSON value, for keys and equality."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def port_map_key(ports: Iterable[Mapping[str, Any]], address_type: str = "") -> str:
    """Upstream's `PortMapKey`: one key per distinct set of ports (order does not matter),
    per address type for the mirroring controller."""
    return address_type + canonical(sorted(canonical(dict(p)) for p in ports))


def endpoint_key(endpoint: Mapping[str, Any]) -> str:
    """Upstream's `hashEndpoint`: what identifies an endpoint across syncs (its addresses,
    hostname and target); other differences make it an update of the same endpoint."""
    ref = endpoint.get("targetRef") or {}
    return canonical([sorted(endpoint.get("addresses") or ()), endpoint.get("hostname") or "",
                      ref.get("namespace") or "", ref.get("name") or ""])


def slice_labels(slice_: Obj | None, service: Obj, controller_name: str) -> dict[str, str]:
    """Upstream's `setEndpointSliceLabels`: the Service's labels (reserved keys dropped),
    the headless label for a Service without a ClusterIP, and the reserved labels."""
    labels = {k: v for k, v in (meta(service).get("labels") or {}).items()
              if k not in _RESERVED_LABELS}
    if not is_service_ip_set(service):
        labels[LABEL_HEADLESS] = ""
    labels[LABEL_SERVICE_NAME] = str(meta(service).get("name"))
    labels[LABEL_MANAGED_BY] = controller_name
    return labels


def owned_by(obj: Obj, owner: Obj) -> bool:
    uid = meta(owner).get("uid")
    return any(ref.get("uid") == uid for ref in meta(obj).get("ownerReferences") or ())


def controller_reference(owner: Obj, kind: str) -> dict[str, Any]:
    """`metav1.NewControllerRef` for a core/v1 owner."""
    owner_meta = meta(owner)
    return {"apiVersion": "v1", "kind": kind, "name": owner_meta.get("name"),
            "uid": owner_meta.get("uid"), "controller": True, "blockOwnerDeletion": True}


def slice_prefix(service_name: str) -> str:
    """The slices' generateName: `<service>-` (a longer name is cut by the server)."""
    return f"{service_name}-"


# ----------------------------------------------------------------------------- pods


def services_selecting(services: Store, pod: Obj) -> list[Obj]:
    """Upstream's `GetPodServiceMemberships`: the Services of the pod's namespace whose
    selector matches its labels."""
    pod_meta = meta(pod)
    labels = pod_meta.get("labels") or {}
    found = []
    for service in services.by_index(NAMESPACE_INDEX, str(pod_meta.get("namespace"))):
        selector = service_selector(service)
        if selector is not None and selects(selector, labels):
            found.append(service)
    return found


def _endpoint_view(pod: Obj) -> Any:
    """What of a pod the endpoints depend on (upstream's `podEndpointsChanged`)."""
    pod_spec, status = spec(pod), pod.get("status") or {}
    return (pod_ips(pod), podutil.is_pod_ready(pod), bool(meta(pod).get("deletionTimestamp")),
            status.get("phase"), pod_spec.get("nodeName"), pod_spec.get("hostname"),
            pod_spec.get("subdomain"),
            canonical([c.get("ports") for c in pod_spec.get("containers") or ()]),
            canonical([c.get("ports") for c in pod_spec.get("initContainers") or ()]))


def services_to_update(services: Store, old: Obj, new: Obj) -> list[Obj]:
    """Upstream's `GetServicesToUpdateOnPodChange`: nothing for a resync; when the labels
    changed, the Services of the old and the new labels (all of them if the endpoint
    changed too, else those that selected only one); otherwise those of the pod if its
    endpoint changed."""
    if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
        return []
    changed = _endpoint_view(old) != _endpoint_view(new)
    labels_changed = (meta(old).get("labels") or {}) != (meta(new).get("labels") or {})
    if not labels_changed:
        return services_selecting(services, new) if changed else []
    olds = {meta(s).get("name"): s for s in services_selecting(services, old)}
    news = {meta(s).get("name"): s for s in services_selecting(services, new)}
    if changed:
        return list({**olds, **news}.values())
    return [s for name, s in {**olds, **news}.items() if (name in olds) != (name in news)]
