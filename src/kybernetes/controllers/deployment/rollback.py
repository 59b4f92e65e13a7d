"""Server-side rollback: upstream's `rollback.go`, for the annotation
`deprecated.deployment.rollback.to` that stands for the `spec.rollbackTo` field of the old
extensions/v1beta1 and apps/v1beta1 APIs (kubectl 1.35 rolls back client-side instead, by
copying the old template into the Deployment).

With the annotation set to a revision (0: the one before the current), the Deployment's
template and annotations are replaced by those of the ReplicaSet of that revision, an event
says what happened (`DeploymentRollback`, `DeploymentRollbackTemplateUnchanged` or
`DeploymentRollbackRevisionNotFound`), and the annotation is removed in the same update.
The next sync rolls the restored template out, reusing that ReplicaSet.
"""

from __future__ import annotations

from kybernetes.api import objects
from kybernetes.client.rest import Obj
from kybernetes.controllers.deployment import util
from kybernetes.controllers.deployment.sync import DEPLOYMENTS, Syncer

ROLLBACK_DONE = "DeploymentRollback"
ROLLBACK_TEMPLATE_UNCHANGED = "DeploymentRollbackTemplateUnchanged"
ROLLBACK_REVISION_NOT_FOUND = "DeploymentRollbackRevisionNotFound"


async def rollback(s: Syncer, d: Obj, rs_list: list[Obj]) -> None:
    new_rs, all_old = await s.get_all_replica_sets_and_sync_revision(d, rs_list, True)
    all_rss = [*all_old, *([new_rs] if new_rs is not None else [])]
    to_revision = util.rollback_to(d) or 0
    if to_revision == 0:
        to_revision = last_revision(all_rss)
        if to_revision == 0:
            s.recorder.warning(d, ROLLBACK_REVISION_NOT_FOUND, "Unable to find last revision.")
            await _clear_rollback_to(s, d)
            return
    for rs in all_rss:
        if util.revision(rs) == to_revision:
            await _rollback_to_template(s, d, rs, to_revision)
            return
    s.recorder.warning(d, ROLLBACK_REVISION_NOT_FOUND,
                       "Unable to find the revision to rollback to.")
    await _clear_rollback_to(s, d)


def last_revision(rss: list[Obj]) -> int:
    """The second highest revision (the one before the current)."""
    highest = second = 0
    for rs in rss:
        value = util.revision(rs)
        if value is None:
            continue
        if value >= highest:
            highest, second = value, highest
        elif value > second:
            second = value
    return second


async def _rollback_to_template(s: Syncer, d: Obj, rs: Obj, revision: int) -> None:
    template = objects.spec(rs).get("template") or {}
    if util.equal_ignore_hash(objects.spec(d).get("template") or {}, template):
        s.recorder.warning(
            d, ROLLBACK_TEMPLATE_UNCHANGED,
            f"The rollback revision contains the same template as current deployment "
            f'"{objects.meta(d)["name"]}"')
    else:
        d["spec"]["template"] = util.template_without_hash(template)
        # The Deployment takes the ReplicaSet's annotations (change-cause, ...), keeping
        # its own controller-managed ones.
        notes = {k: v for k, v in util.annotations_of(d).items() if util.skip_annotation(k)}
        notes.update({k: v for k, v in util.annotations_of(rs).items()
                      if not util.skip_annotation(k)})
        d["metadata"]["annotations"] = notes
        s.recorder.normal(d, ROLLBACK_DONE, f'Rolled back deployment "{objects.meta(d)["name"]}" '
                          f"to revision {revision}")
    await _clear_rollback_to(s, d)


async def _clear_rollback_to(s: Syncer, d: Obj) -> None:
    util.annotations_of(d).pop(util.DEPRECATED_ROLLBACK_TO, None)
    await s.client.update(DEPLOYMENTS, d)
