"""TokenRequest: `POST .../serviceaccounts/<name>/token` issues a signed token for the
service account (upstream's `pkg/registry/core/serviceaccount/storage/token.go`).

The body is an `authentication.k8s.io/v1` TokenRequest. Its lifetime defaults to an hour,
must be at least ten minutes, and is shortened to `--service-account-max-token-expiration`
(with a warning); its audiences default to the API's. A `boundObjectRef` (a Pod running as
this service account, a Secret, or a Node) ties the token to that object: deleting the
object invalidates the token. The answer is the request with `status.token` and
`status.expirationTimestamp`, 201 Created. Admission sees it as a create of the
`serviceaccounts/token` subresource, as upstream's NodeRestriction expects.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from kybernetes.api import errors, schema, timeutil
from kybernetes.api.registry import Registry, ResourceInfo
from kybernetes.api.validation.schemacheck import check_schema, decode_error_message
from kybernetes.apiserver import requestcontext
from kybernetes.apiserver.admission.chain import AdmissionRequest
from kybernetes.apiserver.authn.jws import SigningKey
from kybernetes.apiserver.authn.serviceaccount import (
    EXPIRATION_EXTENSION_SECONDS,
    WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS,
    Ref,
    claims,
    object_ref,
)
from kybernetes.apiserver.http import Request, Response, json_response
from kybernetes.apiserver.negotiation import decode_body
from kybernetes.apiserver.routing import ResourcePath
from kybernetes.apiserver.store import ObjectStore

GROUP = "authentication.k8s.io"
API_VERSION = f"{GROUP}/v1"
KIND = "TokenRequest"
DEFAULT_EXPIRATION_SECONDS = 3600
MIN_EXPIRATION_SECONDS = 10 * 60
MAX_EXPIRATION_SECONDS = 1 << 32


def _rfc3339(seconds: float) -> str:
    return timeutil.rfc3339(datetime.fromtimestamp(seconds, UTC))


def _invalid(name: str, failures: list[errors.FieldError]) -> errors.StatusError:
    return errors.invalid(GROUP, KIND, name, failures)


def _decode(raw: bytes, content_type: str) -> dict[str, Any]:
    body = decode_body(raw, content_type)
    if not isinstance(body, dict):
        raise errors.bad_request(f"Object '{KIND}' is invalid: the body must be a JSON object")
    if body.get("apiVersion", API_VERSION) != API_VERSION or body.get("kind", KIND) != KIND:
        raise errors.bad_request(
            f"the API version in the data ({body.get('apiVersion')}) and kind "
            f"({body.get('kind')}) do not match the expected {API_VERSION}, Kind={KIND}")
    definition = schema.definition_for_kind(GROUP, "v1", KIND)
    if definition is not None:
        _, type_errors = check_schema(body, schema.definitions()[definition])
        if type_errors:
            raise errors.bad_request(decode_error_message(KIND, "v1", type_errors[0]))
    return body


class TokenRequestHandler:
    def __init__(self, store: ObjectStore, registry: Registry, *, issuer: str,
                 key: Callable[[], SigningKey], audiences: Sequence[str],
                 max_expiration_seconds: int = 0, clock: Callable[[], float] = time.time
                 ) -> None:
        self.store = store
        self.issuer = issuer
        self.key = key
        self.audiences = list(audiences)
        self.max_expiration_seconds = max_expiration_seconds
        self.clock = clock
        self.infos = {plural: info for plural in ("pods", "secrets", "nodes")
                      if (info := registry.get("", "v1", plural)) is not None}

    async def __call__(self, request: Request, info: ResourceInfo, path: ResourcePath
                       ) -> Response:
        if request.method != "POST" or not path.name:
            raise errors.method_not_allowed(
                "the server does not allow this method on the requested resource")
        body = _decode(await request.body(), request.header("content-type"))
        review = AdmissionRequest("CREATE", info, path.namespace, path.name, body,
                                  subresource="token")
        await self.store.admission.admit(review)
        answer = await self._create(info, path.namespace, path.name, review.obj or body, review)
        return json_response(answer, 201)

    async def _create(self, info: ResourceInfo, namespace: str, name: str,
                      body: dict[str, Any], review: AdmissionRequest) -> dict[str, Any]:
        meta = body.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise _invalid(name, [errors.FieldError.invalid(
                "metadata.name", meta["name"], "must match the service account name if "
                "specified")])
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise _invalid(name, [errors.FieldError.invalid(
                "metadata.namespace", meta["namespace"], "must match the service account "
                "namespace if specified")])
        account = (await self.store.get(info, namespace, name)).obj
        given = body.get("spec") or {}
        spec: dict[str, Any] = {
            "audiences": list(given.get("audiences") or self.audiences),
            "expirationSeconds": DEFAULT_EXPIRATION_SECONDS
            if given.get("expirationSeconds") is None else given["expirationSeconds"]}
        ref = given.get("boundObjectRef")
        if ref:
            spec["boundObjectRef"] = {k: ref[k] for k in ("kind", "apiVersion", "name", "uid")
                                      if ref.get(k)}
        now = self.clock()
        review.obj = answer = {
            "kind": KIND, "apiVersion": API_VERSION,
            "metadata": {**meta, "name": name, "namespace": namespace,
                         "creationTimestamp": _rfc3339(now)},
            "spec": spec}
        _validate(spec)
        await self.store.admission.validate(review)
        pod, secret, node = await self._bound(namespace, name, spec.get("boundObjectRef"))
        seconds = int(spec["expirationSeconds"])
        if self.max_expiration_seconds and seconds > self.max_expiration_seconds:
            requestcontext.add_warning(f"requested expiration of {seconds} seconds shortened "
                                       f"to {self.max_expiration_seconds} seconds")
            seconds = spec["expirationSeconds"] = self.max_expiration_seconds
        lifetime, warn_after = seconds, 0
        if pod is not None and seconds == WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS and \
                set(spec["audiences"]) <= set(self.audiences):
            lifetime, warn_after = EXPIRATION_EXTENSION_SECONDS, seconds
        token = self.key().sign(claims(
            issuer=self.issuer, namespace=namespace,
            service_account=object_ref(name, account["metadata"].get("uid", "")),
            audiences=spec["audiences"], issued_at=int(now), expiration_seconds=lifetime,
            jti=str(uuid.uuid4()), warn_after_seconds=warn_after, pod=pod, secret=secret,
            node=node))
        answer["status"] = {"token": token, "expirationTimestamp": _rfc3339(int(now) + seconds)}
        return answer

    async def _bound(self, namespace: str, name: str, ref: dict[str, Any] | None
                     ) -> tuple[Ref | None, Ref | None, Ref | None]:
        """(pod, secret, node) references of the object the token is bound to."""
        if not ref:
            return None, None, None
        api_version, kind = str(ref.get("apiVersion", "")), str(ref.get("kind", ""))
        group, _, version = api_version.rpartition("/")
        target = str(ref.get("name", ""))
        pod = secret = node = None
        if group == "" and kind == "Pod":
            found = (await self.store.get(self.infos["pods"], namespace, target)).obj
            if (found.get("spec") or {}).get("serviceAccountName") != name:
                raise errors.bad_request(f'cannot bind token for serviceaccount "{name}" to pod '
                                         "running with different serviceaccount name.")
            pod = object_ref(target, found["metadata"].get("uid", ""))
            node_name = (found.get("spec") or {}).get("nodeName") or ""
            if node_name:
                cached = self.store.cache.get(self.infos["nodes"].key("", node_name))
                node = object_ref(node_name, "" if cached is None else
                                  cached.obj["metadata"].get("uid", ""))
        elif group == "" and kind == "Node":
            found = (await self.store.get(self.infos["nodes"], "", target)).obj
            node = object_ref(target, found["metadata"].get("uid", ""))
        elif group == "" and kind == "Secret":
            found = (await self.store.get(self.infos["secrets"], namespace, target)).obj
            secret = object_ref(target, found["metadata"].get("uid", ""))
        else:
            raise errors.bad_request(
                f"cannot bind token to object of type {group}/{version}, Kind={kind}")
        uid, wanted = found["metadata"].get("uid", ""), ref.get("uid")
        if wanted and wanted != uid:
            raise errors.conflict(group, kind, target, (
                f"the UID in the bound object reference ({wanted}) does not match the UID in "
                "record. The object might have been deleted and then recreated"))
        return pod, secret, node


def _validate(spec: dict[str, Any]) -> None:
    """Upstream's `ValidateTokenRequest`."""
    seconds = spec["expirationSeconds"]
    failures: list[errors.FieldError] = []
    if seconds < MIN_EXPIRATION_SECONDS:
        failures.append(errors.FieldError.invalid(
            "spec.expirationSeconds", seconds, "may not specify a duration less than 10 "
            "minutes"))
    if seconds > MAX_EXPIRATION_SECONDS:
        failures.append(errors.FieldError.invalid(
            "spec.expirationSeconds", seconds, "may not specify a duration larger than 2^32 "
            "seconds"))
    if failures:
        raise _invalid("", failures)
