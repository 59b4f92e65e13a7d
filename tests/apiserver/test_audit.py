"""Audit logging: the Policy (matching and checks, as upstream's checker and validation),
the rotated JSON-lines log, and the events a real API server in this process writes for
real requests (its ASGI app behind httpx's transport)."""

from __future__ import annotations

import datetime as dt
import json
import re
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.apiserver import inprocess

from kybernetes.apiserver.audit.policy import PolicyError, load_policy, parse_policy
from kybernetes.apiserver.audit.writer import AuditLog
from kybernetes.apiserver.authn.user import UserInfo
from kybernetes.apiserver.authz.attributes import Attributes
from kybernetes.apiserver.server import ApiServer, ApiServerConfig

ALICE = UserInfo("alice", groups=("devs", "system:authenticated"))


def policy(rules: list[dict[str, Any]], **extra: Any) -> bytes:
    return json.dumps({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": rules,
                       **extra}).encode()


def resource(verb: str, resource: str, *, group: str = "", namespace: str = "",
             name: str = "", subresource: str = "") -> Attributes:
    return Attributes(ALICE, verb, True, api_group=group, api_version="v1",
                      namespace=namespace, resource=resource, subresource=subresource,
                      name=name)


def path(verb: str, url: str) -> Attributes:
    return Attributes(ALICE, verb, False, path=url)


# ---------------------------------------------------------------------------- the policy


@pytest.mark.parametrize(("rule", "attrs", "matches"), [
    ({"users": ["alice"]}, resource("get", "pods"), True),
    ({"users": ["bob"]}, resource("get", "pods"), False),
    ({"userGroups": ["devs"]}, resource("get", "pods"), True),
    ({"userGroups": ["ops"]}, resource("get", "pods"), False),
    ({"verbs": ["get", "list"]}, resource("list", "pods"), True),
    ({"verbs": ["create"]}, resource("list", "pods"), False),
    ({"resources": [{"group": ""}]}, resource("get", "pods"), True),
    ({"resources": [{"group": "apps"}]}, resource("get", "pods"), False),
    ({"resources": [{"resources": ["pods"]}]}, resource("get", "pods"), True),
    ({"resources": [{"resources": ["pods"]}]},
     resource("get", "pods", subresource="log"), False),
    ({"resources": [{"resources": ["pods/log"]}]},
     resource("get", "pods", subresource="log"), True),
    ({"resources": [{"resources": ["pods/*"]}]},
     resource("get", "pods", subresource="exec"), True),
    ({"resources": [{"resources": ["*/scale"], "group": "apps"}]},
     resource("update", "deployments", group="apps", subresource="scale"), True),
    ({"resources": [{"resources": ["*"]}]}, resource("get", "pods", subresource="log"), True),
    ({"resources": [{"resources": ["configmaps"], "resourceNames": ["a"]}]},
     resource("get", "configmaps", name="a"), True),
    ({"resources": [{"resources": ["configmaps"], "resourceNames": ["a"]}]},
     resource("get", "configmaps", name="b"), False),
    ({"namespaces": ["kube-system"]}, resource("get", "pods", namespace="kube-system"), True),
    ({"namespaces": ["kube-system"]}, resource("get", "pods", namespace="default"), False),
    ({"namespaces": [""]}, resource("get", "nodes"), True),
    ({"namespaces": ["default"]}, path("get", "/healthz"), False),
    ({"nonResourceURLs": ["/healthz"]}, path("get", "/healthz"), True),
    ({"nonResourceURLs": ["/healthz*"]}, path("get", "/healthz/ping"), True),
    ({"nonResourceURLs": ["/api*"]}, path("get", "/version"), False),
    ({"nonResourceURLs": ["*"]}, path("get", "/version"), True),
    ({"nonResourceURLs": ["*"]}, resource("get", "pods"), False),
    ({}, path("get", "/version"), True),
])
def test_rule_matching(rule: dict[str, Any], attrs: Attributes, matches: bool) -> None:
    loaded = parse_policy(policy([{"level": "Metadata", **rule}]))
    assert loaded.evaluate(attrs.user, attrs).level == ("Metadata" if matches else "None")


