"""Defaulting of core/v1 kinds, as upstream's `pkg/apis/core/v1/defaults.go` and the generated
`SetObjectDefaults_*` call order (zz_generated.defaults.go).

Functions mutate decoded JSON dicts in place. Quantities in resource lists are rounded up
to milli units and re-serialised as upstream does (`0.5` -> `500m`), since the stored
object is what upstream would marshal after decoding.
"""

from __future__ import annotations

import base64
import ipaddress
from typing import Any

from kybernetes.api.quantity import Quantity, QuantityError

Obj = dict[str, Any]

DEFAULT_TERMINATION_GRACE_PERIOD = 30
DEFAULT_SCHEDULER_NAME = "default-scheduler"
DEFAULT_CLIENT_IP_AFFINITY_SECONDS = 10800
DEFAULT_FILE_MODE = 0o644


def _dict(parent: Obj, name: str) -> Obj:
    """parent[name] as a dict, created when missing or null."""
    value = parent.get(name)
    if not isinstance(value, dict):
        value = {}
        parent[name] = value
    return value


def _dicts(value: Any) -> list[Obj]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _empty(value: Any) -> bool:
    return value is None or value == "" or (value == 0 and not isinstance(value, bool))


# ---------------------------------------------------------------- resource lists

def default_resource_list(rl: Any) -> None:
    """SetDefaults_ResourceList: round every quantity up to milli units, re-serialised."""
    if not isinstance(rl, dict):
        return
    for name, value in list(rl.items()):
        try:
            q = Quantity.parse(value)
        except QuantityError:
            continue
        rl[name] = str(q.round_up(-3))


# ---------------------------------------------------------------- images

def image_tag(image: str) -> str:
    """The tag `parsers.ParseImageName` reports: "latest" when neither tag nor digest is given,
    "" for digest-only or unparseable references."""
    name, _, digest = image.partition("@")
    head, _, last = name.rpartition("/")
    repo, _, tag = last.partition(":")
    if not repo or name != name.strip() or any(c.isupper() for c in f"{head}/{repo}"):
        return ""
    if not tag and not digest:
        return "latest"
    return tag


def default_pull_policy(image: str) -> str:
    return "Always" if image_tag(image) == "latest" else "IfNotPresent"


# ---------------------------------------------------------------- containers

def _default_http_get(action: Any) -> None:
    if isinstance(action, dict):
        if not action.get("path"):
            action["path"] = "/"
        if not action.get("scheme"):
            action["scheme"] = "HTTP"


def _default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for name, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                        ("failureThreshold", 3)):
        if _empty(probe.get(name)):
            probe[name] = value
    _default_http_get(probe.get("httpGet"))
    grpc = probe.get("grpc")
    if isinstance(grpc, dict) and grpc.get("service") is None:
        grpc["service"] = ""


def _default_object_field_selector(sel: Any) -> None:
    if isinstance(sel, dict) and not sel.get("apiVersion"):
        sel["apiVersion"] = "v1"


def default_container(ctr: Obj) -> None:
    """SetDefaults_Container plus the generated defaults of a container's members."""
    if not ctr.get("imagePullPolicy"):
        ctr["imagePullPolicy"] = default_pull_policy(ctr.get("image") or "")
    if not ctr.get("terminationMessagePath"):
        ctr["terminationMessagePath"] = "/dev/termination-log"
    if not ctr.get("terminationMessagePolicy"):
        ctr["terminationMessagePolicy"] = "File"
    for port in _dicts(ctr.get("ports")):
        if not port.get("protocol"):
            port["protocol"] = "TCP"
    for env in _dicts(ctr.get("env")):
        value_from = env.get("valueFrom")
        if isinstance(value_from, dict):
            _default_object_field_selector(value_from.get("fieldRef"))
    resources = _dict(ctr, "resources")
    default_resource_list(resources.get("limits"))
    default_resource_list(resources.get("requests"))
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(ctr.get(name))
    lifecycle = ctr.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            handler = lifecycle.get(hook)
            if isinstance(handler, dict):
                _default_http_get(handler.get("httpGet"))


# ---------------------------------------------------------------- volumes

_VOLUME_SOURCE_KEYS = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret",
    "nfs", "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder",
    "cephfs", "flocker", "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume",
    "quobyte", "azureDisk", "photonPersistentDisk", "projected", "portworxVolume", "scaleIO",
    "storageos", "csi", "ephemeral", "image")


