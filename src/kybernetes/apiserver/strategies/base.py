"""`ResourceStrategy`: everything the generic store knows about one resource.

Upstream keeps a resource's behaviour in one strategy (pkg/registry/<group>/<resource>/
strategy.go: RESTCreateStrategy, RESTUpdateStrategy, RESTDeleteStrategy, the status
strategy, GetAttrs, the table convertor) wired into one generic registry Store. This is
that object: the store, listing, watches and tables call only these methods, so a resource
is served correctly exactly when it has a strategy (apiserver/strategies/registry.py keys
them by group and resource; no rule is ever looked up by plural name alone).

To serve a new resource (a custom resource, say), subclass `ResourceStrategy`, override
what differs, and add an instance to the store's `StrategyRegistry`:

- identity and scope come from the `ResourceInfo` given to `__init__` (group, resource,
  kind, namespaced, short names, categories, subresources, whether it has `/status`);
- class attributes switch the generic rules: `tracks_generation`, `returns_deleted_object`,
  `status_set_on_create`, `status_writes_annotations`, `status_writing_subresources`;
- `default(obj)` is scheme defaulting (runs on every create and update);
- `initial_status(obj)` is the status a new object starts with;
- `validate_create(obj)` / `validate_update(new, old, subresource=)` return field errors
  (the defaults check ObjectMeta only, names with `validate_name`);
- `printer` is the Table printer (None: upstream's default Name / Created At table);
- `field_set(obj)` / `convert_field_selector(selector)` are GetAttrs and the field labels
  the resource accepts (defaults: `metadata.name`, and `metadata.namespace` if namespaced);
- `prepare_for_create`, `prepare_for_update`, `prepare_for_status_update` may be extended
  (call `super()`), as may the deletion hooks `spec_finalizers`, `grace_period` and
  `mark_terminating`;
- warnings for the client (upstream's WarningsOnCreate / WarningsOnUpdate) are sent from
  any of these with `requestcontext.add_warning`.

Objects are decoded JSON dicts in the storage version.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from kybernetes.api.errors import FieldError
from kybernetes.api.printers import Printer
from kybernetes.api.registry import ResourceInfo
from kybernetes.api.selectors import FieldSelector, field_set, validate_field_selector
from kybernetes.api.statusdefaults import fill_status
from kybernetes.api.tables import build_table
from kybernetes.api.validation.meta import (
    name_is_dns_subdomain,
    validate_object_meta,
    validate_object_meta_update,
)

Obj = dict[str, Any]

# Fields of metadata a client can never set or change through an update.
_SYSTEM_METADATA = ("uid", "creationTimestamp", "deletionTimestamp",
                    "deletionGracePeriodSeconds", "generation")

# Top-level fields other than metadata and status that hold no desired state.
_NOT_SPEC = frozenset({"apiVersion", "kind", "metadata", "status"})


def spec_view(obj: Obj) -> Obj:
    """The object without metadata and status: what a generation counts changes of."""
    return {k: v for k, v in obj.items() if k not in _NOT_SPEC}


class ResourceStrategy:
    """The behaviour of one resource (group, resource), whatever version is served.

    The defaults are upstream's generic ones for a resource with nothing special: no
    generation, status reset to `{}` on create and kept on main-endpoint updates (when the
    resource has `/status`), ObjectMeta validation, the default table, metadata field
    selectors, a Success `Status` on delete, no grace period.
    """

    # Switches of the generic rules: a subclass overrides them as class attributes (an
    # instance may set its own).
    # metadata.generation starts at 1 and counts changes outside metadata and status.
    tracks_generation: bool = False
    # A delete that removes the object answers with it, not a Status (ReturnDeletedObject).
    returns_deleted_object: bool = False
    # The creator reports status itself (a kubelet registering its Node): kept on create.
    status_set_on_create: bool = False
    # `/status` takes annotation changes too (upstream's deployment status strategy).
    status_writes_annotations: bool = False
    # Subresources other than `/status` whose updates write status (a CSR's `/approval`).
    status_writing_subresources: frozenset[str] = frozenset()

    def __init__(self, info: ResourceInfo, *, printer: Printer | None = None) -> None:
        self.group = info.group
        self.resource = info.plural
        self.kind = info.kind
        self.namespaced = info.namespaced
        self.short_names = info.short_names
        self.categories = info.categories
        self.subresources = frozenset(s.name for s in info.subresources)
        self.has_status = info.has_status
        self.printer = printer

    @property
    def key(self) -> tuple[str, str]:
        """(group, resource): what the `StrategyRegistry` files the strategy under."""
        return self.group, self.resource

    @property
    def group_resource(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.group_resource}>"

    # -- defaulting and create ---------------------------------------------------------

    def default(self, obj: Obj) -> None:
        """Scheme defaulting (upstream's SetObjectDefaults_*), in place and idempotent."""

    def initial_status(self, obj: Obj) -> Obj:
        """The status a new object starts with (resources with `/status` only)."""
        return {}

    def prepare_for_create(self, obj: Obj) -> None:
        """PrepareForCreate, after the store set uid, name and creationTimestamp: resets
        generation and status, then defaults."""
        if self.tracks_generation:
            obj["metadata"]["generation"] = 1
        if self.has_status and not self.status_set_on_create:
            obj["status"] = self.initial_status(obj)
        fill_status(obj)
        self.default(obj)

    # -- update ------------------------------------------------------------------------

    def prepare_for_update(self, new: Obj, old: Obj, *, subresource: str = "") -> None:
        """PrepareForUpdate of the main endpoint and of subresources other than `/status`:
        system metadata and (for resources with `/status`) status are kept from `old`;
        defaults; the generation moves when anything outside metadata and status did."""
        keep_system_metadata(new, old)
        if self.has_status and subresource not in self.status_writing_subresources:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        fill_status(new)
        self.default(new)
        if self.tracks_generation:
            generation = old["metadata"].get("generation", 1)
            if spec_view(new) != spec_view(old):
                generation += 1
            new["metadata"]["generation"] = generation

    def prepare_for_status_update(self, new: Obj, old: Obj) -> Obj:
        """The `/status` update: `old` with only the status of `new` (and its annotations,
        with `status_writes_annotations`). Returns the object to store."""
        # A JSON round trip copies a decoded object several times faster than deepcopy;
        # the old status is replaced, so it is left out of the copy.
        merged: Obj = orjson.loads(orjson.dumps({k: v for k, v in old.items() if k != "status"}))
        if "status" in new:
            merged["status"] = new["status"]
        else:
            merged.pop("status", None)
        if self.status_writes_annotations:
            annotations = (new.get("metadata") or {}).get("annotations")
            if annotations:
                merged["metadata"]["annotations"] = copy.deepcopy(annotations)
            else:
                merged["metadata"].pop("annotations", None)
        fill_status(merged)
        return merged

    # -- validation --------------------------------------------------------------------

    def validate_name(self, name: str, prefix: bool) -> list[str]:
        """What is wrong with a name (upstream's ValidateObjectMeta name function);
        `prefix`: it is a generateName."""
        return name_is_dns_subdomain(name, prefix)

    def validate_create(self, obj: Obj) -> list[FieldError]:
        """Field errors of a new object (after `prepare_for_create`); empty when valid."""
        return validate_object_meta(obj, self.namespaced, self.validate_name,
                                    kube_finalizers=False)

    def validate_update(self, new: Obj, old: Obj, *, subresource: str = "") -> list[FieldError]:
        """Field errors of replacing `old` with `new` through the main endpoint or
        `subresource` (after the matching prepare); empty when valid."""
        errs = validate_object_meta_update(new, old, kube_finalizers=False)
        errs.extend(validate_object_meta(new, self.namespaced, self.validate_name,
                                         kube_finalizers=False))
        return errs

    # -- deletion ----------------------------------------------------------------------

    def spec_finalizers(self, obj: Obj) -> list[str]:
        """Finalizers outside metadata that hold a deletion as metadata ones do (a
        namespace's `spec.finalizers`)."""
        return []

    def grace_period(self, obj: Obj, requested: int | None) -> int:
        """Seconds a delete waits (RESTGracefulDeleteStrategy); 0 deletes at once.
        `requested` is the DeleteOptions' gracePeriodSeconds (None when unset)."""
        return 0

    def mark_terminating(self, obj: Obj) -> None:
        """Changes a delete that is held (finalizers, grace) makes besides the deletion
        timestamp (a namespace's phase)."""

    # -- reads -------------------------------------------------------------------------

    def table(self, objects: list[Obj], *, include_object: str = "Metadata") -> Obj:
        """A meta.k8s.io/v1 Table of `objects` (TableConvertor)."""
        return build_table(self.printer, objects, include_object=include_object)

    def field_set(self, obj: Obj) -> dict[str, str]:
        """The selectable fields of `obj` (upstream's GetAttrs)."""
        return field_set(self.resource, obj, group=self.group, namespaced=self.namespaced)

    def convert_field_selector(self, selector: FieldSelector) -> FieldSelector:
        """Checks the field labels against those the resource accepts (a 400 naming the
        first unsupported one) and converts them to the names `field_set` uses."""
        return validate_field_selector(self.resource, selector, group=self.group)


def keep_system_metadata(new: Obj, old: Obj) -> None:
    """Upstream's BeforeUpdate: the system metadata of `old` replaces that of `new`."""
    meta = new.setdefault("metadata", {})
    for name in _SYSTEM_METADATA:
        if name == "uid" and meta.get("uid"):
            # The old uid only fills an empty one; a different uid fails validation (field
            # is immutable), so a uid in a patch or update is a precondition (controllers
            # adopt and release with it).
            continue
        if name in old["metadata"]:
            meta[name] = old["metadata"][name]
        else:
            meta.pop(name, None)
