"""Calling a webhook: the AdmissionReview v1 it is sent, the HTTPS POST to its
clientConfig and the checks on its answer (upstream's `webhook/request` and
`webhook/util/client_config.go`).

`clientConfig.url` is called as given. `clientConfig.service` is resolved the way upstream
does with `--enable-aggregator-routing`: to a ready endpoint of the Service's
EndpointSlices (the API server cannot count on reaching ClusterIPs from its own process
here), the certificate still checked against `<name>.<namespace>.svc`; an ExternalName
Service to its external name. The server is verified with `caBundle` (the system roots
without one). `?timeout=<n>s` is added to the path as upstream does; a call that takes
longer fails.

Failures raise `CallError` with upstream's reason text (the dispatcher names the webhook
and applies its failurePolicy). `post` is the HTTPS call alone, which CRD conversion
webhooks (apiserver/crdconversion.py) share.
"""

from __future__ import annotations

import base64
import binascii
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver.admission import lookup
from kybernetes.apiserver.admission.webhooks.configurations import Webhook
from kybernetes.apiserver.store import ObjectStore

REVIEW_API_VERSION = "admission.k8s.io/v1"
_SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# Clients kept, one per caBundle (each holds its TLS context and connections).
_MAX_CLIENTS = 64


class CallError(Exception):
    """The webhook could not be called, or answered nonsense (failurePolicy applies)."""


class PostError(CallError):
    """The POST got no 2xx answer."""


@dataclass(frozen=True)
class Target:
    url: str
    # The host name the server's certificate must carry when it differs from the URL's.
    server_name: str = ""


def _tls_context(ca_bundle: str) -> ssl.SSLContext:
    if not ca_bundle:
        return ssl.create_default_context()
    try:
        pem = base64.b64decode(ca_bundle, validate=True).decode()
        return ssl.create_default_context(cadata=pem)
    except (binascii.Error, UnicodeDecodeError, ssl.SSLError) as err:
        raise CallError(f"could not get REST client: unable to load root certificates: "
                        f"{err}") from None


def _go_error(url: str, err: httpx.HTTPError) -> str:
    """An httpx failure in the words Go's HTTP client uses for it."""
    prefix = f"Post {_quote(url)}"
    if isinstance(err, httpx.TimeoutException):
        return f"{prefix}: context deadline exceeded"
    text = str(err) or type(err).__name__
    if isinstance(err, httpx.ConnectError):
        parts = urlsplit(url)
        if "CERTIFICATE_VERIFY_FAILED" in text:
            return f"{prefix}: tls: failed to verify certificate: {text}"
        if "refused" in text or "All connection attempts failed" in text:
            return f"{prefix}: dial tcp {parts.netloc}: connect: connection refused"
    return f"{prefix}: {text}"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class WebhookClient:
    def __init__(self, store: ObjectStore, services: ResourceInfo, slices: ResourceInfo
                 ) -> None:
        self.store = store
        self.services = services
        self.slices = slices
        self._clients: dict[str, httpx.AsyncClient] = {}

    def _client(self, ca_bundle: str) -> httpx.AsyncClient:
        client = self._clients.get(ca_bundle)
        if client is None:
            if len(self._clients) >= _MAX_CLIENTS:
                self._clients.pop(next(iter(self._clients)))
            client = httpx.AsyncClient(verify=_tls_context(ca_bundle), trust_env=False)
            self._clients[ca_bundle] = client
        return client

    async def target(self, config: dict[str, Any], timeout_seconds: float) -> Target:
        """Where a webhook's clientConfig points, with upstream's `?timeout=` added."""
        timeout = f"timeout={int(timeout_seconds)}s"
        url = config.get("url")
        if isinstance(url, str) and url:
            return Target(f"{url}{'&' if '?' in url else '?'}{timeout}")
        service = config.get("service") or {}
        namespace, name = str(service.get("namespace", "")), str(service.get("name", ""))
        port = service.get("port") or 443
        path = str(service.get("path") or "")
        try:
            host, host_port = await resolve_service(self.store, self.services, self.slices,
                                                     namespace, name, int(port))
        except LookupError as err:
            raise CallError(f"could not get REST client: {err}") from None
        return Target(f"https://{host}:{host_port}{path}?{timeout}", f"{name}.{namespace}.svc")

    async def call(self, hook: Webhook, review: dict[str, Any]) -> dict[str, Any]:
        """POST the review; the checked `response` of the answer."""
        try:
            content = await self.post(hook.client_config, hook.timeout, review)
        except PostError as err:
            raise CallError(f"failed to call webhook: {err}") from None
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError as err:
            raise CallError(f"received invalid webhook response: {err}") from None
        return verify_response(body, review["request"]["uid"], mutating=hook.mutating)

    async def post(self, config: dict[str, Any], seconds: float, review: dict[str, Any]
                   ) -> bytes:
        """POST a review to a webhook's clientConfig (admission, CRD conversion); the body
        of a 2xx answer. PostError says why there is none, in Go's HTTP client's words."""
        target = await self.target(config, seconds)
        client = self._client(str(config.get("caBundle") or ""))
        extensions = {"sni_hostname": target.server_name} if target.server_name else {}
        try:
            answer = await client.post(
                target.url, content=orjson.dumps(review), timeout=seconds,
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                extensions=extensions)
        except httpx.HTTPError as err:
            raise PostError(_go_error(target.url, err)) from None
        if not 200 <= answer.status_code < 300:
            raise PostError(f"the server responded with the status code {answer.status_code} "
                            "but did not return more information")
        return answer.content


