"""Upstream's `ServiceAccount` admission plugin (`plugin/pkg/admission/serviceaccount`).

On pod creation: `spec.serviceAccountName` defaults to `default`; the account must exist
(the service-account controller creates `default` moments after a namespace, so that one is
looked up ten times, 100-200 ms apart, before the pod is refused); unless the pod or the
account sets `automountServiceAccountToken: false`, a projected `kube-api-access-<random>`
volume (a bound token, the cluster CA, the namespace) is added and mounted read-only at
`/var/run/secrets/kubernetes.io/serviceaccount` in every container; the account's
`imagePullSecrets` fill a pod that names none. An account annotated
`kubernetes.io/enforce-mountable-secrets: "true"` limits the pod to the secrets it lists.
Mirror pods (static pods the kubelet reflects) may reference neither accounts nor secrets.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from kybernetes.api import errors
from kybernetes.apiserver.admission import lookup
from kybernetes.apiserver.admission.chain import AdmissionRequest, Phase, Target

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

DEFAULT_SERVICE_ACCOUNT = "default"
ENFORCE_MOUNTABLE_SECRETS = "kubernetes.io/enforce-mountable-secrets"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
VOLUME_PREFIX = "kube-api-access-"
TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
# Upstream's WarnOnlyBoundTokenExpirationSeconds: one hour and seven seconds.
TOKEN_EXPIRATION_SECONDS = 3607
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
DEFAULT_ACCOUNT_ATTEMPTS = 10
_CONTAINER_KINDS = (("initContainers", "init container"), ("containers", "container"))


def token_volume(name: str) -> dict[str, Any]:
    """The projected volume every automounting pod gets (upstream's TokenVolumeSource)."""
    return {"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS,
                                 "path": "token"}},
        {"configMap": {"name": ROOT_CA_CONFIGMAP,
                       "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}


def _parse_bool(text: Any) -> bool:
    """Go's strconv.ParseBool, anything unparsable being false."""
    return str(text) in ("1", "t", "T", "TRUE", "true", "True")


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    for item in value if isinstance(value, list) else ():
        if isinstance(item, dict):
            yield item


class ServiceAccount:
    name = "ServiceAccount"

    def __init__(self, server: ApiServer) -> None:
        self.store = server.store
        info = server.registry.get("", "v1", "serviceaccounts")
        assert info is not None
        self.accounts = info

    # -- phases -----------------------------------------------------------------------

    @staticmethod
    def handles(target: Target) -> Phase:
        if target.group or target.resource != "pods" or \
                target.subresource not in ("", "ephemeralcontainers"):
            return Phase.NONE
        return Phase.BOTH if target.operation == "CREATE" else Phase.VALIDATE

    async def admit(self, request: AdmissionRequest) -> None:
        pod = self._pod(request)
        if pod is None or request.operation != "CREATE":
            return
        if _is_mirror(pod):
            await self.validate(request)
            return
        spec = pod.setdefault("spec", {})
        if not spec.get("serviceAccountName"):
            spec["serviceAccountName"] = DEFAULT_SERVICE_ACCOUNT
        # The deprecated alias, which upstream's v1 form always carries alongside.
        if not spec.get("serviceAccount"):
            spec["serviceAccount"] = spec["serviceAccountName"]
        account = await self._account(request, str(spec["serviceAccountName"]))
        if _automount(account, spec):
            _mount_token(spec)
        pull_secrets = [{"name": s.get("name", "")} for s in
                        _dicts(account.get("imagePullSecrets"))]
        if not spec.get("imagePullSecrets") and pull_secrets:
            spec["imagePullSecrets"] = pull_secrets
        await self.validate(request)

    async def validate(self, request: AdmissionRequest) -> None:
        pod = self._pod(request)
        if pod is None:
            return
        spec = pod.get("spec") or {}
        if request.operation == "UPDATE" and request.subresource == "ephemeralcontainers":
            account = await self._account(request, self._named_account(request, spec))
            if _enforces_mountable_secrets(account):
                why = _unlisted_secret(account, spec, kinds=(
                    ("ephemeralContainers", "ephemeral container"),), volumes=False,
                    pull_secrets=False)
                if why:
                    raise request.forbidden(why)
            return
        if request.operation != "CREATE":
            return
        if _is_mirror(pod):
            _check_mirror(request, spec)
            return
        account = await self._account(request, self._named_account(request, spec))
        if _enforces_mountable_secrets(account):
            why = _unlisted_secret(account, spec, kinds=_CONTAINER_KINDS, volumes=True,
                                   pull_secrets=True)
            if why:
                raise request.forbidden(why)

    # -- helpers ----------------------------------------------------------------------

    @staticmethod
    def _pod(request: AdmissionRequest) -> dict[str, Any] | None:
        if not request.is_pod() or request.subresource not in ("", "ephemeralcontainers"):
            return None
        return request.obj if isinstance(request.obj, dict) else None

    @staticmethod
    def _named_account(request: AdmissionRequest, spec: Mapping[str, Any]) -> str:
        name = str(spec.get("serviceAccountName") or "")
        if not name:
            raise request.forbidden(
                f"no service account specified for pod {request.namespace}/{request.name}")
        return name

    async def _account(self, request: AdmissionRequest, name: str) -> dict[str, Any]:
        """The account from the cache, else read from storage (ten times, 100-200 ms
        apart, for `default`, which its controller creates moments after the namespace)."""
        found = lookup.cached(self.store, self.accounts, request.namespace, name)
        attempts = DEFAULT_ACCOUNT_ATTEMPTS if name == DEFAULT_SERVICE_ACCOUNT else 1
        interval = random.uniform(0.1, 0.2)
        for attempt in range(attempts):
            if found is not None:
                return found
            if attempt:
                await asyncio.sleep(interval)
            found = await lookup.live(self.store, self.accounts, request.namespace, name)
        if found is not None:
            return found
        missing = errors.not_found("", "serviceaccount", name)
        raise request.forbidden(f"error looking up service account {request.namespace}/"
                                f"{name}: {missing.message}")


def _enforces_mountable_secrets(account: Mapping[str, Any]) -> bool:
    annotations = (account.get("metadata") or {}).get("annotations") or {}
    return _parse_bool(annotations.get(ENFORCE_MOUNTABLE_SECRETS))


def _is_mirror(pod: Mapping[str, Any]) -> bool:
    return MIRROR_POD_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {})


def _automount(account: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
    """The pod's choice wins, then the account's; mounted by default."""
    for source in (spec, account):
        choice = source.get("automountServiceAccountToken")
        if isinstance(choice, bool):
            return choice
    return True


def _mount_token(spec: dict[str, Any]) -> None:
    """Add the token volume (once) and its mount to every container that has nothing
    mounted at the token path already."""
    volumes = list(_dicts(spec.get("volumes")))
    existing = next((v["name"] for v in volumes
                     if str(v.get("name", "")).startswith(VOLUME_PREFIX)), None)
    volume_name = existing or VOLUME_PREFIX + "".join(
        secrets.choice(_NAME_ALPHABET) for _ in range(5))
    needed = False
    for kind, _ in _CONTAINER_KINDS:
        for container in _dicts(spec.get(kind)):
            mounts = list(_dicts(container.get("volumeMounts")))
            if any(m.get("mountPath") == TOKEN_MOUNT_PATH for m in mounts):
                continue
            container["volumeMounts"] = [*mounts, {
                "name": volume_name, "readOnly": True, "mountPath": TOKEN_MOUNT_PATH}]
            needed = True
    if needed and existing is None:
        spec["volumes"] = [*volumes, token_volume(volume_name)]


def _check_mirror(request: AdmissionRequest, spec: Mapping[str, Any]) -> None:
    if spec.get("serviceAccountName"):
        raise request.forbidden("a mirror pod may not reference service accounts")
    if next(pod_secret_names(spec), None) is not None:
        raise request.forbidden("a mirror pod may not reference secrets")
    for volume in _dicts(spec.get("volumes")):
        sources = (volume.get("projected") or {}).get("sources")
        if any("serviceAccountToken" in s for s in _dicts(sources)):
            raise request.forbidden(
                "a mirror pod may not use ServiceAccountToken volume projections")


# Volume sources that name a secret, and where (upstream's VisitPodSecretNames).
_SECRET_REFS = (("cephfs", "secretRef"), ("cinder", "secretRef"), ("flexVolume", "secretRef"),
                ("rbd", "secretRef"), ("scaleIO", "secretRef"), ("iscsi", "secretRef"),
                ("storageos", "secretRef"), ("csi", "nodePublishSecretRef"))


def _at(obj: Any, *path: str) -> Any:
    for part in path:
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def pod_secret_names(spec: Mapping[str, Any]) -> Iterator[str]:
    """Every secret a pod spec references (upstream's VisitPodSecretNames)."""
    refs: list[Any] = list(_dicts(spec.get("imagePullSecrets")))
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for container in _dicts(spec.get(kind)):
            refs += [_at(e, "secretRef") for e in _dicts(container.get("envFrom"))]
            refs += [_at(e, "valueFrom", "secretKeyRef") for e in _dicts(container.get("env"))]
    for volume in _dicts(spec.get("volumes")):
        for kind in ("secret", "azureFile"):
            if isinstance(volume.get(kind), dict):
                yield str(volume[kind].get("secretName", ""))
        refs += [s.get("secret") for s in _dicts(_at(volume, "projected", "sources"))]
        refs += [_at(volume, kind, field) for kind, field in _SECRET_REFS]
    for ref in refs:
        if isinstance(ref, dict):
            yield str(ref.get("name", ""))


def _unlisted_secret(account: Mapping[str, Any], spec: Mapping[str, Any], *,
                     kinds: tuple[tuple[str, str], ...], volumes: bool,
                     pull_secrets: bool) -> str:
    """Why the pod references a secret the account does not list ('' if it does not)."""
    name = (account.get("metadata") or {}).get("name", "")
    mountable = {str(s.get("name", "")) for s in _dicts(account.get("secrets"))}
    if volumes:
        for volume in _dicts(spec.get("volumes")):
            secret = volume.get("secret")
            if isinstance(secret, dict) and secret.get("secretName") not in mountable:
                return (f'volume with secret.secretName="{secret.get("secretName", "")}" is '
                        f"not allowed because service account {name} does not reference "
                        "that secret")
    for kind, label in kinds:
        for container in _dicts(spec.get(kind)):
            cname = container.get("name", "")
            for env in _dicts(container.get("env")):
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if isinstance(ref, dict) and ref.get("name") not in mountable:
                    return (f"{label} {cname} with envVar {env.get('name', '')} referencing "
                            f'secret.secretName="{ref.get("name", "")}" is not allowed '
                            f"because service account {name} does not reference that secret")
            for env_from in _dicts(container.get("envFrom")):
                ref = env_from.get("secretRef")
                if isinstance(ref, dict) and ref.get("name") not in mountable:
                    return (f'{label} {cname} with envFrom referencing secret.secretName="'
                            f'{ref.get("name", "")}" is not allowed because service account '
                            f"{name} does not reference that secret")
    if pull_secrets:
        allowed = {str(s.get("name", "")) for s in _dicts(account.get("imagePullSecrets"))}
        for i, ref in enumerate(_dicts(spec.get("imagePullSecrets"))):
            if ref.get("name") not in allowed:
                return (f'imagePullSecrets[{i}].name="{ref.get("name", "")}" is not allowed '
                        f"because service account {name} does not reference that "
                        "imagePullSecret")
    return ""