def test_first_matching_rule_wins_and_stages_add_up() -> None:
    loaded = parse_policy(policy([
        {"level": "None", "users": ["system:kube-proxy"]},
        {"level": "RequestResponse", "resources": [{"resources": ["configmaps"]}],
         "omitStages": ["ResponseStarted"], "omitManagedFields": False},
        {"level": "Metadata"},
    ], omitStages=["RequestReceived"], omitManagedFields=True))
    config = loaded.evaluate(ALICE, resource("get", "configmaps"))
    assert config.level == "RequestResponse"
    assert config.omit_stages == {"RequestReceived", "ResponseStarted"}
    assert config.omit_managed_fields is False
    fallback = loaded.evaluate(ALICE, resource("get", "pods"))
    assert (fallback.level, fallback.omit_managed_fields) == ("Metadata", True)
    # Without a user (a refused credential) rules about users never match.
    assert loaded.evaluate(None, resource("get", "pods")).level == "Metadata"
    only_alice = parse_policy(policy([{"level": "Request", "users": ["alice"]}]))
    assert only_alice.evaluate(None, resource("get", "pods")).level == "None"


@pytest.mark.parametrize(("document", "message"), [
    (policy([{"verbs": ["get"]}]), "rules[0].level: Required value"),
    (policy([{"level": "Everything"}]),
     'rules[0].level: Unsupported value: "Everything": supported values: "None", '
     '"Metadata", "Request", "RequestResponse"'),
    (policy([{"level": "None", "nonResourceURLs": ["healthz"]}]),
     "non-resource URL rules must begin with a '/' character"),
    (policy([{"level": "None", "nonResourceURLs": ["/a*/b"]}]),
     "non-resource URL wildcards '*' must be the final character of the rule"),
    (policy([{"level": "None", "nonResourceURLs": ["/a"], "namespaces": ["x"]}]),
     "rules cannot apply to both regular resources and non-resource URLs"),
    (policy([{"level": "None", "omitStages": ["Later"]}]),
     'rules[0].omitStages[0]: Invalid value: "Later": allowed stages are RequestReceived,'
     "ResponseStarted,ResponseComplete,Panic"),
    (policy([{"level": "None", "resources": [{"resourceNames": ["a"]}]}]),
     "using resourceNames requires at least one resource"),
    (policy([{"level": "None", "resources": [{"group": "Apps/v1"}]}]),
     'rules[0].resources.group: Invalid value: "Apps/v1": a lowercase RFC 1123 subdomain'),
    (policy([]), "loaded illegal policy with 0 rules"),
    (b"apiVersion: audit.k8s.io/v1beta9\nkind: Policy\n", "unknown group version field"),
])
def test_invalid_policies_are_refused(document: bytes, message: str) -> None:
    with pytest.raises(PolicyError) as refused:
        parse_policy(document)
    assert message in str(refused.value)


def test_policy_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="failed to read file path"):
        load_policy(tmp_path / "missing.yaml")
    bad = tmp_path / "policy.yaml"
    bad.write_bytes(policy([]))
    with pytest.raises(PolicyError, match=f"0 rules: from file {re.escape(str(bad))}"):
        load_policy(bad)


# ---------------------------------------------------------------------------- the log


def _backups(log: Path) -> list[Path]:
    return sorted(log.parent.glob(f"{log.stem}-*{log.suffix}"))


async def test_log_rotates_at_its_size_and_keeps_its_backups(tmp_path: Path) -> None:
    log_path = tmp_path / "logs" / "audit.log"
    line = b"x" * 1023 + b"\n"
    log = AuditLog(str(log_path), max_size=1, max_backups=2)
    for _ in range(1024 * 3 + 10):
        log.write(line)
    await log.close()
    backups = _backups(log_path)
    # Three files filled to 1 MiB and one started: one backup pruned, two kept.
    assert len(backups) == 2
    for backup in backups:
        assert re.fullmatch(r"audit-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}\.log", backup.name)
        assert backup.stat().st_size == 1024 * 1024
    assert log_path.stat().st_size == 10 * 1024
    assert {stat.S_IMODE(p.stat().st_mode) for p in [log_path, *backups]} == {0o600}


async def test_log_drops_backups_older_than_max_age(tmp_path: Path) -> None:
    log_path = tmp_path / "audit.log"
    old = tmp_path / "audit-2001-01-01T00-00-00.000.log"
    recent_time = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    recent = tmp_path / f"audit-{recent_time.strftime('%Y-%m-%dT%H-%M-%S')}.000.log"
    unrelated = tmp_path / "audit-notes.log"
    for file in (old, recent, unrelated):
        file.write_text("{}\n")
    log_path.write_bytes(b"y" * (1024 * 1024 - 10))
    log = AuditLog(str(log_path), max_size=1, max_age=7)
    log.write(b"z" * 100 + b"\n")
    await log.close()
    assert not old.exists()
    assert recent.exists() and unrelated.exists()
    assert len(_backups(log_path)) == 3  # recent, unrelated, and the one just rotated
    assert log_path.read_bytes() == b"z" * 100 + b"\n"


# ---------------------------------------------------------------------------- the server


