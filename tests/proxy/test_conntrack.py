"""Stale UDP flows: which conntrack entries a sync clears."""

from __future__ import annotations

from kybernetes.proxy.changes import ChangeTracker
from kybernetes.proxy.conntrack import StaleFlows
from tests.proxy.fixtures import endpoint, endpoint_slice, service


def test_removed_udp_endpoints_and_first_endpoints_are_cleared() -> None:
    tracker = ChangeTracker("node-a")
    stale = StaleFlows()
    tracker.update_service(service("ns", "dns", "10.43.0.10", port=53, protocol="UDP",
                                   port_name="dns", node_port=30053))
    tracker.update_service(service("ns", "web", "10.43.0.11"))
    assert stale.commands(tracker, tracker.take_dirty()) == []
    tracker.update_slice(endpoint_slice("ns", "dns", [endpoint("10.42.0.5"),
                                                      endpoint("10.42.0.6")],
                                        port=53, port_name="dns", protocol="UDP"))
    tracker.update_slice(endpoint_slice("ns", "web", [endpoint("10.42.0.7")]))
    # The first endpoints: flows that met the reject rule are forgotten.
    assert stale.commands(tracker, tracker.take_dirty()) == [
        ["conntrack", "-D", "-p", "udp", "--orig-dst", "10.43.0.10"],
        ["conntrack", "-D", "-p", "udp", "--orig-port-dst", "30053"]]
    tracker.update_slice(endpoint_slice("ns", "dns", [endpoint("10.42.0.6")], port=53,
                                        port_name="dns", protocol="UDP"))
    assert stale.commands(tracker, tracker.take_dirty()) == [
        ["conntrack", "-D", "-p", "udp", "--orig-dst", "10.43.0.10", "--dst-nat", "10.42.0.5"],
        ["conntrack", "-D", "-p", "udp", "--orig-port-dst", "30053", "--dst-nat",
         "10.42.0.5"]]
