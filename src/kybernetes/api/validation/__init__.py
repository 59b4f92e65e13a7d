"""Object validation, as upstream's per-kind `Validate*` and `Validate*Update` functions,
one module per group of kinds (`core`, `apps`, `batch`, ...; `meta` for what all share).

Each function returns upstream's field errors (paths such as
`spec.template.spec.containers[0].image`, details such as "`selector` does not match
template `labels`"); an empty list means valid. Objects are decoded JSON dicts after
defaulting (see `kybernetes.api.defaults`), with the namespace from the URL filled in and
any generated name already chosen. A resource's strategy (apiserver/strategies) says which
functions validate it; one without its own gets the ObjectMeta checks of `meta`.
"""
