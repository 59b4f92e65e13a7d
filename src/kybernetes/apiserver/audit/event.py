"""One request's audit event (audit.k8s.io/v1 `Event`), built up as the request is served
and written out at each stage, as upstream's audit filters do.

Once the requester is known (authentication succeeded), the policy gives the level; at
None nothing more is done. Otherwise `RequestReceived` is written at once, then, for a
long-running request (watch, proxy, exec, attach, port-forward, log) `ResponseStarted`
when its response begins, and `ResponseComplete` when it has ended (`Panic` when the
request failed with an unexpected error). A request whose credential was refused (401) is
one `ResponseStarted` event with no user, its status message naming the methods tried.

Every event carries the request's metadata: URI, verb, user (and the impersonated one),
source IPs, user agent, the object it is about; the response status; the authorizer's
decision and reason and the admission plugins' annotations. `Request` level adds the
request body, `RequestResponse` the response body (JSON), managed fields dropped when the
policy says so.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import time
from collections.abc import Callable
from typing import Any, Literal

import orjson

from kybernetes.api import errors
from kybernetes.apiserver import requestcontext
from kybernetes.apiserver.audit.policy import Policy, RequestAuditConfig
from kybernetes.apiserver.authn.user import ANONYMOUS_USER, UserInfo
from kybernetes.apiserver.authz.attributes import Attributes, request_attributes
from kybernetes.apiserver.authz.authorizer import Decision
from kybernetes.apiserver.http import Message, Receive, Request, Response, Send, Streaming
from kybernetes.apiserver.negotiation import decode_body
from kybernetes.apiserver.tlspeer import client_certificate

DECISION_ANNOTATION = "authorization.k8s.io/decision"
REASON_ANNOTATION = "authorization.k8s.io/reason"

_MAX_USER_AGENT = 1024
_LONG_RUNNING_VERBS = ("watch", "proxy")
_LONG_RUNNING_SUBRESOURCES = ("attach", "exec", "proxy", "log", "portforward")
_BODY_VERBS = ("create", "update", "patch", "delete", "deletecollection")
_STATUS_PREFIX = b'{"kind":"Status"'

Phase = Literal["authenticating", "authorizing", "serving", "done"]


class Trail:
    """The audit event of one request. `write` takes each finished line."""

    def __init__(self, policy: Policy, write: Callable[[bytes], None], request: Request,
                 audit_id: str, *, websocket: bool = False) -> None:
        self.policy = policy
        self.write = write
        self.request = request
        self.audit_id = audit_id
        self.websocket = websocket
        self.received = time.time()
        # Authentication and authorization are observed only while the request is being
        # admitted (later calls are other work: a TokenReview, a SubjectAccessReview).
        self.phase: Phase = "authenticating"
        self.config: RequestAuditConfig | None = None
        self.attrs: Attributes | None = None
        self.user: UserInfo | None = None
        self.impersonated: UserInfo | None = None
        self.authentication_failed = False
        self.annotations: dict[str, str] = {}
        self.object_ref: dict[str, str] = {}
        self.status: dict[str, Any] | None = None
        self.request_object: Any = None
        self.response_object: Any = None
        self._body: list[bytes] | None = None
        self._started = False

    @property
    def active(self) -> bool:
        return self.config is not None and self.config.level != "None" and self.phase != "done"

    # -- admission of the request ------------------------------------------------------

    def authenticated(self, user: UserInfo, request: Request) -> None:
        """The requester is known: decide the level, write RequestReceived, and keep the
        body for the event when there is one."""
        self.phase = "authorizing"
        self.user = user
        self.attrs = self._attributes(user)
        self.config = self.policy.evaluate(user, self.attrs)
        if not self.active:
            return
        self.object_ref = _object_ref(self.attrs)
        if self.attrs.verb in _BODY_VERBS:
            self._body = []
            request.receive = self._tee(request.receive)
        self._emit("RequestReceived")

    def refused_credentials(self) -> None:
        """Authentication failed (401): audited without a user, as upstream's
        WithFailedAuthenticationAudit does."""
        self.phase = "serving"
        self.authentication_failed = True
        self.attrs = self._attributes(ANONYMOUS_USER)
        self.config = self.policy.evaluate(None, self.attrs)
        if self.active:
            self.object_ref = _object_ref(self.attrs)
            self.status = {"metadata": {}, "message": _auth_methods(self.request)}

    def decided(self, decision: Decision) -> None:
        self.annotations[DECISION_ANNOTATION] = "allow" if decision.allowed else "forbid"
        self.annotations[REASON_ANNOTATION] = decision.reason

    def admitted(self) -> None:
        """Authentication and authorization are done: later decisions are other work's."""
        self.phase = "serving"

    def annotate(self, key: str, value: str) -> None:
        self.annotations.setdefault(key, value)

    # -- the response ------------------------------------------------------------------

    def respond(self, result: Response | Streaming) -> None:
        """The response is about to be sent: record its status (and body), and write
        ResponseStarted for a long-running request, or for a refused credential."""
        if not self.active:
            return
        body = result.body if isinstance(result, Response) else b""
        self._record_response(result.status, body, result.content_type)
        if self.authentication_failed:
            self._start()
            self.phase = "done"
            return
        self._record_impersonation()
        self._record_request()
        if isinstance(result, Streaming) or self._long_running():
            self._start()

    def complete(self, failure: BaseException | None = None) -> None:
        """The response has been sent (or the request failed unexpectedly)."""
        if not self.active:
            return
        if failure is not None:
            self.status = {"metadata": {}, "status": "Failure",
                           "message": f"APIServer panic'd: {failure}", "reason": "InternalError",
                           "code": 500}
            self._emit("Panic")
        else:
            if self.status is None:
                self.status = {"metadata": {}, "status": "Success",
                               "message": "Connection closed early", "code": 200}
            self._emit("ResponseComplete")
        self.phase = "done"

    def websocket_send(self, send: Send) -> Send:
        """`send` of an upgraded request, recording the upgrade (101) or its refusal."""
        async def observed(message: Message) -> None:
            kind = message["type"]
            if kind in ("websocket.accept", "websocket.http.response.start"):
                message = {**message, "headers": [*message.get("headers", ()),
                                                  (b"audit-id", self.audit_id.encode())]}
                if self.active:
                    code = 101 if kind == "websocket.accept" else int(message["status"])
                    self._record_response(code, b"", "")
                    if not self.authentication_failed:
                        self._record_impersonation()
                        self._record_request()
                    self._start()
                    if self.authentication_failed:
                        self.phase = "done"
            elif kind == "websocket.http.response.body" and self.active:
                code = int(self.status["code"]) if self.status else 0
                self._record_response(code, bytes(message.get("body", b"")), "application/json")
            await send(message)

        return observed

    # -- building the event ------------------------------------------------------------

    def _attributes(self, user: UserInfo) -> Attributes:
        request = self.request
        method = "GET" if self.websocket else request.method
        return request_attributes(user, method, request.path, request.query,
                                  websocket=self.websocket)

    def _long_running(self) -> bool:
        attrs = self.attrs
        return attrs is not None and attrs.resource_request and (
            attrs.verb in _LONG_RUNNING_VERBS or attrs.subresource in _LONG_RUNNING_SUBRESOURCES)

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._emit("ResponseStarted")

    def _tee(self, receive: Receive) -> Receive:
        async def teed() -> Message:
            message = await receive()
            if message["type"] == "http.request" and self._body is not None:
                self._body.append(bytes(message.get("body", b"")))
            return message

        return teed

    def _record_impersonation(self) -> None:
        """Under impersonation the request runs as (requestcontext) the identity its
        Impersonate-User header names, not as the one that authenticated."""
        asked = self.request.header("impersonate-user")
        acting = requestcontext.current_user()
        if asked and acting.name == asked and acting != self.user:
            self.impersonated = acting

    def _record_request(self) -> None:
        """The request body: the object's identity into objectRef (as LogRequestObject),
        and the body itself at Request level and above."""
        if not self._body or self.config is None or self.attrs is None:
            return
        body, self._body = b"".join(self._body), None
        try:
            obj = decode_body(body, self.request.header("content-type"))
        except errors.StatusError:
            return
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        if isinstance(meta, dict) and self.attrs.verb != "patch":
            for field, key in (("namespace", "namespace"), ("name", "name"), ("uid", "uid"),
                               ("resourceVersion", "resourceVersion")):
                if not self.object_ref.get(field) and isinstance(meta.get(key), str) \
                        and meta[key]:
                    self.object_ref[field] = meta[key]
        if self.config.at_least("Request"):
            self.request_object = self._trimmed(obj)

    def _record_response(self, code: int, body: bytes, content_type: str) -> None:
        parsed: Any = None
        wants_body = self.config is not None and self.config.at_least("RequestResponse") \
            and content_type.startswith("application/json") and body
        if wants_body or body.startswith(_STATUS_PREFIX):
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError:
                parsed = None
        if self.authentication_failed and self.status is not None:
            # Upstream keeps the message naming the credentials tried.
            self.status["code"] = code
        elif isinstance(parsed, dict) and parsed.get("kind") == "Status":
            self.status = {"metadata": {}, **{k: parsed[k] for k in (
                "status", "message", "reason", "details") if parsed.get(k)}, "code": code}
        else:
            self.status = {"metadata": {}, "code": code}
        if wants_body and parsed is not None:
            self.response_object = self._trimmed(parsed)

    def _trimmed(self, obj: Any) -> Any:
        """`obj` without managedFields (its own and its items'), when the policy asks."""
        if self.config is None or not self.config.omit_managed_fields or \
                not isinstance(obj, dict):
            return obj
        trimmed = _without_managed_fields(obj)
        items = trimmed.get("items")
        if isinstance(items, list):
            trimmed["items"] = [_without_managed_fields(i) if isinstance(i, dict) else i
                                for i in items]
        return trimmed

    def _emit(self, stage: str) -> None:
        config = self.config
        if config is None or stage in config.omit_stages:
            return
        request = self.request
        event: dict[str, Any] = {
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": config.level,
            "auditID": self.audit_id, "stage": stage, "requestURI": _request_uri(request),
            "verb": self.attrs.verb if self.attrs is not None else request.method.lower(),
            "user": _user_info(None if self.authentication_failed else self.user),
        }
        if self.impersonated is not None:
            event["impersonatedUser"] = _user_info(self.impersonated)
        ips = source_ips(request)
        if ips:
            event["sourceIPs"] = ips
        agent = request.header("user-agent")
        if agent:
            event["userAgent"] = agent if len(agent) <= _MAX_USER_AGENT \
                else agent[:_MAX_USER_AGENT] + "...TRUNCATED"
        if self.object_ref:
            event["objectRef"] = _ordered_ref(self.object_ref)
        if self.status is not None and stage != "RequestReceived":
            event["responseStatus"] = self.status
        if self.request_object is not None:
            event["requestObject"] = self.request_object
        if self.response_object is not None:
            event["responseObject"] = self.response_object
        event["requestReceivedTimestamp"] = _micro_time(self.received)
        event["stageTimestamp"] = _micro_time(
            self.received if stage == "RequestReceived" else time.time())
        if self.annotations:
            event["annotations"] = dict(self.annotations)
        self.write(orjson.dumps(event) + b"\n")


