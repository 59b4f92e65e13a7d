"""Audit logging (upstream's apiserver/pkg/audit): a policy says which requests are
recorded at which level, each request's event is written at its stages as JSON lines to a
rotated log. Off, and free, unless a policy and a log path are both given."""
