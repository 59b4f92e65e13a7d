"""The CertificateSigningRequest REST strategy (upstream's
`pkg/registry/certificates/certificates/strategy.go`) and its `/approval` subresource.

- **Create**: `spec.username`, `uid`, `groups` and `extra` are the requester's, whatever the
  body said, and the status starts empty: nobody creates a pre-approved request.
- **Main endpoint update**: spec and status are kept; only metadata changes.
- **`/status`**: spec is kept and existing Approved/Denied conditions are preserved, so a
  signer writes `status.certificate` and Failed conditions, never an approval.
- **`/approval`**: only the conditions change (spec and certificate are kept): this is
  where `kubectl certificate approve|deny` writes.

Conditions get `lastUpdateTime` and `lastTransitionTime` when missing. The generic store
runs the strategy through its admission chain hooks: `admit` prepares, `validate`
validates (`csrvalidation`), first in the chain as upstream's strategy precedes admission.
The `/approval` handler is registered in `ResourceHandlers.subresources`.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from kybernetes.api import certificates as csrs
from kybernetes.api import errors, timeutil
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver import csrvalidation
from kybernetes.apiserver import patch as patches
from kybernetes.apiserver.admission import certificates as csr_admission
from kybernetes.apiserver.admission.chain import AdmissionRequest, Phase, Target
from kybernetes.apiserver.http import Request, Response, json_response
from kybernetes.apiserver.negotiation import decode_body, encode_yaml, negotiate
from kybernetes.apiserver.routing import ResourcePath
from kybernetes.apiserver.store import ObjectStore

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

RESOURCE = "certificatesigningrequests"
Obj = dict[str, Any]


def _status(csr: Obj) -> Obj:
    status = csr.get("status")
    if not isinstance(status, dict):
        status = {}
        csr["status"] = status
    return status


def _conditions(csr: Obj) -> list[Any]:
    found = _status(csr).get("conditions")
    return found if isinstance(found, list) else []


def prepare_for_create(csr: Obj, request: AdmissionRequest) -> None:
    spec = csr.setdefault("spec", {})
    for name in ("username", "uid", "groups", "extra"):
        spec.pop(name, None)
    spec.update(request.user.fields())
    csr["status"] = {}


def _preserve_instances(new: Obj, old: Obj, kind: str) -> None:
    """Upstream's `preserveConditionInstances`: the old conditions of `kind` replace the
    new ones when as many are present (else validation reports the change)."""
    new_conditions, old_conditions = _conditions(new), _conditions(old)
    new_at = [i for i, c in enumerate(new_conditions) if isinstance(c, dict)
              and c.get("type") == kind]
    old_at = [i for i, c in enumerate(old_conditions) if isinstance(c, dict)
              and c.get("type") == kind]
    if len(new_at) != len(old_at):
        return
    for n, o in zip(new_at, old_at, strict=True):
        new_conditions[n] = copy.deepcopy(old_conditions[o])


def _populate_timestamps(new: Obj, old: Obj) -> None:
    """Upstream's `populateConditionTimestamps`: a missing lastUpdateTime is now; a missing
    lastTransitionTime is the old one of a condition with the same type and status, else
    now."""
    now = timeutil.now_rfc3339()
    for cond in _conditions(new):
        if not isinstance(cond, dict):
            continue
        if not cond.get("lastUpdateTime"):
            cond["lastUpdateTime"] = now
        if cond.get("lastTransitionTime"):
            continue
        cond["lastTransitionTime"] = next(
            (o["lastTransitionTime"] for o in _conditions(old) if isinstance(o, dict)
             and o.get("type") == cond.get("type") and o.get("status") == cond.get("status")
             and o.get("lastTransitionTime")), now)


def prepare_for_update(new: Obj, old: Obj, subresource: str) -> None:
    new["spec"] = copy.deepcopy(old.get("spec") or {})
    if subresource == "status":
        _preserve_instances(new, old, csrs.APPROVED)
        _preserve_instances(new, old, csrs.DENIED)
        _populate_timestamps(new, old)
    elif subresource == "approval":
        _populate_timestamps(new, old)
        conditions = _status(new).get("conditions")
        new["status"] = copy.deepcopy(old.get("status") or {})
        if conditions:
            new["status"]["conditions"] = conditions
        else:
            new["status"].pop("conditions", None)
    else:
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)


class CsrStrategy:
    """The strategy, run by the store's admission chain (first in it)."""

    name = "CertificateSigningRequestStrategy"

    @staticmethod
    def _applies(request: AdmissionRequest) -> bool:
        return request.info.group == csrs.GROUP and request.info.plural == RESOURCE

    @staticmethod
    def handles(target: Target) -> Phase:
        return Phase.BOTH if (target.group, target.resource) == (csrs.GROUP, RESOURCE) \
            else Phase.NONE

    async def admit(self, request: AdmissionRequest) -> None:
        if not self._applies(request) or request.obj is None:
            return
        if request.operation == "CREATE":
            prepare_for_create(request.obj, request)
        elif request.operation == "UPDATE" and request.old is not None:
            prepare_for_update(request.obj, request.old, request.subresource)

    async def validate(self, request: AdmissionRequest) -> None:
        if not self._applies(request) or request.obj is None:
            return
        if request.operation == "CREATE":
            failures = csrvalidation.validate_create(request.obj)
        elif request.operation == "UPDATE" and request.old is not None:
            failures = csrvalidation.validate_update(
                request.obj, request.old, approval=request.subresource == "approval",
                status=request.subresource == "status")
        else:
            return
        if failures:
            raise errors.invalid(csrs.GROUP, "CertificateSigningRequest", request.name,
                                 failures)


