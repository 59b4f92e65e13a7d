"""Clearing conntrack entries of UDP flows whose endpoint went away.

UDP has no connection to break: a client that keeps sending to a service IP keeps using
the conntrack entry that DNATs it to a removed endpoint (or one that sent it to the reject
rule while the service had none). As upstream's pkg/proxy/conntrack/cleanup.go, after each
sync the entries of removed UDP endpoints are deleted (by service IP or node port, and
endpoint), and so are a UDP service's entries when it gets its first endpoint, with
Debian's `conntrack -D` (exit status 1 just means nothing matched).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kybernetes.proxy import execute
from kybernetes.proxy.changes import ChangeTracker, ServicePort, ServicePortName
from kybernetes.proxy.topology import categorize

log = logging.getLogger(__name__)


def _service_ips(port: ServicePort) -> tuple[str, ...]:
    return (port.cluster_ip, *port.external_ips, *port.load_balancer_ips)


class StaleFlows:
    """The UDP endpoints last programmed per service port, and the deletions a sync owes."""

    def __init__(self) -> None:
        self._programmed: dict[ServicePortName, tuple[ServicePort, frozenset[str]]] = {}

    def commands(self, tracker: ChangeTracker, services: Iterable[str]) -> list[list[str]]:
        """The `conntrack -D` calls for the changes in `services` (and remember them)."""
        out: list[list[str]] = []
        for key in services:
            old = {name: v for name, v in self._programmed.items() if name.service == key}
            for name in old:
                del self._programmed[name]
            new: dict[ServicePortName, tuple[ServicePort, frozenset[str]]] = {}
            for port in tracker.services.get(key, ()):
                if port.protocol == "udp":
                    reachable = categorize(port, tracker.endpoints(port)).all_reachable
                    new[port.name] = (port, frozenset(e.ip for e in reachable))
            self._programmed.update(new)
            for name, (port, ips) in old.items():
                current = new.get(name)
                kept = current[1] if current is not None and current[0] == port else frozenset()
                for ip in sorted(ips - kept):
                    out += [["conntrack", "-D", "-p", "udp", "--orig-dst", vip,
                             "--dst-nat", ip] for vip in _service_ips(port)]
                    if port.node_port:
                        out.append(["conntrack", "-D", "-p", "udp", "--orig-port-dst",
                                    str(port.node_port), "--dst-nat", ip])
            for name, (port, ips) in new.items():
                before = old.get(name)
                if ips and not (before and before[1]):
                    out += [["conntrack", "-D", "-p", "udp", "--orig-dst", vip]
                            for vip in _service_ips(port)]
                    if port.node_port:
                        out.append(["conntrack", "-D", "-p", "udp", "--orig-port-dst",
                                    str(port.node_port)])
        return out


async def clear(execute_: execute.Executor, commands: Iterable[list[str]]) -> None:
    for argv in commands:
        done = await execute_(argv, None)
        if done.returncode not in (0, 1):
            log.warning("%s failed (%d): %s", " ".join(argv), done.returncode,
                        done.stderr.strip())