POLICY = [
    {"level": "None", "nonResourceURLs": ["/healthz*", "/readyz"]},
    {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]},
    {"level": "RequestResponse", "resources": [{"resources": ["configmaps"]}],
     "omitManagedFields": True},
    {"level": "Request", "resources": [{"resources": ["pods"]}],
     "omitStages": ["RequestReceived"]},
    {"level": "Metadata"},
]


@dataclass
class Audited:
    server: ApiServer
    client: httpx.AsyncClient
    log: Path

    async def events(self) -> list[dict[str, Any]]:
        """Everything logged so far (the log is closed first, so all of it is written)."""
        assert self.server.audit is not None
        await self.server.audit.close()
        return [json.loads(line) for line in self.log.read_text().splitlines()]


async def _audited(tmp_path: Path, **config: Any) -> AsyncIterator[Audited]:
    policy_file = tmp_path / "policy.json"
    policy_file.write_bytes(policy(POLICY))
    log = tmp_path / "audit" / "audit.log"
    async with (inprocess.apiserver(tmp_path, authorization_mode="AlwaysAllow",
                                    audit_policy_file=policy_file, audit_log_path=str(log),
                                    **config) as server,
                inprocess.http_client(server.app,
                                      headers={"user-agent": "audit-test/1.0"}) as client):
        yield Audited(server, client, log)


@pytest.fixture
async def audited(tmp_path: Path) -> AsyncIterator[Audited]:
    async for value in _audited(tmp_path):
        yield value


def _by_id(events: list[dict[str, Any]], audit_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["auditID"] == audit_id]


async def test_events_follow_the_policy(audited: Audited) -> None:
    client = audited.client
    health = await client.get("/healthz")
    configmap = await client.post("/api/v1/namespaces/default/configmaps", json={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
        "data": {"color": "blue"}})
    secret = await client.post("/api/v1/namespaces/default/secrets", json={
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
        "stringData": {"password": "never-logged-42"}})
    missing = await client.get("/api/v1/namespaces/default/secrets/nope",
                               headers={"Audit-ID": "client-chosen-id"})
    pods = await client.get("/api/v1/namespaces/default/pods")
    assert [r.status_code for r in (health, configmap, secret, missing, pods)] == \
        [200, 201, 201, 404, 200]
    assert missing.headers["audit-id"] == "client-chosen-id"
    events = await audited.events()
    assert "never-logged-42" not in audited.log.read_text()
    assert _by_id(events, health.headers["audit-id"]) == []

    created = _by_id(events, configmap.headers["audit-id"])
    assert [e["stage"] for e in created] == ["RequestReceived", "ResponseComplete"]
    received, complete = created
    assert list(complete) == ["kind", "apiVersion", "level", "auditID", "stage", "requestURI",
                              "verb", "user", "sourceIPs", "userAgent", "objectRef",
                              "responseStatus", "requestObject", "responseObject",
                              "requestReceivedTimestamp", "stageTimestamp", "annotations"]
    assert complete["level"] == "RequestResponse" and complete["verb"] == "create"
    assert complete["requestURI"] == "/api/v1/namespaces/default/configmaps"
    assert complete["user"] == {"username": "system:anonymous",
                                "groups": ["system:unauthenticated"]}
    assert complete["sourceIPs"] == ["127.0.0.1"]
    assert complete["userAgent"] == "audit-test/1.0"
    assert complete["objectRef"] == {"resource": "configmaps", "namespace": "default",
                                     "name": "settings", "apiVersion": "v1"}
    assert complete["responseStatus"] == {"metadata": {}, "code": 201}
    assert complete["requestObject"]["data"] == {"color": "blue"}
    assert complete["responseObject"]["metadata"]["uid"]
    assert "managedFields" not in complete["responseObject"]["metadata"]
    assert complete["annotations"] == {"authorization.k8s.io/decision": "allow",
                                       "authorization.k8s.io/reason": ""}
    assert "responseStatus" not in received and "annotations" not in received
    assert received["stageTimestamp"] == received["requestReceivedTimestamp"] == \
        complete["requestReceivedTimestamp"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", complete["stageTimestamp"])

    secret_events = _by_id(events, secret.headers["audit-id"])
    assert {e["level"] for e in secret_events} == {"Metadata"}
    assert all("requestObject" not in e and "responseObject" not in e for e in secret_events)
    assert secret_events[-1]["objectRef"]["name"] == "creds"

    (not_found,) = [e for e in _by_id(events, "client-chosen-id")
                    if e["stage"] == "ResponseComplete"]
    assert not_found["responseStatus"] == {
        "metadata": {}, "status": "Failure", "message": 'secrets "nope" not found',
        "reason": "NotFound", "details": {"kind": "secrets", "name": "nope"}, "code": 404}

    listed = _by_id(events, pods.headers["audit-id"])
    assert [e["stage"] for e in listed] == ["ResponseComplete"]  # RequestReceived omitted
    assert listed[0]["verb"] == "list" and "responseObject" not in listed[0]


async def test_long_running_requests_have_a_response_started_stage(audited: Audited) -> None:
    watch = await audited.client.get("/api/v1/namespaces/default/configmaps",
                                     params={"watch": "1", "timeoutSeconds": "1"})
    assert watch.status_code == 200
    events = _by_id(await audited.events(), watch.headers["audit-id"])
    assert [e["stage"] for e in events] == ["RequestReceived", "ResponseStarted",
                                            "ResponseComplete"]
    assert {e["verb"] for e in events} == {"watch"}
    assert events[1]["responseStatus"] == {"metadata": {}, "code": 200}


async def test_an_upgrade_request_is_audited(audited: Audited) -> None:
    """`kubectl exec` arrives as a WebSocket upgrade (verb create on pods/exec); here it is
    refused (no such pod), the refusal carrying the Audit-Id."""
    sent: list[dict[str, Any]] = []
    connected = False

    async def receive() -> dict[str, Any]:
        nonlocal connected
        if not connected:
            connected = True
            return {"type": "websocket.connect"}
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/api/v1/namespaces/default/pods/ghost/exec",
             "raw_path": b"/api/v1/namespaces/default/pods/ghost/exec",
             "query_string": b"command=ls&stdout=true", "headers": [(b"audit-id", b"exec-1")],
             "client": ("127.0.0.1", 50000), "subprotocols": ["v5.channel.k8s.io"]}
    await audited.server.app(scope, receive, send)
    start = sent[0]
    assert (start["type"], start["status"]) == ("websocket.http.response.start", 404)
    assert (b"audit-id", b"exec-1") in start["headers"]
    events = _by_id(await audited.events(), "exec-1")
    assert [e["stage"] for e in events] == ["RequestReceived", "ResponseStarted",
                                            "ResponseComplete"]
    assert {e["verb"] for e in events} == {"create"}
    assert events[0]["objectRef"] == {"resource": "pods", "namespace": "default",
                                      "name": "ghost", "apiVersion": "v1",
                                      "subresource": "exec"}
    assert events[0]["requestURI"] == \
        "/api/v1/namespaces/default/pods/ghost/exec?command=ls&stdout=true"
    assert events[1]["responseStatus"] == {"metadata": {}, "code": 404}
    assert events[2]["responseStatus"]["reason"] == "NotFound"


