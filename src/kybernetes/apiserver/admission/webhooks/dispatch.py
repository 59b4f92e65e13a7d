"""The MutatingAdmissionWebhook and ValidatingAdmissionWebhook plugins (upstream's
`webhook/mutating/dispatcher.go` and `webhook/validating/dispatcher.go`).

For each webhook that applies (`matching`; a matchCondition that cannot be evaluated
refuses as Forbidden under failurePolicy Fail): a dry-run request is refused by a webhook
whose sideEffects are not None/NoneOnDryRun; otherwise it is called (`client`). A call
that fails (unreachable, timeout, bad answer) is skipped under failurePolicy Ignore and
refuses the request under Fail with upstream's
`Internal error occurred: failed calling webhook "<name>": <why>`. A denial
refuses with `admission webhook "<name>" denied the request: <message>` and the
webhook's code (at least 400). Warnings go to the response's Warning headers.

Mutating webhooks run in order, their JSONPatches applied one after the other; when one
changes the object, the IfNeeded webhooks called before it are called once more after
the pass (upstream's reinvocation; a webhook not called in the first pass is never called
in the second). Validating webhooks run in parallel.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jsonpatch
import orjson

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver import requestcontext
from kybernetes.apiserver.admission import lookup
from kybernetes.apiserver.admission.chain import AdmissionRequest, Phase, Target
from kybernetes.apiserver.admission.webhooks import matching
from kybernetes.apiserver.admission.webhooks.client import CallError, WebhookClient
from kybernetes.apiserver.admission.webhooks.configurations import Configurations, Webhook
from kybernetes.apiserver.admission.webhooks.review import View, admission_review

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

GROUP = "admissionregistration.k8s.io"


@dataclass(frozen=True)
class Invocation:
    """A webhook that takes the request, the version it sees it as, and its review."""

    hook: Webhook
    view: View
    review: dict[str, Any]


def call_failed(hook: Webhook, why: str) -> errors.StatusError:
    """Upstream's ErrCallingWebhook as the InternalError a failing-closed call is."""
    reason = f"failed calling webhook {_quote(hook.name)}: {why}"
    return errors.StatusError(500, "InternalError", f"Internal error occurred: {reason}",
                              {"causes": [{"message": reason}]})


def denied(hook: Webhook, result: Any) -> errors.StatusError:
    """Upstream's ToStatusErr."""
    status = result if isinstance(result, dict) else {}
    code = status.get("code")
    code = code if isinstance(code, int) and code >= 400 else 400
    message, reason = str(status.get("message") or ""), str(status.get("reason") or "")
    prefix = f"admission webhook {_quote(hook.name)} denied the request"
    text = f"{prefix}: {message}" if message else f"{prefix}: {reason}" if reason \
        else f"{prefix} without explanation"
    details = status.get("details")
    return errors.StatusError(code, reason, text, details if isinstance(details, dict) else {})


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Dispatcher:
    """What both plugins share: the configurations, matching, and one call."""

    name = ""
    mutating = False

    def __init__(self, server: ApiServer) -> None:
        resource = "mutatingwebhookconfigurations" if self.mutating \
            else "validatingwebhookconfigurations"
        self.registry = server.registry
        self.store = server.store
        configs = self._info(GROUP, resource)
        self.configurations = Configurations(server.store, configs, mutating=self.mutating)
        self.namespaces = self._info("", "namespaces")
        self.client = WebhookClient(server.store, self._info("", "services"),
                                    self._info("discovery.k8s.io", "endpointslices"))

    def _info(self, group: str, resource: str) -> ResourceInfo:
        info = self.registry.get(group, "v1", resource)
        assert info is not None, resource
        return info

    def _versions(self, request: AdmissionRequest) -> list[str]:
        return [v for v in self.registry.group_versions().get(request.group, ())
                if self.registry.get(request.group, v, request.resource) is not None]

    async def _namespace_labels(self, request: AdmissionRequest) -> dict[str, str]:
        own = matching.own_namespace_labels(request)
        if own is not None:
            return own
        ns = lookup.cached(self.store, self.namespaces, "", request.namespace) or \
            await lookup.live(self.store, self.namespaces, "", request.namespace)
        if ns is None:
            raise errors.not_found("", "namespaces", request.namespace)
        labels = (ns.get("metadata") or {}).get("labels") or {}
        return labels if isinstance(labels, dict) else {}

    def hooks(self, request: AdmissionRequest) -> tuple[Webhook, ...]:
        return () if matching.exempt(request) else self.configurations.webhooks()

    async def should_call(self, hook: Webhook, request: AdmissionRequest
                          ) -> Invocation | None:
        """Upstream's ShouldCallHook: rules and matchPolicy, then the selectors, then the
        matchConditions, against the request as it is now; the invocation or None."""
        version = matching.matched_version(hook.match, request, self._versions(request))
        if version is None:
            return None
        try:
            if not matching.object_selector_matches(hook.match, request):
                return None
            if matching.needs_namespace_labels(hook.match, request) and \
                    not matching.namespace_selector_matches(
                        hook.match, await self._namespace_labels(request)):
                return None
        except matching.MatchError as err:
            raise errors.internal(f"Internal error occurred: {err}") from None
        view = View(self.registry.get(request.group, version, request.resource)
                    or request.info)
        review = admission_review(request, view)
        body = review["request"]
        try:
            variables = {"object": body["object"], "oldObject": body["oldObject"],
                         "request": body}
            if not matching.conditions_match(hook.conditions, variables,
                                             fail_closed=hook.fail_closed):
                return None
        except matching.MatchError as err:
            raise request.forbidden(str(err)) from None
        return Invocation(hook, view, review)

    async def call(self, invocation: Invocation, request: AdmissionRequest
                   ) -> dict[str, Any] | None:
        """The webhook's response, or None when the call failed under failurePolicy
        Ignore. Raises what refuses the request."""
        hook = invocation.hook
        if request.dry_run and hook.side_effects not in ("None", "NoneOnDryRun"):
            raise errors.bad_request(
                f"admission webhook {_quote(hook.name)} does not support dry run")
        try:
            response = await self.client.call(hook, invocation.review)
        except CallError as err:
            if hook.fail_closed:
                raise call_failed(hook, str(err)) from None
            return None
        for warning in response.get("warnings") or ():
            if isinstance(warning, str) and warning:
                requestcontext.add_warning(warning)
        if response.get("allowed") is not True:
            raise denied(hook, response.get("status"))
        return response