def default_volume(vol: Obj) -> None:
    """SetDefaults_Volume and the defaults of each volume source."""
    if all(vol.get(k) is None for k in _VOLUME_SOURCE_KEYS):
        vol["emptyDir"] = {}
    image = vol.get("image")
    if isinstance(image, dict) and not image.get("pullPolicy"):
        image["pullPolicy"] = default_pull_policy(image.get("reference") or "")
    host_path = vol.get("hostPath")
    if isinstance(host_path, dict) and host_path.get("type") is None:
        host_path["type"] = ""
    for name in ("secret", "configMap", "projected"):
        src = vol.get(name)
        if isinstance(src, dict) and src.get("defaultMode") is None:
            src["defaultMode"] = DEFAULT_FILE_MODE
    downward = vol.get("downwardAPI")
    if isinstance(downward, dict):
        if downward.get("defaultMode") is None:
            downward["defaultMode"] = DEFAULT_FILE_MODE
        for item in _dicts(downward.get("items")):
            _default_object_field_selector(item.get("fieldRef"))
    projected = vol.get("projected")
    if isinstance(projected, dict):
        for source in _dicts(projected.get("sources")):
            dapi = source.get("downwardAPI")
            if isinstance(dapi, dict):
                for item in _dicts(dapi.get("items")):
                    _default_object_field_selector(item.get("fieldRef"))
            token = source.get("serviceAccountToken")
            if isinstance(token, dict) and token.get("expirationSeconds") is None:
                token["expirationSeconds"] = 3600
    iscsi = vol.get("iscsi")
    if isinstance(iscsi, dict) and not iscsi.get("iscsiInterface"):
        iscsi["iscsiInterface"] = "default"
    rbd = vol.get("rbd")
    if isinstance(rbd, dict):
        for name, value in (("pool", "rbd"), ("user", "admin"), ("keyring", "/etc/ceph/keyring")):
            if not rbd.get(name):
                rbd[name] = value
    azure = vol.get("azureDisk")
    if isinstance(azure, dict):
        azure_defaults: dict[str, Any] = {"cachingMode": "ReadWrite", "fsType": "ext4",
                                          "readOnly": False, "kind": "Shared"}
        for name, value in azure_defaults.items():
            if azure.get(name) is None:
                azure[name] = value
    scaleio = vol.get("scaleIO")
    if isinstance(scaleio, dict):
        if not scaleio.get("storageMode"):
            scaleio["storageMode"] = "ThinProvisioned"
        if not scaleio.get("fsType"):
            scaleio["fsType"] = "xfs"
    ephemeral = vol.get("ephemeral")
    if isinstance(ephemeral, dict):
        template = ephemeral.get("volumeClaimTemplate")
        if isinstance(template, dict):
            default_pvc_spec(_dict(template, "spec"))


# ---------------------------------------------------------------- pod specs

