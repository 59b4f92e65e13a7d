"""The `PodSecurity` admission plugin (`pod-security-admission/admission`): the namespace
labels choose a level and version for each mode; `enforce` refuses a pod that violates it,
`audit` annotates the request's audit event, `warn` answers with a Warning header.

- Pods are evaluated on create and on updates that change what the checks look at (images,
  seccomp annotations, ephemeral containers); their status, binding, eviction and other
  subresources are not.
- Workload templates (deployments, replicasets, statefulsets, daemonsets, jobs, cronjobs,
  replicationcontrollers, podtemplates) are only audited and warned about: their pods will
  be enforced when created.
- Namespaces: invalid level or version labels are refused (422); making `enforce`
  stricter warns about the existing pods that would now be refused (the first 3000, one
  warning per distinct violation, naming one pod and counting the others).

No exemptions are configured, and the defaults are privileged:latest (kube-apiserver's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kybernetes.api import errors
from kybernetes.apiserver import requestcontext
from kybernetes.apiserver.admission import lookup
from kybernetes.apiserver.admission.chain import AdmissionRequest, Phase, Target
from kybernetes.apiserver.admission.podsecurity import baseline, restricted
from kybernetes.apiserver.admission.podsecurity.checks import Aggregate, Evaluator
from kybernetes.apiserver.admission.podsecurity.policy import (
    DEFAULT_POLICY,
    PRIVILEGED,
    LevelVersion,
    Policy,
    compare_levels,
    policy_for,
)
from kybernetes.apiserver.audit.setup import annotate

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

AUDIT_PREFIX = "pod-security.kubernetes.io/"
MAX_PODS_TO_CHECK = 3000
IGNORED_POD_SUBRESOURCES = frozenset(("exec", "attach", "binding", "eviction", "log",
                                      "portforward", "proxy", "status"))
# Workloads whose pod template is evaluated: (group, plural) -> path to the template.
POD_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "replicationcontrollers"): ("spec", "template"),
    ("", "podtemplates"): ("template",),
    ("apps", "replicasets"): ("spec", "template"),
    ("apps", "deployments"): ("spec", "template"),
    ("apps", "statefulsets"): ("spec", "template"),
    ("apps", "daemonsets"): ("spec", "template"),
    ("batch", "jobs"): ("spec", "template"),
    ("batch", "cronjobs"): ("spec", "jobTemplate", "spec", "template"),
}
SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"

EVALUATOR = Evaluator(baseline.CHECKS + restricted.CHECKS)


def _labels(obj: Mapping[str, Any] | None) -> dict[str, str]:
    labels = ((obj or {}).get("metadata") or {}).get("labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}


def _template(obj: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any] | None:
    node: Any = obj
    for part in path:
        node = node.get(part) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else None


class PodSecurity:
    name = "PodSecurity"

    def __init__(self, server: ApiServer, defaults: Policy = DEFAULT_POLICY) -> None:
        self.store = server.store
        self.defaults = defaults
        namespaces = server.registry.get("", "v1", "namespaces")
        pods = server.registry.get("", "v1", "pods")
        assert namespaces is not None and pods is not None
        self.namespaces, self.pods = namespaces, pods

    @staticmethod
    def handles(target: Target) -> Phase:
        if target.operation not in ("CREATE", "UPDATE"):
            return Phase.NONE
        key = (target.group, target.resource)
        if key in (("", "namespaces"), ("", "pods")) or \
                (key in POD_TEMPLATES and not target.subresource):
            return Phase.VALIDATE
        return Phase.NONE

    async def admit(self, request: AdmissionRequest) -> None:
        return None

    async def validate(self, request: AdmissionRequest) -> None:
        if request.operation not in ("CREATE", "UPDATE") or request.obj is None:
            return
        key = (request.group, request.resource)
        if key == ("", "namespaces"):
            self._namespace(request)
        elif key == ("", "pods"):
            await self._pod(request)
        elif key in POD_TEMPLATES and not request.subresource:
            await self._workload(request, POD_TEMPLATES[key])

    # -- namespaces -------------------------------------------------------------------

    def _namespace(self, request: AdmissionRequest) -> None:
        if request.subresource:
            return
        new_policy, new_errors = policy_for(_labels(request.obj), self.defaults)
        if request.operation == "CREATE":
            if new_errors:
                raise errors.invalid("", "Namespace", request.name, new_errors)
            return
        old_policy, old_errors = policy_for(_labels(request.old), self.defaults)
        if new_errors and (not old_errors or new_errors != old_errors):
            raise errors.invalid("", "Namespace", request.name, new_errors)
        new, old = new_policy.enforce, old_policy.enforce
        if new == old or new.level == PRIVILEGED or (
                new.version == old.version and compare_levels(new.level, old.level) < 1):
            return
        for warning in self._existing_pods(request.name, new):
            requestcontext.add_warning(warning)

    def _existing_pods(self, namespace: str, enforce: LevelVersion) -> list[str]:
        pods = _prioritized(lookup.cached_list(self.store, self.pods, namespace))
        checked = pods[:MAX_PODS_TO_CHECK]
        first_pod: dict[str, str] = {}
        counts: dict[str, int] = {}
        for pod in checked:
            result = EVALUATOR.evaluate(enforce, pod.get("metadata") or {},
                                        pod.get("spec") or {})
            if result.allowed:
                continue
            reason = result.reason()
            name = str((pod.get("metadata") or {}).get("name", ""))
            if reason not in first_pod or name < first_pod[reason]:
                first_pod[reason] = name
            counts[reason] = counts.get(reason, 0) + 1
        warnings: list[str] = []
        if len(checked) < len(pods):
            warnings.append(f"new PodSecurity enforce level only checked against the first "
                            f"{len(checked)} of {len(pods)} existing pods")
        if counts:
            warnings.append(f'existing pods in namespace "{namespace}" violate the new '
                            f'PodSecurity enforce level "{enforce}"')
        return warnings + sorted(_with_pods(reason, first_pod[reason], counts[reason])
                                 for reason in counts)

    # -- pods and templates -----------------------------------------------------------

    async def _pod(self, request: AdmissionRequest) -> None:
        if request.subresource in IGNORED_POD_SUBRESOURCES:
            return
        assert request.obj is not None
        found = await self._policy(request.namespace)
        if found is None:
            raise errors.internal(f"failed to lookup namespace {request.namespace}")
        policy, errs = found
        if not errs and {policy.enforce.level, policy.audit.level, policy.warn.level} == \
                {PRIVILEGED}:
            return
        if request.operation == "UPDATE" and request.old is not None and \
                not _significant_update(request.obj, request.old):
            return
        self._evaluate(request, policy, errs, request.obj, enforce=True)

    async def _workload(self, request: AdmissionRequest, path: tuple[str, ...]) -> None:
        assert request.obj is not None
        found = await self._policy(request.namespace)
        if found is None:
            # Workloads are never refused: the lookup failure is only recorded.
            annotate(AUDIT_PREFIX + "error", f"failed to lookup namespace {request.namespace}")
            return
        policy, errs = found
        if not errs and policy.audit.level == PRIVILEGED and policy.warn.level == PRIVILEGED:
            return
        template = _template(request.obj, path)
        if template is not None:
            self._evaluate(request, policy, errs, template, enforce=False)

    async def _policy(self, namespace: str
                      ) -> tuple[Policy, list[errors.FieldError]] | None:
        """The namespace's policy and label errors; None if the namespace is missing."""
        ns = lookup.cached(self.store, self.namespaces, "", namespace) or \
            await lookup.live(self.store, self.namespaces, "", namespace)
        return None if ns is None else policy_for(_labels(ns), self.defaults)

    def _evaluate(self, request: AdmissionRequest, policy: Policy,
                  errs: list[errors.FieldError], pod: Mapping[str, Any], *,
                  enforce: bool) -> None:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        if errs:
            annotate(AUDIT_PREFIX + "error", "Failed to parse policy: " +
                     _aggregate_text([e.message() for e in errs]))
        results: dict[LevelVersion, Aggregate] = {}

        def result(lv: LevelVersion) -> Aggregate:
            if lv not in results:
                results[lv] = EVALUATOR.evaluate(lv, meta, spec)
            return results[lv]

        refused: errors.StatusError | None = None
        if enforce:
            annotate(AUDIT_PREFIX + "enforce-policy", str(policy.enforce))
            enforced = result(policy.enforce)
            if not enforced.allowed:
                refused = request.forbidden(
                    f'violates PodSecurity "{policy.enforce}": {enforced.detail()}')
        audited = result(policy.audit)
        if not audited.allowed:
            annotate(AUDIT_PREFIX + "audit-violations",
                     f'would violate PodSecurity "{policy.audit}": {audited.detail()}')
        if refused is not None:
            raise refused
        warned = result(policy.warn)
        if not warned.allowed:
            requestcontext.add_warning(
                f'would violate PodSecurity "{policy.warn}": {warned.detail()}')


