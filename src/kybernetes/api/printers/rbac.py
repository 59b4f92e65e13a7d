"""Printers for rbac.authorization.k8s.io/v1 bindings (roles use the default columns)."""

from __future__ import annotations

from typing import Any

from kybernetes.api.printers._common import (
    Cells,
    Context,
    Obj,
    Printer,
    age,
    age_col,
    col,
    lst,
    name,
    name_col,
    s,
)


def subjects_strings(subjects: list[Any]) -> tuple[list[str], list[str], list[str]]:
    """`rbac.SubjectsStrings`: users, groups and `namespace/name` service accounts."""
    users: list[str] = []
    groups: list[str] = []
    service_accounts: list[str] = []
    for subject in subjects:
        kind = s(subject, "kind")
        if kind == "ServiceAccount":
            service_accounts.append(f"{s(subject, 'namespace')}/{s(subject, 'name')}")
        elif kind == "User":
            users.append(s(subject, "name"))
        elif kind == "Group":
            groups.append(s(subject, "name"))
    return users, groups, service_accounts


def _binding_cells(obj: Obj, ctx: Context) -> Cells:
    users, groups, service_accounts = subjects_strings(lst(obj, "subjects"))
    role = f"{s(obj, 'roleRef', 'kind')}/{s(obj, 'roleRef', 'name')}"
    return [name(obj), role, age(obj, ctx), ", ".join(users), ", ".join(groups),
            ", ".join(service_accounts)]


def _binding_printer(kind: str, doc: str) -> Printer:
    return Printer((
        name_col(),
        col("Role", "string", doc),
        age_col(),
        col("Users", "string", priority=1, text=f"Users in the {kind}"),
        col("Groups", "string", priority=1, text=f"Groups in the {kind}"),
        col("ServiceAccounts", "string", priority=1, text=f"ServiceAccounts in the {kind}"),
    ), _binding_cells)


PRINTERS: dict[str, Printer] = {
    "rolebindings": _binding_printer("roleBinding", "rbacb.RoleBinding.roleRef"),
    "clusterrolebindings": _binding_printer("clusterRoleBinding",
                                            "rbacb.ClusterRoleBinding.roleRef"),
}
