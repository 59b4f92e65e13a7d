"""Controllers: reconcile loops that are API clients and nothing else.

Each controller lives in one module (or one package when it is big, as the garbage
collector) and has upstream's shape: informers feed keys into a rate-limited work queue,
workers pop keys and call an idempotent `sync(key)` that reads the observed state, compares
it with the desired state and writes the difference through the API. `base` holds that
shared shape, `discovery` the API discovery and REST mapping several controllers need, and
`manager` runs the enabled controllers under leader election with one shared informer
factory (`kyb controller-manager`, and inside `kyb server`).

Controllers never import another component's internals; they import `kybernetes.client`
(the API, informers, queues) and the pure helpers of `kybernetes.api`.
"""
