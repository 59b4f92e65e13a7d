"""From a pod spec to the runtime's configs: labels, resources, DNS, hosts, log paths.

Upstream's pkg/kubelet/kuberuntime/{labels.go,kuberuntime_container_linux.go,helpers.go}
and pkg/kubelet/network/dns, as pure functions the sync loop calls:

- **Labels** tie runtime objects back to pods (`io.kubernetes.pod.uid`, ...) so a restarted
  kubelet finds its sandboxes and containers; annotations carry the restart count, the
  spec hash (a changed container spec means restart) and the grace period.
- **Resources**: cpu shares from requests (`milli * 1024 / 1000`, at least 2), CFS quota
  from limits over a 100 ms period, the memory limit, and `oom_score_adj` by QoS class
  (Guaranteed -997, BestEffort 1000, Burstable between) as upstream's `GetContainerOOMScoreAdjust`.
- **cgroup parent**: `<root>/<qos>/pod<uid>` as upstream's cgroupfs driver lays it out
  (`burstable`, `besteffort`; Guaranteed pods sit directly under the root).
- **DNS** by `dnsPolicy`: ClusterFirst gives the cluster's server and the
  `<ns>.svc.<domain>`, `svc.<domain>`, `<domain>` searches (then the host's) with
  `ndots:5`; Default copies the host's resolv.conf (its `nameserver` lines, last `search`
  and last `options` line, as upstream's parseResolvConf); None takes `dnsConfig` alone
  (which also extends the others); at most 3 servers, and 32 searches of at most 253
  characters making a line of at most 2048 (upstream's limits).
- **Log paths**: `<log root>/<ns>_<pod>_<uid>/<container>/<restartCount>.log`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kybernetes.api.quantity import parse_quantity
from kybernetes.kubelet.runtime.cri import DNSConfig, Resources, SecurityContext

Obj = dict[str, Any]

LABEL_POD_NAME = "io.kubernetes.pod.name"
LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_POD_UID = "io.kubernetes.pod.uid"
LABEL_CONTAINER_NAME = "io.kubernetes.container.name"
ANNOTATION_RESTART_COUNT = "io.kubernetes.container.restartCount"
ANNOTATION_HASH = "io.kubernetes.container.hash"
ANNOTATION_GRACE = "io.kubernetes.pod.terminationGracePeriod"
ANNOTATION_TERMINATION_LOG = "io.kubernetes.container.terminationMessagePath"

CPU_PERIOD = 100_000  # microseconds, upstream's quotaPeriod
MIN_SHARES = 2
GUARANTEED_OOM_SCORE_ADJ = -997
BEST_EFFORT_OOM_SCORE_ADJ = 1000


def pod_labels(pod: Mapping[str, Any]) -> dict[str, str]:
    meta = pod.get("metadata") or {}
    return {LABEL_POD_NAME: str(meta.get("name") or ""),
            LABEL_POD_NAMESPACE: str(meta.get("namespace") or ""),
            LABEL_POD_UID: str(meta.get("uid") or "")}


def container_labels(pod: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, str]:
    return {**pod_labels(pod), LABEL_CONTAINER_NAME: str(container.get("name") or "")}


def container_hash(container: Mapping[str, Any]) -> str:
    """A stable digest of the container's spec: when it changes, the container restarts."""
    spec = {k: v for k, v in container.items() if k != "resources"}
    encoded = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def _millis(value: Any) -> int:
    return int(parse_quantity(str(value)) * 1000)


def _bytes(value: Any) -> int:
    return int(parse_quantity(str(value)))


