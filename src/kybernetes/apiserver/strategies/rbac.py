"""The strategies of rbac.authorization.k8s.io: Roles, ClusterRoles and their bindings."""

from __future__ import annotations

from kybernetes.api.defaults import other as defaults
from kybernetes.api.printers import rbac as printers
from kybernetes.api.validation import rbac as validation
from kybernetes.apiserver.strategies.base import ResourceStrategy
from kybernetes.apiserver.strategies.builtin import BuiltinStrategy

GROUP = "rbac.authorization.k8s.io"


def strategies() -> list[ResourceStrategy]:
    return [
        BuiltinStrategy(GROUP, "roles", create=lambda o: validation.validate_role(o, True),
                        update=lambda n, o: validation.validate_role_update(n, o, True)),
        BuiltinStrategy(GROUP, "clusterroles",
                        create=lambda o: validation.validate_role(o, False),
                        update=lambda n, o: validation.validate_role_update(n, o, False)),
        BuiltinStrategy(GROUP, "rolebindings", printer=printers.PRINTERS["rolebindings"],
                        defaults=defaults.default_role_binding,
                        create=lambda o: validation.validate_role_binding(o, True),
                        update=lambda n, o: validation.validate_role_binding_update(n, o, True)),
        BuiltinStrategy(GROUP, "clusterrolebindings",
                        printer=printers.PRINTERS["clusterrolebindings"],
                        defaults=defaults.default_role_binding,
                        create=lambda o: validation.validate_role_binding(o, False),
                        update=lambda n, o: validation.validate_role_binding_update(n, o, False)),
    ]
