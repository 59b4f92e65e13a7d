"""The node agent: kubelet.

A kubelet registers its Node, proves it is alive by renewing a Lease in `kube-node-lease`,
and makes the pods bound to its node run, reporting their status back through
`pods/status`. How pods actually run is behind the `runtime` interface:

- `runtime.simulated`: hollow pods that are "running" the moment they are bound (no
  containers), and `simnodes.SimulatedNodes`, one process holding thousands of such nodes
  (like kwok), for scale tests of the control plane and the scheduler (`kyb sim nodes`).
- the real runtime (runc, OCI images, CNI, cgroups) comes with the kubelet proper.

Like every component, the kubelet talks only to the API server (informers, Leases, status
patches), never to another component's objects.
"""
