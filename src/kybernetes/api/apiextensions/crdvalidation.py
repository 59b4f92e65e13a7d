"""The CustomResourceDefinition object itself: defaults and validation (upstream's
apis/apiextensions/v1 defaults and apis/apiextensions/validation).

Checked: the name is `<plural>.<group>`; the group is a dotted DNS subdomain; scope;
names (plural, singular, kind, listKind, short names, categories); versions (DNS-1035
names, unique, exactly one storage version, a schema each, structural, default values
valid and CEL rules that compile); subresources (scale paths); printer columns;
conversion strategy and a webhook's ConversionReview versions; on update, group and scope
immutable and no stored version dropped from the served ones.
"""

from __future__ import annotations

import re
from typing import Any

from kybernetes.api.apiextensions import cel, schemavalidation
from kybernetes.api.apiextensions.structural import validate_structural
from kybernetes.api.errors import FieldError
from kybernetes.api.validation.meta import (
    FIELD_IMMUTABLE,
    is_dns1035_label,
    is_dns1123_subdomain,
)

Obj = dict[str, Any]

_SCOPES = ["Cluster", "Namespaced"]
_COLUMN_TYPES = ["integer", "number", "string", "boolean", "date"]
_STRATEGIES = ["None", "Webhook"]
# The ConversionReview versions this server sends (apiserver/crdconversion.py).
REVIEW_VERSIONS = ("v1", "v1beta1")
_JSON_PATH = re.compile(r"^(\.[A-Za-z0-9_-]+|\[[^\]]+\])+$")


def set_defaults(crd: Obj) -> None:
    """Upstream's SetDefaults_CustomResourceDefinition(Spec)."""
    spec = crd.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    names = spec.setdefault("names", {})
    if isinstance(names, dict):
        kind = str(names.get("kind") or "")
        if not names.get("singular") and kind:
            names["singular"] = kind.lower()
        if not names.get("listKind") and kind:
            names["listKind"] = kind + "List"
    conversion = spec.setdefault("conversion", {"strategy": "None"})
    if isinstance(conversion, dict):
        conversion.setdefault("strategy", "None")
        webhook = conversion.get("webhook")
        if isinstance(webhook, dict):
            service = (webhook.get("clientConfig") or {}).get("service")
            if isinstance(service, dict):
                service.setdefault("port", 443)


def storage_version(crd: Obj) -> str:
    for version in (crd.get("spec") or {}).get("versions") or []:
        if isinstance(version, dict) and version.get("storage"):
            return str(version.get("name") or "")
    return ""


def validate_create(crd: Obj) -> list[FieldError]:
    return _validate(crd)


def validate_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = _validate(new)
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    for field in ("group", "scope"):
        if spec.get(field) != old_spec.get(field):
            errs.append(FieldError.invalid(f"spec.{field}", spec.get(field), FIELD_IMMUTABLE))
    stored = set((old.get("status") or {}).get("storedVersions") or [])
    names = {v.get("name") for v in spec.get("versions") or [] if isinstance(v, dict)}
    for i, version in enumerate(sorted(stored - names)):
        errs.append(FieldError.invalid(
            f"status.storedVersions[{i}]", version,
            "must appear in spec.versions"))
    return errs


