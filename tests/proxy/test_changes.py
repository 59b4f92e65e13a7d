"""Services and EndpointSlices into service ports and endpoints, and dirty tracking."""

from __future__ import annotations

from kybernetes.proxy.changes import ChangeTracker, Endpoint, ServicePortName, service_ports
from kybernetes.proxy.topology import categorize
from tests.proxy.fixtures import endpoint, endpoint_slice, service


def test_service_ports_skip_what_kube_proxy_does_not_program() -> None:
    assert service_ports(service("ns", "headless", "None")) == ()
    assert service_ports(service("ns", "ext", "", type="ExternalName")) == ()
    labelled = service("ns", "other", "10.0.0.1")
    labelled["metadata"]["labels"] = {"service.kubernetes.io/service-proxy-name": "x"}
    assert service_ports(labelled) == ()
    (port,) = service_ports(service(
        "ns", "web", "10.0.0.1", node_port=30001, sessionAffinity="ClientIP",
        externalIPs=["192.0.2.1", "2001:db8::1"], externalTrafficPolicy="Local"))
    assert port.name == ServicePortName("ns", "web", "p80")
    assert (port.protocol, port.node_port, port.external_ips) == ("tcp", 30001, ("192.0.2.1",))
    assert port.affinity_seconds == 10800 and port.external_policy_local


def test_slices_merge_and_mark_their_service_dirty() -> None:
    tracker = ChangeTracker("node-a")
    tracker.update_service(service("ns", "web", "10.0.0.1"))
    tracker.update_slice(endpoint_slice("ns", "web", [endpoint("10.1.0.1", node="node-a")]))
    tracker.update_slice(endpoint_slice("ns", "web", [endpoint("10.1.0.2")], name="web-2"))
    assert tracker.take_dirty() == {"ns/web"}
    (port,) = tracker.services["ns/web"]
    assert set(tracker.endpoints(port)) == {Endpoint("10.1.0.1", 80, local=True),
                                            Endpoint("10.1.0.2", 80)}
    # The same object again changes nothing; a slice deleted does.
    tracker.update_service(service("ns", "web", "10.0.0.1"))
    assert not tracker.pending
    tracker.update_slice(endpoint_slice("ns", "web", [], name="web-2"), deleted=True)
    assert tracker.take_dirty() == {"ns/web"}
    assert [e.ip for e in tracker.endpoints(port)] == ["10.1.0.1"]


def test_terminating_endpoints_only_when_none_is_ready() -> None:
    tracker = ChangeTracker("node-a")
    tracker.update_service(service("ns", "web", "10.0.0.1"))
    (port,) = tracker.services["ns/web"]
    going = endpoint("10.1.0.9", ready=False, serving=True, terminating=True)
    tracker.update_slice(endpoint_slice("ns", "web", [endpoint("10.1.0.1"), going]))
    assert [e.ip for e in categorize(port, tracker.endpoints(port)).cluster] == ["10.1.0.1"]
    tracker.update_slice(endpoint_slice("ns", "web", [going]))
    assert [e.ip for e in categorize(port, tracker.endpoints(port)).cluster] == ["10.1.0.9"]
    not_serving = endpoint("10.1.0.8", ready=False, serving=False, terminating=True)
    tracker.update_slice(endpoint_slice("ns", "web", [not_serving]))
    found = categorize(port, tracker.endpoints(port))
    assert found.cluster == () and not found.has_any


def test_local_policies_use_this_nodes_endpoints() -> None:
    tracker = ChangeTracker("node-a")
    tracker.update_service(service("ns", "web", "10.0.0.1", node_port=30001,
                                   externalTrafficPolicy="Local"))
    (port,) = tracker.services["ns/web"]
    tracker.update_slice(endpoint_slice("ns", "web", [endpoint("10.1.0.1", node="node-a"),
                                                      endpoint("10.1.0.2")]))
    found = categorize(port, tracker.endpoints(port))
    assert [e.ip for e in found.cluster] == ["10.1.0.1", "10.1.0.2"]
    assert [e.ip for e in found.local] == ["10.1.0.1"]
    assert found.has_any
