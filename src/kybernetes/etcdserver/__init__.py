"""The embedded etcd of HA servers (k3s' managed etcd): `kyb server --cluster-init` runs an
etcd member as a supervised child process with certificates from the cluster CA, and
`kyb server --server URL --token T` joins another server's cluster as a new member.
`etcd-snapshot` saves, lists and restores its snapshots; `--cluster-reset` restarts it as
a single-member cluster.
"""
