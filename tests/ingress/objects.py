"""Objects for the ingress tests: Ingresses, Services and EndpointSlices as the API holds
them."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def ingress(name: str, rules: list[Obj], *, namespace: str = "default", created: str = "",
            annotations: dict[str, str] | None = None, **spec: Any) -> Obj:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": namespace,
                         "creationTimestamp": created or "2026-01-01T00:00:00Z",
                         "annotations": annotations or {}},
            "spec": {"ingressClassName": "nginx", "rules": rules, **spec}}


def rule(host: str, *paths: tuple[str, str, str]) -> Obj:
    """paths: (path, pathType, service)."""
    return {"host": host, "http": {"paths": [
        {"path": p, "pathType": t, "backend": {"service": {"name": s, "port": {"number": 80}}}}
        for p, t, s in paths]}}


def service(name: str, namespace: str = "default") -> Obj:
    return {"metadata": {"name": name, "namespace": namespace},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


def endpoint_slice(service_name: str, *addresses: str, ready: bool = True,
                   namespace: str = "default") -> Obj:
    return {"metadata": {"name": f"{service_name}-x", "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": service_name}},
            "ports": [{"name": "http", "port": 8080}],
            "endpoints": [{"addresses": [a], "conditions": {"ready": ready}}
                          for a in addresses]}
