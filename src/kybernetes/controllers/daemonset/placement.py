"""Which nodes a DaemonSet runs on: upstream's `NodeShouldRunDaemonPod` and `predicates`
(`pkg/controller/daemon/daemon_controller.go`), with the required node affinity matching of
`k8s.io/component-helpers/scheduling/corev1/nodeaffinity`, over plain dicts.

A DaemonSet's pod for a node is its template with `spec.nodeName` set to that node and the
daemon tolerations added (`util.add_daemon_pod_tolerations`). It

- **should run** there when the template's `nodeName` (if any) is that node, the node's
  labels and name satisfy the pod's `nodeSelector` and required node affinity, and every
  NoSchedule and NoExecute taint of the node is tolerated;
- **should continue running** there (an existing pod is kept) under the same conditions
  except that untolerated NoSchedule taints are allowed: only an untolerated NoExecute
  taint, or a node that no longer matches, evicts it.

Matching is upstream's: `nodeSelector` is an exact label match; the required terms are
ORed, each ANDs its `matchExpressions` (In, NotIn, Exists, DoesNotExist, Gt, Lt on labels)
and `matchFields` (`metadata.name` In/NotIn); an empty or malformed term matches nothing.
The controllers may not import the scheduler, so this is the controller's own copy of the
rules the scheduler's NodeAffinity and TaintToleration plugins apply.

`DaemonPlacement` builds the DaemonSet's pod spec and tolerations once; a sync judges every
node with it once (`decisions`, by node name) and hands that to the manage, update and
status steps, so a sync over N nodes costs N judgements, not one pod spec per question.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kybernetes.api.objects import meta, spec
from kybernetes.client.rest import Obj
from kybernetes.controllers.daemonset.util import NODE_NAME_FIELD, add_daemon_pod_tolerations
from kybernetes.controllers.tainteviction import tolerates

_INT64 = (-(2 ** 63), 2 ** 63 - 1)


def _int64(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        value = int(text, 10)
    except ValueError:
        return None
    return value if _INT64[0] <= value <= _INT64[1] else None


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """One label requirement; raises ValueError when malformed (the term then fails)."""
    key, op = expr.get("key"), expr.get("operator")
    values = [str(v) for v in expr.get("values") or ()]
    if not isinstance(key, str) or not key:
        raise ValueError("empty key")
    if op == "In":
        if not values:
            raise ValueError("In needs values")
        return labels.get(key) in values
    if op == "NotIn":
        if not values:
            raise ValueError("NotIn needs values")
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt"):
        bound = _int64(values[0]) if len(values) == 1 else None
        if bound is None:
            raise ValueError(f"{op} needs one integer value")
        number = _int64(labels.get(key))
        if number is None:
            return False
        return number > bound if op == "Gt" else number < bound
    raise ValueError(f"{op!r} is not a valid node selector operator")


def _field_matches(expr: Mapping[str, Any], node_name: str) -> bool:
    key, op = expr.get("key"), expr.get("operator")
    values = [str(v) for v in expr.get("values") or ()]
    if key != NODE_NAME_FIELD or op not in ("In", "NotIn") or len(values) != 1:
        raise ValueError(f"unsupported node field requirement {key} {op}")
    return bool((node_name in values) == (op == "In"))


def _term_matches(term: Any, labels: Mapping[str, str], node_name: str) -> bool:
    if not isinstance(term, dict):
        return False
    expressions = [e for e in term.get("matchExpressions") or () if isinstance(e, dict)]
    fields = [f for f in term.get("matchFields") or () if isinstance(f, dict)]
    if not expressions and not fields:
        return False
    try:
        return all(_expression_matches(e, labels) for e in expressions) and \
            all(_field_matches(f, node_name) for f in fields)
    except ValueError:
        return False


def matches_node_affinity(pod_spec: Mapping[str, Any], node: Obj) -> bool:
    """Upstream's GetRequiredNodeAffinity(pod).Match(node): `nodeSelector`, then the
    required node affinity terms (any of them)."""
    labels = meta(node).get("labels") or {}
    for key, value in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return True
    if not isinstance(required, dict):
        return False
    name = str(meta(node).get("name") or "")
    return any(_term_matches(t, labels, name) for t in required.get("nodeSelectorTerms") or ())


def _untolerated(taints: list[dict[str, Any]], tolerations: list[dict[str, Any]],
                 effects: Callable[[dict[str, Any]], bool]) -> bool:
    """Upstream's FindMatchingUntoleratedTaint: some taint (of those `effects` accepts)
    no toleration tolerates."""
    return any(effects(taint) and not any(tolerates(t, taint) for t in tolerations)
               for taint in taints)


def daemon_pod_spec(ds: Obj, node_name: str) -> dict[str, Any]:
    """The spec of the DaemonSet's pod for `node_name` (upstream's NewPod): nodeName set,
    daemon tolerations added. A fresh structure sharing nothing it changes."""
    template_spec = spec(ds).get("template", {}).get("spec") or {}
    pod_spec = dict(template_spec)
    pod_spec["nodeName"] = node_name
    pod_spec["tolerations"] = list(template_spec.get("tolerations") or ())
    add_daemon_pod_tolerations(pod_spec)
    return pod_spec


# (should run, should continue running) of the DaemonSet's pod on each node, by node name.
Decisions = dict[str, tuple[bool, bool]]


class DaemonPlacement:
    """Upstream's NodeShouldRunDaemonPod for one DaemonSet: its pod's spec and tolerations
    are built once, then judged against any number of nodes."""

    def __init__(self, ds: Obj) -> None:
        self.template_node = (spec(ds).get("template", {}).get("spec") or {}).get("nodeName")
        self.pod_spec = daemon_pod_spec(ds, "")
        self.tolerations = [t for t in self.pod_spec["tolerations"] if isinstance(t, dict)]

    def should_run(self, node: Obj) -> tuple[bool, bool]:
        """(should run, should continue running); see the module docstring."""
        name = str(meta(node).get("name") or "")
        if self.template_node and self.template_node != name:
            return False, False
        if not matches_node_affinity(self.pod_spec, node):
            return False, False
        taints = [t for t in spec(node).get("taints") or () if isinstance(t, dict)]
        if _untolerated(taints, self.tolerations,
                        lambda t: t.get("effect") in ("NoExecute", "NoSchedule")):
            return False, not _untolerated(taints, self.tolerations,
                                           lambda t: t.get("effect") == "NoExecute")
        return True, True

    def decisions(self, nodes: Iterable[Obj]) -> Decisions:
        return {str(meta(n).get("name") or ""): self.should_run(n) for n in nodes}


def node_should_run_daemon_pod(node: Obj, ds: Obj) -> tuple[bool, bool]:
    """(should run, should continue running) of the DaemonSet's pod on `node`."""
    return DaemonPlacement(ds).should_run(node)
