"""Admission webhooks with the real kubectl against `kyb server`: the test serves a
validating and a mutating webhook over HTTPS on loopback (its own CA, passed as
caBundle). The validating one refuses pods labelled `deny=true` with its message and
code, and warns; the mutating one labels pods; namespaceSelector keeps them out of a
namespace not labelled for them; clientConfig.service reaches the server through an
EndpointSlice; with the server gone a webhook with failurePolicy Ignore is skipped and
one with Fail refuses with upstream's "failed calling webhook" message; a dry run skips
nothing, since the webhooks declare no side effects. A ValidatingAdmissionPolicy bound to
one namespace refuses a deployment with its failed expression."""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.cluster import (
    Kubectl,
    wait_until,
)
from tests.webhook_server import WebhookServer, json_patch, review_response

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # admission webhooks, whatever the storage (conftest.py)

SELECTED = "webhook-test"
DENY_MESSAGE = "pods labelled deny=true are not allowed"
# Calls refused under failurePolicy Fail are InternalErrors (500), as upstream: the module's
# server may answer exactly these, counted by the tests that cause them (conftest's server).
EXPECTED_5XX: Counter[tuple[str, int]] = Counter()


def _labels(obj: dict[str, Any] | None) -> dict[str, str]:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def answer(path: str, review: dict[str, Any]) -> dict[str, Any]:
    """What the test's webhooks decide."""
    labels = _labels(review["request"]["object"])
    if path.startswith("/validate"):
        if labels.get("deny") == "true":
            return review_response(review, allowed=False, status={
                "code": 403, "reason": "Forbidden", "message": DENY_MESSAGE})
        if labels.get("warn") == "true":
            return review_response(review, warnings=["this pod asked for a warning"])
    if path.startswith("/mutate"):
        return review_response(review, **json_patch(
            [{"op": "add", "path": "/metadata/labels/mutated", "value": "yes"}] if labels
            else [{"op": "add", "path": "/metadata/labels", "value": {"mutated": "yes"}}]))
    return review_response(review)


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebhookServer]:
    running = WebhookServer(tmp_path_factory.mktemp("webhooks"), answer)
    yield running
    running.stop()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def webhook(name: str, client_config: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A webhook on pod creates and updates in namespaces labelled webhook-test=on."""
    return {"name": name, "clientConfig": client_config,
            "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""],
                       "apiVersions": ["v1"], "resources": ["pods"]}],
            "namespaceSelector": {"matchLabels": {SELECTED: "on"}},
            "sideEffects": "None", "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 5, **extra}


def configuration(kind: str, name: str, *webhooks: dict[str, Any]) -> str:
    return json.dumps({"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
                       "metadata": {"name": name}, "webhooks": list(webhooks)})


def pod(name: str, **labels: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "labels": labels},
                       "spec": {"containers": [{"name": "c", "image": "busybox"}]}})


@pytest.fixture(scope="module")
def registered(kubectl: Kubectl, hooks: WebhookServer) -> str:
    """The validating and mutating configurations, once in effect."""
    config = {"url": hooks.url("/validate"), "caBundle": hooks.ca_bundle}
    kubectl("apply", "-f", "-", input=configuration(
        "ValidatingWebhookConfiguration", "deny-pods",
        webhook("deny.webhooks.kyb.example.com", config)))
    config = {"url": hooks.url("/mutate"), "caBundle": hooks.ca_bundle}
    kubectl("apply", "-f", "-", input=configuration(
        "MutatingWebhookConfiguration", "label-pods",
        webhook("label.webhooks.kyb.example.com", config,
                objectSelector={"matchExpressions": [
                    {"key": "nomutate", "operator": "DoesNotExist"}]})))
    return "deny-pods"


def selected(kubectl: Kubectl, ns: str) -> str:
    kubectl("label", "namespace", ns, f"{SELECTED}=on")
    return ns


def refusal(kubectl: Kubectl, ns: str, manifest: str) -> str:
    result = kubectl.run("apply", "-n", ns, "-f", "-", check=False, input=manifest)
    return result.stderr.strip() if result.returncode else ""


def test_validating_webhook_refuses_with_its_message(kubectl: Kubectl, ns: str,
                                                     registered: str,
                                                     hooks: WebhookServer) -> None:
    selected(kubectl, ns)
    # The API server sees a new configuration through its watch cache, a moment later.
    stderr = wait_until(lambda: refusal(kubectl, ns, pod("denied", deny="true")),
                        "the webhook to refuse")
    assert stderr == (
        'Error from server (Forbidden): error when creating "STDIN": admission webhook '
        f'"deny.webhooks.kyb.example.com" denied the request: {DENY_MESSAGE}')
    result = kubectl.run("apply", "-n", ns, "-f", "-", input=pod("warned", warn="true"))
    assert result.stderr.strip() == "Warning: this pod asked for a warning"
    review = next(r["request"] for r in reversed(hooks.reviews)
                  if (r["request"].get("name"), r["request"]["namespace"]) == ("warned", ns)
                  and r["request"]["operation"] == "CREATE")
    assert review["kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert review["resource"] == {"group": "", "version": "v1", "resource": "pods"}
    assert review["requestResource"] == review["resource"]
    assert review["userInfo"]["username"] == "system:admin"
    assert review["oldObject"] is None and review["dryRun"] is False
    assert review["options"] == {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
    # An update that adds the label is refused too; the pod keeps its labels.
    stderr = refusal(kubectl, ns, pod("warned", warn="false", deny="true"))
    assert "denied the request: " + DENY_MESSAGE in stderr
    assert kubectl.json("get", "pod", "warned", "-n", ns)["metadata"]["labels"] == {
        "warn": "true", "mutated": "yes"}


def test_mutating_webhook_adds_a_label(kubectl: Kubectl, ns: str, registered: str) -> None:
    selected(kubectl, ns)
    wait_until(lambda: refusal(kubectl, ns, pod("probe", deny="true")), "the webhooks")
    kubectl("apply", "-n", ns, "-f", "-", input=pod("plain"))
    assert kubectl.json("get", "pod", "plain", "-n", ns)["metadata"]["labels"] == {
        "mutated": "yes"}
    kubectl("apply", "-n", ns, "-f", "-", input=pod("labelled", app="x"))
    assert kubectl.json("get", "pod", "labelled", "-n", ns)["metadata"]["labels"] == {
        "app": "x", "mutated": "yes"}
    # The objectSelector leaves this one alone.
    kubectl("apply", "-n", ns, "-f", "-", input=pod("kept", nomutate="1"))
    assert kubectl.json("get", "pod", "kept", "-n", ns)["metadata"]["labels"] == {
        "nomutate": "1"}
    # A server-side dry run calls both (they have no side effects) and writes nothing.
    result = kubectl.run("apply", "--dry-run=server", "-n", ns, "-o", "json", "-f", "-",
                         input=pod("dry"))
    assert json.loads(result.stdout)["metadata"]["labels"] == {"mutated": "yes"}
    assert kubectl.run("get", "pod", "dry", "-n", ns, check=False).returncode == 1


def test_namespace_selector_excludes_a_namespace(kubectl: Kubectl, ns: str,
                                                 registered: str) -> None:
    probe = f"{ns}-probe"
    kubectl("create", "namespace", probe)
    selected(kubectl, probe)
    wait_until(lambda: refusal(kubectl, probe, pod("probe", deny="true")), "the webhooks")
    kubectl("label", "namespace", ns, f"{SELECTED}=off")
    kubectl("apply", "-n", ns, "-f", "-", input=pod("free", deny="true"))
    assert kubectl.json("get", "pod", "free", "-n", ns)["metadata"]["labels"] == {
        "deny": "true"}


def test_service_reference_reaches_an_endpoint(kubectl: Kubectl, ns: str,
                                               hooks: WebhookServer) -> None:
    """clientConfig.service: resolved to a ready endpoint of its EndpointSlices, the
    certificate checked against <service>.<namespace>.svc."""
    kubectl("create", "namespace", "webhook-service")
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "hooks", "namespace": "webhook-service"},
         "spec": {"ports": [{"name": "https", "port": 443, "targetPort": hooks.port}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "hooks-1", "namespace": "webhook-service",
                      "labels": {"kubernetes.io/service-name": "hooks"}},
         "addressType": "IPv4",
         "ports": [{"name": "https", "port": hooks.port, "protocol": "TCP"}],
         "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}]}]}))
    service = {"service": {"namespace": "webhook-service", "name": "hooks",
                           "path": "/validate"}, "caBundle": hooks.ca_bundle}
    # In every namespace (this one is not labelled for the other webhooks).
    hook = webhook("svc.webhooks.kyb.example.com", service, namespaceSelector={},
                   objectSelector={"matchLabels": {"via": "service"}})
    kubectl("apply", "-f", "-", input=configuration(
        "ValidatingWebhookConfiguration", "via-service", hook))
    stderr = wait_until(lambda: refusal(kubectl, ns, pod("svc", via="service", deny="true")),
                        "the service webhook to refuse")
    assert 'admission webhook "svc.webhooks.kyb.example.com" denied the request' in stderr
    kubectl("delete", "validatingwebhookconfiguration", "via-service")


def test_failure_policy_with_the_server_down(kubectl: Kubectl, ns: str,
                                             hooks: WebhookServer) -> None:
    port = closed_port()
    down = {"url": f"https://127.0.0.1:{port}/validate", "caBundle": hooks.ca_bundle}
    kubectl("apply", "-f", "-", input=configuration(
        "ValidatingWebhookConfiguration", "down",
        webhook("ignore.webhooks.kyb.example.com", down, failurePolicy="Ignore",
                objectSelector={"matchLabels": {"down": "ignore"}}),
        webhook("fail.webhooks.kyb.example.com", down, failurePolicy="Fail",
                objectSelector={"matchLabels": {"down": "fail"}})))
    selected(kubectl, ns)

    def refused() -> str:
        stderr = refusal(kubectl, ns, pod("failed", down="fail", nomutate="1"))
        if stderr:
            EXPECTED_5XX[("POST", 500)] += 1
        return stderr

    stderr = wait_until(refused, "the failing webhook to refuse")
    assert stderr == (
        'Error from server (InternalError): error when creating "STDIN": Internal error '
        'occurred: failed calling webhook "fail.webhooks.kyb.example.com": failed to call '
        f'webhook: Post "https://127.0.0.1:{port}/validate?timeout=5s": dial tcp '
        f"127.0.0.1:{port}: connect: connection refused")
    # The same failure under Ignore: the pod is admitted.
    kubectl("apply", "-n", ns, "-f", "-", input=pod("ignored", down="ignore", nomutate="1"))
    kubectl("delete", "validatingwebhookconfiguration", "down")


def test_validating_admission_policy(kubectl: Kubectl, ns: str) -> None:
    """A ValidatingAdmissionPolicy (CEL in the API server, no webhook) and its binding."""
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": "replicas"},
         "spec": {"failurePolicy": "Fail", "matchConstraints": {"resourceRules": [
             {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
              "resources": ["deployments"]}]},
                  "validations": [{"expression": "object.spec.replicas <= 5"}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1",
         "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "replicas-" + ns},
         "spec": {"policyName": "replicas", "validationActions": ["Deny"],
                  "matchResources": {"namespaceSelector": {"matchLabels": {
                      "kubernetes.io/metadata.name": ns}}}}}]}))

    def refused() -> str:
        result = kubectl.run("create", "deployment", "big", "-n", ns, "--image=busybox",
                             "--replicas=6", check=False)
        return result.stderr.strip() if result.returncode else ""

    assert wait_until(refused, "the policy to refuse") == (
        'error: failed to create deployment: deployments.apps "big" is forbidden: '
        "ValidatingAdmissionPolicy 'replicas' with binding 'replicas-" + ns + "' denied "
        "request: failed expression: object.spec.replicas <= 5")