def _validate(crd: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return [FieldError.required("spec")]
    group = str(spec.get("group") or "")
    given = spec.get("names")
    names: Obj = given if isinstance(given, dict) else {}
    plural = str(names.get("plural") or "")
    name = str((crd.get("metadata") or {}).get("name") or "")
    if name != f"{plural}.{group}":
        errs.append(FieldError.invalid("metadata.name", name,
                                       'must be spec.names.plural+"."+spec.group'))
    if not group:
        errs.append(FieldError.required("spec.group"))
    else:
        errs.extend(FieldError.invalid("spec.group", group, m)
                    for m in is_dns1123_subdomain(group))
        if "." not in group:
            errs.append(FieldError.invalid("spec.group", group,
                                           "should be a domain with at least one dot"))
    scope = spec.get("scope")
    if not scope:
        errs.append(FieldError.required("spec.scope"))
    elif scope not in _SCOPES:
        errs.append(FieldError.not_supported("spec.scope", scope, _SCOPES))
    errs.extend(_validate_names(names, "spec.names"))
    errs.extend(_validate_versions(spec.get("versions"), "spec.versions"))
    conversion = spec.get("conversion") or {}
    strategy = conversion.get("strategy") if isinstance(conversion, dict) else None
    if strategy not in _STRATEGIES:
        errs.append(FieldError.not_supported("spec.conversion.strategy", strategy, _STRATEGIES))
    elif strategy == "Webhook" and not (conversion.get("webhook") or {}).get("clientConfig"):
        errs.append(FieldError.required("spec.conversion.webhook",
                                        "required when strategy is set to Webhook"))
    elif strategy == "Webhook":
        errs.extend(_validate_review_versions(
            conversion["webhook"].get("conversionReviewVersions"),
            "spec.conversion.conversionReviewVersions"))
    elif (conversion.get("webhook") or {}).get("clientConfig"):
        errs.append(FieldError.forbidden("spec.conversion.webhookClientConfig",
                                         "should not be set when strategy is not set to "
                                         "Webhook"))
    return errs


def _validate_review_versions(versions: Any, path: str) -> list[FieldError]:
    """Upstream's validateConversionReviewVersions: some, unique, DNS labels, one of them
    a ConversionReview version the server speaks."""
    if not isinstance(versions, list) or not versions:
        return [FieldError.required(path)]
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, version in enumerate(versions):
        text = str(version)
        if text in seen:
            errs.append(FieldError.invalid(f"{path}[{i}]", text, "duplicate version"))
            continue
        seen.add(text)
        errs.extend(FieldError.invalid(f"{path}[{i}]", text, m) for m in is_dns1035_label(text))
    if not seen & set(REVIEW_VERSIONS):
        errs.append(FieldError.invalid(path, versions, "must include at least one of "
                                       + ", ".join(REVIEW_VERSIONS)))
    return errs


def _validate_names(names: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for field in ("plural", "singular"):
        value = str(names.get(field) or "")
        if not value:
            if field == "plural":
                errs.append(FieldError.required(f"{path}.{field}"))
            continue
        problems = is_dns1035_label(value)
        if problems:
            errs.append(FieldError.invalid(f"{path}.{field}", value, ",".join(problems)))
    for field in ("kind", "listKind"):
        value = str(names.get(field) or "")
        if not value:
            errs.append(FieldError.required(f"{path}.{field}"))
            continue
        problems = is_dns1035_label(value.lower())
        if problems:
            errs.append(FieldError.invalid(
                f"{path}.{field}", value,
                "may have mixed case, but should otherwise match: " + ",".join(problems)))
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        errs.append(FieldError.invalid(f"{path}.listKind", names.get("listKind"),
                                       "kind and listKind may not be the same or parsing "
                                       "become ambiguous"))
    for field in ("shortNames", "categories"):
        for i, value in enumerate(names.get(field) or []):
            problems = is_dns1035_label(str(value))
            if problems:
                errs.append(FieldError.invalid(f"{path}.{field}[{i}]", value,
                                               ",".join(problems)))
    return errs


def _validate_versions(versions: Any, path: str) -> list[FieldError]:
    if not isinstance(versions, list) or not versions:
        return [FieldError.invalid(path, versions or [], "must have exactly one version "
                                   "marked as storage version")]
    errs: list[FieldError] = []
    seen: set[str] = set()
    storage = 0
    for i, version in enumerate(versions):
        vpath = f"{path}[{i}]"
        if not isinstance(version, dict):
            errs.append(FieldError.invalid(vpath, version, "must be an object"))
            continue
        name = str(version.get("name") or "")
        if not name:
            errs.append(FieldError.required(f"{vpath}.name"))
        else:
            errs.extend(FieldError.invalid(f"{vpath}.name", name, m)
                        for m in is_dns1035_label(name))
            if name in seen:
                errs.append(FieldError.invalid(path, versions, "must contain unique version "
                                               "names"))
            seen.add(name)
        storage += bool(version.get("storage"))
        errs.extend(_validate_version(version, vpath))
    if storage != 1:
        errs.append(FieldError.invalid(path, versions, "must have exactly one version "
                                       "marked as storage version"))
    if not any(isinstance(v, dict) and v.get("served") for v in versions):
        errs.append(FieldError.invalid(path, versions, "must have at least one version "
                                       "marked as served"))
    return errs


def _validate_version(version: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    schema = (version.get("schema") or {}).get("openAPIV3Schema")
    schema_path = f"{path}.schema.openAPIV3Schema"
    if not isinstance(schema, dict):
        errs.append(FieldError.required(schema_path, "schemas are required"))
    else:
        errs.extend(validate_structural(schema, schema_path))
        errs.extend(_validate_defaults(schema, schema_path))
        errs.extend(_compile_rules(schema, schema_path))
    subresources = version.get("subresources") or {}
    scale = subresources.get("scale") if isinstance(subresources, dict) else None
    if isinstance(scale, dict):
        spath = f"{path}.subresources.scale"
        for field in ("specReplicasPath", "statusReplicasPath"):
            value = scale.get(field)
            if not value:
                errs.append(FieldError.required(f"{spath}.{field}"))
            elif not str(value).startswith("."):
                errs.append(FieldError.invalid(f"{spath}.{field}", value,
                                               "should be a json path under .spec or .status"))
    for i, column in enumerate(version.get("additionalPrinterColumns") or []):
        cpath = f"{path}.additionalPrinterColumns[{i}]"
        if not isinstance(column, dict):
            continue
        if not column.get("name"):
            errs.append(FieldError.required(f"{cpath}.name"))
        if column.get("type") not in _COLUMN_TYPES:
            errs.append(FieldError.not_supported(f"{cpath}.type", column.get("type"),
                                                 _COLUMN_TYPES))
        json_path = column.get("jsonPath")
        if not json_path:
            errs.append(FieldError.required(f"{cpath}.JSONPath"))
        elif not _JSON_PATH.match(str(json_path)):
            errs.append(FieldError.invalid(f"{cpath}.JSONPath", json_path,
                                           "must be a simple json path starting with ."))
    return errs


def _validate_defaults(schema: Any, path: str) -> list[FieldError]:
    """A default must itself be valid under its node's schema."""
    errs: list[FieldError] = []
    if not isinstance(schema, dict):
        return errs
    if "default" in schema:
        for err in schemavalidation.validate(schema, schema["default"], ""):
            detail = err.detail.replace("<nil> in body", "in body").replace(". in body",
                                                                            "in body")
            errs.append(FieldError(f"{path}.default" + (f".{err.field}" if err.field != "<nil>"
                                                         else ""),
                                   err.type, detail, err.value))
    for key, child in (schema.get("properties") or {}).items():
        errs.extend(_validate_defaults(child, f"{path}.properties[{key}]"))
    if isinstance(schema.get("items"), dict):
        errs.extend(_validate_defaults(schema["items"], f"{path}.items"))
    if isinstance(schema.get("additionalProperties"), dict):
        errs.extend(_validate_defaults(schema["additionalProperties"],
                                       f"{path}.additionalProperties"))
    return errs


def _compile_rules(schema: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not isinstance(schema, dict):
        return errs
    for i, spec in enumerate(schema.get("x-kubernetes-validations") or []):
        rpath = f"{path}.x-kubernetes-validations[{i}]"
        if not isinstance(spec, dict) or not spec.get("rule"):
            errs.append(FieldError.required(f"{rpath}.rule"))
            continue
        reason = spec.get("reason")
        if reason is not None and not cel.valid_reason(reason):
            errs.append(FieldError.not_supported(
                f"{rpath}.reason", reason, ["FieldValueDuplicate", "FieldValueForbidden",
                                            "FieldValueInvalid", "FieldValueRequired"]))
        for field in ("rule", "messageExpression"):
            if not spec.get(field):
                continue
            try:
                cel.compile_expression(str(spec[field]))
            except cel.CompileError as err:
                errs.append(FieldError.invalid(f"{rpath}.{field}", spec[field],
                                               f"compilation failed: {err}"))
    for key, child in (schema.get("properties") or {}).items():
        errs.extend(_compile_rules(child, f"{path}.properties[{key}]"))
    for sub in ("items", "additionalProperties"):
        if isinstance(schema.get(sub), dict):
            errs.extend(_compile_rules(schema[sub], f"{path}.{sub}"))
    return errs