def default_pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec and the generated defaults of everything a PodSpec holds.

    This is what pod templates (in Deployments, Jobs, ...) get; pods also get
    `default_pod`.
    """
    if not spec.get("dnsPolicy"):
        spec["dnsPolicy"] = "ClusterFirst"
    if not spec.get("restartPolicy"):
        spec["restartPolicy"] = "Always"
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = DEFAULT_TERMINATION_GRACE_PERIOD
    if not spec.get("schedulerName"):
        spec["schedulerName"] = DEFAULT_SCHEDULER_NAME
    # v1 <-> internal conversion keeps the deprecated serviceAccount field in step.
    if not spec.get("serviceAccountName") and spec.get("serviceAccount"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    if spec.get("serviceAccountName"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    for vol in _dicts(spec.get("volumes")):
        default_volume(vol)
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for ctr in _dicts(spec.get(kind)):
            default_container(ctr)
    default_resource_list(spec.get("overhead"))
    resources = spec.get("resources")
    if isinstance(resources, dict):
        default_resource_list(resources.get("limits"))
        default_resource_list(resources.get("requests"))


def _requests_from_limits(ctr: Obj) -> None:
    resources = _dict(ctr, "resources")
    limits = resources.get("limits")
    if isinstance(limits, dict):
        requests = resources.get("requests")
        if not isinstance(requests, dict):
            requests = {}
            resources["requests"] = requests
        for name, value in limits.items():
            requests.setdefault(name, value)
        if not requests and not limits:
            resources.pop("requests", None)


def default_pod(pod: Obj) -> None:
    """SetObjectDefaults_Pod: SetDefaults_Pod, then the PodSpec defaults."""
    spec = _dict(pod, "spec")
    for kind in ("containers", "initContainers"):
        for ctr in _dicts(spec.get(kind)):
            _requests_from_limits(ctr)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    if spec.get("hostNetwork") is True:
        for kind in ("containers", "initContainers"):
            for ctr in _dicts(spec.get(kind)):
                for port in _dicts(ctr.get("ports")):
                    if _empty(port.get("hostPort")):
                        port["hostPort"] = port.get("containerPort", 0)
    default_pod_spec(spec)
    status = pod.get("status")
    if isinstance(status, dict):
        for kind in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
            for cs in _dicts(status.get(kind)):
                default_resource_list(cs.get("allocatedResources"))
                res = cs.get("resources")
                if isinstance(res, dict):
                    default_resource_list(res.get("limits"))
                    default_resource_list(res.get("requests"))


def default_pod_template_spec(template: Any) -> None:
    if isinstance(template, dict):
        default_pod_spec(_dict(template, "spec"))


def default_pod_template(obj: Obj) -> None:
    default_pod_template_spec(obj.get("template"))


# ---------------------------------------------------------------- services

def _externally_accessible(spec: Obj) -> bool:
    typ = spec.get("type")
    return typ in ("LoadBalancer", "NodePort") or (
        typ == "ClusterIP" and bool(spec.get("externalIPs")))


def _family(ip: str) -> str | None:
    try:
        return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
    except ValueError:
        return None


def default_service(svc: Obj) -> None:
    """SetDefaults_Service plus the generated port protocol default.

    Also applies, as the service REST storage does before validation, the clusterIPs
    normalisation of a create (`clusterIP` given alone) and single-stack IPv4 family
    defaults (`ipFamilyPolicy: SingleStack`, `ipFamilies` from the cluster IPs or IPv4).
    """
    spec = _dict(svc, "spec")
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    if spec["sessionAffinity"] == "ClientIP":
        cfg = spec.get("sessionAffinityConfig")
        client_ip = cfg.get("clientIP") if isinstance(cfg, dict) else None
        if not isinstance(client_ip, dict) or client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {
                "clientIP": {"timeoutSeconds": DEFAULT_CLIENT_IP_AFFINITY_SECONDS}}
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    for port in _dicts(spec.get("ports")):
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        target = port.get("targetPort")
        if target is None or target == 0 or target == "":
            port["targetPort"] = port.get("port", 0)
    typ = spec["type"]
    if _externally_accessible(spec) and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec.get("internalTrafficPolicy") is None and typ in ("NodePort", "LoadBalancer",
                                                             "ClusterIP"):
        spec["internalTrafficPolicy"] = "Cluster"
    if typ == "LoadBalancer":
        if spec.get("allocateLoadBalancerNodePorts") is None:
            spec["allocateLoadBalancerNodePorts"] = True
        status = svc.get("status")
        lb = status.get("loadBalancer") if isinstance(status, dict) else None
        if isinstance(lb, dict):
            for ing in _dicts(lb.get("ingress")):
                if ing.get("ip") and ing.get("ipMode") is None:
                    ing["ipMode"] = "VIP"
    if typ == "ExternalName":
        return
    cluster_ip = spec.get("clusterIP")
    if isinstance(cluster_ip, str) and cluster_ip and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [cluster_ip]
    if spec.get("ipFamilyPolicy") is None:
        spec["ipFamilyPolicy"] = "SingleStack"
    if not spec.get("ipFamilies"):
        families = [f for f in (_family(ip) for ip in spec.get("clusterIPs") or []
                                if isinstance(ip, str)) if f]
        spec["ipFamilies"] = families[:1] if spec["ipFamilyPolicy"] == "SingleStack" and \
            families else (families or ["IPv4"])


# ---------------------------------------------------------------- other core kinds

def default_secret(secret: Obj) -> None:
    """SetDefaults_Secret, plus the v1 conversion that folds `stringData` into `data`."""
    if not secret.get("type"):
        secret["type"] = "Opaque"
    string_data = secret.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = _dict(secret, "data")
        for name, value in string_data.items():
            data[name] = base64.b64encode(str(value).encode()).decode()


def default_namespace(ns: Obj) -> None:
    """SetDefaults_Namespace (name label) and SetDefaults_NamespaceStatus (phase Active)."""
    meta = _dict(ns, "metadata")
    name = meta.get("name")
    if isinstance(name, str) and name:
        _dict(meta, "labels")["kubernetes.io/metadata.name"] = name
    status = _dict(ns, "status")
    if not status.get("phase"):
        status["phase"] = "Active"


def default_namespace_finalizers(ns: Obj) -> None:
    """The namespace strategy's create-time `kubernetes` finalizer."""
    spec = _dict(ns, "spec")
    finalizers = spec.get("finalizers")
    if not isinstance(finalizers, list):
        finalizers = []
    if "kubernetes" not in finalizers:
        finalizers.append("kubernetes")
    spec["finalizers"] = finalizers