def qos_class(pod: Mapping[str, Any]) -> str:
    status = pod.get("status") or {}
    if status.get("qosClass"):
        return str(status["qosClass"])
    requests_seen = limits_seen = False
    guaranteed = True
    for container in (pod.get("spec") or {}).get("containers") or ():
        resources = container.get("resources") or {}
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        requests_seen |= bool({"cpu", "memory"} & set(requests))
        limits_seen |= bool({"cpu", "memory"} & set(limits))
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits[name]) != limits[name]:
                guaranteed = False
    if not requests_seen and not limits_seen:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def resources(pod: Mapping[str, Any], container: Mapping[str, Any], *,
              memory_capacity: int, pids_limit: int = 0) -> Resources:
    spec = container.get("resources") or {}
    requests = dict(spec.get("requests") or {})
    limits = spec.get("limits") or {}
    for name in ("cpu", "memory"):  # a limit alone also requests that much (defaulting)
        if name in limits and name not in requests:
            requests[name] = limits[name]
    shares = max(MIN_SHARES, _millis(requests["cpu"]) * 1024 // 1000) \
        if "cpu" in requests else MIN_SHARES
    quota = _millis(limits["cpu"]) * CPU_PERIOD // 1000 if "cpu" in limits else 0
    memory = _bytes(limits["memory"]) if "memory" in limits else 0
    qos = qos_class(pod)
    if qos == "Guaranteed":
        oom = GUARANTEED_OOM_SCORE_ADJ
    elif qos == "BestEffort":
        oom = BEST_EFFORT_OOM_SCORE_ADJ
    else:
        request = _bytes(requests.get("memory", 0))
        oom = 1000 - (1000 * request) // max(1, memory_capacity)
        oom = min(999, max(2, oom))
    return Resources(cpu_shares=shares, cpu_quota=max(quota, 1000) if quota else 0,
                     cpu_period=CPU_PERIOD if quota else 0, memory_limit_bytes=memory,
                     pids_limit=pids_limit, oom_score_adj=oom)


def cgroup_parent(root: str, pod: Mapping[str, Any]) -> str:
    uid = (pod.get("metadata") or {}).get("uid") or ""
    qos = qos_class(pod)
    base = root.rstrip("/")
    if qos == "Guaranteed":
        return f"{base}/pod{uid}"
    return f"{base}/{qos.lower()}/pod{uid}"


def _capabilities(names: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(str(n) for n in names or ())


def security_context(pod: Mapping[str, Any], container: Mapping[str, Any],
                     image_user: str = "") -> SecurityContext:
    """The effective security context: the container's over the pod's."""
    pod_ctx = (pod.get("spec") or {}).get("securityContext") or {}
    ctx = container.get("securityContext") or {}
    user = ctx.get("runAsUser", pod_ctx.get("runAsUser"))
    group = ctx.get("runAsGroup", pod_ctx.get("runAsGroup"))
    if user is None and image_user:
        name = image_user.split(":", 1)
        if name[0].isdigit():
            user = int(name[0])
        if len(name) > 1 and name[1].isdigit() and group is None:
            group = int(name[1])
    caps = ctx.get("capabilities") or {}
    return SecurityContext(
        run_as_user=None if user is None else int(user),
        run_as_group=None if group is None else int(group),
        readonly_rootfs=bool(ctx.get("readOnlyRootFilesystem")),
        privileged=bool(ctx.get("privileged")),
        no_new_privileges=ctx.get("allowPrivilegeEscalation") is False,
        capabilities_add=_capabilities(caps.get("add")),
        capabilities_drop=_capabilities(caps.get("drop")))


def _host_resolv_conf(path: Path) -> DNSConfig:
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    try:
        text = path.read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith(("#", ";")):
            continue
        if fields[0] == "nameserver" and len(fields) > 1:
            servers.append(fields[1])
        elif fields[0] == "search":
            searches = [search.removesuffix(".") for search in fields[1:]]
        elif fields[0] == "options":
            options = fields[1:]
    return DNSConfig(tuple(servers), tuple(searches), tuple(options))


def dns_config(pod: Mapping[str, Any], *, cluster_dns: Sequence[str], cluster_domain: str,
               host_resolv_conf: Path = Path("/etc/resolv.conf")) -> DNSConfig:
    spec = pod.get("spec") or {}
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst"
                                               and not spec.get("hostNetwork")):
        cluster = bool(cluster_dns)
    else:
        cluster = False
    if policy == "None":
        base = DNSConfig()
    elif cluster:
        host = _host_resolv_conf(host_resolv_conf)
        cluster_searches = (f"{namespace}.svc.{cluster_domain}", f"svc.{cluster_domain}",
                            cluster_domain) if cluster_domain else ()
        base = DNSConfig(tuple(cluster_dns),
                         tuple(dict.fromkeys((*cluster_searches, *host.searches))),
                         ("ndots:5",))
    else:
        base = _host_resolv_conf(host_resolv_conf)
    extra = spec.get("dnsConfig") or {}
    servers = list(dict.fromkeys((*base.servers, *(extra.get("nameservers") or ()))))
    searches = list(dict.fromkeys((*base.searches, *(extra.get("searches") or ()))))
    options = {o.split(":", 1)[0]: o for o in base.options}
    for option in extra.get("options") or ():
        name = option.get("name")
        if name:
            value = option.get("value")
            options[name] = f"{name}:{value}" if value is not None else str(name)
    return DNSConfig(tuple(servers[:3]), _searches_within_limits(searches),
                     tuple(options.values()))


def _searches_within_limits(searches: list[str]) -> tuple[str, ...]:
    """Upstream's formDNSSearchFitsLimits: 32 paths, none over 253 characters, the line
    at most 2048 characters (the last ones dropped)."""
    kept = [search for search in searches[:32] if len(search) <= 253]
    while kept and len(" ".join(kept)) > 2048:
        kept.pop()
    return tuple(kept)


def hostname(pod: Mapping[str, Any]) -> str:
    spec = pod.get("spec") or {}
    return str(spec.get("hostname") or (pod.get("metadata") or {}).get("name") or "")[:63]


def hosts_file(pod: Mapping[str, Any], pod_ips: Sequence[str], cluster_domain: str) -> str:
    """Upstream's managed /etc/hosts for a pod not on the host network."""
    spec = pod.get("spec") or {}
    name = hostname(pod)
    lines = ["# Kubernetes-managed hosts file.", "127.0.0.1\tlocalhost",
             "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet",
             "fe00::0\tip6-mcastprefix", "fe00::1\tip6-allnodes", "fe00::2\tip6-allrouters"]
    fqdn = name
    if spec.get("subdomain"):
        namespace = (pod.get("metadata") or {}).get("namespace") or "default"
        fqdn = f"{name}.{spec['subdomain']}.{namespace}.svc.{cluster_domain}"
    for ip in pod_ips:
        lines.append(f"{ip}\t{fqdn}\t{name}" if fqdn != name else f"{ip}\t{name}")
    if spec.get("hostAliases"):
        lines.append("\n# Entries added by HostAliases.")
    for alias in spec.get("hostAliases") or ():
        lines.append(f"{alias.get('ip')}\t" + "\t".join(alias.get("hostnames") or ()))
    return "\n".join(lines) + "\n"


def names_pod_ip(container: Mapping[str, Any]) -> bool:
    """Whether the container's environment takes the pod's IP (`status.podIP(s)`)."""
    for var in container.get("env") or ():
        field_ref = ((var.get("valueFrom") or {}).get("fieldRef") or {})
        if field_ref.get("fieldPath") in ("status.podIP", "status.podIPs"):
            return True
    return False


def pod_log_dir(log_root: Path, pod: Mapping[str, Any]) -> Path:
    meta = pod.get("metadata") or {}
    return log_root / f"{meta.get('namespace')}_{meta.get('name')}_{meta.get('uid')}"


def container_log_path(container_name: str, attempt: int) -> str:
    """Relative to the pod's log dir."""
    return f"{container_name}/{attempt}.log"


def port_mappings(pod: Mapping[str, Any]) -> list[Obj]:
    """hostPort mappings in CNI's runtimeConfig shape (containerPort, hostPort, ...)."""
    mappings: list[Obj] = []
    for container in (pod.get("spec") or {}).get("containers") or ():
        for port in container.get("ports") or ():
            host_port = port.get("hostPort")
            if not host_port:
                continue
            mapping: Obj = {"containerPort": int(port["containerPort"]),
                            "hostPort": int(host_port),
                            "protocol": str(port.get("protocol") or "TCP").lower()}
            if port.get("hostIP"):
                mapping["hostIP"] = port["hostIP"]
            mappings.append(mapping)
    return mappings
