"""What nginx should serve, computed from the API's objects: the Ingresses this controller
handles (their IngressClass names its controller, or they have no class and its class is
the default), merged host by host into servers of locations, each location's backend an
upstream of the Service's ready endpoints (pod addresses, straight from its
EndpointSlices, as ingress-nginx proxies), and the TLS certificates of their Secrets.

Upstream's rules (networking/v1 Ingress): `Exact` matches the path alone; `Prefix` matches
element by element (`/foo` matches `/foo` and `/foo/bar`, not `/foobar`; a trailing slash
is ignored); `ImplementationSpecific` is nginx's own prefix match. The longest match wins
and, between equals, Exact. Rules of several Ingresses for one host merge; where two name
the same path, the oldest Ingress wins (ingress-nginx's order). A `*.example.com` host
matches exactly one label in place of the `*`. A backend whose Service is missing or has no
ready endpoint answers 503; a request matching nothing, 404 (from the Ingress's
`defaultBackend` where it has one).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from kybernetes.ingress.annotations import Settings, parse

if TYPE_CHECKING:
    from kybernetes.ingress.gateway import GatewayConfig

log = logging.getLogger(__name__)

Obj = dict[str, Any]
CLASS_ANNOTATION = "kubernetes.io/ingress.class"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
DEFAULT_SERVER = "_"


@dataclass(frozen=True)
class Upstream:
    """A Service port's ready endpoints (`address:port`), with how to reach them."""

    name: str
    endpoints: tuple[str, ...]
    protocol: str = "HTTP"
    cookie: str = ""


@dataclass(frozen=True)
class Location:
    """`modifier` is nginx's: `=` exact, `""` prefix, `~*` regular expression."""

    modifier: str
    path: str
    upstream: str | None
    settings: Settings
    ingress: str


@dataclass
class Server:
    host: str
    certificate: str | None = None
    locations: dict[tuple[str, str], Location] = field(default_factory=dict)
    fallback: Location | None = None


@dataclass
class Config:
    servers: dict[str, Server]
    upstreams: dict[str, Upstream]
    certificates: dict[str, bytes]
    # The Gateway API's part (ingress/gateway.py), on the same upstreams and certificates.
    gateway: GatewayConfig | None = None


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def key(obj: Mapping[str, Any]) -> str:
    meta = _meta(obj)
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def our_classes(classes: Iterable[Mapping[str, Any]], controller: str) -> dict[str, bool]:
    """The IngressClasses naming `controller`: name -> whether it is the default class."""
    return {str(_meta(c).get("name")): (_meta(c).get("annotations") or {}).get(
        DEFAULT_CLASS_ANNOTATION) == "true"
        for c in classes if (c.get("spec") or {}).get("controller") == controller}


def handles(ingress: Mapping[str, Any], ours: Mapping[str, bool]) -> bool:
    name = (ingress.get("spec") or {}).get("ingressClassName") or \
        (_meta(ingress).get("annotations") or {}).get(CLASS_ANNOTATION)
    if name:
        return str(name) in ours
    return any(ours.values())


def _age(ingress: Mapping[str, Any]) -> tuple[str, str]:
    return str(_meta(ingress).get("creationTimestamp", "")), key(ingress)


def server_name(host: str) -> str:
    """nginx's server_name for an Ingress host: `*.a.b` matches one label only."""
    if host.startswith("*."):
        escaped = host[2:].replace(".", r"\.")
        return f"~^[^.]+\\.{escaped}$"
    return host