class MutatingAdmissionWebhook(_Dispatcher):
    name = "MutatingAdmissionWebhook"
    mutating = True

    @staticmethod
    def handles(target: Target) -> Phase:
        # Which webhooks match changes with their configurations: decided per request.
        return Phase.ADMIT

    async def admit(self, request: AdmissionRequest) -> None:
        hooks = self.hooks(request)
        if not hooks:
            return
        # IfNeeded webhooks called since the object last changed, and those to call again.
        invoked: list[str] = []
        reinvoke: set[str] = set()
        for hook in hooks:
            invocation = await self.should_call(hook, request)
            if invocation is None:
                continue
            if await self._mutate(invocation, request):
                reinvoke.update(invoked)
                invoked.clear()
            if hook.reinvoke:
                invoked.append(hook.uid)
        if not reinvoke:
            return
        # The second round: only webhooks called in the first one, once each.
        for hook in hooks:
            if hook.uid in reinvoke:
                invocation = await self.should_call(hook, request)
                if invocation is not None:
                    await self._mutate(invocation, request)

    async def _mutate(self, invocation: Invocation, request: AdmissionRequest) -> bool:
        """Call one webhook and apply its patch; whether the object changed."""
        response = await self.call(invocation, request)
        if response is None or not response.get("patch") or request.obj is None:
            return False
        try:
            patch = orjson.loads(base64.b64decode(response["patch"], validate=True))
            current = invocation.review["request"]["object"]
            patched = jsonpatch.JsonPatch(patch).apply(current)
        except (binascii.Error, orjson.JSONDecodeError, jsonpatch.JsonPatchException,
                jsonpatch.JsonPointerException, TypeError, ValueError) as err:
            raise errors.StatusError(500, "InternalError", f"Internal error occurred: {err}",
                                     {"causes": [{"message": str(err)}]}) from None
        if not isinstance(patched, dict):
            raise errors.internal("Internal error occurred: the patched object is not an "
                                  "object")
        stored = invocation.view.back(request, patched)
        if stored == request.obj:
            return False
        request.obj.clear()
        request.obj.update(stored)
        return True

    async def validate(self, request: AdmissionRequest) -> None:
        return None


class ValidatingAdmissionWebhook(_Dispatcher):
    name = "ValidatingAdmissionWebhook"

    @staticmethod
    def handles(target: Target) -> Phase:
        return Phase.VALIDATE

    async def admit(self, request: AdmissionRequest) -> None:
        return None

    async def validate(self, request: AdmissionRequest) -> None:
        hooks = self.hooks(request)
        if not hooks:
            return
        invocations = [i for i in [await self.should_call(h, request) for h in hooks] if i]
        results = await asyncio.gather(*(self.call(i, request) for i in invocations),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
