"""NetworkPolicy enforcement on a node (networking.k8s.io/v1), as k3s embeds kube-router's
network policy controller: an API client on every node that watches NetworkPolicies, Pods
and Namespaces and programs the `ip kube-network-policies` nftables table for the pods of
its node (`rules.py` renders the table, `controller.py` keeps it in sync).
"""
