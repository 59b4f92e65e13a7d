"""The certificate controllers of kube-controller-manager (upstream's
`pkg/controller/certificates`): `approver` auto-approves kubelet certificate requests,
`signer` issues certificates for approved requests with the cluster CA. Both share the
work loop of `controller` and use only the API (`kybernetes.client`).
"""
