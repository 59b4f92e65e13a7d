"""The resource registry: which kinds the API serves, and how each is addressed.

One `ResourceInfo` per (group, version, resource), with the facts discovery publishes
(kind, scope, short names, categories, verbs, subresources) and the facts the generic
REST store needs (storage key prefix, status subresource, list kind). Later resources
(custom resources) are added at run time through `Registry.add`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Subresource:
    """A subresource such as `status` or `scale`: its name, kind, and verbs."""

    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = ""


@dataclass(frozen=True)
class ResourceInfo:
    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[Subresource, ...] = ()
    # Spec changes bump metadata.generation; status writes go through /status only.
    has_status: bool = False
    # Built-ins live under /registry/<plural>/; custom resources set /registry/<group>/<plural>/.
    storage_prefix: str = ""
    # A custom resource version's OpenAPI v3 schema (its CRD's openAPIV3Schema) as JSON text,
    # for the OpenAPI documents; empty for built-ins (theirs are upstream's definitions).
    openapi_schema: str = ""

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def key_prefix(self) -> str:
        """The storage prefix under which all objects of this resource live."""
        return self.storage_prefix or f"/registry/{self.plural}/"

    def key(self, namespace: str, name: str) -> str:
        return f"{self.key_prefix}{namespace}/{name}" if self.namespaced \
            else f"{self.key_prefix}{name}"

    def namespace_prefix(self, namespace: str) -> str:
        return f"{self.key_prefix}{namespace}/" if self.namespaced and namespace \
            else self.key_prefix

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)

    @property
    def group_resource(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _status(kind: str) -> Subresource:
    return Subresource("status", kind, ("get", "patch", "update"))


_PROXY_VERBS = ("create", "delete", "get", "patch", "update")
_SCALE = Subresource("scale", "Scale", ("get", "patch", "update"), "autoscaling", "v1")
_ALL = ("all",)
_API_EXTENSIONS = ("api-extensions",)


def _r(group: str, version: str, kind: str, plural: str, *, namespaced: bool = True,
       short: tuple[str, ...] = (), categories: tuple[str, ...] = (),
       status: bool = False, extra: tuple[Subresource, ...] = (),
       verbs: tuple[str, ...] = ALL_VERBS) -> ResourceInfo:
    subs = ((_status(kind),) if status else ()) + extra
    return ResourceInfo(group, version, kind, plural, kind.lower(), namespaced, short,
                        categories, verbs, subs, has_status=status)


def _pod_subresources() -> tuple[Subresource, ...]:
    connect = ("create", "get")
    return (
        Subresource("binding", "Binding", ("create",)),
        Subresource("eviction", "Eviction", ("create",), "policy", "v1"),
        Subresource("log", "Pod", ("get",)),
        Subresource("exec", "PodExecOptions", connect),
        Subresource("attach", "PodAttachOptions", connect),
        Subresource("portforward", "PodPortForwardOptions", connect),
        Subresource("proxy", "PodProxyOptions", _PROXY_VERBS),
        Subresource("ephemeralcontainers", "Pod", ("get", "patch", "update")),
    )


BUILTIN_RESOURCES: tuple[ResourceInfo, ...] = (
    # core/v1
    _r("", "v1", "Namespace", "namespaces", namespaced=False, short=("ns",), status=True,
       extra=(Subresource("finalize", "Namespace", ("update",)),),
       verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    _r("", "v1", "Pod", "pods", short=("po",), categories=_ALL, status=True,
       extra=_pod_subresources()),
    _r("", "v1", "Service", "services", short=("svc",), categories=_ALL, status=True,
       extra=(Subresource("proxy", "ServiceProxyOptions", _PROXY_VERBS),)),
    _r("", "v1", "Endpoints", "endpoints", short=("ep",)),
    _r("", "v1", "ConfigMap", "configmaps", short=("cm",)),
    _r("", "v1", "Secret", "secrets"),
    _r("", "v1", "ServiceAccount", "serviceaccounts", short=("sa",),
       extra=(Subresource("token", "TokenRequest", ("create",), "authentication.k8s.io", "v1"),)),
    _r("", "v1", "Node", "nodes", namespaced=False, short=("no",), status=True,
       extra=(Subresource("proxy", "NodeProxyOptions", _PROXY_VERBS),)),
    _r("", "v1", "Event", "events", short=("ev",)),
    _r("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False, short=("pv",),
       status=True),
    _r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",), status=True),
    _r("", "v1", "LimitRange", "limitranges", short=("limits",)),
    _r("", "v1", "ResourceQuota", "resourcequotas", short=("quota",), status=True),
    _r("", "v1", "ReplicationController", "replicationcontrollers", short=("rc",),
       categories=_ALL, status=True, extra=(_SCALE,)),
    _r("", "v1", "PodTemplate", "podtemplates"),
    # Computed on each read from what the server sees (apiserver/componentstatuses.py).
    _r("", "v1", "ComponentStatus", "componentstatuses", namespaced=False, short=("cs",),
       verbs=("get", "list")),
    # The legacy top-level binding: `pods/binding` with the pod named in the body.
    _r("", "v1", "Binding", "bindings", verbs=("create",)),
    # apps/v1
    _r("apps", "v1", "Deployment", "deployments", short=("deploy",), categories=_ALL,
       status=True, extra=(_SCALE,)),
    _r("apps", "v1", "ReplicaSet", "replicasets", short=("rs",), categories=_ALL, status=True,
       extra=(_SCALE,)),
    _r("apps", "v1", "StatefulSet", "statefulsets", short=("sts",), categories=_ALL,
       status=True, extra=(_SCALE,)),
    _r("apps", "v1", "DaemonSet", "daemonsets", short=("ds",), categories=_ALL, status=True),
    _r("apps", "v1", "ControllerRevision", "controllerrevisions"),
    # batch/v1
    _r("batch", "v1", "Job", "jobs", categories=_ALL, status=True),
    _r("batch", "v1", "CronJob", "cronjobs", short=("cj",), categories=_ALL, status=True),
    # autoscaling/v2
    _r("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
       short=("hpa",), categories=_ALL, status=True),
    # autoscaling/v1: served from the autoscaling/v2 objects (api/conversion); v2 is preferred.
    _r("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
       short=("hpa",), categories=_ALL, status=True),
    # events.k8s.io/v1: served from the core/v1 Events (api/conversion).
    _r("events.k8s.io", "v1", "Event", "events", short=("ev",)),
    # networking.k8s.io/v1
    _r("networking.k8s.io", "v1", "Ingress", "ingresses", short=("ing",), status=True),
    _r("networking.k8s.io", "v1", "IngressClass", "ingressclasses", namespaced=False),
    _r("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short=("netpol",)),
    _r("networking.k8s.io", "v1", "ServiceCIDR", "servicecidrs", namespaced=False,
       status=True),
    _r("networking.k8s.io", "v1", "IPAddress", "ipaddresses", namespaced=False,
       short=("ip",)),
    # rbac.authorization.k8s.io/v1
    _r("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
       namespaced=False),
    # authentication.k8s.io/v1 and authorization.k8s.io/v1: reviews, created and answered,
    # never stored.
    _r("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", namespaced=False,
       verbs=("create",)),
    _r("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews",
       namespaced=False, verbs=("create",)),
    _r("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews",
       namespaced=False, verbs=("create",)),
    _r("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews",
       namespaced=False, verbs=("create",)),
    _r("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews",
       verbs=("create",)),
    _r("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews",
       namespaced=False, verbs=("create",)),
    # certificates.k8s.io/v1
    _r("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests",
       namespaced=False, short=("csr",), status=True,
       extra=(Subresource("approval", "CertificateSigningRequest", ("get", "patch", "update")),)),
    # coordination.k8s.io/v1
    _r("coordination.k8s.io", "v1", "Lease", "leases"),
    # discovery.k8s.io/v1
    _r("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    # storage.k8s.io/v1
    _r("storage.k8s.io", "v1", "StorageClass", "storageclasses", namespaced=False,
       short=("sc",)),
    _r("storage.k8s.io", "v1", "CSIDriver", "csidrivers", namespaced=False),
    _r("storage.k8s.io", "v1", "CSINode", "csinodes", namespaced=False),
    _r("storage.k8s.io", "v1", "VolumeAttachment", "volumeattachments", namespaced=False,
       status=True),
    _r("storage.k8s.io", "v1", "CSIStorageCapacity", "csistoragecapacities"),
    _r("storage.k8s.io", "v1", "VolumeAttributesClass", "volumeattributesclasses",
       namespaced=False, short=("vac",)),
    # admissionregistration.k8s.io/v1: stored and validated; nothing calls the webhooks or
    # evaluates the policies yet.
    _r("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
       "mutatingwebhookconfigurations", namespaced=False, categories=_API_EXTENSIONS),
    _r("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
       "validatingwebhookconfigurations", namespaced=False, categories=_API_EXTENSIONS),
    _r("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy",
       "validatingadmissionpolicies", namespaced=False, categories=_API_EXTENSIONS,
       status=True),
    _r("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding",
       "validatingadmissionpolicybindings", namespaced=False, categories=_API_EXTENSIONS),
    # apiextensions.k8s.io/v1: the CRDs' controller serves their custom resources
    # (apiserver/crds.py).
    _r("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
       namespaced=False, short=("crd", "crds"), categories=_API_EXTENSIONS, status=True),
    # apiregistration.k8s.io/v1: the local APIServices are the server's own
    # (apiserver/apiservices.py); others are stored (nothing proxies to them yet).
    _r("apiregistration.k8s.io", "v1", "APIService", "apiservices", namespaced=False,
       categories=_API_EXTENSIONS, status=True),
    # policy/v1
    _r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short=("pdb",),
       status=True),
    # scheduling.k8s.io/v1
    _r("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", namespaced=False,
       short=("pc",)),
    # node.k8s.io/v1
    _r("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", namespaced=False),
    # flowcontrol.apiserver.k8s.io/v1: the bootstrap configuration is ensured at start
    # (apiserver/flowcontrolbootstrap.py); requests are not yet classified by it.
    _r("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema", "flowschemas", namespaced=False,
       status=True),
    _r("flowcontrol.apiserver.k8s.io", "v1", "PriorityLevelConfiguration",
       "prioritylevelconfigurations", namespaced=False, status=True),
    # resource.k8s.io/v1 (dynamic resource allocation): stored and validated.
    _r("resource.k8s.io", "v1", "DeviceClass", "deviceclasses", namespaced=False),
    _r("resource.k8s.io", "v1", "ResourceClaim", "resourceclaims", status=True),
    _r("resource.k8s.io", "v1", "ResourceClaimTemplate", "resourceclaimtemplates"),
    _r("resource.k8s.io", "v1", "ResourceSlice", "resourceslices", namespaced=False),
)

# Groups listed in discovery in this order (upstream's preferred order, core first, then
# the aggregator's own group, then by APIService group priority).
GROUP_ORDER = (
    "", "apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io",
    "authorization.k8s.io", "autoscaling", "batch", "certificates.k8s.io",
    "networking.k8s.io", "policy",
    "rbac.authorization.k8s.io", "storage.k8s.io", "admissionregistration.k8s.io",
    "apiextensions.k8s.io", "scheduling.k8s.io", "coordination.k8s.io", "node.k8s.io",
    "discovery.k8s.io", "resource.k8s.io", "flowcontrol.apiserver.k8s.io",
)


_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Upstream's kube-aware version order as a sort key: GA before beta before alpha,
    higher numbers first (v2, v1, v1beta2, v1beta1, v1alpha1), anything else last, by name."""
    match = _KUBE_VERSION.match(version)
    if match is None:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), version)


