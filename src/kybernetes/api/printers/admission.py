"""Printers for admissionregistration, certificates, node and flowcontrol resources.

None of these is served yet; the printers are here so that adding the resources to the
registry gives kubectl upstream's columns at once.
"""

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

PRINTERS: dict[str, Printer] = {
    "mutatingwebhookconfigurations": _WEBHOOKS,
    "validatingwebhookconfigurations": _WEBHOOKS,
    "certificatesigningrequests": _CSRS,
    "runtimeclasses": _RUNTIME_CLASSES,
    "flowschemas": _FLOW_SCHEMAS,
    "prioritylevelconfigurations": _PRIORITY_LEVELS,
}
