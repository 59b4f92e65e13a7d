"""A container's environment, as upstream's kubelet builds it (kubelet_pods.go
`makeEnvironmentVariables`, pkg/kubelet/envvars `FromServices`).

Order of evaluation, as upstream:

1. service variables (`<SVC>_SERVICE_HOST`, `_SERVICE_PORT`, `_SERVICE_PORT_<NAME>` and the
   docker-link `<SVC>_PORT...` family) for the `kubernetes` service of `default` always,
   and for the services of the pod's namespace unless `enableServiceLinks` is false;
2. `envFrom` ConfigMaps and Secrets, every key (prefixed), later sources winning;
3. `env` in order: `value` with `$(VAR)` expanded against the variables so far and then
   the service variables (`$$` escapes), or `valueFrom` a ConfigMap/Secret key, a pod
   field, or a container resource; a later entry overrides an earlier one of the name;
4. the service variables not already set.

Since Kubernetes 1.34 (RelaxedEnvironmentVariableValidation, GA) the kubelet no longer
skips `envFrom` keys that are not C identifiers, so neither do we: any key is passed on.

Objects come through `EnvLookups`, a small protocol the kubelet serves from its informer
caches (`listers.KubeletListers`). Errors raise `EnvError` with upstream's message (the
kubelet reports it as `CreateContainerConfigError`).
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from kybernetes.kubelet.volumes.expansion import expand, mapping_for
from kybernetes.kubelet.volumes.fieldpath import (
    FieldPathError,
    convert_downward_api_field_label,
    extract_field_path_as_string,
)
from kybernetes.kubelet.volumes.resource import ResourceFieldError, resource_value

Obj = dict[str, Any]

# Services whose variables every pod gets, whatever enableServiceLinks says.
MASTER_SERVICES = frozenset({"kubernetes"})


class EnvError(Exception):
    """The environment cannot be built; the message is upstream's."""


class EnvLookups(Protocol):
    """What the environment needs from the cluster. `get_*` return None for a missing
    object; `list_services` the services of one namespace."""

    async def get_configmap(self, namespace: str, name: str) -> Obj | None: ...

    async def get_secret(self, namespace: str, name: str) -> Obj | None: ...

    async def list_services(self, namespace: str) -> list[Obj]: ...

    async def node_allocatable(self) -> dict[str, Any]: ...

    async def host_ips(self) -> list[str]: ...