@dataclass
class Registry:
    """All served resources, indexed by (group, version, plural)."""

    resources: dict[tuple[str, str, str], ResourceInfo] = field(default_factory=dict)

    def add(self, info: ResourceInfo) -> None:
        self.resources[(info.group, info.version, info.plural)] = info

    def remove(self, group: str, version: str, plural: str) -> None:
        self.resources.pop((group, version, plural), None)

    def get(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        return self.resources.get((group, version, plural))

    def by_kind(self, group: str, kind: str) -> ResourceInfo | None:
        return next((r for r in self.resources.values()
                     if r.group == group and r.kind == kind), None)

    def group_versions(self) -> dict[str, list[str]]:
        """Group name -> its served versions, groups in discovery order."""
        found: dict[str, list[str]] = {}
        for info in self.resources.values():
            versions = found.setdefault(info.group, [])
            if info.version not in versions:
                versions.append(info.version)
        for versions in found.values():
            versions.sort(key=version_priority)
        rank = {g: i for i, g in enumerate(GROUP_ORDER)}
        return dict(sorted(found.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))

    def in_group_version(self, group: str, version: str) -> list[ResourceInfo]:
        return [r for r in self.resources.values() if r.group == group and r.version == version]


def builtin_registry() -> Registry:
    registry = Registry()
    for info in BUILTIN_RESOURCES:
        registry.add(info)
    return registry
