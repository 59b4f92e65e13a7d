"""The EndpointSlice controller (upstream's `pkg/controller/endpointslice` and
`staging/src/k8s.io/endpointslice`): `controller` (handlers and sync), `reconciler` (the
packing of endpoints into slices and the writes), `tracker` (our own writes, so a stale
informer is not acted on), `triggertime` (the last-change trigger time annotation, shared
with the Endpoints controller), `utils` (pod and Service helpers the Endpoints and
mirroring controllers share).
"""
