"""Printers for admissionregistration, apiregistration, certificates, node and flowcontrol
resources (APIService's are kube-aggregator's table convertor's)."""

from __future__ import annotations

from kybernetes.api.printers._common import (
    Cells,
    Context,
    Obj,
    Printer,
    age,
    age_col,
    col,
    get,
    human_duration,
    i,
    lst,
    name,
    name_col,
    s,
    selector_string,
)

_WEBHOOKS = Printer((
    name_col(),
    col("Webhooks", "integer",
        text="Webhooks indicates the number of webhooks registered in this configuration"),
    age_col(),
), lambda obj, ctx: [name(obj), len(lst(obj, "webhooks")), age(obj, ctx)])


def csr_condition(obj: Obj) -> str:
    """`extractCSRStatus`: Approved/Denied/Pending, then `,Failed` and `,Issued`."""
    types = {s(c, "type") for c in lst(obj, "status", "conditions")}
    status = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    if "Failed" in types:
        status += ",Failed"
    if s(obj, "status", "certificate"):
        status += ",Issued"
    return status


def _csr_cells(obj: Obj, ctx: Context) -> Cells:
    requested = "<none>"
    if get(obj, "spec", "expirationSeconds") is not None:
        requested = human_duration(i(obj, "spec", "expirationSeconds") * 1_000_000_000)
    return [name(obj), age(obj, ctx), s(obj, "spec", "signerName") or "<none>",
            s(obj, "spec", "username"), requested, csr_condition(obj)]


_CSRS = Printer((
    name_col(),
    age_col(),
    col("SignerName", "string", "certb.CertificateSigningRequestSpec.signerName"),
    col("Requestor", "string", "certb.CertificateSigningRequestSpec.request"),
    col("RequestedDuration", "string", "certb.CertificateSigningRequestSpec.expirationSeconds"),
    col("Condition", "string", "certb.CertificateSigningRequestStatus.conditions"),
), _csr_cells)

_RUNTIME_CLASSES = Printer((
    name_col(),
    col("Handler", "string"),
    age_col(),
), lambda obj, ctx: [name(obj), s(obj, "handler"), age(obj, ctx)])


def _flow_schema_cells(obj: Obj, ctx: Context) -> Cells:
    method = s(obj, "spec", "distinguisherMethod", "type") \
        if get(obj, "spec", "distinguisherMethod") is not None else "<none>"
    dangling = "?"
    for cond in lst(obj, "status", "conditions"):
        if s(cond, "type") == "Dangling":
            dangling = s(cond, "status")
            break
    return [name(obj), s(obj, "spec", "priorityLevelConfiguration", "name"),
            i(obj, "spec", "matchingPrecedence"), method, age(obj, ctx), dangling]


_FLOW_SCHEMAS = Printer((
    name_col(),
    col("PriorityLevel", "string", "fc.PriorityLevelConfigurationReference.name"),
    col("MatchingPrecedence", "string", "fc.FlowSchemaSpec.matchingPrecedence"),
    col("DistinguisherMethod", "string", "fc.FlowSchemaSpec.distinguisherMethod"),
    age_col(),
    col("MissingPL", "string",
        text="references a broken or non-existent PriorityLevelConfiguration"),
), _flow_schema_cells, order=lambda items: sorted(
    items, key=lambda o: (i(o, "spec", "matchingPrecedence"), name(o))))


def _priority_level_cells(obj: Obj, ctx: Context) -> Cells:
    limited = get(obj, "spec", "limited")
    shares: object = "<none>"
    queues: object = "<none>"
    hand_size: object = "<none>"
    queue_length: object = "<none>"
    if limited is not None:
        shares = i(limited, "nominalConcurrencyShares")
        queuing = get(limited, "limitResponse", "queuing")
        if queuing is not None:
            queues, hand_size = i(queuing, "queues"), i(queuing, "handSize")
            queue_length = i(queuing, "queueLengthLimit")
    return [name(obj), s(obj, "spec", "type"), shares, queues, hand_size, queue_length,
            age(obj, ctx)]


_PRIORITY_LEVELS = Printer((
    name_col(),
    col("Type", "string", "fc.PriorityLevelConfigurationSpec.type"),
    col("NominalConcurrencyShares", "string",
        "fc.LimitedPriorityLevelConfiguration.nominalConcurrencyShares"),
    col("Queues", "string", "fc.QueuingConfiguration.queues"),
    col("HandSize", "string", "fc.QueuingConfiguration.handSize"),
    col("QueueLengthLimit", "string", "fc.QueuingConfiguration.queueLengthLimit"),
    age_col(),
), _priority_level_cells)

def _policy_cells(obj: Obj, ctx: Context) -> Cells:
    kind = get(obj, "spec", "paramKind")
    param_kind = "<unset>" if kind is None else f"{s(kind, 'apiVersion')}/{s(kind, 'kind')}"
    return [name(obj), len(lst(obj, "spec", "validations")), param_kind, age(obj, ctx)]


_POLICIES = Printer((
    name_col(),
    col("Validations", "integer",
        text="Validations indicates the number of validation rules defined in this "
             "configuration"),
    col("ParamKind", "string",
        text="ParamKind specifies the kind of resources used to parameterize this policy"),
    age_col(),
), _policy_cells)


def _policy_binding_cells(obj: Obj, ctx: Context) -> Cells:
    ref = get(obj, "spec", "paramRef")
    param = "<unset>"
    if isinstance(ref, dict):
        if s(ref, "name"):
            # Whether the param is cluster-scoped is unknown here: no namespace shows `*`.
            param = f"{s(ref, 'namespace') or '*'}/{s(ref, 'name')}"
        elif get(ref, "selector") is not None:
            param = selector_string(ref["selector"])
    return [name(obj), s(obj, "spec", "policyName"), param, age(obj, ctx)]


_POLICY_BINDINGS = Printer((
    name_col(),
    col("PolicyName", "string",
        text="PolicyName indicates the policy definition which the policy binding binded to"),
    col("ParamRef", "string",
        text="ParamRef indicates the param resource which sets the configration param"),
    age_col(),
), _policy_binding_cells)


def _api_service_cells(obj: Obj, ctx: Context) -> Cells:
    service = get(obj, "spec", "service")
    where = "Local" if service is None else f"{s(service, 'namespace')}/{s(service, 'name')}"
    available = "Unknown"
    for condition in lst(obj, "status", "conditions"):
        if s(condition, "type") == "Available":
            available = s(condition, "status")
            if available != "True" and s(condition, "reason"):
                available = f"{available} ({s(condition, 'reason')})"
            break
    return [name(obj), where, available, age(obj, ctx)]


_API_SERVICES = Printer((
    name_col(),
    col("Service", "string", text="The reference to the service that hosts this API endpoint."),
    col("Available", "string", text="Whether this service is available."),
    age_col(),
), _api_service_cells)

PRINTERS: dict[str, Printer] = {
    "validatingadmissionpolicies": _POLICIES,
    "validatingadmissionpolicybindings": _POLICY_BINDINGS,
    "apiservices": _API_SERVICES,
    "mutatingwebhookconfigurations": _WEBHOOKS,
    "validatingwebhookconfigurations": _WEBHOOKS,
    "certificatesigningrequests": _CSRS,
    "runtimeclasses": _RUNTIME_CLASSES,
    "flowschemas": _FLOW_SCHEMAS,
    "prioritylevelconfigurations": _PRIORITY_LEVELS,
}
