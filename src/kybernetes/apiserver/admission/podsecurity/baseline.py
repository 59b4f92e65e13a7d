"""The baseline checks (`pod-security-admission/policy/check_*.go`): no host namespaces,
privileged containers, added capabilities beyond the default set, hostPath volumes, host
ports, probe or lifecycle hosts, AppArmor or seccomp opt-outs, custom SELinux options,
unmasked /proc, unsafe sysctls or Windows host processes. Messages are upstream's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kybernetes.api.goquote import go_quote
from kybernetes.apiserver.admission.podsecurity.checks import (
    ALLOWED,
    Check,
    CheckPod,
    CheckResult,
    Meta,
    Spec,
    VersionedCheck,
    containers,
    forbid,
    join_quote,
    named,
    pluralize,
    security_context,
)
from kybernetes.apiserver.admission.podsecurity.policy import BASELINE, v1


def _flag(obj: Mapping[str, Any], *path: str) -> bool:
    node: Any = obj
    for part in path:
        node = node.get(part) if isinstance(node, Mapping) else None
    return node is True


# -- privileged ---------------------------------------------------------------------


def privileged(meta: Meta, spec: Spec) -> CheckResult:
    bad = [str(c.get("name", "")) for c in containers(spec)
           if _flag(security_context(c), "privileged")]
    if bad:
        return forbid("privileged",
                      f"{named(bad)} must not set securityContext.privileged=true")
    return ALLOWED


# -- host namespaces ----------------------------------------------------------------


def host_namespaces(meta: Meta, spec: Spec) -> CheckResult:
    used = [f"{name}=true" for name in ("hostNetwork", "hostPID", "hostIPC")
            if spec.get(name) is True]
    return forbid("host namespaces", ", ".join(used)) if used else ALLOWED


# -- capabilities -------------------------------------------------------------------

DEFAULT_CAPABILITIES = frozenset((
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"))


def capabilities(meta: Meta, spec: Spec) -> CheckResult:
    bad: list[str] = []
    added: set[str] = set()
    for c in containers(spec):
        caps = security_context(c).get("capabilities")
        if not isinstance(caps, Mapping):
            continue
        extra = {str(a) for a in caps.get("add") or () if str(a) not in DEFAULT_CAPABILITIES}
        if extra:
            bad.append(str(c.get("name", "")))
            added |= extra
    if bad:
        return forbid("non-default capabilities",
                      f"{named(bad)} must not include {join_quote(sorted(added))} in "
                      "securityContext.capabilities.add")
    return ALLOWED


# -- volumes and ports --------------------------------------------------------------


def host_path_volumes(meta: Meta, spec: Spec) -> CheckResult:
    bad = [str(v.get("name", "")) for v in spec.get("volumes") or ()
           if isinstance(v, Mapping) and v.get("hostPath") is not None]
    if bad:
        return forbid("hostPath volumes", named(bad, "volume", "volumes"))
    return ALLOWED


def host_ports(meta: Meta, spec: Spec) -> CheckResult:
    bad: list[str] = []
    ports: set[str] = set()
    for c in containers(spec):
        found = {str(p.get("hostPort")) for p in c.get("ports") or ()
                 if isinstance(p, Mapping) and p.get("hostPort")}
        if found:
            bad.append(str(c.get("name", "")))
            ports |= found
    if bad:
        return forbid("hostPort", f"{named(bad)} {pluralize('uses', 'use', len(bad))} "
                      f"{pluralize('hostPort', 'hostPorts', len(ports))} "
                      f"{', '.join(sorted(ports))}")
    return ALLOWED


def _handler_hosts(handler: Any) -> list[str]:
    if not isinstance(handler, Mapping):
        return []
    return [str(h) for kind in ("httpGet", "tcpSocket")
            if (h := (handler.get(kind) or {}).get("host"))]


def probe_hosts(meta: Meta, spec: Spec) -> CheckResult:
    bad: set[str] = set()
    hosts: set[str] = set()
    for c in containers(spec):
        lifecycle = c.get("lifecycle") or {}
        found = [h for probe in ("livenessProbe", "readinessProbe", "startupProbe")
                 for h in _handler_hosts(c.get(probe))]
        found += [h for hook in ("postStart", "preStop")
                  for h in _handler_hosts(lifecycle.get(hook))]
        if found:
            bad.add(str(c.get("name", "")))
            hosts.update(found)
    if bad:
        what = pluralize("probe or lifecycle host", "probe or lifecycle hosts", len(hosts))
        return forbid("probe or lifecycle host",
                      f"{named(sorted(bad))} {pluralize('uses', 'use', len(bad))} {what} "
                      f"{join_quote(sorted(hosts))}")
    return ALLOWED


# -- AppArmor -----------------------------------------------------------------------

APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


def _allowed_apparmor_annotation(value: str) -> bool:
    return value in ("", "runtime/default") or value.startswith("localhost/")


def _forbidden_profiles(spec: Spec, field: str, allowed: tuple[str, ...]
                        ) -> tuple[list[str], set[str]]:
    """Who sets the profile `field` (`appArmorProfile`, `seccompProfile`) to a type not
    `allowed` ("pod", then the containers), and the types they set."""
    setters: list[str] = []
    values: set[str] = set()
    pod_profile = security_context(spec).get(field)
    if isinstance(pod_profile, Mapping) and pod_profile.get("type") not in allowed:
        setters.append("pod")
        values.add(str(pod_profile.get("type", "")))
    bad: list[str] = []
    for c in containers(spec):
        profile = security_context(c).get(field)
        if isinstance(profile, Mapping) and profile.get("type") not in allowed:
            bad.append(str(c.get("name", "")))
            values.add(str(profile.get("type", "")))
    if bad:
        setters.append(named(bad))
    return setters, values


def app_armor(meta: Meta, spec: Spec) -> CheckResult:
    setters, values = _forbidden_profiles(spec, "appArmorProfile", ("RuntimeDefault", "Localhost"))
    annotations = sorted(f"{k}={go_quote(str(v))}"
                         for k, v in (meta.get("annotations") or {}).items()
                         if k.startswith(APPARMOR_ANNOTATION_PREFIX)
                         and not _allowed_apparmor_annotation(str(v)))
    listed = sorted(values) + annotations
    if annotations:
        setters.append(pluralize("annotation", "annotations", len(annotations)))
    if setters:
        return forbid(pluralize("forbidden AppArmor profile", "forbidden AppArmor profiles",
                                len(listed)),
                      f"{' and '.join(setters)} must not set AppArmor profile type to "
                      f"{join_quote(listed)}")
    return ALLOWED


# -- seccomp ------------------------------------------------------------------------

SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"
VALID_SECCOMP = ("RuntimeDefault", "Localhost")


def _valid_seccomp_annotation(value: str) -> bool:
    return value in ("runtime/default", "docker/default") or value.startswith("localhost/")


def seccomp_annotations(meta: Meta, spec: Spec) -> CheckResult:
    """Before 1.19: the alpha annotations."""
    annotations = meta.get("annotations") or {}
    keys = [SECCOMP_POD_ANNOTATION] + [SECCOMP_CONTAINER_ANNOTATION_PREFIX +
                                       str(c.get("name", "")) for c in containers(spec)]
    found = sorted({f"{k}={go_quote(str(annotations[k]))}" for k in keys if k in annotations and
                    not _valid_seccomp_annotation(str(annotations[k]))})
    if found:
        return forbid("seccompProfile", f"forbidden "
                      f"{pluralize('annotation', 'annotations', len(found))} {', '.join(found)}")
    return ALLOWED


def seccomp_fields(meta: Meta, spec: Spec) -> CheckResult:
    """1.19 on: explicit seccomp profiles must not opt out."""
    setters, values = _forbidden_profiles(spec, "seccompProfile", VALID_SECCOMP)
    if setters:
        return forbid("seccompProfile", f"{' and '.join(setters)} must not set "
                      f"securityContext.seccompProfile.type to {join_quote(sorted(values))}")
    return ALLOWED


# -- SELinux, /proc, sysctls, Windows -----------------------------------------------

SELINUX_TYPES_1_0 = frozenset(("", "container_t", "container_init_t", "container_kvm_t"))
SELINUX_TYPES_1_31 = SELINUX_TYPES_1_0 | {"container_engine_t"}


def _selinux(allowed_types: frozenset[str]) -> CheckPod:
    def check(meta: Meta, spec: Spec) -> CheckResult:
        bad_types: set[str] = set()
        user = role = False

        def valid(options: Mapping[str, Any]) -> bool:
            nonlocal user, role
            ok = True
            kind = str(options.get("type") or "")
            if kind not in allowed_types:
                ok = False
                bad_types.add(kind)
            if options.get("user"):
                ok, user = False, True
            if options.get("role"):
                ok, role = False, True
            return ok

        setters: list[str] = []
        pod_options = security_context(spec).get("seLinuxOptions")
        if isinstance(pod_options, Mapping) and not valid(pod_options):
            setters.append("pod")
        bad = [str(c.get("name", "")) for c in containers(spec)
               if isinstance(o := security_context(c).get("seLinuxOptions"), Mapping)
               and not valid(o)]
        if bad:
            setters.append(named(bad))
        if not setters:
            return ALLOWED
        data: list[str] = []
        if bad_types:
            data.append(f"{pluralize('type', 'types', len(bad_types))} "
                        f"{join_quote(sorted(bad_types))}")
        if user:
            data.append("user may not be set")
        if role:
            data.append("role may not be set")
        return forbid("seLinuxOptions", f"{' and '.join(setters)} set forbidden "
                      f"securityContext.seLinuxOptions: {'; '.join(data)}")
    return check


def proc_mount(meta: Meta, spec: Spec) -> CheckResult:
    bad: list[str] = []
    kinds: set[str] = set()
    for c in containers(spec):
        mount = security_context(c).get("procMount")
        if mount is not None and mount != "Default":
            bad.append(str(c.get("name", "")))
            kinds.add(str(mount))
    if bad:
        return forbid("procMount", f"{named(bad)} must not set securityContext.procMount to "
                      f"{join_quote(sorted(kinds))}")
    return ALLOWED


SYSCTLS_1_0 = frozenset(("kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                         "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
                         "net.ipv4.ip_unprivileged_port_start"))
SYSCTLS_1_27 = SYSCTLS_1_0 | {"net.ipv4.ip_local_reserved_ports"}
SYSCTLS_1_29 = SYSCTLS_1_27 | {"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                               "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}
SYSCTLS_1_32 = SYSCTLS_1_29 | {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}


def _sysctls(allowed: frozenset[str]) -> CheckPod:
    def check(meta: Meta, spec: Spec) -> CheckResult:
        bad = [str(s.get("name", "")) for s in security_context(spec).get("sysctls") or ()
               if isinstance(s, Mapping) and s.get("name") not in allowed]
        return forbid("forbidden sysctls", ", ".join(bad)) if bad else ALLOWED
    return check


def windows_host_process(meta: Meta, spec: Spec) -> CheckResult:
    setters: list[str] = []
    if _flag(security_context(spec), "windowsOptions", "hostProcess"):
        setters.append("pod")
    bad = [str(c.get("name", "")) for c in containers(spec)
           if _flag(security_context(c), "windowsOptions", "hostProcess")]
    if bad:
        setters.append(named(bad))
    if setters:
        return forbid("hostProcess", f"{' and '.join(setters)} must not set "
                      "securityContext.windowsOptions.hostProcess=true")
    return ALLOWED


def _check(check_id: str, *versions: VersionedCheck) -> Check:
    return Check(check_id, BASELINE, versions)


CHECKS = (
    _check("appArmorProfile", VersionedCheck(v1(0), app_armor)),
    _check("capabilities_baseline", VersionedCheck(v1(0), capabilities)),
    _check("hostNamespaces", VersionedCheck(v1(0), host_namespaces)),
    _check("hostPathVolumes", VersionedCheck(v1(0), host_path_volumes)),
    _check("hostPorts", VersionedCheck(v1(0), host_ports)),
    _check("hostProbesAndHostLifecycle", VersionedCheck(v1(34), probe_hosts)),
    _check("privileged", VersionedCheck(v1(0), privileged)),
    _check("procMount", VersionedCheck(v1(0), proc_mount)),
    _check("seLinuxOptions", VersionedCheck(v1(0), _selinux(SELINUX_TYPES_1_0)),
           VersionedCheck(v1(31), _selinux(SELINUX_TYPES_1_31))),
    _check("seccompProfile_baseline", VersionedCheck(v1(0), seccomp_annotations),
           VersionedCheck(v1(19), seccomp_fields)),
    _check("sysctls", VersionedCheck(v1(0), _sysctls(SYSCTLS_1_0)),
           VersionedCheck(v1(27), _sysctls(SYSCTLS_1_27)),
           VersionedCheck(v1(29), _sysctls(SYSCTLS_1_29)),
           VersionedCheck(v1(32), _sysctls(SYSCTLS_1_32))),
    _check("windowsHostProcess", VersionedCheck(v1(0), windows_host_process)),
)
