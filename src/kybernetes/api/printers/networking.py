"""Printers for networking.k8s.io/v1 and discovery.k8s.io/v1."""

from __future__ import annotations

from typing import Any

from kybernetes.api.printers._common import (
    Cells,
    Context,
    Obj,
    Printer,
    age,
    age_col,
    col,
    dct,
    format_label_selector,
    get,
    lb_ingress,
    list_with_more,
    lst,
    name,
    name_col,
    s,
    swagger,
)


def format_hosts(rules: list[Any]) -> str:
    """`formatHosts`: up to three rule hosts, `*` when none."""
    hosts: list[str] = []
    limit, more = 3, False
    for rule in rules:
        if len(hosts) == limit:
            more = True
        if not more and s(rule, "host"):
            hosts.append(s(rule, "host"))
    if not hosts:
        return "*"
    text = ",".join(hosts)
    return f"{text} + {len(rules) - limit} more..." if more else text


def _ingress_cells(ing: Obj, ctx: Context) -> Cells:
    spec = dct(ing, "spec")
    return [name(ing), s(spec, "ingressClassName") or "<none>", format_hosts(lst(spec, "rules")),
            lb_ingress(lst(ing, "status", "loadBalancer", "ingress")),
            "80, 443" if lst(spec, "tls") else "80", age(ing, ctx)]


INGRESSES = Printer((
    name_col(),
    col("Class", "string", text="The name of the IngressClass resource that should be used "
        "for additional configuration"),
    col("Hosts", "string",
        text="Hosts that incoming requests are matched against before the ingress rule"),
    col("Address", "string",
        text="Address is a list containing ingress points for the load-balancer"),
    col("Ports", "string", text="Ports of TLS configurations that open"),
    age_col(),
), _ingress_cells)


def _ingress_class_cells(obj: Obj, ctx: Context) -> Cells:
    parameters = "<none>"
    params = get(obj, "spec", "parameters")
    if params is not None:
        parameters = s(params, "kind")
        if get(params, "apiGroup") is not None:
            parameters += "." + s(params, "apiGroup")
        parameters += "/" + s(params, "name")
    return [name(obj), s(obj, "spec", "controller"), parameters, age(obj, ctx)]


INGRESS_CLASSES = Printer((
    name_col(),
    col("Controller", "string", text="Controller that is responsible for handling this class"),
    col("Parameters", "string", text="A reference to a resource with additional parameters"),
    age_col(),
), _ingress_class_cells)

NETWORK_POLICIES = Printer((
    name_col(),
    col("Pod-Selector", "string", "ext.NetworkPolicySpec.podSelector"),
    age_col(),
), lambda obj, ctx: [name(obj), format_label_selector(dct(obj, "spec", "podSelector")),
                     age(obj, ctx)])


def format_discovery_ports(ports: list[Any]) -> str:
    found: list[str] = []
    limit, more = 3, False
    for port in ports:
        if len(found) < limit:
            if get(port, "port") is not None:
                found.append(str(get(port, "port")))
            elif get(port, "name") is not None:
                found.append(s(port, "name"))
            else:
                found.append("*")
        elif len(found) == limit:
            more = True
    return list_with_more(found, more, len(ports), limit)


def format_discovery_endpoints(endpoints: list[Any]) -> str:
    found: list[str] = []
    limit, more, count = 3, False, 0
    for endpoint in endpoints:
        for address in lst(endpoint, "addresses"):
            if len(found) < limit:
                found.append(str(address))
            elif len(found) == limit:
                more = True
            count += 1
    return list_with_more(found, more, count, limit)


ENDPOINT_SLICES = Printer((
    name_col(),
    col("AddressType", "string", "disc.EndpointSlice.addressType"),
    col("Ports", "string", "disc.EndpointSlice.ports"),
    col("Endpoints", "string", "disc.EndpointSlice.endpoints"),
    age_col(),
), lambda obj, ctx: [name(obj), s(obj, "addressType"), format_discovery_ports(lst(obj, "ports")),
                     format_discovery_endpoints(lst(obj, "endpoints")), age(obj, ctx)])

SERVICE_CIDRS = Printer((
    name_col(),
    col("CIDRs", "string", text=swagger("io.k8s.api.networking.v1.ServiceCIDRSpec", "cidrs")),
    age_col(),
), lambda obj, ctx: [name(obj), ",".join(str(c) for c in lst(obj, "spec", "cidrs")),
                     age(obj, ctx)])


def _parent_ref(obj: Obj) -> str:
    """`printIPAddress`: the parent as `resource.group[/namespace]/name`, lowercased."""
    ref = get(obj, "spec", "parentRef")
    if not isinstance(ref, dict):
        return "<none>"
    resource, group = s(ref, "resource"), s(ref, "group")
    shown = (f"{resource}.{group}" if group else resource).lower()
    if s(ref, "namespace"):
        shown += "/" + s(ref, "namespace")
    return f"{shown}/{s(ref, 'name')}"


IP_ADDRESSES = Printer((
    name_col(),
    col("ParentRef", "string",
        text=swagger("io.k8s.api.networking.v1.IPAddressSpec", "parentRef")),
), lambda obj, ctx: [name(obj), _parent_ref(obj)])

PRINTERS: dict[str, Printer] = {
    "servicecidrs": SERVICE_CIDRS,
    "ipaddresses": IP_ADDRESSES,
    "ingresses": INGRESSES,
    "ingressclasses": INGRESS_CLASSES,
    "networkpolicies": NETWORK_POLICIES,
    "endpointslices": ENDPOINT_SLICES,
}
