"""The restricted checks (`pod-security-admission/policy/check_*.go`): no privilege
escalation, capabilities dropped (only NET_BIND_SERVICE added back), non-root users, a
RuntimeDefault or Localhost seccomp profile, the inline volume types that cannot reach the
host, and a masked /proc. Windows pods (spec.os.name) are exempt where upstream exempts
them, from policy version 1.25. Messages are upstream's."""

from __future__ import annotations

from collections.abc import Mapping

from kybernetes.apiserver.admission.podsecurity.baseline import (
    VALID_SECCOMP,
    proc_mount,
    seccomp_fields,
)
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
    is_windows,
    join_quote,
    named,
    pluralize,
    security_context,
)
from kybernetes.apiserver.admission.podsecurity.policy import RESTRICTED, v1


def _exempt_windows(check: CheckPod) -> CheckPod:
    """The 1.25 revision: Windows pods cannot set these fields, so they pass."""
    def revised(meta: Meta, spec: Spec) -> CheckResult:
        return ALLOWED if is_windows(spec) else check(meta, spec)
    return revised


def allow_privilege_escalation(meta: Meta, spec: Spec) -> CheckResult:
    bad = [str(c.get("name", "")) for c in containers(spec)
           if security_context(c).get("allowPrivilegeEscalation") is not False]
    if bad:
        return forbid("allowPrivilegeEscalation != false",
                      f"{named(bad)} must set securityContext.allowPrivilegeEscalation=false")
    return ALLOWED


def capabilities(meta: Meta, spec: Spec) -> CheckResult:
    missing_drop: list[str] = []
    adding: list[str] = []
    added: set[str] = set()
    for c in containers(spec):
        caps = security_context(c).get("capabilities")
        name = str(c.get("name", ""))
        if not isinstance(caps, Mapping):
            missing_drop.append(name)
            continue
        if "ALL" not in (caps.get("drop") or ()):
            missing_drop.append(name)
        extra = {str(a) for a in caps.get("add") or () if a != "NET_BIND_SERVICE"}
        if extra:
            adding.append(name)
            added |= extra
    details: list[str] = []
    if missing_drop:
        details.append(f'{named(missing_drop)} must set securityContext.capabilities.drop='
                       '["ALL"]')
    if adding:
        details.append(f"{named(adding)} must not include {join_quote(sorted(added))} in "
                       "securityContext.capabilities.add")
    return forbid("unrestricted capabilities", "; ".join(details)) if details else ALLOWED


RESTRICTED_VOLUME_TYPES = (
    "hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi",
    "glusterfs", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile",
    "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "portworxVolume",
    "scaleIO", "storageos")
ALLOWED_VOLUME_TYPES = frozenset(("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                                  "persistentVolumeClaim", "projected", "secret"))


def volumes(meta: Meta, spec: Spec) -> CheckResult:
    bad: list[str] = []
    kinds: set[str] = set()
    for volume in spec.get("volumes") or ():
        if not isinstance(volume, Mapping):
            continue
        sources = {k for k, v in volume.items() if k != "name" and v is not None}
        if sources & ALLOWED_VOLUME_TYPES:
            continue
        bad.append(str(volume.get("name", "")))
        kinds.add(next((t for t in RESTRICTED_VOLUME_TYPES if t in sources), "unknown"))
    if bad:
        what = pluralize("restricted volume type", "restricted volume types", len(kinds))
        return forbid("restricted volume types",
                      f"{pluralize('volume', 'volumes', len(bad))} {join_quote(bad)} "
                      f"{pluralize('uses', 'use', len(bad))} {what} "
                      f"{join_quote(sorted(kinds))}")
    return ALLOWED


def run_as_non_root(meta: Meta, spec: Spec) -> CheckResult:
    setters: list[str] = []
    pod_value = security_context(spec).get("runAsNonRoot")
    if pod_value is False:
        setters.append("pod")
    explicit: list[str] = []
    implicit: list[str] = []
    for c in containers(spec):
        value = security_context(c).get("runAsNonRoot")
        if value is None:
            if pod_value is not True:
                implicit.append(str(c.get("name", "")))
        elif value is False:
            explicit.append(str(c.get("name", "")))
    if explicit:
        setters.append(named(explicit))
    if setters:
        return forbid("runAsNonRoot != true", f"{' and '.join(setters)} must not set "
                      "securityContext.runAsNonRoot=false")
    if implicit:
        return forbid("runAsNonRoot != true",
                      f"pod or {named(implicit)} must set securityContext.runAsNonRoot=true")
    return ALLOWED


def _root(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value == 0


def run_as_user(meta: Meta, spec: Spec) -> CheckResult:
    setters = ["pod"] if _root(security_context(spec).get("runAsUser")) else []
    bad = [str(c.get("name", "")) for c in containers(spec)
           if _root(security_context(c).get("runAsUser"))]
    if bad:
        setters.append(named(bad))
    if setters:
        return forbid("runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0")
    return ALLOWED


def seccomp(meta: Meta, spec: Spec) -> CheckResult:
    """Baseline's check of explicit profiles; then every container must have one, its own
    or the pod's."""
    explicit = seccomp_fields(meta, spec)
    if not explicit.allowed:
        return explicit
    pod_profile = security_context(spec).get("seccompProfile")
    pod_set = isinstance(pod_profile, Mapping) and pod_profile.get("type") in VALID_SECCOMP
    implicit = [] if pod_set else [
        str(c.get("name", "")) for c in containers(spec)
        if not isinstance(security_context(c).get("seccompProfile"), Mapping)]
    if implicit:
        return forbid("seccompProfile", f"pod or {named(implicit)} must set "
                      'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"')
    return ALLOWED


def _check(check_id: str, *versions: VersionedCheck) -> Check:
    return Check(check_id, RESTRICTED, versions)


CHECKS = (
    _check("allowPrivilegeEscalation",
           VersionedCheck(v1(8), allow_privilege_escalation),
           VersionedCheck(v1(25), _exempt_windows(allow_privilege_escalation))),
    _check("capabilities_restricted",
           VersionedCheck(v1(22), capabilities, ("capabilities_baseline",)),
           VersionedCheck(v1(25), _exempt_windows(capabilities), ("capabilities_baseline",))),
    # From 1.35 the baseline /proc check relaxes for user-namespaced pods; restricted keeps
    # the strict one in its place.
    _check("procMount_restricted", VersionedCheck(v1(35), proc_mount, ("procMount",))),
    _check("restrictedVolumes", VersionedCheck(v1(0), volumes, ("hostPathVolumes",))),
    _check("runAsNonRoot", VersionedCheck(v1(0), run_as_non_root)),
    _check("runAsUser", VersionedCheck(v1(23), run_as_user)),
    _check("seccompProfile_restricted",
           VersionedCheck(v1(19), seccomp, ("seccompProfile_baseline",)),
           VersionedCheck(v1(25), _exempt_windows(seccomp), ("seccompProfile_baseline",))),
)