class ApprovalHandler:
    """GET, PUT and PATCH of `certificatesigningrequests/<name>/approval`."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def __call__(self, request: Request, info: ResourceInfo, path: ResourcePath
                       ) -> Response:
        wanted = negotiate(request.header("accept"))
        dry_run = _dry_run(request.query)
        manager = request.query.get("fieldManager") or \
            request.header("user-agent").split("/", 1)[0][:128] or "unknown"
        if request.method == "GET":
            obj = (await self.store.get(info, "", path.name)).obj
        elif request.method == "PUT":
            body = _object(decode_body(await request.body(), request.header("content-type")),
                           info)
            obj = await self.store.update(info, "", path.name, body, subresource="approval",
                                          dry_run=dry_run, manager=manager)
        elif request.method == "PATCH" and not patches.is_apply(request.header("content-type")):
            kind = patches.patch_type(request.header("content-type"))
            document = decode_body(await request.body(), request.header("content-type"))
            obj = await self.store.modify(
                info, "", path.name,
                lambda current: _object(patches.apply_patch(info, kind, current, document),
                                        info),
                subresource="approval", dry_run=dry_run, manager=manager)
        else:
            raise errors.method_not_allowed(
                "the server does not allow this method on the requested resource")
        if wanted.yaml:
            return Response(200, encode_yaml(obj), "application/yaml")
        return json_response(obj)


def _dry_run(query: dict[str, str]) -> bool:
    value = query.get("dryRun", "")
    if value and value != "All":
        raise errors.bad_request(f'unsupported dryRun value "{value}": must be "All"')
    return value == "All"


def _object(body: Any, info: ResourceInfo) -> Obj:
    if not isinstance(body, dict):
        raise errors.bad_request(
            f"Object '{info.kind}' is invalid: the body must be a JSON object")
    if body.get("apiVersion", info.group_version) != info.group_version or \
            body.get("kind", info.kind) != info.kind:
        raise errors.bad_request(
            f"the kind in the data ({body.get('kind')}) does not match the expected kind "
            f"({info.kind})")
    body["apiVersion"], body["kind"] = info.group_version, info.kind
    return body


def install(server: ApiServer) -> None:
    """The strategy first in the store's chain, upstream's certificate admission plugins
    (CertificateApproval, CertificateSigning, CertificateSubjectRestriction, unless
    disabled) last, and the `/approval` handler."""
    chain = server.store.admission
    disabled = set(server.config.disable_admission_plugins)
    chain.plugins = [CsrStrategy(), *chain.plugins,
                     *(p for p in csr_admission.plugins(server.app.authorizer)
                       if p.name not in disabled)]
    server.app.resources.subresources[(csrs.GROUP, RESOURCE, "approval")] = \
        ApprovalHandler(server.store)
