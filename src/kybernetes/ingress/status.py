"""`status.loadBalancer` of the Ingresses a controller handles: the addresses of the nodes
that run the ingress, as ingress-nginx publishes the addresses of its pods' nodes. Those
are the hosts of the running ingress mirror pods (`kubelet/mirrorpods.py`: one per node
whose `kyb` process runs the ingress), so every node's controller computes the same list
and writes only when the stored one differs; a standalone controller publishes what it is
told (`--publish-status-address`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from kybernetes.kubelet.mirrorpods import INGRESS_NGINX, addon_labels

INGRESS_LABELS = addon_labels(INGRESS_NGINX)


def running_addresses(pods: Iterable[Mapping[str, Any]]) -> list[str]:
    """The host addresses of the ingress pods that run."""
    found = set()
    for pod in pods:
        status = pod.get("status") or {}
        if status.get("phase") == "Running" and status.get("hostIP") and \
                not (pod.get("metadata") or {}).get("deletionTimestamp"):
            found.add(str(status["hostIP"]))
    return sorted(found, key=ipaddress.ip_address)


def load_balancer(addresses: Iterable[str]) -> dict[str, Any]:
    entries = []
    for address in addresses:
        try:
            ipaddress.ip_address(address)
            entries.append({"ip": address})
        except ValueError:
            entries.append({"hostname": address})
    return {"ingress": entries} if entries else {}


def differs(ingress: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    current = (ingress.get("status") or {}).get("loadBalancer") or {}
    return dict(current) != dict(wanted)
