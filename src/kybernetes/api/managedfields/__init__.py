"""Field management (`metadata.managedFields`) and server-side apply.

A port of sigs.k8s.io/structured-merge-diff (field sets, typed merge and comparison) and of
the API server's fieldmanager (k8s.io/apimachinery/pkg/util/managedfields):

* `fieldpath`: field path sets, in their `fieldsV1` serialisation;
* `typed`: objects walked with their schema's list and map types;
* `merge`: merging an applied configuration, and removing what an applier stopped applying;
* `manager`: the public API, `track_update` and `server_side_apply`.
"""

from kybernetes.api.managedfields.manager import (
    LAST_APPLIED_ANNOTATION,
    MAX_UPDATE_MANAGERS,
    default_reset_fields,
    server_side_apply,
    track_update,
)

__all__ = [
    "LAST_APPLIED_ANNOTATION",
    "MAX_UPDATE_MANAGERS",
    "default_reset_fields",
    "server_side_apply",
    "track_update",
]