async def test_an_unexpected_failure_is_a_panic_event(audited: Audited,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(request: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(audited.server.app, "route", broken)
    failed = await audited.client.get("/version")
    assert failed.status_code == 500
    events = _by_id(await audited.events(), failed.headers["audit-id"])
    assert [e["stage"] for e in events] == ["RequestReceived", "Panic"]
    assert events[1]["responseStatus"] == {
        "metadata": {}, "status": "Failure", "message": "APIServer panic'd: boom",
        "reason": "InternalError", "code": 500}


@pytest.fixture
async def no_anonymous(tmp_path: Path) -> AsyncIterator[Audited]:
    async for value in _audited(tmp_path, anonymous_auth=False):
        yield value


async def test_refused_credentials_are_audited(no_anonymous: Audited) -> None:
    bare = await no_anonymous.client.get("/api/v1/namespaces/default/pods")
    token = await no_anonymous.client.get("/api/v1/namespaces/default/configmaps",
                                          headers={"Authorization": "Bearer not-a-token"})
    assert (bare.status_code, token.status_code) == (401, 401)
    events = await no_anonymous.events()
    (bare_event,) = _by_id(events, bare.headers["audit-id"])
    assert bare_event["stage"] == "ResponseStarted"
    assert bare_event["user"] == {}
    assert bare_event["level"] == "Request"
    assert bare_event["responseStatus"] == {
        "metadata": {}, "message": "Authentication failed, no credentials provided",
        "code": 401}
    (token_event,) = _by_id(events, token.headers["audit-id"])
    assert token_event["responseStatus"]["message"] == "Authentication failed, attempted: bearer"
    assert token_event["objectRef"] == {"resource": "configmaps", "namespace": "default",
                                        "apiVersion": "v1"}


def test_auditing_is_off_without_a_policy_and_a_log(tmp_path: Path) -> None:
    server = ApiServer(ApiServerConfig(data_dir=tmp_path, authorization_mode="AlwaysAllow",
                                       audit_log_path=str(tmp_path / "audit.log")))
    assert server.audit is None and server.app.audit is None
    assert not (tmp_path / "audit.log").exists()