def default_node(node: Obj) -> None:
    status = node.get("status")
    if not isinstance(status, dict):
        return
    capacity = status.get("capacity")
    if status.get("allocatable") is None and isinstance(capacity, dict):
        status["allocatable"] = dict(capacity)
    default_resource_list(status.get("capacity"))
    default_resource_list(status.get("allocatable"))


def default_pvc_spec(spec: Obj) -> None:
    if spec.get("volumeMode") is None:
        spec["volumeMode"] = "Filesystem"
    resources = spec.get("resources")
    if isinstance(resources, dict):
        default_resource_list(resources.get("limits"))
        default_resource_list(resources.get("requests"))


def default_pvc(pvc: Obj) -> None:
    status = _dict(pvc, "status")
    if not status.get("phase"):
        status["phase"] = "Pending"
    default_pvc_spec(_dict(pvc, "spec"))
    default_resource_list(status.get("capacity"))
    default_resource_list(status.get("allocatedResources"))


def default_pv(pv: Obj) -> None:
    status = _dict(pv, "status")
    if not status.get("phase"):
        status["phase"] = "Pending"
    spec = _dict(pv, "spec")
    if not spec.get("persistentVolumeReclaimPolicy"):
        spec["persistentVolumeReclaimPolicy"] = "Retain"
    if spec.get("volumeMode") is None:
        spec["volumeMode"] = "Filesystem"
    default_resource_list(spec.get("capacity"))
    host_path = spec.get("hostPath")
    if isinstance(host_path, dict) and host_path.get("type") is None:
        host_path["type"] = ""
    for name, value in (("iscsi", {"iscsiInterface": "default"}),
                        ("rbd", {"pool": "rbd", "user": "admin", "keyring": "/etc/ceph/keyring"}),
                        ("scaleIO", {"storageMode": "ThinProvisioned", "fsType": "xfs"})):
        src = spec.get(name)
        if isinstance(src, dict):
            for k, v in value.items():
                if not src.get(k):
                    src[k] = v


def default_endpoints(ep: Obj) -> None:
    for subset in _dicts(ep.get("subsets")):
        for port in _dicts(subset.get("ports")):
            if not port.get("protocol"):
                port["protocol"] = "TCP"


def default_limit_range(lr: Obj) -> None:
    for item in _dicts(_dict(lr, "spec").get("limits")):
        if item.get("type") == "Container":
            default = dict(item.get("default") or {})
            request = dict(item.get("defaultRequest") or {})
            for name, value in (item.get("max") or {}).items():
                default.setdefault(name, value)
            for name, value in default.items():
                request.setdefault(name, value)
            for name, value in (item.get("min") or {}).items():
                request.setdefault(name, value)
            if default:
                item["default"] = default
            if request:
                item["defaultRequest"] = request
        for name in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            default_resource_list(item.get(name))


def default_resource_quota(rq: Obj) -> None:
    default_resource_list(_dict(rq, "spec").get("hard"))
    status = rq.get("status")
    if isinstance(status, dict):
        default_resource_list(status.get("hard"))
        default_resource_list(status.get("used"))


def default_replication_controller(rc: Obj) -> None:
    spec = _dict(rc, "spec")
    template = spec.get("template")
    labels = None
    if isinstance(template, dict):
        meta = template.get("metadata")
        labels = meta.get("labels") if isinstance(meta, dict) else None
    if isinstance(labels, dict):
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = _dict(rc, "metadata")
        if not meta.get("labels"):
            meta["labels"] = dict(labels)
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    default_pod_template_spec(template)
