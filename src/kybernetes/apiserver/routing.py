"""Request paths to resource requests, by upstream's `RequestInfoFactory` rules.

`/api/v1/namespaces/default/pods/web/log` is group "", version v1, namespace default,
resource pods, name web, subresource log. `/api/v1/namespaces/x` is the namespace x, and
`status`/`finalize` after it are its subresources, not resources in it.
"""

from __future__ import annotations

from dataclasses import dataclass

_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class ResourcePath:
    group: str
    version: str
    namespace: str = ""
    resource: str = ""
    name: str = ""
    subresource: str = ""
    legacy_watch: bool = False


def parse_resource_path(path: str) -> ResourcePath | None:
    """None for paths that are not under /api/v1 or /apis/<group>/<version>."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    legacy_watch = False
    if rest and rest[0] == "watch":
        legacy_watch, rest = True, rest[1:]
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
        else:
            # The namespace object itself: /namespaces/<name>[/status|/finalize].
            return ResourcePath(group, version, "", "namespaces", namespace,
                                rest[2] if len(rest) > 2 else "", legacy_watch)
    if len(rest) > 3:
        return None
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    return ResourcePath(group, version, namespace, resource, name, subresource, legacy_watch)
