"""Aggregated APIs with the real kubectl against `kyb server`: the test runs a small
extension API server (HTTPS on loopback, a certificate of its own CA for
`wardle-api.wardle-system.svc`) serving `wardle.example.com/v1alpha1` with one resource,
`flunders`. It trusts the API server as front proxy the way real extension servers do,
from the `extension-apiserver-authentication` ConfigMap: the client certificate must be
signed by `requestheader-client-ca-file` and name one of `requestheader-allowed-names`,
and only then is `X-Remote-User` believed. A Service without selector and an
EndpointSlice lead to it; the APIService `v1alpha1.wardle.example.com` names the Service
and carries the CA as caBundle. It becomes Available, `kubectl api-resources` lists
flunders, `kubectl get flunders` is proxied with the kubectl user, and deleting the
Service makes the APIService unavailable (ServiceNotFound)."""

from __future__ import annotations

import json
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.e2e.cluster import Kubectl, wait_until
from tests.https_server import HTTPSServer, JSONHandler

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # the aggregator's proxying, whatever the storage (conftest.py)

GROUP, VERSION = "wardle.example.com", "v1alpha1"
APISERVICE = f"{VERSION}.{GROUP}"
SERVICE, SERVICE_NS = "wardle-api", "wardle-system"
PREFIX = f"/apis/{GROUP}/{VERSION}"


RESOURCES = {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{GROUP}/{VERSION}",
             "resources": [{"name": "flunders", "singularName": "flunder", "namespaced": True,
                            "kind": "Flunder", "verbs": ["get", "list"]}]}


def flunder_list(namespace: str) -> dict[str, Any]:
    return {"kind": "FlunderList", "apiVersion": f"{GROUP}/{VERSION}",
            "metadata": {"resourceVersion": "1"},
            "items": [{"kind": "Flunder", "apiVersion": f"{GROUP}/{VERSION}",
                       "metadata": {"name": "first", "namespace": namespace, "uid": "f-1",
                                    "creationTimestamp": "2026-01-01T00:00:00Z"}}]}


class ExtensionServer(HTTPSServer):
    """The wardle server: HTTPS on a loopback port, in a thread. `seen` keeps, for each
    request, its path and the user it believed (None: not from a trusted proxy)."""

    def __init__(self, directory: Path, auth: dict[str, str]) -> None:
        self.seen: list[tuple[str, str | None]] = []
        seen = self.seen
        allowed = set(json.loads(auth["requestheader-allowed-names"]))
        [user_header] = json.loads(auth["requestheader-username-headers"])

        class Handler(JSONHandler):
            def do_GET(self) -> None:
                user = self._trusted_user()
                seen.append((self.path, user))
                path = self.path.split("?", 1)[0]
                parts = path.removeprefix(PREFIX).strip("/").split("/")
                if user is None:
                    self.send_json(401, {"kind": "Status", "apiVersion": "v1", "code": 401})
                elif path == PREFIX:
                    self.send_json(200, RESOURCES)
                elif len(parts) == 3 and parts[0] == "namespaces" and parts[2] == "flunders":
                    self.send_json(200, flunder_list(parts[1]))
                else:
                    self.send_json(404, {"kind": "Status", "apiVersion": "v1", "code": 404})

            def _trusted_user(self) -> str | None:
                """X-Remote-User, when the client certificate (checked against the
                requestheader CA by TLS) names an allowed proxy."""
                assert isinstance(self.connection, ssl.SSLSocket)
                der = self.connection.getpeercert(binary_form=True)
                if der is None:
                    return None
                subject = x509.load_der_x509_certificate(der).subject
                names = {str(a.value) for a in
                         subject.get_attributes_for_oid(NameOID.COMMON_NAME)}
                return self.headers.get(user_header) if names & allowed else None

        super().__init__(directory, SERVICE, [f"{SERVICE}.{SERVICE_NS}.svc"], Handler,
                         client_ca=auth["requestheader-client-ca-file"])


@pytest.fixture(scope="module")
def wardle(kubectl: Kubectl) -> Iterator[ExtensionServer]:
    auth = kubectl.json("get", "configmap", "-n", "kube-system",
                        "extension-apiserver-authentication")["data"]
    with tempfile.TemporaryDirectory() as directory:
        running = ExtensionServer(Path(directory), auth)
        yield running
        running.stop()


def apply(kubectl: Kubectl, *objects: dict[str, Any]) -> None:
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                  "items": list(objects)}))


def service() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": SERVICE, "namespace": SERVICE_NS},
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 8443}]}}


def condition(kubectl: Kubectl) -> dict[str, Any] | None:
    found = kubectl.json("get", "apiservice", APISERVICE)
    return next((c for c in (found.get("status") or {}).get("conditions") or ()
                 if c["type"] == "Available"), None)


def test_an_apiservice_routes_to_its_service(kubectl: Kubectl, ns: str,
                                             wardle: ExtensionServer) -> None:
    kubectl("create", "namespace", SERVICE_NS)
    apply(kubectl, service(), {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"{SERVICE}-1", "namespace": SERVICE_NS,
                     "labels": {"kubernetes.io/service-name": SERVICE}},
        "addressType": "IPv4",
        "ports": [{"name": "https", "port": wardle.port, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}]}, {
        "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": {"name": APISERVICE},
        "spec": {"group": GROUP, "version": VERSION, "groupPriorityMinimum": 1000,
                 "versionPriority": 15, "caBundle": wardle.ca_bundle,
                 "service": {"namespace": SERVICE_NS, "name": SERVICE, "port": 443}}})

    available = wait_until(lambda: (c := condition(kubectl)) and c["status"] == "True" and c,
                           "the APIService to become available")
    assert (available["reason"], available["message"]) == ("Passed", "all checks passed")
    # The availability check came as upstream's aggregator identity, through the proxy's
    # trusted certificate.
    assert (PREFIX, "system:kube-aggregator") in wardle.seen

    resources = kubectl("api-resources", "--api-group", GROUP)
    assert any(line.split()[:4] == ["flunders", f"{GROUP}/{VERSION}", "true", "Flunder"]
               for line in resources.splitlines()), resources

    listed = kubectl.json("get", "flunders", "-n", ns)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["first"]
    assert kubectl("get", "flunders", "-n", ns).split()[:3] == ["NAME", "AGE", "first"]
    whoami = kubectl.json("auth", "whoami")["status"]["userInfo"]["username"]
    assert (f"{PREFIX}/namespaces/{ns}/flunders", whoami) in \
        [(path.split("?", 1)[0], user) for path, user in wardle.seen]

    kubectl("delete", "service", "-n", SERVICE_NS, SERVICE)
    gone = wait_until(lambda: (c := condition(kubectl)) and c["status"] == "False" and c,
                      "the APIService to become unavailable")
    assert (gone["reason"], gone["message"]) == (
        "ServiceNotFound", f'service/{SERVICE} in "{SERVICE_NS}" is not present')
    kubectl("delete", "apiservice", APISERVICE)
