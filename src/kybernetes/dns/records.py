"""The cluster zone's records, computed from informer caches on each lookup.

This follows the Kubernetes DNS specification (kubernetes/dns docs/specification.md,
schema 1.1.0) as CoreDNS's `kubernetes` plugin implements it (plugin/kubernetes/
kubernetes.go, parse.go, reverse.go; k3s runs it with `pods insecure`):

- `<svc>.<ns>.svc.<zone>`: A/AAAA of the ClusterIPs; for a headless Service the ready
  endpoints' addresses (NXDOMAIN when there are none); CNAME to `spec.externalName` for an
  ExternalName Service.
- `<hostname>.<svc>.<ns>.svc.<zone>`: an endpoint, by its `hostname` (pods with hostname
  and subdomain) or else its address with dashes (`10-42-0-5`).
- `_<port>._<proto>.<svc>.<ns>.svc.<zone>`: SRV per named port (per ready endpoint of a
  headless Service, aimed at its hostname name), the targets' addresses in Additional.
- `<a-b-c-d>.<ns>.pod.<zone>`: the address spelled in the name, in an existing namespace.
- PTR for ClusterIPs and ready endpoint addresses; `dns-version.<zone>` TXT; SOA and NS
  at the apex, `ns.dns.<zone>` A.
- A name that does not exist is NXDOMAIN, an existing name without records of the asked
  type NOERROR with no answer (NODATA); both carry the zone's SOA in Authority. Names are
  matched case-insensitively. TTL 5 s (the plugin's default), 28800 s for dns-version.

Nothing here does I/O: `ClusterRecords` reads the stores of the services, endpointslices
and namespaces informers through indices kept on every write, and counts the changes, in
all and per namespace, so that answers rendered earlier can be reused until the next
change that could alter them: an answer about a name of namespace N (its `scope`) until
the next change in N, any other until the next change at all.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.SOA
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rdtypes.IN.SRV
import dns.reversename
import dns.rrset

from kybernetes.api.objects import meta as _meta
from kybernetes.api.objects import spec as _spec
from kybernetes.client import Store

Obj = dict[str, Any]

TTL = 5
VERSION_TTL = 28800
SCHEMA_VERSION = "1.1.0"
# The SOA timers CoreDNS's plugins use (plugin/backend_lookup.go).
SOA_REFRESH, SOA_RETRY, SOA_EXPIRE = 7200, 1800, 86400

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# Indices on the informer stores this module reads.
SLICES_BY_SERVICE = "dns-slices-by-service"
SERVICES_BY_IP = "dns-services-by-ip"
SLICES_BY_ADDRESS = "dns-slices-by-address"

_IN = dns.rdataclass.IN
_A, _AAAA, _SRV, _PTR = (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.SRV,
                         dns.rdatatype.PTR)
_REVERSE = (dns.name.from_text("in-addr.arpa."), dns.name.from_text("ip6.arpa."))


@dataclass
class Answer:
    """What a lookup found: the rcode and the sections of the response."""

    rcode: dns.rcode.Rcode = dns.rcode.NOERROR
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    additional: list[dns.rrset.RRset] = field(default_factory=list)
    # An ExternalName's target, whose records of the asked type the server adds.
    chase: dns.name.Name | None = None
    # The namespace whose objects alone the answer depends on; None: any.
    scope: str | None = None


# ----------------------------------------------------------------------------- indices


def slice_service_index(obj: Obj) -> list[str]:
    """`<ns>/<service>` of an EndpointSlice (its `kubernetes.io/service-name` label)."""
    labels = _meta(obj).get("labels")
    service = labels.get(SERVICE_NAME_LABEL) if isinstance(labels, dict) else None
    return [f"{_meta(obj).get('namespace')}/{service}"] if service else []


def service_ip_index(obj: Obj) -> list[str]:
    return [ip for ip in _cluster_ips(obj) if ip != "None"]


def slice_address_index(obj: Obj) -> list[str]:
    return [address for endpoint in _ready_endpoints(obj)
            for address in endpoint.get("addresses") or ()]


def _cluster_ips(service: Obj) -> list[str]:
    spec = _spec(service)
    ips = spec.get("clusterIPs")
    if isinstance(ips, list) and ips:
        return [str(ip) for ip in ips]
    ip = spec.get("clusterIP")
    return [str(ip)] if ip else []


def _ready_endpoints(endpoint_slice: Obj) -> list[dict[str, Any]]:
    """The slice's endpoints that are ready (an unset condition counts as ready)."""
    endpoints = endpoint_slice.get("endpoints")
    if not isinstance(endpoints, list):
        return []
    return [endpoint for endpoint in endpoints if isinstance(endpoint, dict)
            and (endpoint.get("conditions") or {}).get("ready") is not False]


