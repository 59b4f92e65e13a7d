"""PodSecurity: the levels from namespace labels; enforce refuses with upstream's message,
warn answers Warning headers (for pods and workload templates), audit annotates the audit
event; invalid labels are refused; a stricter enforce label warns about existing pods. The
checks themselves are exercised one by one against upstream's wording."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.apiserver import inprocess
from tests.apiserver.test_admission_setup import (
    http,
    namespace,
    ok,
    pod,
    refused,
    server,
    warnings,
)

from kybernetes.apiserver.admission.podsecurity.admission import EVALUATOR
from kybernetes.apiserver.admission.podsecurity.policy import LATEST, LevelVersion, v1
from kybernetes.apiserver.server import ApiServer

__all__ = ["http", "server"]

LABEL = "pod-security.kubernetes.io/"
PRIVILEGED = {"name": "c", "image": "busybox", "securityContext": {"privileged": True}}
RESTRICTED_OK = {"name": "c", "image": "busybox", "securityContext": {
    "allowPrivilegeEscalation": False, "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}}
RESTRICTED_VIOLATIONS = (
    'privileged (container "c" must not set securityContext.privileged=true), '
    'allowPrivilegeEscalation != false (container "c" must set '
    "securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "
    '"c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or '
    'container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or '
    'container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or '
    '"Localhost")')


async def test_enforce_refuses_with_upstreams_message(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "ps-enforce", labels={LABEL + "enforce": "restricted"})
    response = await http.post(f"/api/v1/namespaces/{ns}/pods", json=pod("x", PRIVILEGED))
    assert refused(response) == \
        f'pods "x" is forbidden: violates PodSecurity "restricted:latest": {RESTRICTED_VIOLATIONS}'
    ok(await http.post(f"/api/v1/namespaces/{ns}/pods", json=pod("fine", RESTRICTED_OK)))


async def test_warn_and_versions(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "ps-warn", labels={
        LABEL + "enforce": "baseline", LABEL + "warn": "restricted",
        LABEL + "warn-version": "v1.21"})
    plain = {"name": "c", "image": "busybox"}
    response = await http.post(f"/api/v1/namespaces/{ns}/pods", json=pod("p", plain))
    ok(response)
    # Before 1.22 restricted asked nothing of capabilities.
    assert warnings(response) == [
        'would violate PodSecurity "restricted:v1.21": allowPrivilegeEscalation != false '
        '(container "c" must set securityContext.allowPrivilegeEscalation=false), '
        'runAsNonRoot != true (pod or container "c" must set '
        "securityContext.runAsNonRoot=true), seccompProfile (pod or container \"c\" must "
        'set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")']
    refusal = await http.post(f"/api/v1/namespaces/{ns}/pods", json=pod("q", PRIVILEGED))
    assert refused(refusal) == ('pods "q" is forbidden: violates PodSecurity '
                                '"baseline:latest": privileged (container "c" must not set '
                                "securityContext.privileged=true)")
    # A refused request carries no warnings.
    assert warnings(refusal) == []


async def test_workload_templates_are_warned_about_not_refused(
        http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "ps-workloads", labels={
        LABEL + "enforce": "restricted", LABEL + "warn": "baseline"})
    template = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [PRIVILEGED]}}
    response = await http.post(f"/apis/apps/v1/namespaces/{ns}/deployments", json={
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": template}})
    ok(response)
    assert warnings(response) == ['would violate PodSecurity "baseline:latest": privileged '
                                  '(container "c" must not set securityContext.privileged=true)']
    response = await http.post(f"/apis/batch/v1/namespaces/{ns}/cronjobs", json={
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj"},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {
            "spec": {"restartPolicy": "Never", "containers": [PRIVILEGED]}}}}}})
    ok(response)
    assert len(warnings(response)) == 1


async def test_invalid_labels_are_refused(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/v1/namespaces", json={
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "ps-bad", "labels": {LABEL + "enforce": "strict"}}})
    assert refused(response, 422) == (
        'Namespace "ps-bad" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: '
        'Invalid value: "strict": must be one of privileged, baseline, restricted')
    ns = await namespace(http, "ps-relabel")
    current = ok(await http.get(f"/api/v1/namespaces/{ns}"))
    current["metadata"]["labels"] = {LABEL + "warn-version": "1.30"}
    response = await http.put(f"/api/v1/namespaces/{ns}", json=current)
    assert refused(response, 422) == (
        'Namespace "ps-relabel" is invalid: '
        "metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: \"1.30\": "
        'must be "latest" or "v1.x"')


async def test_a_stricter_enforce_label_warns_about_existing_pods(
        http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "ps-existing")
    pods = f"/api/v1/namespaces/{ns}/pods"
    for name in ("b", "a", "c"):
        ok(await http.post(pods, json=pod(name, PRIVILEGED)))
    ok(await http.post(pods, json=pod("host", hostNetwork=True)))
    ok(await http.post(pods, json=pod("good", RESTRICTED_OK)))
    stricter = {"metadata": {"labels": {LABEL + "enforce": "baseline"}}}
    response = await http.patch(f"/api/v1/namespaces/{ns}", json=stricter,
                                headers={"content-type": "application/merge-patch+json"})
    ok(response)
    assert warnings(response) == [
        'existing pods in namespace "ps-existing" violate the new PodSecurity enforce level '
        '"baseline:latest"',
        "a (and 2 other pods): privileged",
        "host: host namespaces"]
    # Relaxing it warns about nothing.
    relax = {"metadata": {"labels": {LABEL + "enforce": "privileged"}}}
    response = await http.patch(f"/api/v1/namespaces/{ns}", json=relax,
                                headers={"content-type": "application/merge-patch+json"})
    assert ok(response) and warnings(response) == []


async def test_status_updates_are_not_evaluated(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "ps-status")
    created = ok(await http.post(f"/api/v1/namespaces/{ns}/pods", json=pod("p", PRIVILEGED)))
    patch = {"metadata": {"labels": {LABEL + "enforce": "restricted"}}}
    ok(await http.patch(f"/api/v1/namespaces/{ns}", json=patch,
                        headers={"content-type": "application/merge-patch+json"}))
    created["status"] = {"phase": "Running"}
    ok(await http.put(f"/api/v1/namespaces/{ns}/pods/p/status", json=created))
    # Nor are updates that leave the images alone.
    current = ok(await http.get(f"/api/v1/namespaces/{ns}/pods/p"))
    current["metadata"]["labels"] = {"touched": "yes"}
    ok(await http.put(f"/api/v1/namespaces/{ns}/pods/p", json=current))


@pytest.fixture
async def audited(tmp_path: Path
                  ) -> AsyncIterator[tuple[httpx.AsyncClient, ApiServer, Path]]:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
                                  "rules": [{"level": "Metadata"}]}))
    log = tmp_path / "audit.log"
    async with inprocess.apiserver(tmp_path / "data", authorization_mode="AlwaysAllow",
                                   audit_policy_file=policy, audit_log_path=str(log)) as running:
        try:
            async with inprocess.http_client(running.app) as client:
                yield client, running, log
        finally:
            if running.audit is not None:
                await running.audit.close()


async def test_audit_mode_annotates_the_audit_event(
        audited: tuple[httpx.AsyncClient, ApiServer, Path]) -> None:
    client, running, log = audited
    ns = await namespace(client, "ps-audit", labels={LABEL + "audit": "baseline"})
    ok(await client.post(f"/api/v1/namespaces/{ns}/pods", json=pod("x", PRIVILEGED)))
    assert running.audit is not None
    await running.audit.close()  # writes out what is queued
    events = [json.loads(line) for line in log.read_text().splitlines()]
    created = [e for e in events if e.get("objectRef", {}).get("resource") == "pods"
               and e["verb"] == "create" and e["stage"] == "ResponseComplete"]
    assert created[0]["annotations"]["pod-security.kubernetes.io/enforce-policy"] == \
        "privileged:latest"
    assert created[0]["annotations"]["pod-security.kubernetes.io/audit-violations"] == (
        'would violate PodSecurity "baseline:latest": privileged (container "c" must not set '
        "securityContext.privileged=true)")


RESTRICTED = LevelVersion("restricted", LATEST)
BASELINE = LevelVersion("baseline", LATEST)


def spec_with(**fields: Any) -> dict[str, Any]:
    """A spec that passes restricted, with `fields` merged into it (containers replaced)."""
    return {"containers": [RESTRICTED_OK], **fields}


def container(**security: Any) -> dict[str, Any]:
    context = {**RESTRICTED_OK["securityContext"], **security}  # type: ignore[dict-item]
    return {"name": "c", "image": "busybox", "securityContext": context}


@pytest.mark.parametrize(("level", "meta", "spec", "detail"), [
    (BASELINE, {}, spec_with(hostPID=True, hostIPC=True), "host namespaces (hostPID=true, "
     "hostIPC=true)"),
    (BASELINE, {}, spec_with(containers=[container(capabilities={
        "drop": ["ALL"], "add": ["SYS_ADMIN", "CHOWN", "NET_ADMIN"]})]),
     'non-default capabilities (container "c" must not include "NET_ADMIN", "SYS_ADMIN" in '
     "securityContext.capabilities.add)"),
    (BASELINE, {}, spec_with(volumes=[{"name": "h", "hostPath": {"path": "/"}}]),
     'hostPath volumes (volume "h")'),
    (BASELINE, {}, spec_with(containers=[{**container(), "ports": [
        {"containerPort": 80, "hostPort": 8080}, {"containerPort": 90, "hostPort": 443}]}]),
     'hostPort (container "c" uses hostPorts 443, 8080)'),
    (BASELINE, {}, spec_with(containers=[{**container(), "readinessProbe": {
        "httpGet": {"port": 80, "host": "10.0.0.1"}}}]),
     'probe or lifecycle host (container "c" uses probe or lifecycle host "10.0.0.1")'),
    (LevelVersion("baseline", v1(33)), {}, spec_with(containers=[{**container(),
                                                                  "readinessProbe": {
        "httpGet": {"port": 80, "host": "10.0.0.1"}}}]), ""),
    (BASELINE, {}, spec_with(securityContext={"appArmorProfile": {"type": "Unconfined"}}),
     'forbidden AppArmor profile (pod must not set AppArmor profile type to "Unconfined")'),
    (BASELINE, {"annotations": {
        "container.apparmor.security.beta.kubernetes.io/c": "unconfined"}}, spec_with(),
     'forbidden AppArmor profile (annotation must not set AppArmor profile type to '
     '"container.apparmor.security.beta.kubernetes.io/c="unconfined"")'),
    (BASELINE, {}, spec_with(securityContext={"seLinuxOptions": {"type": "spc_t",
                                                                 "user": "root"}}),
     'seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "spc_t"; user '
     "may not be set)"),
    (BASELINE, {}, spec_with(containers=[container(procMount="Unmasked")]),
     'procMount (container "c" must not set securityContext.procMount to "Unmasked")'),
    (BASELINE, {}, spec_with(securityContext={"seccompProfile": {"type": "Unconfined"}}),
     'seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")'),
    (BASELINE, {}, spec_with(securityContext={"sysctls": [
        {"name": "kernel.msgmax", "value": "1"}, {"name": "net.ipv4.tcp_rmem", "value": "1"}]}),
     "forbidden sysctls (kernel.msgmax)"),
    (LevelVersion("baseline", v1(31)), {}, spec_with(securityContext={"sysctls": [
        {"name": "net.ipv4.tcp_rmem", "value": "1"}]}), "forbidden sysctls (net.ipv4.tcp_rmem)"),
    (BASELINE, {}, spec_with(securityContext={"windowsOptions": {"hostProcess": True}}),
     "hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)"),
    (RESTRICTED, {}, spec_with(volumes=[{"name": "n", "nfs": {"server": "s", "path": "/"}},
                                        {"name": "h", "hostPath": {"path": "/"}}]),
     'restricted volume types (volumes "n", "h" use restricted volume types "hostPath", '
     '"nfs")'),
    (RESTRICTED, {}, spec_with(containers=[container(runAsUser=0, runAsNonRoot=False)]),
     'runAsNonRoot != true (container "c" must not set securityContext.runAsNonRoot=false), '
     'runAsUser=0 (container "c" must not set runAsUser=0)'),
    (RESTRICTED, {}, spec_with(containers=[container(capabilities={"add": ["NET_BIND_SERVICE",
                                                                           "CHOWN"]})]),
     'unrestricted capabilities (container "c" must set securityContext.capabilities.drop='
     '["ALL"]; container "c" must not include "CHOWN" in securityContext.capabilities.add)'),
    (RESTRICTED, {}, spec_with(os={"name": "windows"}, containers=[
        {"name": "w", "image": "img", "securityContext": {"runAsNonRoot": True}}]), ""),
    (RESTRICTED, {}, spec_with(containers=[container(procMount="Unmasked")]),
     'procMount (container "c" must not set securityContext.procMount to "Unmasked")'),
])
def test_checks(level: LevelVersion, meta: dict[str, Any], spec: dict[str, Any],
                detail: str) -> None:
    assert EVALUATOR.evaluate(level, meta, spec).detail() == detail
