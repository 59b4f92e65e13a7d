"""Kubernetes `Status` errors.

Every failure the API server reports is one of these: an exception carrying the HTTP code,
upstream's `reason`, a message and optional `details` (with `causes` naming each field).
The constructors mirror `k8s.io/apimachinery/pkg/api/errors` so that messages read as
upstream's do, e.g. `pods "web" not found`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(frozen=True)
class FieldError:
    """One invalid field, as upstream's `field.Error`: a path, a cause type and a detail."""

    field: str
    type: str
    detail: str
    value: Any = None

    @staticmethod
    def required(path: str, detail: str = "") -> FieldError:
        return FieldError(path, "FieldValueRequired", detail)

    @staticmethod
    def invalid(path: str, value: Any, detail: str) -> FieldError:
        return FieldError(path, "FieldValueInvalid", detail, value)

    @staticmethod
    def not_supported(path: str, value: Any, supported: list[str]) -> FieldError:
        quoted = ", ".join(f'"{s}"' for s in supported)
        return FieldError(path, "FieldValueNotSupported", f"supported values: {quoted}", value)

    @staticmethod
    def duplicate(path: str, value: Any) -> FieldError:
        return FieldError(path, "FieldValueDuplicate", "", value)

    @staticmethod
    def forbidden(path: str, detail: str) -> FieldError:
        return FieldError(path, "FieldValueForbidden", detail)

    @staticmethod
    def too_long(path: str, value: Any, limit: int) -> FieldError:
        return FieldError(path, "FieldValueTooLong", f"must have at most {limit} bytes", value)

    def message(self) -> str:
        """Upstream's `field.Error.Error()` text."""
        head = _TYPE_TEXT.get(self.type, "Invalid value")
        if self.type in _VALUE_NOT_SHOWN or self.value == OMITTED_VALUE:
            text = f"{self.field}: {head}"
        else:
            text = f"{self.field}: {head}: {_render_value(self.value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def cause(self) -> dict[str, Any]:
        text = self.message().split(": ", 1)[1]
        return {"reason": self.type, "message": text, "field": self.field}


# Upstream prints this in place of values too large or sensitive to show.
OMITTED_VALUE = "<value omitted>"

_TYPE_TEXT = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "InternalError": "Internal error",
    "FieldValueTypeInvalid": "Invalid value",
}
_VALUE_NOT_SHOWN = {"FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong",
                    "InternalError"}


def _render_value(value: Any) -> str:
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


@dataclass
class StatusError(Exception):
    """An API error rendered as a `Status` object."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def status(self) -> dict[str, Any]:
        return status_body("Failure", message=self.message, reason=self.reason,
                           details=self.details, code=self.code)


# Field order of upstream's metav1.Status, StatusDetails and StatusCause, as its JSON
# serializer writes them (every field but metadata is `omitempty`).
_STATUS_FIELDS = ("status", "message", "reason", "details", "code")
_DETAIL_FIELDS = ("name", "group", "kind", "uid", "causes", "retryAfterSeconds")
_CAUSE_FIELDS = ("reason", "message", "field")


def status_body(status: str, *, message: str = "", reason: str = "",
                details: dict[str, Any] | None = None, code: int = 0) -> dict[str, Any]:
    """A `Status` object laid out byte for byte as upstream writes it."""
    fields: dict[str, Any] = {"status": status, "message": message, "reason": reason,
                              "details": _ordered(details or {}, _DETAIL_FIELDS),
                              "code": code}
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}}
    body.update((name, fields[name]) for name in _STATUS_FIELDS if fields[name])
    return body


def _ordered(details: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    """Upstream's fields in its order, empty ones omitted; any other key kept after them."""
    out = {name: details[name] for name in order if details.get(name)}
    out.update((k, v) for k, v in details.items() if k not in order)
    if "causes" in out:
        out["causes"] = [_ordered(cause, _CAUSE_FIELDS) for cause in out["causes"]]
    return out


def deleted_status(group: str, resource: str, name: str, uid: str) -> dict[str, Any]:
    """What a delete answers for kinds that do not return the deleted object (upstream's
    store `finalizeDelete`): details name the resource (as `kind`) and the object's uid."""
    return status_body("Success", details={"name": name, "group": group, "kind": resource,
                                           "uid": uid})


def _qualified(group: str, resource: str) -> str:
    return f"{resource}.{group}" if group else resource


def _details(group: str, resource: str, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": resource}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    return details


def not_found(group: str, resource: str, name: str) -> StatusError:
    return StatusError(
        404, "NotFound", f'{_qualified(group, resource)} "{name}" not found',
        _details(group, resource, name),
    )


def already_exists(group: str, resource: str, name: str) -> StatusError:
    return StatusError(
        409, "AlreadyExists", f'{_qualified(group, resource)} "{name}" already exists',
        _details(group, resource, name),
    )


def conflict(group: str, resource: str, name: str, why: str) -> StatusError:
    return StatusError(
        409, "Conflict",
        f'Operation cannot be fulfilled on {_qualified(group, resource)} "{name}": {why}',
        _details(group, resource, name),
    )


def stale_conflict(group: str, resource: str, name: str) -> StatusError:
    return conflict(
        group, resource, name,
        "the object has been modified; please apply your changes to the latest version and "
        "try again",
    )


def invalid(group: str, kind: str, name: str, errors: list[FieldError]) -> StatusError:
    joined = ", ".join(e.message() for e in errors)
    text = f"[{joined}]" if len(errors) > 1 else joined
    details: dict[str, Any] = {"name": name, "kind": kind, "causes": [e.cause() for e in errors]}
    if group:
        details["group"] = group
    qualified_kind = f"{kind}.{group}" if group else kind
    return StatusError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {text}', details)


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def method_not_allowed(message: str) -> StatusError:
    return StatusError(405, "MethodNotAllowed", message)


def unauthorized(message: str = "Unauthorized") -> StatusError:
    """401: no valid credential (upstream's body says just "Unauthorized")."""
    return StatusError(401, "Unauthorized", message)


def forbidden(group: str, resource: str, name: str, why: str) -> StatusError:
    return StatusError(
        403, "Forbidden", f'{_qualified(group, resource)} "{name}" is forbidden: {why}',
        _details(group, resource, name),
    )


def gone(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def too_large(message: str) -> StatusError:
    return StatusError(413, "RequestEntityTooLarge", message)


def unsupported_media_type(content_type: str) -> StatusError:
    return StatusError(
        415, "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        f'application/json, application/yaml; got "{content_type}"',
    )


def not_acceptable(message: str) -> StatusError:
    return StatusError(406, "NotAcceptable", message)


def unavailable(message: str) -> StatusError:
    return StatusError(503, "ServiceUnavailable", message)


def internal(message: str) -> StatusError:
    return StatusError(500, "InternalError", message)
