"""Printers for apps/v1: deployments, replica sets, stateful sets, daemon sets, revisions."""

from __future__ import annotations

from kybernetes.api.printers._common import (
    Cells,
    Context,
    Obj,
    Printer,
    age,
    age_col,
    col,
    containers_cols,
    dct,
    format_label_selector,
    format_labels,
    i,
    layout_containers,
    lst,
    name,
    name_col,
    s,
    selector_string,
)

READY_TEXT = "Number of the pod with ready state"


def _template_containers(obj: Obj) -> tuple[str, str]:
    return layout_containers(lst(obj, "spec", "template", "spec", "containers"))


def _deployment_cells(obj: Obj, ctx: Context) -> Cells:
    try:
        selector = selector_string(dct(obj, "spec").get("selector"))
    except ValueError:
        selector = "<invalid>"
    names, images = _template_containers(obj)
    ready, desired = i(obj, "status", "readyReplicas"), i(obj, "spec", "replicas", default=1)
    return [name(obj), f"{ready}/{desired}", i(obj, "status", "updatedReplicas"),
            i(obj, "status", "availableReplicas"), age(obj, ctx), names, images, selector]


DEPLOYMENTS = Printer((
    name_col(),
    col("Ready", "string", text=READY_TEXT),
    col("Up-to-date", "string", "ext.DeploymentStatus.updatedReplicas"),
    col("Available", "string", "ext.DeploymentStatus.availableReplicas"),
    age_col(),
    *containers_cols(),
    col("Selector", "string", "ext.DeploymentSpec.selector", priority=1),
), _deployment_cells)


def _replica_set_cells(obj: Obj, ctx: Context) -> Cells:
    names, images = _template_containers(obj)
    return [name(obj), i(obj, "spec", "replicas", default=1), i(obj, "status", "replicas"),
            i(obj, "status", "readyReplicas"), age(obj, ctx), names, images,
            format_label_selector(dct(obj, "spec").get("selector"))]


REPLICA_SETS = Printer((
    name_col(),
    col("Desired", "integer", "ext.ReplicaSetSpec.replicas"),
    col("Current", "integer", "ext.ReplicaSetStatus.replicas"),
    col("Ready", "integer", "ext.ReplicaSetStatus.readyReplicas"),
    age_col(),
    *containers_cols(),
    col("Selector", "string", "ext.ReplicaSetSpec.selector", priority=1),
), _replica_set_cells)


def _stateful_set_cells(obj: Obj, ctx: Context) -> Cells:
    names, images = _template_containers(obj)
    ready, desired = i(obj, "status", "readyReplicas"), i(obj, "spec", "replicas", default=1)
    return [name(obj), f"{ready}/{desired}", age(obj, ctx), names, images]


STATEFUL_SETS = Printer((
    name_col(),
    col("Ready", "string", text=READY_TEXT),
    age_col(),
    *containers_cols(),
), _stateful_set_cells)


def _daemon_set_cells(obj: Obj, ctx: Context) -> Cells:
    status = dct(obj, "status")
    names, images = _template_containers(obj)
    return [name(obj), i(status, "desiredNumberScheduled"), i(status, "currentNumberScheduled"),
            i(status, "numberReady"), i(status, "updatedNumberScheduled"),
            i(status, "numberAvailable"),
            format_labels(dct(obj, "spec", "template", "spec", "nodeSelector")), age(obj, ctx),
            names, images, format_label_selector(dct(obj, "spec").get("selector"))]


DAEMON_SETS = Printer((
    name_col(),
    col("Desired", "integer", "ext.DaemonSetStatus.desiredNumberScheduled"),
    col("Current", "integer", "ext.DaemonSetStatus.currentNumberScheduled"),
    col("Ready", "integer", "ext.DaemonSetStatus.numberReady"),
    col("Up-to-date", "integer", "ext.DaemonSetStatus.updatedNumberScheduled"),
    col("Available", "integer", "ext.DaemonSetStatus.numberAvailable"),
    col("Node Selector", "string", "core.PodSpec.nodeSelector"),
    age_col(),
    *containers_cols(),
    col("Selector", "string", "ext.DaemonSetSpec.selector", priority=1),
), _daemon_set_cells)


def controller_name(obj: Obj) -> str:
    """The controlling owner as `kind.group/name` (lower-cased kind and group), or `<none>`."""
    for ref in lst(obj, "metadata", "ownerReferences"):
        if ref.get("controller") is True:
            api_version, kind = s(ref, "apiVersion"), s(ref, "kind")
            group = api_version.split("/")[0] if "/" in api_version else ""
            if not group and not kind:
                return s(ref, "name")
            group_kind = f"{kind}.{group}" if group else kind
            return f"{group_kind.lower()}/{s(ref, 'name')}"
    return "<none>"


CONTROLLER_REVISIONS = Printer((
    name_col(),
    col("Controller", "string", text="Controller of the object"),
    col("Revision", "string", "appsb.ControllerRevision.revision"),
    age_col(),
), lambda obj, ctx: [name(obj), controller_name(obj), i(obj, "revision"), age(obj, ctx)])

PRINTERS: dict[str, Printer] = {
    "deployments": DEPLOYMENTS,
    "replicasets": REPLICA_SETS,
    "statefulsets": STATEFUL_SETS,
    "daemonsets": DAEMON_SETS,
    "controllerrevisions": CONTROLLER_REVISIONS,
}
