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
