"""The admission chain kube-apiserver runs, in its order, built from the server's
configuration: every plugin kybernetes has is on by default (NodeRestriction too, as k3s
enables it), `--disable-admission-plugins` turns one off, and a name no plugin has is
refused at start with upstream's message. The certificate plugins are named here so the
flags accept them, but are installed with the certificates API (apiserver/certificates.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kybernetes.api.goquote import go_quote
from kybernetes.apiserver.admission.certificates import (
    CertificateApproval,
    CertificateSigning,
    CertificateSubjectRestriction,
)
from kybernetes.apiserver.admission.chain import AdmissionPlugin
from kybernetes.apiserver.admission.defaultingressclass import DefaultIngressClass
from kybernetes.apiserver.admission.defaultstorageclass import DefaultStorageClass
from kybernetes.apiserver.admission.defaulttolerationseconds import DefaultTolerationSeconds
from kybernetes.apiserver.admission.limitranger import LimitRanger
from kybernetes.apiserver.admission.namespacelifecycle import NamespaceLifecycle
from kybernetes.apiserver.admission.noderestriction import NodeRestriction
from kybernetes.apiserver.admission.persistentvolumeclaimresize import (
    PersistentVolumeClaimResize,
)
from kybernetes.apiserver.admission.podsecurity.admission import PodSecurity
from kybernetes.apiserver.admission.priority import Priority
from kybernetes.apiserver.admission.resourcequota import ResourceQuota
from kybernetes.apiserver.admission.serviceaccount import ServiceAccount
from kybernetes.apiserver.admission.storageobjectinuseprotection import (
    StorageObjectInUseProtection,
)
from kybernetes.apiserver.admission.webhooks.dispatch import (
    MutatingAdmissionWebhook,
    ValidatingAdmissionWebhook,
)
from kybernetes.apiserver.admission.webhooks.policies import ValidatingAdmissionPolicy

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

Factory = Callable[["ApiServer"], AdmissionPlugin]


def _default_toleration_seconds(server: ApiServer) -> AdmissionPlugin:
    cfg = server.config
    return DefaultTolerationSeconds(
        not_ready_seconds=cfg.default_not_ready_toleration_seconds,
        unreachable_seconds=cfg.default_unreachable_toleration_seconds)


# kube-apiserver's order (AllOrderedPlugins), restricted to the plugins kybernetes has.
PLUGINS: dict[str, Factory] = {
    "NamespaceLifecycle": NamespaceLifecycle,
    "LimitRanger": LimitRanger,
    "ServiceAccount": ServiceAccount,
    "NodeRestriction": NodeRestriction,
    "PodSecurity": PodSecurity,
    "Priority": Priority,
    "DefaultTolerationSeconds": _default_toleration_seconds,
    "DefaultStorageClass": DefaultStorageClass,
    "StorageObjectInUseProtection": StorageObjectInUseProtection,
    "PersistentVolumeClaimResize": PersistentVolumeClaimResize,
    "DefaultIngressClass": DefaultIngressClass,
    # Webhooks, policies and quota go last, as upstream: they see what the built-ins made.
    "MutatingAdmissionWebhook": MutatingAdmissionWebhook,
    "ValidatingAdmissionPolicy": ValidatingAdmissionPolicy,
    "ValidatingAdmissionWebhook": ValidatingAdmissionWebhook,
    "ResourceQuota": ResourceQuota,
}
# Known to the flags, installed elsewhere.
INSTALLED_ELSEWHERE = (CertificateApproval.name, CertificateSigning.name,
                       CertificateSubjectRestriction.name)


def check_flags(enable: list[str], disable: list[str]) -> None:
    """Upstream's validation of --enable/--disable-admission-plugins."""
    known = {*PLUGINS, *INSTALLED_ELSEWHERE}
    problems = [f"enable-admission-plugins plugin {go_quote(name)} is unknown"
                for name in enable if name not in known]
    problems += [f"disable-admission-plugins plugin {go_quote(name)} is unknown"
                 for name in disable if name not in known]
    both = sorted(set(enable) & set(disable))
    if both:
        problems.append(f"[{' '.join(both)}] in enable-admission-plugins and "
                        "disable-admission-plugins overlapped")
    if problems:
        raise ValueError("; ".join(problems))


def install(server: ApiServer) -> list[AdmissionPlugin]:
    cfg = server.config
    check_flags(cfg.enable_admission_plugins, cfg.disable_admission_plugins)
    disabled = set(cfg.disable_admission_plugins)
    return [factory(server) for name, factory in PLUGINS.items() if name not in disabled]