def node_host_ips(addresses: Sequence[Mapping[str, Any]]) -> list[str]:
    """Upstream `utilnode.GetNodeHostIPs`: the first InternalIP (else ExternalIP), then the
    first of the other IP family, if any."""
    candidates = [str(a.get("address")) for kind in ("InternalIP", "ExternalIP")
                  for a in addresses if a.get("type") == kind]
    parsed = []
    for candidate in candidates:
        try:
            parsed.append(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    if not parsed:
        raise EnvError(f"host IP unknown; known addresses: {list(addresses)}")
    first = parsed[0]
    other = next((ip for ip in parsed if ip.version != first.version), None)
    return [str(first)] + ([str(other)] if other is not None else [])


def _env_name(name: str) -> str:
    return name.replace("-", "_").upper()


def service_env(services: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Upstream `envvars.FromServices` over services whose cluster IP is set."""
    env: dict[str, str] = {}
    for service in services:
        spec = service.get("spec") or {}
        ip = str(spec.get("clusterIP") or "")
        ports = spec.get("ports") or ()
        if ip in ("", "None") or not ports:
            continue
        prefix = _env_name(str((service.get("metadata") or {}).get("name") or ""))
        env[f"{prefix}_SERVICE_HOST"] = ip
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0].get("port"))
        for port in ports:
            if port.get("name"):
                env[f"{prefix}_SERVICE_PORT_{_env_name(str(port['name']))}"] = \
                    str(port.get("port"))
        for index, port in enumerate(ports):
            protocol = str(port.get("protocol") or "TCP")
            number = str(port.get("port"))
            host_port = f"[{ip}]:{number}" if ":" in ip else f"{ip}:{number}"
            url = f"{protocol.lower()}://{host_port}"
            if index == 0:
                env[f"{prefix}_PORT"] = url  # docker special-cases the first port
            port_prefix = f"{prefix}_PORT_{number}_{protocol.upper()}"
            env[port_prefix] = url
            env[f"{port_prefix}_PROTO"] = protocol.lower()
            env[f"{port_prefix}_PORT"] = number
            env[f"{port_prefix}_ADDR"] = ip
    return env


async def service_env_map(namespace: str, enable_service_links: bool,
                          lookups: EnvLookups) -> dict[str, str]:
    """Upstream `getServiceEnvVarMap`: the master services of `default`, and the pod's
    namespace's services when service links are enabled."""
    chosen: dict[str, Mapping[str, Any]] = {}
    for service in await lookups.list_services("default"):
        name = str((service.get("metadata") or {}).get("name") or "")
        if name in MASTER_SERVICES:
            chosen[name] = service
    if enable_service_links:
        for service in await lookups.list_services(namespace):
            name = str((service.get("metadata") or {}).get("name") or "")
            if not (namespace == "default" and name in MASTER_SERVICES):
                chosen.setdefault(name, service)
    return service_env([chosen[name] for name in sorted(chosen)])


def _secret_text(value: str) -> str:
    return base64.b64decode(value).decode(errors="replace")


class _Objects:
    """The ConfigMaps and Secrets of one pod, each read once per environment."""

    def __init__(self, lookups: EnvLookups, namespace: str) -> None:
        self.lookups = lookups
        self.namespace = namespace
        self.configmaps: dict[str, Obj | None] = {}
        self.secrets: dict[str, Obj | None] = {}

    async def configmap(self, name: str, optional: bool) -> Obj | None:
        if name not in self.configmaps:
            self.configmaps[name] = await self.lookups.get_configmap(self.namespace, name)
        found = self.configmaps[name]
        if found is None and not optional:
            raise EnvError(f'configmap "{name}" not found')
        return found

    async def secret(self, name: str, optional: bool) -> Obj | None:
        if name not in self.secrets:
            self.secrets[name] = await self.lookups.get_secret(self.namespace, name)
        found = self.secrets[name]
        if found is None and not optional:
            raise EnvError(f'secret "{name}" not found')
        return found


async def container_env(pod: Mapping[str, Any], container: Mapping[str, Any], *,
                        lookups: EnvLookups,
                        pod_ips: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """The environment of `container` as (name, value) pairs. `pod_ips` are the sandbox's
    IPs (the pod's status may not have them yet); by default the pod status's."""
    spec = pod.get("spec") or {}
    namespace = str((pod.get("metadata") or {}).get("namespace") or "default")
    enable_links = spec.get("enableServiceLinks")
    if enable_links is None:
        raise EnvError("nil pod.spec.enableServiceLinks encountered, cannot construct envvars")
    services = await service_env_map(namespace, bool(enable_links), lookups)
    objects = _Objects(lookups, namespace)
    env: dict[str, str] = {}

    for source in container.get("envFrom") or ():
        prefix = str(source.get("prefix") or "")
        if source.get("configMapRef"):
            ref = source["configMapRef"]
            configmap = await objects.configmap(str(ref.get("name") or ""),
                                                bool(ref.get("optional")))
            for key, value in ((configmap or {}).get("data") or {}).items():
                env[prefix + key] = str(value)
        elif source.get("secretRef"):
            ref = source["secretRef"]
            secret = await objects.secret(str(ref.get("name") or ""), bool(ref.get("optional")))
            for key, value in ((secret or {}).get("data") or {}).items():
                env[prefix + key] = _secret_text(value)

    mapping = mapping_for(env, services)
    if pod_ips is None:
        pod_ips = [str(ip.get("ip")) for ip in (pod.get("status") or {}).get("podIPs") or ()]
    allocatable: dict[str, Any] | None = None
    for var in container.get("env") or ():
        name = str(var.get("name") or "")
        value = str(var.get("value") or "")
        source = var.get("valueFrom")
        if value:
            value = expand(value, mapping)
        elif source:
            if source.get("fieldRef"):
                value = await _field_value(source["fieldRef"], pod, pod_ips, lookups)
            elif source.get("resourceFieldRef"):
                if allocatable is None:
                    allocatable = await lookups.node_allocatable()
                try:
                    value = resource_value(source["resourceFieldRef"], pod, container,
                                           allocatable)
                except ResourceFieldError as err:
                    raise EnvError(str(err)) from err
            elif source.get("configMapKeyRef"):
                found = await _key_ref_value(source["configMapKeyRef"], "ConfigMap",
                                             objects.configmap, namespace, str)
                if found is None:
                    continue
                value = found
            elif source.get("secretKeyRef"):
                found = await _key_ref_value(source["secretKeyRef"], "Secret",
                                             objects.secret, namespace, _secret_text)
                if found is None:
                    continue
                value = found
        env[name] = value

    result = list(env.items())
    result.extend((key, value) for key, value in services.items() if key not in env)
    return result


async def _key_ref_value(ref: Mapping[str, Any], kind: str,
                         fetch: Callable[[str, bool], Awaitable[Obj | None]], namespace: str,
                         text: Callable[[Any], str]) -> str | None:
    """The value of a `configMapKeyRef` or `secretKeyRef` (`kind` names the object in the
    error), or None when the reference is optional and its object or key is missing."""
    optional = bool(ref.get("optional"))
    obj = await fetch(str(ref.get("name") or ""), optional)
    if obj is None:
        return None
    data = obj.get("data") or {}
    key = str(ref.get("key") or "")
    if key not in data:
        if optional:
            return None
        raise EnvError(f"couldn't find key {key} in {kind} {namespace}/{ref.get('name')}")
    return text(data[key])


async def _field_value(ref: Mapping[str, Any], pod: Mapping[str, Any],
                       pod_ips: Sequence[str], lookups: EnvLookups) -> str:
    """Upstream `podFieldSelectorRuntimeValue`."""
    try:
        path = convert_downward_api_field_label(str(ref.get("apiVersion") or "v1"),
                                                str(ref.get("fieldPath") or ""))
    except FieldPathError as err:
        raise EnvError(str(err)) from err
    spec = pod.get("spec") or {}
    if path == "spec.nodeName":
        return str(spec.get("nodeName") or "")
    if path == "spec.serviceAccountName":
        return str(spec.get("serviceAccountName") or "")
    if path in ("status.hostIP", "status.hostIPs"):
        ips = await lookups.host_ips()
        return ips[0] if path == "status.hostIP" else ",".join(ips)
    if path == "status.podIP":
        return pod_ips[0] if pod_ips else ""
    if path == "status.podIPs":
        return ",".join(pod_ips)
    try:
        return extract_field_path_as_string(pod, path)
    except FieldPathError as err:
        raise EnvError(str(err)) from err
