"""The status the Gateway API asks of a controller, computed from what was built: each
GatewayClass naming it Accepted; each of its Gateways Accepted and Programmed with the
nodes' addresses and, per listener, the routes attached; each HTTPRoute's entry for its
parents here (Accepted, or why not; ResolvedRefs, or BackendNotFound), beside the entries
other controllers keep. Conditions carry the object's generation; a condition that did
not change keeps its lastTransitionTime, so writing the same status again is no write."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from kybernetes.ingress.gateway import GROUP, GatewayConfig

Obj = dict[str, Any]
_MESSAGES = {
    "Accepted": "Accepted by the kybernetes ingress controller",
    "Programmed": "Programmed in nginx",
    "ResolvedRefs": "Every backend reference resolved",
    "BackendNotFound": "A backend reference names a Service that does not exist",
    "RefNotPermitted": "A backend reference names another namespace (no ReferenceGrant)",
    "InvalidKind": "A backend reference names a kind other than Service",
    "NotAllowedByListeners": "No listener of the parent allows routes from this namespace",
    "NoMatchingListenerHostname": "No listener's hostname matches the route's hostnames",
    "NoMatchingParent": "No listener of the parent matches the sectionName or port",
}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(kind: str, reason: str, generation: int,
              previous: Sequence[Mapping[str, Any]] = ()) -> Obj:
    status = "True" if reason in ("Accepted", "Programmed", "ResolvedRefs") else "False"
    before = next((c for c in previous if c.get("type") == kind), None)
    since = before.get("lastTransitionTime") if before is not None and \
        before.get("status") == status else None
    return {"type": kind, "status": status, "reason": reason,
            "message": _MESSAGES.get(reason, reason), "observedGeneration": generation,
            "lastTransitionTime": since or _now()}


def _generation(obj: Mapping[str, Any]) -> int:
    return int((obj.get("metadata") or {}).get("generation") or 1)


def _conditions(obj: Mapping[str, Any]) -> list[Obj]:
    return list((obj.get("status") or {}).get("conditions") or ())


def class_status(gateway_class: Mapping[str, Any]) -> Obj:
    return {"conditions": [condition("Accepted", "Accepted", _generation(gateway_class),
                                     _conditions(gateway_class))]}


def gateway_status(gateway: Mapping[str, Any], config: GatewayConfig, key: str,
                   addresses: Sequence[str]) -> Obj:
    generation = _generation(gateway)
    previous = _conditions(gateway)
    old_listeners = {str(entry.get("name")): list(entry.get("conditions") or ())
                     for entry in (gateway.get("status") or {}).get("listeners") or ()}
    listeners = []
    for name, attached in config.attached.get(key, {}).items():
        before = old_listeners.get(name, [])
        listeners.append({
            "name": name, "attachedRoutes": attached,
            "supportedKinds": [{"group": GROUP, "kind": "HTTPRoute"}],
            "conditions": [condition(kind, kind, generation, before)
                           for kind in ("Accepted", "Programmed", "ResolvedRefs")]})
    return {"addresses": [{"type": "IPAddress", "value": a} for a in addresses],
            "conditions": [condition("Accepted", "Accepted", generation, previous),
                           condition("Programmed", "Programmed", generation, previous)],
            "listeners": listeners}


def route_status(route: Mapping[str, Any], config: GatewayConfig, key: str,
                 controller: str) -> Obj:
    generation = _generation(route)
    namespace = str((route.get("metadata") or {}).get("namespace", ""))
    kept = [p for p in (route.get("status") or {}).get("parents") or ()
            if p.get("controllerName") != controller]
    old = {_ref_key(p.get("parentRef") or {}, namespace): list(p.get("conditions") or ())
           for p in (route.get("status") or {}).get("parents") or ()
           if p.get("controllerName") == controller}
    parents = []
    for ref, accepted, resolved in config.route_parents.get(key, ()):
        before = old.get(_ref_key(ref, namespace), [])
        conditions = [condition("Accepted", accepted, generation, before)]
        if resolved:
            conditions.append(condition("ResolvedRefs", resolved, generation, before))
        parent_ref: Obj = {"group": GROUP, "kind": "Gateway", **ref}
        parents.append({"parentRef": parent_ref,
                        "controllerName": controller, "conditions": conditions})
    return {"parents": [*kept, *parents]}


def _ref_key(ref: Mapping[str, Any], namespace: str) -> tuple[str, str, str]:
    return (str(ref.get("namespace") or namespace), str(ref.get("name")),
            str(ref.get("sectionName") or ""))


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k != "lastTransitionTime"}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def differs(obj: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    current = obj.get("status") or {}
    return any(_without_times(current.get(k)) != _without_times(v) for k, v in wanted.items())