class Builder:
    """Builds a `Config` from the informers' objects (services, slices and secrets looked
    up by `namespace/name`; slices by their Service's `namespace/name`)."""

    def __init__(self, services: Mapping[str, Obj], slices: Mapping[str, list[Obj]],
                 secrets: Mapping[str, Obj]) -> None:
        self.services = services
        self.slices = slices
        self.secrets = secrets
        self.config = Config({}, {}, {})

    def build(self, ingresses: Iterable[Obj]) -> Config:
        for ingress in sorted(ingresses, key=_age):
            self._add(ingress)
        self.config.servers.setdefault(DEFAULT_SERVER, Server(DEFAULT_SERVER))
        return self.config

    def _add(self, ingress: Obj) -> None:
        name = key(ingress)
        namespace = str(_meta(ingress).get("namespace", ""))
        settings = parse(_meta(ingress).get("annotations") or {}, name)
        spec = ingress.get("spec") or {}
        tls_hosts = self._tls(namespace, spec.get("tls") or [], name)
        fallback = None
        if spec.get("defaultBackend"):
            fallback = Location("", "/", self.upstream(namespace, spec["defaultBackend"],
                                                        settings, name), settings, name)
            default = self.config.servers.setdefault(DEFAULT_SERVER, Server(DEFAULT_SERVER))
            default.fallback = default.fallback or fallback
        for rule in spec.get("rules") or []:
            host = str(rule.get("host") or DEFAULT_SERVER)
            server = self.config.servers.setdefault(host, Server(host))
            if server.certificate is None and host in tls_hosts:
                server.certificate = tls_hosts[host]
            if fallback is not None and server.fallback is None:
                server.fallback = fallback
            for path in (rule.get("http") or {}).get("paths") or []:
                upstream = self.upstream(namespace, path.get("backend") or {}, settings, name)
                for modifier, location_path in _locations(path, settings):
                    server.locations.setdefault(
                        (modifier, location_path),
                        Location(modifier, location_path, upstream, settings, name))
        for host, certificate in tls_hosts.items():
            if host in self.config.servers and self.config.servers[host].certificate is None:
                self.config.servers[host].certificate = certificate

    def _tls(self, namespace: str, entries: list[Obj], ingress: str) -> dict[str, str]:
        hosts: dict[str, str] = {}
        for entry in entries:
            secret_name = str(entry.get("secretName") or "")
            certificate = self.certificate(namespace, secret_name, ingress) \
                if secret_name else None
            for host in entry.get("hosts") or []:
                # A host with TLS but no usable Secret is served with the default certificate.
                hosts.setdefault(str(host), certificate or "")
        return hosts

    def certificate(self, namespace: str, secret_name: str, ingress: str) -> str | None:
        """The name of the Secret's certificate in the config, None if it has none."""
        name = f"{namespace}_{secret_name}"
        if name in self.config.certificates:
            return name
        secret = self.secrets.get(f"{namespace}/{secret_name}")
        if secret is None:
            log.warning("ingress %s: TLS secret %s/%s not found (the default certificate is "
                        "served)", ingress, namespace, secret_name)
            return None
        pem = _tls_pem(secret)
        if pem is None:
            log.warning("ingress %s: secret %s/%s holds no valid tls.crt and tls.key (the "
                        "default certificate is served)", ingress, namespace, secret_name)
            return None
        self.config.certificates[name] = pem
        return name

    def upstream(self, namespace: str, backend: Mapping[str, Any], settings: Settings,
                 ingress: str) -> str | None:
        """The upstream of a backend (`{"service": {"name", "port": {"number"|"name"}}}`),
        None when its Service or port is missing or it has no ready endpoint."""
        service_ref = backend.get("service") or {}
        service_name = str(service_ref.get("name") or "")
        port_ref = service_ref.get("port") or {}
        service = self.services.get(f"{namespace}/{service_name}")
        if service is None:
            log.info("ingress %s: service %s/%s not found", ingress, namespace, service_name)
            return None
        port = _service_port(service, port_ref)
        if port is None:
            log.info("ingress %s: service %s/%s has no port %s", ingress, namespace,
                     service_name, port_ref.get("number") or port_ref.get("name"))
            return None
        name = f"{namespace}-{service_name}-{port.get('port')}"
        if settings.backend_protocol != "HTTP":
            name += f"-{settings.backend_protocol.lower()}"
        if settings.affinity_cookie:
            name += f"-cookie-{settings.affinity_cookie}"
        if name not in self.config.upstreams:
            endpoints = self._endpoints(f"{namespace}/{service_name}", str(port.get("name") or ""))
            if not endpoints:
                return None
            self.config.upstreams[name] = Upstream(name, endpoints, settings.backend_protocol,
                                                   settings.affinity_cookie)
        return name

    def _endpoints(self, service: str, port_name: str) -> tuple[str, ...]:
        found: set[str] = set()
        for slice_ in self.slices.get(service, ()):
            ports = [p for p in slice_.get("ports") or () if str(p.get("name") or "") == port_name]
            if not ports or ports[0].get("port") is None:
                continue
            number = int(ports[0]["port"])
            for endpoint in slice_.get("endpoints") or ():
                if (endpoint.get("conditions") or {}).get("ready") is False:
                    continue
                for address in endpoint.get("addresses") or ():
                    found.add(f"[{address}]:{number}" if ":" in address
                              else f"{address}:{number}")
        return tuple(sorted(found))


def _service_port(service: Mapping[str, Any], ref: Mapping[str, Any]) -> Obj | None:
    for port in (service.get("spec") or {}).get("ports") or ():
        if ("number" in ref and port.get("port") == ref.get("number")) or \
                ("name" in ref and port.get("name") == ref.get("name")):
            return dict(port)
    return None


def _locations(path: Mapping[str, Any], settings: Settings) -> list[tuple[str, str]]:
    """The nginx locations of an Ingress path: (modifier, path)."""
    value = str(path.get("path") or "/")
    kind = path.get("pathType") or "ImplementationSpecific"
    if settings.regex:
        return [("~*", f"^{value}")]
    if kind == "Exact":
        return [("=", value)]
    if kind == "Prefix":
        trimmed = value.rstrip("/")
        return [("", "/")] if not trimmed else [("=", trimmed), ("", trimmed + "/")]
    return [("", value)]


def _tls_pem(secret: Mapping[str, Any]) -> bytes | None:
    """The Secret's certificate chain and key as one PEM, if both parse."""
    data = secret.get("data") or {}
    try:
        cert = base64.b64decode(str(data.get("tls.crt") or ""), validate=True)
        key_pem = base64.b64decode(str(data.get("tls.key") or ""), validate=True)
        x509.load_pem_x509_certificates(cert)
        load_pem_private_key(key_pem, password=None)
    except (binascii.Error, ValueError, TypeError):
        return None
    return cert.rstrip(b"\n") + b"\n" + key_pem.rstrip(b"\n") + b"\n"