async def resolve_service(store: ObjectStore, services: ResourceInfo, slices: ResourceInfo,
                          namespace: str, name: str, port: int) -> tuple[str, int]:
    """Upstream's ResolveEndpoint: a ready endpoint address and the target port of the
    Service port `port` (also how the aggregator reaches an APIService's Service)."""
    svc = lookup.cached(store, services, namespace, name) or \
        await lookup.live(store, services, namespace, name)
    if svc is None:
        raise LookupError(f'service "{name}" not found')
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return str(spec.get("externalName", "")), port
    svc_port = next((p for p in spec.get("ports") or () if p.get("port") == port), None)
    if svc_port is None:
        raise LookupError(f'no service port {port} found for service "{name}"')
    port_name = svc_port.get("name") or ""
    for eps in lookup.cached_list(store, slices, namespace):
        if ((eps.get("metadata") or {}).get("labels") or {}).get(_SERVICE_NAME_LABEL) \
                != name:
            continue
        target = next((p.get("port") for p in eps.get("ports") or ()
                       if (p.get("name") or "") == port_name), None)
        if not isinstance(target, int):
            continue
        for endpoint in eps.get("endpoints") or ():
            ready = (endpoint.get("conditions") or {}).get("ready")
            addresses = endpoint.get("addresses") or ()
            if ready is not False and addresses:
                address = str(addresses[0])
                return (f"[{address}]" if ":" in address else address), target
    raise LookupError(f'no endpoints available for service "{name}"')


def verify_response(body: Any, uid: str, *, mutating: bool) -> dict[str, Any]:
    """Upstream's VerifyAdmissionResponse for v1."""
    def invalid(why: str) -> CallError:
        return CallError(f"received invalid webhook response: {why}")

    if not isinstance(body, dict) or body.get("apiVersion") != REVIEW_API_VERSION or \
            body.get("kind") != "AdmissionReview":
        got = body if not isinstance(body, dict) else \
            f"{body.get('apiVersion', '')}, Kind={body.get('kind', '')}"
        raise invalid(f"expected webhook response of {REVIEW_API_VERSION}, "
                      f"Kind=AdmissionReview, got {got}")
    response = body.get("response")
    if not isinstance(response, dict):
        raise invalid("webhook response was absent")
    if response.get("uid") != uid:
        raise invalid(f'expected response.uid="{uid}", got "{response.get("uid", "")}"')
    patch_type, patch = response.get("patchType") or "", response.get("patch") or ""
    if mutating:
        if patch and patch_type != "JSONPatch":
            raise invalid(f'response.patchType must be "JSONPatch", got "{patch_type}"')
        if patch_type and not patch:
            raise invalid(f'webhook returned response.patchType="{patch_type}" but not '
                          "response.patch")
    elif patch or patch_type:
        raise invalid("validating webhook may not return response.patch or "
                      "response.patchType")
    return response