# ----------------------------------------------------------------------------- records


def _make(rdata_class: Any, rdtype: int, *fields: Any) -> dns.rdata.Rdata:
    """An rdata of class IN (dnspython's rdata constructors are not annotated)."""
    rdata: dns.rdata.Rdata = rdata_class(_IN, rdtype, *fields)
    return rdata


def _address_rdata(ip: str) -> dns.rdata.Rdata:
    if ":" in ip:
        return _make(dns.rdtypes.IN.AAAA.AAAA, _AAAA, ip)
    return _make(dns.rdtypes.IN.A.A, _A, ip)


def _family(rdtype: int) -> int:
    return 6 if rdtype == _AAAA else 4


def _ip_version(ip: str) -> int:
    return 6 if ":" in ip else 4


@dataclass(frozen=True)
class _Target:
    """One record the name has: an address, or (for SRV) a port at a host name."""

    ip: str
    port: int | None = None
    host: dns.name.Name | None = None


class ClusterRecords:
    """Lookups in the cluster zone over the informers' stores."""

    def __init__(self, services: Store, endpoint_slices: Store, namespaces: Store, *,
                 domain: str = "cluster.local", dns_ips: Sequence[str] = ()) -> None:
        services.add_indexers({SERVICES_BY_IP: service_ip_index})
        endpoint_slices.add_indexers({SLICES_BY_SERVICE: slice_service_index,
                                      SLICES_BY_ADDRESS: slice_address_index})
        self.services = services
        self.endpoint_slices = endpoint_slices
        self.namespaces = namespaces
        self.zone = dns.name.from_text(domain.strip(".") + ".")
        self.dns_ips = tuple(dns_ips)
        self.generation = 0
        self._namespace_generations: dict[str, int] = {}
        self.modified = int(time.time())
        self._ns_name = dns.name.from_text("ns.dns", self.zone)

    def changed(self, *objects: Obj) -> None:
        """Note a change of Services or EndpointSlices (an informer handler)."""
        self._changed(str(_meta(obj).get("namespace") or "") for obj in objects)

    def namespace_changed(self, *objects: Obj) -> None:
        """Note a change of Namespaces (an informer handler)."""
        self._changed(str(_meta(obj).get("name") or "") for obj in objects)

    def _changed(self, namespaces: Iterable[str]) -> None:
        self.generation += 1
        self.modified = int(time.time())
        for namespace in namespaces:
            self._namespace_generations[namespace] = self.generation

    def generation_of(self, scope: str | None) -> int:
        """The count of changes that could alter answers of `scope`."""
        if scope is None:
            return self.generation
        return self._namespace_generations.get(scope, 0)

    # -- the zone -----------------------------------------------------------------------

    def in_zone(self, qname: dns.name.Name) -> bool:
        return qname.is_subdomain(self.zone)

    @staticmethod
    def is_reverse(qname: dns.name.Name) -> bool:
        return any(qname.is_subdomain(zone) for zone in _REVERSE)

    def soa(self) -> dns.rrset.RRset:
        rdata = _make(
            dns.rdtypes.ANY.SOA.SOA, dns.rdatatype.SOA, self._ns_name,
            dns.name.from_text("hostmaster", self.zone), self.modified & 0xFFFFFFFF,
            SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, TTL)
        return _rrset(self.zone, TTL, [rdata])

    def _negative(self, rcode: dns.rcode.Rcode) -> Answer:
        return Answer(rcode=rcode, authority=[self.soa()])

    # -- lookups ------------------------------------------------------------------------

    def lookup(self, qname: dns.name.Name, rdtype: int) -> Answer:
        """The answer for a name of the cluster zone."""
        labels = [label.decode("ascii", "replace").lower()
                  for label in qname.relativize(self.zone).labels]
        if not labels:
            return self._apex(rdtype)
        if labels == ["dns-version"]:
            if rdtype != dns.rdatatype.TXT:
                return self._negative(dns.rcode.NOERROR)
            txt = _make(dns.rdtypes.ANY.TXT.TXT, dns.rdatatype.TXT, [SCHEMA_VERSION])
            return Answer(answer=[_rrset(qname, VERSION_TTL, [txt])])
        if labels == ["dns"]:
            return self._negative(dns.rcode.NOERROR)
        if labels == ["ns", "dns"]:
            return self._addresses(qname, rdtype, [_Target(ip) for ip in self.dns_ips])
        kind = labels[-1]
        if kind not in ("svc", "pod"):
            return self._negative(dns.rcode.NXDOMAIN)
        if len(labels) == 1:
            return self._negative(dns.rcode.NOERROR)
        namespace = labels[-2]
        if namespace not in self.namespaces:
            answer = self._negative(dns.rcode.NXDOMAIN)
        elif len(labels) == 2:
            answer = self._negative(dns.rcode.NOERROR)
        elif kind == "pod":
            answer = self._pod(qname, rdtype, labels[:-2])
        else:
            answer = self._service(qname, rdtype, namespace, labels[-3], labels[:-3])
        answer.scope = namespace
        return answer

    def _apex(self, rdtype: int) -> Answer:
        if rdtype == dns.rdatatype.SOA:
            return Answer(answer=[self.soa()])
        if rdtype == dns.rdatatype.NS:
            ns = _make(dns.rdtypes.ANY.NS.NS, dns.rdatatype.NS, self._ns_name)
            glue = [_rrset(self._ns_name, TTL, [_address_rdata(ip)])
                    for ip in self.dns_ips]
            return Answer(answer=[_rrset(self.zone, TTL, [ns])], additional=glue)
        return self._negative(dns.rcode.NOERROR)

    def _pod(self, qname: dns.name.Name, rdtype: int, rest: list[str]) -> Answer:
        if len(rest) != 1:
            return self._negative(dns.rcode.NXDOMAIN)
        spelled = rest[0]
        text = spelled.replace("-", ".") if spelled.count("-") == 3 and "--" not in spelled \
            else spelled.replace("-", ":")
        try:
            ip = str(ipaddress.ip_address(text))
        except ValueError:
            return self._negative(dns.rcode.NXDOMAIN)
        return self._addresses(qname, rdtype, [_Target(ip)])

    def _service(self, qname: dns.name.Name, rdtype: int, namespace: str, name: str,
                 rest: list[str]) -> Answer:
        endpoint = port = protocol = ""
        if len(rest) == 1:
            endpoint = rest[0]
        elif len(rest) == 2:
            port, protocol = rest[0].removeprefix("_"), rest[1].removeprefix("_")
        elif rest:
            return self._negative(dns.rcode.NXDOMAIN)
        service = self.services.get(f"{namespace}/{name}")
        if service is None:
            return self._negative(dns.rcode.NXDOMAIN)
        spec = _spec(service)
        service_name = dns.name.from_text(f"{name}.{namespace}.svc", self.zone)
        if spec.get("type") == "ExternalName":
            external = str(spec.get("externalName") or "")
            if endpoint or not external:
                return self._negative(dns.rcode.NXDOMAIN)
            if rdtype == _SRV:
                return self._negative(dns.rcode.NOERROR)
            target = dns.name.from_text(external)
            cname = _make(dns.rdtypes.ANY.CNAME.CNAME, dns.rdatatype.CNAME, target)
            answer = Answer(answer=[_rrset(qname, TTL, [cname])])
            if rdtype != dns.rdatatype.CNAME:
                answer.chase = target
            return answer
        if spec.get("clusterIP") == "None" or endpoint:
            targets = self._endpoint_targets(namespace, name, service_name, endpoint, port,
                                             protocol)
        else:
            targets = [_Target(ip, int(str(p.get("port"))), service_name)
                       for p in _ports(spec.get("ports")) if _port_matches(p, port, protocol)
                       for ip in _cluster_ips(service)]
        if not targets:
            return self._negative(dns.rcode.NXDOMAIN)
        if rdtype == _SRV:
            return self._srv(qname, targets)
        return self._addresses(qname, rdtype, targets)

    def _endpoint_targets(self, namespace: str, name: str, service_name: dns.name.Name,
                          endpoint: str, port: str, protocol: str) -> list[_Target]:
        targets: list[_Target] = []
        for endpoint_slice in self.endpoint_slices.by_index(SLICES_BY_SERVICE,
                                                            f"{namespace}/{name}"):
            ports = _ports(endpoint_slice.get("ports")) or [{}]
            for ready in _ready_endpoints(endpoint_slice):
                for address in ready.get("addresses") or ():
                    hostname = _endpoint_hostname(ready, address)
                    if endpoint and endpoint != hostname.lower():
                        continue
                    host = dns.name.from_text(hostname, service_name)
                    for p in ports:
                        if _port_matches(p, port, protocol):
                            number = p.get("port")
                            targets.append(_Target(str(address), None if number is None
                                                   else int(str(number)), host))
        return targets

    def _addresses(self, qname: dns.name.Name, rdtype: int,
                   targets: Iterable[_Target]) -> Answer:
        if rdtype not in (_A, _AAAA):
            return self._negative(dns.rcode.NOERROR)
        family = _family(rdtype)
        ips = dict.fromkeys(t.ip for t in targets if _ip_version(t.ip) == family)
        if not ips:
            return self._negative(dns.rcode.NOERROR)
        return Answer(answer=[_rrset(qname, TTL, [_address_rdata(ip) for ip in ips])])

    def _srv(self, qname: dns.name.Name, targets: list[_Target]) -> Answer:
        records = dict.fromkeys((t.host, t.port) for t in targets
                                if t.host is not None and t.port is not None and t.port >= 0)
        if not records:
            return self._negative(dns.rcode.NOERROR)
        weight = max(1, 100 // len(records))
        srv = [_make(dns.rdtypes.IN.SRV.SRV, _SRV, 0, weight, port, host)
               for host, port in records]
        glue: dict[tuple[dns.name.Name, int], dict[str, None]] = {}
        for t in targets:
            if t.host is not None:
                glue.setdefault((t.host, _ip_version(t.ip)), {})[t.ip] = None
        additional = [_rrset(host, TTL, [_address_rdata(ip) for ip in ips])
                      for (host, _version), ips in glue.items()]
        return Answer(answer=[_rrset(qname, TTL, srv)], additional=additional)

    def reverse(self, qname: dns.name.Name) -> Answer | None:
        """PTR of a ClusterIP or a ready endpoint address; None when the address is not
        the cluster's (the query then goes to the upstream resolvers)."""
        try:
            ip = str(ipaddress.ip_address(dns.reversename.to_address(qname)))
        except (dns.exception.SyntaxError, ValueError):
            return None
        names: list[dns.name.Name] = []
        for service in self.services.by_index(SERVICES_BY_IP, ip):
            meta = _meta(service)
            names.append(dns.name.from_text(f"{meta.get('name')}.{meta.get('namespace')}.svc",
                                            self.zone))
            break
        if not names:
            for endpoint_slice in self.endpoint_slices.by_index(SLICES_BY_ADDRESS, ip):
                owners = slice_service_index(endpoint_slice)
                if not owners:
                    continue
                namespace, _, name = owners[0].partition("/")
                for ready in _ready_endpoints(endpoint_slice):
                    if ip in (ready.get("addresses") or ()):
                        names.append(dns.name.from_text(
                            f"{_endpoint_hostname(ready, ip)}.{name}.{namespace}.svc",
                            self.zone))
        if not names:
            return None
        ptr = [_make(dns.rdtypes.ANY.PTR.PTR, _PTR, target) for target in dict.fromkeys(names)]
        return Answer(answer=[_rrset(qname, TTL, ptr)])


def _ports(value: object) -> list[dict[str, object]]:
    return [p for p in value if isinstance(p, dict)] if isinstance(value, list) else []


def _port_matches(port: dict[str, object], name: str, protocol: str) -> bool:
    """CoreDNS's matchPortAndProtocol: an empty name or protocol matches any."""
    return (not name or name == str(port.get("name") or "").lower()) and \
        (not protocol or protocol == str(port.get("protocol") or "TCP").lower())


def _endpoint_hostname(endpoint: dict[str, Any], address: str) -> str:
    hostname = endpoint.get("hostname")
    if isinstance(hostname, str) and hostname:
        return hostname
    return address.replace(".", "-").replace(":", "-")


def _rrset(name: dns.name.Name, ttl: int, rdatas: Sequence[dns.rdata.Rdata]
           ) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(name, _IN, rdatas[0].rdtype)
    rrset.update_ttl(ttl)
    for rdata in rdatas:
        rrset.add(rdata)
    return rrset
