"""The Gateway API (gateway.networking.k8s.io/v1: GatewayClass, Gateway, HTTPRoute) on the
ingress's nginx, computed beside the Ingresses' part of the configuration.

A Gateway of a GatewayClass naming this controller gets a server per listener port and
hostname (HTTP, or HTTPS terminated with the listener's certificate Secret); an HTTPRoute
attaches to the listeners its `parentRefs` name (by `sectionName`/`port`, where the
listener allows routes from its namespace), on the hostnames the two have in common. Each
rule's matches become nginx locations by path (Exact, PathPrefix element by element,
RegularExpression) and, within a location, branches tried in the Gateway API's order of
precedence (method, then more header, then more query matches; the older route, then its
namespace/name, then the rule's order), the branches of shorter prefixes after, so a request
no longer matching one rule falls to the next as the specification says. A branch's
headers, method and query parameters are one `map` of nginx; its backends are split by
weight (`split_clients` on the request id); its filters: RequestHeaderModifier,
ResponseHeaderModifier, RequestRedirect and URLRewrite. A backend whose Service does not
exist, or is in another namespace (no ReferenceGrant is served), answers 500 (an invalid
backendRef); one without ready endpoints 503.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kybernetes.ingress.annotations import Settings
from kybernetes.ingress.model import Builder, key

GROUP = "gateway.networking.k8s.io"
INVALID = "gw-invalid"
UNAVAILABLE = "gw-unavailable"
Obj = dict[str, Any]


@dataclass(frozen=True)
class Condition:
    """`map` of `source` (nginx variables joined by `|`) matching `pattern`."""

    variable: str
    source: str
    pattern: str


@dataclass(frozen=True)
class Branch:
    number: int
    condition: Condition | None
    target: str            # an upstream's name, a `split_clients` variable, INVALID, UNAVAILABLE
    split: tuple[tuple[str, float], ...] = ()
    # The matched prefix (a PathPrefix match's value without its trailing slash), for
    # ReplacePrefixMatch.
    prefix: str = ""
    set_headers: tuple[tuple[str, str], ...] = ()
    remove_headers: tuple[str, ...] = ()
    response_headers: tuple[tuple[str, str], ...] = ()
    # RequestRedirect: (status, scheme, hostname, port); "" and None keep the request's.
    redirect: tuple[int, str, str, int | None] | None = None
    # ReplaceFullPath or ReplacePrefixMatch, and its value (a redirect's or a rewrite's).
    path_modifier: tuple[str, str] | None = None
    host: str = ""


@dataclass
class GatewayLocation:
    modifier: str
    path: str
    branches: list[tuple[tuple[Any, ...], Branch]] = field(default_factory=list)


@dataclass
class GatewayServer:
    port: int
    host: str
    certificate: str | None
    locations: dict[tuple[str, str], GatewayLocation] = field(default_factory=dict)


@dataclass
class GatewayConfig:
    servers: dict[tuple[int, str], GatewayServer] = field(default_factory=dict)
    ports: dict[int, bool] = field(default_factory=dict)   # port -> TLS
    branches: list[Branch] = field(default_factory=list)
    # Status to write: Gateway key -> listener name -> attached routes; route key ->
    # parent ref index -> (accepted reason, resolved refs reason)
    attached: dict[str, dict[str, int]] = field(default_factory=dict)
    route_parents: dict[str, list[tuple[Obj, str, str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Listener:
    gateway: str
    namespace: str
    name: str
    port: int
    tls: bool
    hostname: str
    certificate: str | None
    from_namespaces: str


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _age(obj: Mapping[str, Any]) -> tuple[str, str]:
    return str(_meta(obj).get("creationTimestamp", "")), key(obj)


def intersect(listener: str, route: str) -> str | None:
    """The hostname a listener's and a route's hostnames have in common ("" is any)."""
    if not listener:
        return route
    if not route:
        return listener
    if listener == route:
        return route
    if listener.startswith("*.") and route.endswith(listener[1:]) and route.count(".") > \
            listener.count(".") - 1 and not route.startswith("*."):
        return route
    if route.startswith("*.") and listener.endswith(route[1:]) and not listener.startswith("*."):
        return listener
    if listener.startswith("*.") and route.startswith("*."):
        if route.endswith(listener[1:]):
            return route
        if listener.endswith(route[1:]):
            return listener
    return None


def _pcre_literal(value: str) -> str:
    return re.sub(r"([\\^$.|?*+()\[\]{}\"'; ])", r"\\\1", value)


class GatewayBuilder:
    def __init__(self, builder: Builder, controller: str) -> None:
        self.builder = builder
        self.controller = controller
        self.config = GatewayConfig()
        self._numbers = 0

    def build(self, classes: Iterable[Obj], gateways: Iterable[Obj],
              routes: Iterable[Obj]) -> GatewayConfig:
        ours = {str(_meta(c).get("name")) for c in classes
                if (c.get("spec") or {}).get("controllerName") == self.controller}
        listeners: dict[str, list[Listener]] = {}
        for gateway in sorted(gateways, key=_age):
            if (gateway.get("spec") or {}).get("gatewayClassName") in ours:
                listeners[key(gateway)] = self._listeners(gateway)
                self.config.attached[key(gateway)] = {
                    lst.name: 0 for lst in listeners[key(gateway)]}
        for route in sorted(routes, key=_age):
            self._route(route, listeners)
        for server in self.config.servers.values():
            self._fall_through(server)
        return self.config

    def _listeners(self, gateway: Obj) -> list[Listener]:
        namespace = str(_meta(gateway).get("namespace", ""))
        found = []
        for listener in (gateway.get("spec") or {}).get("listeners") or ():
            protocol = listener.get("protocol")
            if protocol not in ("HTTP", "HTTPS"):
                continue
            certificate = None
            if protocol == "HTTPS":
                refs = ((listener.get("tls") or {}).get("certificateRefs") or [{}])
                ref = refs[0]
                certificate = self.builder.certificate(
                    str(ref.get("namespace") or namespace), str(ref.get("name") or ""),
                    f"gateway {key(gateway)}") or ""
            allowed = ((listener.get("allowedRoutes") or {}).get("namespaces") or {})
            found.append(Listener(key(gateway), namespace, str(listener.get("name")),
                                  int(listener.get("port") or 0), protocol == "HTTPS",
                                  str(listener.get("hostname") or ""), certificate,
                                  str(allowed.get("from") or "Same")))
            self.config.ports[int(listener.get("port") or 0)] = protocol == "HTTPS"
        return found

    def _route(self, route: Obj, listeners: Mapping[str, list[Listener]]) -> None:
        namespace = str(_meta(route).get("namespace", ""))
        spec = route.get("spec") or {}
        parents: list[tuple[Obj, str, str]] = []
        for ref in spec.get("parentRefs") or ():
            if (ref.get("group") or GROUP) != GROUP or (ref.get("kind") or "Gateway") != "Gateway":
                continue
            gateway = f"{ref.get('namespace') or namespace}/{ref.get('name')}"
            if gateway not in listeners:
                continue
            chosen = [lst for lst in listeners[gateway]
                      if (not ref.get("sectionName") or lst.name == ref.get("sectionName"))
                      and (not ref.get("port") or lst.port == ref.get("port"))]
            allowed = [lst for lst in chosen
                       if lst.from_namespaces == "All" or lst.namespace == namespace]
            if not allowed:
                parents.append((ref, "NotAllowedByListeners" if chosen else "NoMatchingParent",
                                ""))
                continue
            attached = False
            for listener in allowed:
                for hostname in (spec.get("hostnames") or [""]):
                    host = intersect(listener.hostname, str(hostname))
                    if host is None:
                        continue
                    attached = True
                    self._attach(route, listener, host or "_")
                if attached:
                    self.config.attached[gateway][listener.name] += 1
            resolved = self._refs_resolve(route)
            parents.append((ref, "Accepted" if attached else "NoMatchingListenerHostname",
                            resolved))
        self.config.route_parents[key(route)] = parents

    def _refs_resolve(self, route: Obj) -> str:
        """The ResolvedRefs reason of the route's backends (another namespace's Service
        would need a ReferenceGrant, which kybernetes does not serve)."""
        namespace = str(_meta(route).get("namespace", ""))
        reason = "ResolvedRefs"
        for rule in (route.get("spec") or {}).get("rules") or ():
            for ref in rule.get("backendRefs") or ():
                ref_namespace = str(ref.get("namespace") or namespace)
                if ref_namespace != namespace:
                    return "RefNotPermitted"
                if (ref.get("group") or "") != "" or (ref.get("kind") or "Service") != \
                        "Service":
                    return "InvalidKind"
                if f"{ref_namespace}/{ref.get('name')}" not in self.builder.services:
                    reason = "BackendNotFound"
        return reason

    def _attach(self, route: Obj, listener: Listener, host: str) -> None:
        server = self.config.servers.setdefault(
            (listener.port, host), GatewayServer(listener.port, host, listener.certificate))
        namespace = str(_meta(route).get("namespace", ""))
        for index, rule in enumerate((route.get("spec") or {}).get("rules") or ()):
            target, split = self._backends(namespace, rule.get("backendRefs") or ())
            filters = _filters(rule.get("filters") or ())
            for match in rule.get("matches") or [{}]:
                path = match.get("path") or {}
                kind = path.get("type") or "PathPrefix"
                value = str(path.get("value") or "/")
                self._numbers += 1
                prefix = value.rstrip("/") if kind == "PathPrefix" else ""
                modifier = filters.get("path_modifier")
                if modifier is not None and modifier[0] == "ReplacePrefixMatch" and \
                        kind != "PathPrefix":
                    modifier = None  # only defined for PathPrefix matches
                branch = Branch(self._numbers, _condition(self._numbers, match), target, split,
                                prefix, **{**filters, "path_modifier": modifier})
                self.config.branches.append(branch)
                headers = len(match.get("headers") or ())
                queries = len(match.get("queryParams") or ())
                precedence = (0 if match.get("method") else 1, -headers, -queries,
                              _age(route), index)
                for modifier, location_path in _locations(kind, value):
                    location = server.locations.setdefault(
                        (modifier, location_path), GatewayLocation(modifier, location_path))
                    location.branches.append((precedence, branch))

    def _backends(self, namespace: str, refs: Iterable[Mapping[str, Any]]
                  ) -> tuple[str, tuple[tuple[str, float], ...]]:
        weighted: list[tuple[str, int]] = []
        for ref in refs:
            weight = int(ref.get("weight", 1))
            if weight <= 0:
                continue
            if (ref.get("group") or "") != "" or (ref.get("kind") or "Service") != "Service":
                weighted.append((INVALID, weight))
                continue
            ref_namespace = str(ref.get("namespace") or namespace)
            if ref_namespace != namespace or \
                    f"{ref_namespace}/{ref.get('name')}" not in self.builder.services:
                weighted.append((INVALID, weight))
                continue
            upstream = self.builder.upstream(
                ref_namespace, {"service": {"name": ref.get("name"),
                                            "port": {"number": ref.get("port")}}},
                Settings(), "httproute")
            weighted.append((upstream or UNAVAILABLE, weight))
        if not weighted:
            return INVALID, ()
        if len({name for name, _ in weighted}) == 1:
            return weighted[0][0], ()
        total = sum(w for _, w in weighted)
        self._numbers += 1
        return f"$gw_split_{self._numbers}", tuple(
            (name, round(100.0 * w / total, 2)) for name, w in weighted)

    def _fall_through(self, server: GatewayServer) -> None:
        """Each location's branches in precedence, then those of the shorter prefixes that
        also match its paths."""
        prefixes = sorted(((loc.path, loc) for loc in server.locations.values()
                           if loc.modifier == ""), key=lambda p: -len(p[0]))
        for location in server.locations.values():
            location.branches.sort(key=lambda item: item[0])
            if location.modifier == "~":
                continue
            for path, other in prefixes:
                if other is location or not location.path.startswith(path) or \
                        (location.modifier == "" and len(path) >= len(location.path)):
                    continue
                location.branches.extend(sorted(other.branches, key=lambda item: item[0]))


def _locations(kind: str, value: str) -> list[tuple[str, str]]:
    if kind == "Exact":
        return [("=", value)]
    if kind == "RegularExpression":
        return [("~", value)]
    trimmed = value.rstrip("/")
    return [("", "/")] if not trimmed else [("=", trimmed), ("", trimmed + "/")]


def _condition(number: int, match: Mapping[str, Any]) -> Condition | None:
    sources: list[str] = []
    patterns: list[str] = []
    for header in match.get("headers") or ():
        sources.append("$http_" + str(header.get("name", "")).lower().replace("-", "_"))
        value = str(header.get("value", ""))
        patterns.append(f"(?:{value})" if header.get("type") == "RegularExpression"
                        else _pcre_literal(value))
    if match.get("method"):
        sources.append("$request_method")
        patterns.append(_pcre_literal(str(match["method"])))
    for query in match.get("queryParams") or ():
        sources.append("$arg_" + str(query.get("name", "")))
        value = str(query.get("value", ""))
        patterns.append(f"(?:{value})" if query.get("type") == "RegularExpression"
                        else _pcre_literal(value))
    if not sources:
        return None
    return Condition(f"$gw_match_{number}", "|".join(sources),
                     "^" + r"\|".join(patterns) + "$")


def _filters(filters: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The Branch fields of a rule's filters."""
    found: dict[str, Any] = {}
    set_headers: list[tuple[str, str]] = []
    remove: list[str] = []
    response: list[tuple[str, str]] = []
    for item in filters:
        kind = item.get("type")
        if kind == "RequestHeaderModifier":
            modifier = item.get("requestHeaderModifier") or {}
            set_headers += [(str(h["name"]), str(h.get("value", "")))
                            for h in [*(modifier.get("set") or ()), *(modifier.get("add") or ())]]
            remove += [str(name) for name in modifier.get("remove") or ()]
        elif kind == "ResponseHeaderModifier":
            modifier = item.get("responseHeaderModifier") or {}
            response += [(str(h["name"]), str(h.get("value", "")))
                         for h in [*(modifier.get("set") or ()), *(modifier.get("add") or ())]]
        elif kind == "RequestRedirect":
            redirect = item.get("requestRedirect") or {}
            scheme = redirect.get("scheme")
            port = redirect.get("port")
            if port is not None and port == {"http": 80, "https": 443}.get(str(scheme)):
                port = None
            found["redirect"] = (int(redirect.get("statusCode") or 302), str(scheme or ""),
                                 str(redirect.get("hostname") or ""),
                                 int(port) if port is not None else None)
            found["path_modifier"] = _path_modifier(redirect.get("path") or {})
        elif kind == "URLRewrite":
            rewrite = item.get("urlRewrite") or {}
            found["path_modifier"] = _path_modifier(rewrite.get("path") or {})
            found["host"] = str(rewrite.get("hostname") or "")
    found.update(set_headers=tuple(set_headers), remove_headers=tuple(remove),
                 response_headers=tuple(response))
    return found


def _path_modifier(path: Mapping[str, Any]) -> tuple[str, str] | None:
    kind = path.get("type")
    if kind == "ReplaceFullPath":
        return kind, str(path.get("replaceFullPath") or "/")
    if kind == "ReplacePrefixMatch":
        return kind, str(path.get("replacePrefixMatch") or "/")
    return None