def _aggregate_text(messages: list[str]) -> str:
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"


def _with_pods(reason: str, pod: str, count: int) -> str:
    if count == 1:
        return f"{pod}: {reason}"
    if count == 2:
        return f"{pod} (and 1 other pod): {reason}"
    return f"{pod} (and {count - 1} other pods): {reason}"


def _prioritized(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One pod per controller first, then the other replicas (so the first pods checked
    are as varied as possible)."""
    first: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    seen: set[str] = set()
    for pod in pods:
        owner = next((r.get("uid") for r in (pod.get("metadata") or {}).get(
            "ownerReferences") or () if isinstance(r, Mapping) and r.get("controller")), None)
        if owner is None:
            first.append(pod)
        elif owner in seen:
            rest.append(pod)
        else:
            seen.add(str(owner))
            first.append(pod)
    return first + rest


def _significant_update(pod: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """Whether a pod update changes what the checks look at (upstream's
    isSignificantPodUpdate): the pod seccomp annotation, or a container's image or seccomp
    annotation, or an ephemeral container added or changed."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    old_annotations = (old.get("metadata") or {}).get("annotations") or {}
    if annotations.get(SECCOMP_POD_ANNOTATION) != old_annotations.get(SECCOMP_POD_ANNOTATION):
        return True
    spec, old_spec = pod.get("spec") or {}, old.get("spec") or {}

    def changed(c: Mapping[str, Any], o: Mapping[str, Any]) -> bool:
        key = SECCOMP_CONTAINER_PREFIX + str(c.get("name", ""))
        return c.get("image") != o.get("image") or \
            annotations.get(key) != old_annotations.get(key)

    for kind in ("containers", "initContainers"):
        new_list, old_list = spec.get(kind) or [], old_spec.get(kind) or []
        if len(new_list) != len(old_list) or any(
                changed(c, o) for c, o in zip(new_list, old_list, strict=True)):
            return True
    old_ephemeral = {c.get("name"): c for c in old_spec.get("ephemeralContainers") or ()}
    return any(c.get("name") not in old_ephemeral or changed(c, old_ephemeral[c.get("name")])
               for c in spec.get("ephemeralContainers") or ())
