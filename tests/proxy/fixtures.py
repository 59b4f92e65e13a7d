"""Services and EndpointSlices as the API serves them, for the proxy's unit tests."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def service(ns: str, name: str, cluster_ip: str, *, port: int = 80, port_name: str = "p80",
            protocol: str = "TCP", node_port: int = 0, **spec: Any) -> Obj:
    entry: Obj = {"name": port_name, "port": port, "protocol": protocol}
    if node_port:
        entry["nodePort"] = node_port
    return {"metadata": {"namespace": ns, "name": name},
            "spec": {"clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "ports": [entry],
                     "type": "NodePort" if node_port else "ClusterIP", **spec}}


def endpoint(ip: str, *, ready: bool = True, serving: bool | None = None,
             terminating: bool = False, node: str = "other") -> Obj:
    conditions: Obj = {"ready": ready, "terminating": terminating}
    if serving is not None:
        conditions["serving"] = serving
    return {"addresses": [ip], "conditions": conditions, "nodeName": node}


def endpoint_slice(ns: str, service_name: str, endpoints: list[Obj], *, port: int = 80,
                   port_name: str = "p80", protocol: str = "TCP", name: str = "") -> Obj:
    return {"metadata": {"namespace": ns, "name": name or f"{service_name}-abcde",
                         "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": "IPv4",
            "ports": [{"name": port_name, "port": port, "protocol": protocol}],
            "endpoints": endpoints}
