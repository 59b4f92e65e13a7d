"""The strategies of networking.k8s.io: Ingresses, IngressClasses, NetworkPolicies,
ServiceCIDRs and IPAddresses."""

from __future__ import annotations

from kybernetes.api.defaults import other as defaults
from kybernetes.api.printers import networking as printers
from kybernetes.api.validation import networking as validation
from kybernetes.api.validation import servicecidrs
from kybernetes.apiserver.strategies.base import ResourceStrategy
from kybernetes.apiserver.strategies.builtin import BuiltinStrategy

GROUP = "networking.k8s.io"


def strategies() -> list[ResourceStrategy]:
    return [
        BuiltinStrategy(GROUP, "ingresses", printer=printers.INGRESSES,
                        create=validation.validate_ingress,
                        update=validation.validate_ingress_update, generation=True),
        BuiltinStrategy(GROUP, "ingressclasses", printer=printers.INGRESS_CLASSES,
                        create=validation.validate_ingress_class,
                        update=validation.validate_ingress_class_update),
        BuiltinStrategy(GROUP, "networkpolicies", printer=printers.NETWORK_POLICIES,
                        defaults=defaults.default_network_policy,
                        create=validation.validate_network_policy,
                        update=validation.validate_network_policy_update, generation=True),
        BuiltinStrategy(GROUP, "servicecidrs", printer=printers.SERVICE_CIDRS,
                        create=servicecidrs.validate_service_cidr,
                        update=servicecidrs.validate_service_cidr_update),
        BuiltinStrategy(GROUP, "ipaddresses", printer=printers.IP_ADDRESSES,
                        create=servicecidrs.validate_ip_address,
                        update=servicecidrs.validate_ip_address_update),
    ]