def _object_ref(attrs: Attributes) -> dict[str, str]:
    if not attrs.resource_request:
        return {}
    ref = {"resource": attrs.resource, "namespace": attrs.namespace, "name": attrs.name,
           "apiGroup": attrs.api_group, "apiVersion": attrs.api_version,
           "subresource": attrs.subresource}
    return {k: v for k, v in ref.items() if v}


_REF_ORDER = ("resource", "namespace", "name", "uid", "apiGroup", "apiVersion",
              "resourceVersion", "subresource")


def _ordered_ref(ref: dict[str, str]) -> dict[str, str]:
    return {k: ref[k] for k in _REF_ORDER if ref.get(k)}


def _user_info(user: UserInfo | None) -> dict[str, Any]:
    return {} if user is None else user.fields()


def _without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


def _request_uri(request: Request) -> str:
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) and raw else request.path
    query = request.scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


def _micro_time(seconds: float) -> str:
    """metav1.MicroTime: RFC 3339 in UTC with microseconds."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def source_ips(request: Request) -> list[str]:
    """Where the request came from, as upstream's utilnet.SourceIPs: X-Forwarded-For's
    addresses, X-Real-Ip unless already listed, then the peer unless it is the last one."""
    found: list[str] = []
    for part in request.header("x-forwarded-for").split(","):
        ip = _ip(part) if part.strip() else None
        if ip is not None:
            found.append(ip)
    real = request.header("x-real-ip")
    real_ip = _ip(real) if real else None
    if real_ip is not None and real_ip not in found:
        found.append(real_ip)
    client = request.scope.get("client")
    peer = _ip(str(client[0])) if client else None
    if peer is not None and (not found or found[-1] != peer):
        found.append(peer)
    return found


def _auth_methods(request: Request) -> str:
    """The credentials a refused request tried (upstream's getAuthMethods)."""
    methods = []
    parts = request.header("authorization").strip().split(" ")
    if len(parts) > 1 and parts[0] == "Basic":
        methods.append("basic")
    if len(parts) > 1 and parts[0].lower() == "bearer":
        methods.append("bearer")
    if request.query.get("access_token", "").strip():
        methods.append("access_token")
    if client_certificate(request.scope) is not None:
        methods.append("x509")
    if methods:
        return f"Authentication failed, attempted: {', '.join(methods)}"
    return "Authentication failed, no credentials provided"
