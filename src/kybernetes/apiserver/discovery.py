"""Legacy discovery documents: `/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>`.

Clients ask for aggregated discovery first and fall back to these when the reply's
Content-Type is not the aggregated kind, so these suffice for kubectl and the Python client.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from kybernetes.api.registry import Registry, ResourceInfo


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = []
    for group, versions in registry.group_versions().items():
        if group:
            groups.append(_group(group, versions))
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    versions = registry.group_versions().get(group)
    if not versions or not group:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1"} | _group(group, versions)


def _group(group: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": listed, "preferredVersion": listed[0]}


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    infos = registry.in_group_version(group, version)
    if not infos:
        return None
    resources: list[dict[str, Any]] = []
    for info in sorted(infos, key=lambda i: i.plural):
        resources.append(_resource(info))
        for sub in info.subresources:
            entry: dict[str, Any] = {
                "name": f"{info.plural}/{sub.name}", "singularName": "",
                "namespaced": info.namespaced, "kind": sub.kind, "verbs": list(sub.verbs)}
            if sub.group:
                entry["group"] = sub.group
                entry["version"] = sub.version
            resources.append(entry)
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": infos[0].group_version, "resources": resources}


def _resource(info: ResourceInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": info.plural, "singularName": info.singular, "namespaced": info.namespaced,
        "kind": info.kind, "verbs": list(info.verbs),
        "storageVersionHash": _storage_version_hash(info),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    return entry


def _storage_version_hash(info: ResourceInfo) -> str:
    digest = hashlib.sha256(f"{info.group}/{info.version}/{info.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


AGGREGATED_MEDIA = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def wants_aggregated(accept: str) -> bool:
    """Whether the client's Accept list asks for aggregated discovery (v2) before plain."""
    for media in accept.split(","):
        params = {p.split("=", 1)[0].strip(): p.split("=", 1)[1].strip()
                  for p in media.split(";")[1:] if "=" in p}
        if params.get("as") == "APIGroupDiscoveryList" and params.get("v") == "v2" \
                and params.get("g") == "apidiscovery.k8s.io":
            return True
        if media.split(";")[0].strip() in ("application/json", "*/*"):
            return False
    return False


def aggregated(registry: Registry, *, legacy: bool) -> dict[str, Any]:
    """APIGroupDiscoveryList for `/api` (legacy: the core group) or `/apis` (the rest)."""
    items = []
    for group, versions in registry.group_versions().items():
        if (group == "") != legacy:
            continue
        items.append({
            "metadata": {"name": group} if group else {},
            "versions": [{"version": v, "freshness": "Current", "resources": [
                _aggregated_resource(info) for info in sorted(
                    registry.in_group_version(group, v), key=lambda i: i.plural)]}
                for v in versions],
        })
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": items}


def _aggregated_resource(info: ResourceInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": info.plural,
        "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular, "verbs": list(info.verbs),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    if info.subresources:
        entry["subresources"] = [{
            "subresource": sub.name,
            "responseKind": {"group": sub.group or info.group,
                             "version": sub.version or info.version, "kind": sub.kind},
            "verbs": list(sub.verbs)} for sub in info.subresources]
    return entry
