"""The strategy of one custom resource (upstream's apiextensions-apiserver
registry/customresource/strategy.go and validator.go), built from its CRD.

Objects reach it in the version the request named (the store converts them to the storage
version only to store them, apiserver/crdconversion.py), and each is handled with the
schema of its own version, as upstream's per-version strategies: on create and update,
unknown fields are pruned (the request handlers report or refuse them first, as
fieldValidation asks), defaults filled, and the object validated: ObjectMeta, apiVersion
and kind, the schema (api/apiextensions/schemavalidation.py) and its CEL rules, transition
rules against the old object. Generation counts changes outside metadata and status; with
a status subresource, status is written through `/status` only and is dropped from
creates. Tables use the additionalPrinterColumns of the objects' version. Field selectors
use the storage version's selectableFields, as they filter the stored objects.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson

from kybernetes.api import errors
from kybernetes.api.apiextensions import cel, columns, defaulting, pruning, schemavalidation
from kybernetes.api.errors import FieldError
from kybernetes.api.registry import ResourceInfo
from kybernetes.api.selectors import FieldSelector
from kybernetes.api.tables import build_table
from kybernetes.apiserver.strategies.base import Obj, ResourceStrategy

Schema = dict[str, Any]


@dataclass(frozen=True)
class CompiledVersion:
    """What serving one version of a custom resource needs, compiled once per CRD change."""

    schema: Schema
    rules: cel.RuleNode | None
    has_defaults: bool
    printer_columns: tuple[Obj, ...]
    # selectableFields, as field labels (`spec.color`).
    selectable_fields: tuple[str, ...]

    @staticmethod
    def of(version: Obj) -> CompiledVersion:
        schema = (version.get("schema") or {}).get("openAPIV3Schema") or \
            {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        return CompiledVersion(schema, cel.compile_schema(schema),
                               defaulting.has_defaults(schema),
                               tuple(version.get("additionalPrinterColumns") or ()),
                               tuple(str(f.get("jsonPath") or "").lstrip(".")
                                     for f in version.get("selectableFields") or ()
                                     if isinstance(f, dict)))


class CustomResourceStrategy(ResourceStrategy):
    """`info` is the storage version's ResourceInfo, `versions` every version compiled, by
    apiVersion. `removed` is set when the resource stops being served (watches end on it);
    a CRD's successive strategies share it."""

    tracks_generation = True

    def __init__(self, info: ResourceInfo, versions: dict[str, CompiledVersion],
                 removed: asyncio.Event | None = None) -> None:
        self.storage = versions[info.group_version]
        super().__init__(info, printer=columns.printer(list(self.storage.printer_columns)))
        self.api_version = info.group_version
        self.versions = versions
        self.printers = {v: columns.printer(list(c.printer_columns))
                         for v, c in versions.items()}
        self.removed = removed or asyncio.Event()
        # Set while the CRD is being deleted: its objects may go, no new one may come.
        self.terminating = False

    def version_of(self, obj: Obj) -> CompiledVersion:
        """The compiled version of an object's apiVersion (the storage version's for one
        not served)."""
        return self.versions.get(str(obj.get("apiVersion") or ""), self.storage)

    def table(self, objects: list[Obj], *, include_object: str = "Metadata") -> Obj:
        """A Table with the printer columns of the objects' version."""
        api_version = str(objects[0].get("apiVersion") or "") if objects else ""
        return build_table(self.printers.get(api_version, self.printer), objects,
                           include_object=include_object)

    def field_set(self, obj: Obj) -> dict[str, str]:
        """metadata.name (and namespace), and the version's selectableFields."""
        fields = super().field_set(obj)
        for label in self.storage.selectable_fields:
            found = columns.find(obj, columns.parse_path(f".{label}") or [])
            fields[label] = _field_value(found[0]) if found else ""
        return fields

    def convert_field_selector(self, selector: FieldSelector) -> FieldSelector:
        """Upstream's field label conversion of custom resources."""
        allowed = {"metadata.name", *self.storage.selectable_fields}
        if self.namespaced:
            allowed.add("metadata.namespace")
        for requirement in selector.requirements:
            if requirement.field not in allowed:
                raise errors.bad_request(f"field label not supported: {requirement.field}")
        return selector

    def unknown_fields(self, obj: Obj) -> list[str]:
        """The paths of the fields of `obj` its schema does not know (what pruning drops),
        for fieldValidation."""
        return pruning.prune(self.version_of(obj).schema, orjson.loads(orjson.dumps(obj)))

    def default(self, obj: Obj) -> None:
        version = self.version_of(obj)
        pruning.prune(version.schema, obj)
        if version.has_defaults:
            defaulting.default(version.schema, obj)

    def prepare_for_create(self, obj: Obj) -> None:
        if self.terminating:
            raise errors.method_not_allowed(
                "create not allowed while custom resource definition is terminating")
        super().prepare_for_create(obj)
        if self.has_status:
            # Upstream drops a create's status when `/status` is the way to write it.
            obj.pop("status", None)

    def prepare_for_status_update(self, new: Obj, old: Obj) -> Obj:
        merged = super().prepare_for_status_update(new, old)
        self.default(merged)
        return merged

    def validate_create(self, obj: Obj) -> list[FieldError]:
        return [*super().validate_create(obj), *self._validate(obj)]

    def validate_update(self, new: Obj, old: Obj, *, subresource: str = "") -> list[FieldError]:
        errs = super().validate_update(new, old, subresource=subresource)
        return [*errs, *self._validate(new, old)]

    def _validate(self, obj: Obj, old: Obj | None = None) -> list[FieldError]:
        errs: list[FieldError] = []
        if obj.get("apiVersion") not in self.versions:
            errs.append(FieldError.invalid("apiVersion", obj.get("apiVersion"),
                                           f"must be {self.api_version}"))
        if obj.get("kind") != self.kind:
            errs.append(FieldError.invalid("kind", obj.get("kind"), f"must be {self.kind}"))
        version = self.version_of(obj)
        errs.extend(schemavalidation.validate(version.schema, obj))
        if old is None:
            errs.extend(cel.validate(version.rules, obj))
        else:
            errs.extend(cel.validate(version.rules, obj, old))
        return errs


def _field_value(value: Any) -> str:
    """A selectable field's value as a field selector compares it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
