"""Validation of networking.k8s.io and discovery.k8s.io kinds.

Ports the main checks of upstream's `pkg/apis/networking/validation` (Ingress, IngressClass,
NetworkPolicy) and `pkg/apis/discovery/validation` (EndpointSlice).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from kybernetes.api.errors import FieldError
from kybernetes.api.validation.core import SUPPORTED_PORT_PROTOCOLS
from kybernetes.api.validation.meta import (
    Errors,
    as_dict,
    as_int,
    as_list,
    as_str,
    child,
    index,
    is_dns1123_subdomain,
    is_valid_cidr,
    is_valid_ip,
    is_valid_port_name,
    is_valid_port_num,
    is_wildcard_dns1123_subdomain,
    name_is_dns1035_label,
    name_is_dns_label,
    name_is_dns_subdomain,
    too_many,
    validate_dns1123_label,
    validate_immutable,
    validate_label_selector,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
    validate_qualified_name,
)

_PATH_TYPES = ["Exact", "ImplementationSpecific", "Prefix"]
_INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_INVALID_PATH_SUFFIXES = ("/..", "/.")


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _validate_host(host: str, path: str) -> Errors:
    if host.startswith("*."):
        return [FieldError.invalid(path, host, m) for m in is_wildcard_dns1123_subdomain(host)]
    return [FieldError.invalid(path, host, m) for m in is_dns1123_subdomain(host)]


def _validate_backend(backend: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    resource, service = backend.get("resource"), backend.get("service")
    if resource is not None and service is not None:
        return [FieldError.invalid(path, "", "cannot set both resource and service backends")]
    if resource is not None:
        res = as_dict(resource)
        rp = child(path, "resource")
        if not as_str(res.get("name")):
            errs.append(FieldError.required(child(rp, "name")))
        if not as_str(res.get("kind")):
            errs.append(FieldError.required(child(rp, "kind")))
        group = res.get("apiGroup")
        if group is not None and as_str(group):
            errs.extend(FieldError.invalid(child(rp, "apiGroup"), group, m)
                        for m in is_dns1123_subdomain(as_str(group)))
        elif group is None or not as_str(group):
            errs.append(FieldError.invalid(child(rp, "apiGroup"), as_str(group),
                                           "apiGroup is required"))
        return errs
    if service is None:
        return [FieldError.invalid(path, "", "resource or service backend is required")]
    svc = as_dict(service)
    name = as_str(svc.get("name"))
    if not name:
        errs.append(FieldError.required(child(path, "service", "name")))
    else:
        errs.extend(FieldError.invalid(child(path, "service", "name"), name, m)
                    for m in name_is_dns1035_label(name, False))
    port = as_dict(svc.get("port"))
    port_name, port_number = as_str(port.get("name")), as_int(port.get("number"))
    if port_name and port_number:
        errs.append(FieldError.invalid(path, "", "cannot set both port name & port number"))
    elif port_name:
        errs.extend(FieldError.invalid(child(path, "service", "port", "name"), port_name, m)
                    for m in is_valid_port_name(port_name))
    elif port_number:
        errs.extend(FieldError.invalid(child(path, "service", "port", "number"), port_number, m)
                    for m in is_valid_port_num(port_number))
    else:
        errs.append(FieldError.required(path, "port name or number is required"))
    return errs


def _validate_http_path(p: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    value = as_str(p.get("path"))
    path_type = p.get("pathType")
    if path_type is None:
        errs.append(FieldError.required(child(path, "pathType"), "pathType must be specified"))
    elif path_type in ("Exact", "Prefix"):
        if not value.startswith("/"):
            errs.append(FieldError.invalid(child(path, "path"), value, "must be an absolute path"))
        if value:
            for seq in _INVALID_PATH_SEQUENCES:
                if seq in value:
                    errs.append(FieldError.invalid(child(path, "path"), value,
                                                   f"must not contain '{seq}'"))
            for suffix in _INVALID_PATH_SUFFIXES:
                if value.endswith(suffix):
                    errs.append(FieldError.invalid(child(path, "path"), value,
                                                   f"cannot end with '{suffix}'"))
    elif path_type == "ImplementationSpecific":
        if value and not value.startswith("/"):
            errs.append(FieldError.invalid(child(path, "path"), value, "must be an absolute path"))
    else:
        errs.append(FieldError.not_supported(child(path, "pathType"), path_type, _PATH_TYPES))
    errs.extend(_validate_backend(as_dict(p.get("backend")), child(path, "backend")))
    return errs


def _validate_ingress_spec(spec: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    rules = as_list(spec.get("rules"))
    if not rules and spec.get("defaultBackend") is None:
        errs.append(FieldError.invalid(path, rules, "either `defaultBackend` or `rules` must be "
                                       "specified"))
    if spec.get("defaultBackend") is not None:
        errs.extend(_validate_backend(as_dict(spec.get("defaultBackend")),
                                      child(path, "defaultBackend")))
    for i, rule in enumerate(rules):
        rule = as_dict(rule)
        rp = index(child(path, "rules"), i)
        host = as_str(rule.get("host"))
        if host:
            if _is_ip(host):
                errs.append(FieldError.invalid(child(rp, "host"), host,
                                               "must be a DNS name, not an IP address"))
            errs.extend(_validate_host(host, child(rp, "host")))
        http = rule.get("http")
        if http is not None:
            hp = child(rp, "http")
            paths = as_list(as_dict(http).get("paths"))
            if not paths:
                errs.append(FieldError.required(child(hp, "paths")))
            for j, p in enumerate(paths):
                errs.extend(_validate_http_path(as_dict(p), index(child(hp, "paths"), j)))
    for i, tls in enumerate(as_list(spec.get("tls"))):
        for j, host in enumerate(as_list(as_dict(tls).get("hosts"))):
            hp = index(child(index(child(path, "tls"), i), "hosts"), j)
            errs.extend(_validate_host(as_str(host), hp))
    icn = spec.get("ingressClassName")
    if icn is not None:
        errs.extend(FieldError.invalid(child(path, "ingressClassName"), icn, m)
                    for m in name_is_dns_subdomain(as_str(icn), False))
    return errs


def validate_ingress(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, True, name_is_dns_subdomain)
    errs.extend(_validate_ingress_spec(as_dict(obj.get("spec")), "spec"))
    return errs


def validate_ingress_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    errs.extend(_validate_ingress_spec(as_dict(new.get("spec")), "spec"))
    return errs


def validate_ingress_class(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, False, name_is_dns_subdomain)
    controller = as_str(obj.get("spec", {}).get("controller") if isinstance(
        obj.get("spec"), dict) else "")
    cp = "spec.controller"
    if not controller:
        errs.append(FieldError.required(cp))
    elif len(controller) > 250:
        errs.append(FieldError(cp, "FieldValueTooLong", "may not be more than 250 bytes",
                               "<value omitted>"))
    else:
        from kybernetes.api.validation.meta import is_domain_prefixed_path

        errs.extend(is_domain_prefixed_path(cp, controller))
    return errs


def validate_ingress_class_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    errs.extend(validate_immutable(as_dict(new.get("spec")).get("controller"),
                                   as_dict(old.get("spec")).get("controller"), "spec.controller"))
    errs.extend(validate_ingress_class(new))
    return errs


def _validate_np_peer(peer: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    count = 0
    if peer.get("podSelector") is not None:
        count += 1
        errs.extend(validate_label_selector(peer.get("podSelector"), child(path, "podSelector")))
    if peer.get("namespaceSelector") is not None:
        count += 1
        errs.extend(validate_label_selector(peer.get("namespaceSelector"),
                                            child(path, "namespaceSelector")))
    if peer.get("ipBlock") is not None:
        count += 1
        block = as_dict(peer.get("ipBlock"))
        cidr = as_str(block.get("cidr"))
        bp = child(path, "ipBlock")
        if not cidr:
            errs.append(FieldError.required(child(bp, "cidr")))
        else:
            errs.extend(is_valid_cidr(child(bp, "cidr"), cidr))
        for i, exc in enumerate(as_list(block.get("except"))):
            errs.extend(is_valid_cidr(index(child(bp, "except"), i), as_str(exc)))
    if count == 0:
        errs.append(FieldError.required(path, "must specify a peer"))
    elif count > 1 and peer.get("ipBlock") is not None:
        errs.append(FieldError.forbidden(path, "may not specify both ipBlock and another peer"))
    return errs


def _validate_np_port(port: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    proto = port.get("protocol")
    if proto is not None and proto not in SUPPORTED_PORT_PROTOCOLS:
        errs.append(FieldError.not_supported(child(path, "protocol"), proto,
                                             SUPPORTED_PORT_PROTOCOLS))
    value = port.get("port")
    if isinstance(value, int) and not isinstance(value, bool):
        errs.extend(FieldError.invalid(child(path, "port"), value, m)
                    for m in is_valid_port_num(value))
        end = port.get("endPort")
        if end is not None:
            if as_int(end) < value:
                errs.append(FieldError.invalid(child(path, "endPort"), end,
                                               "must be greater than or equal to `port`"))
            errs.extend(FieldError.invalid(child(path, "endPort"), end, m)
                        for m in is_valid_port_num(as_int(end)))
    elif isinstance(value, str):
        if port.get("endPort") is not None:
            errs.append(FieldError.forbidden(child(path, "endPort"),
                                             "may not be specified when `port` is non-numeric"))
        errs.extend(FieldError.invalid(child(path, "port"), value, m)
                    for m in is_valid_port_name(value))
    elif port.get("endPort") is not None:
        errs.append(FieldError.required(child(path, "port"),
                                        "must be specified when `endPort` is specified"))
    return errs


def validate_network_policy(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, True, name_is_dns_subdomain)
    spec = as_dict(obj.get("spec"))
    errs.extend(validate_label_selector(spec.get("podSelector"), "spec.podSelector"))
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(as_list(spec.get(direction))):
            rule = as_dict(rule)
            rp = f"spec.{direction}[{i}]"
            for j, port in enumerate(as_list(rule.get("ports"))):
                errs.extend(_validate_np_port(as_dict(port), f"{rp}.ports[{j}]"))
            for j, peer in enumerate(as_list(rule.get(peers_key))):
                errs.extend(_validate_np_peer(as_dict(peer), f"{rp}.{peers_key}[{j}]"))
    types = as_list(spec.get("policyTypes"))
    if len(types) > 2:
        errs.append(FieldError.invalid("spec.policyTypes", types,
                                       "may not specify more than two policyTypes"))
    for i, typ in enumerate(types):
        if typ not in ("Ingress", "Egress"):
            errs.append(FieldError.not_supported(f"spec.policyTypes[{i}]", typ,
                                                 ["Ingress", "Egress"]))
    return errs


def validate_network_policy_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    return validate_object_meta_update(new, old) + validate_network_policy(new)


_ADDRESS_TYPES = ["FQDN", "IPv4", "IPv6"]


def validate_endpoint_slice(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, True, name_is_dns_subdomain)
    address_type = as_str(obj.get("addressType"))
    if not address_type:
        errs.append(FieldError.required("addressType"))
    elif address_type not in _ADDRESS_TYPES:
        errs.append(FieldError.not_supported("addressType", address_type, _ADDRESS_TYPES))
    endpoints = as_list(obj.get("endpoints"))
    if len(endpoints) > 1000:
        errs.append(too_many("endpoints", len(endpoints), 1000))
    for i, ep in enumerate(endpoints):
        ep = as_dict(ep)
        p = f"endpoints[{i}]"
        addresses = as_list(ep.get("addresses"))
        if not addresses:
            errs.append(FieldError.required(f"{p}.addresses", "must contain at least 1 address"))
        elif len(addresses) > 100:
            errs.append(too_many(f"{p}.addresses", len(addresses), 100))
        for j, addr in enumerate(addresses):
            ap = f"{p}.addresses[{j}]"
            text = as_str(addr)
            if address_type == "IPv4":
                ip_errs = is_valid_ip(ap, text)
                errs.extend(ip_errs)
                if not ip_errs and ":" in text:
                    errs.append(FieldError.invalid(ap, text, "must be an IPv4 address"))
            elif address_type == "IPv6":
                ip_errs = is_valid_ip(ap, text)
                errs.extend(ip_errs)
                if not ip_errs and ":" not in text:
                    errs.append(FieldError.invalid(ap, text, "must be an IPv6 address"))
            elif address_type == "FQDN":
                errs.extend(FieldError.invalid(ap, text, m) for m in is_dns1123_subdomain(text))
        if ep.get("hostname") is not None:
            errs.extend(validate_dns1123_label(as_str(ep.get("hostname")), f"{p}.hostname"))
        if ep.get("nodeName") is not None:
            errs.extend(FieldError.invalid(f"{p}.nodeName", ep.get("nodeName"), m)
                        for m in name_is_dns_subdomain(as_str(ep.get("nodeName")), False))
        errs.extend(validate_labels(ep.get("deprecatedTopology"), f"{p}.deprecatedTopology"))
    ports = as_list(obj.get("ports"))
    if len(ports) > 100:
        errs.append(too_many("ports", len(ports), 100))
    names: set[str] = set()
    for i, port in enumerate(ports):
        port = as_dict(port)
        p = f"ports[{i}]"
        name = as_str(port.get("name"))
        if name:
            errs.extend(FieldError.invalid(f"{p}.name", name, m)
                        for m in name_is_dns_label(name, False))
        if name in names:
            errs.append(FieldError.duplicate(f"{p}.name", name))
        names.add(name)
        proto = port.get("protocol")
        if proto is None:
            errs.append(FieldError.required(f"{p}.protocol"))
        elif proto not in SUPPORTED_PORT_PROTOCOLS:
            errs.append(FieldError.not_supported(f"{p}.protocol", proto, SUPPORTED_PORT_PROTOCOLS))
        if port.get("appProtocol") is not None:
            errs.extend(validate_qualified_name(as_str(port.get("appProtocol")),
                                                f"{p}.appProtocol"))
    return errs


def validate_endpoint_slice_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    errs.extend(validate_endpoint_slice(new))
    errs.extend(validate_immutable(new.get("addressType"), old.get("addressType"), "addressType"))
    return errs
