"""Shared validation: name and label syntax, ObjectMeta, label selectors, field paths.

Ports apimachinery's `util/validation` (DNS names, label keys and values, ports, IPs),
`api/validation/objectmeta.go` and `apis/meta/v1/validation` over plain dicts. Field paths
are rendered as upstream's `field.Path.String()`: `spec.containers[0].ports[1]`, map keys
as `metadata.labels[app]`. Every function returns a list of `FieldError`s.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from kybernetes.api.errors import OMITTED_VALUE, FieldError
from kybernetes.api.quantity import Quantity, QuantityError

Errors = list[FieldError]
NameFn = Callable[[str, bool], list[str]]

FIELD_IMMUTABLE = "field is immutable"
IS_NEGATIVE = "must be greater than or equal to 0"
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * (1 << 10)
OMIT = OMITTED_VALUE


# ---------------------------------------------------------------- paths and accessors

def child(path: str, *names: str) -> str:
    for name in names:
        path = f"{path}.{name}" if path else name
    return path


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def key(path: str, k: str) -> str:
    return f"{path}[{k}]"


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def as_int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return default


def get(obj: Any, *path: str) -> Any:
    """Follow dict keys; None when any step is missing or not a dict."""
    for name in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    return obj


def is_empty(value: Any) -> bool:
    """Go's zero value (as decoded): None, "", 0, False, [] or {}."""
    return value is None or value == "" or value == [] or value == {} or value is False or (
        isinstance(value, int) and not isinstance(value, bool) and value == 0)


# ---------------------------------------------------------------- error strings

def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def max_len_bytes_error(length: int) -> str:
    return f"must be no more than {length} bytes"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    quoted = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {quoted}regex used for validation is '{fmt}')"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


def empty_error() -> str:
    return "must be non-empty"


def too_long(path: str, limit: int) -> FieldError:
    """Upstream `field.TooLong`: the value is omitted from the message."""
    unit = "byte" if limit == 1 else "bytes"
    return FieldError(path, "FieldValueTooLong", f"may not be more than {limit} {unit}", OMIT)


def too_many(path: str, actual: int, limit: int) -> FieldError:
    unit = "item" if limit == 1 else "items"
    return FieldError(path, "FieldValueTooMany", f"must have at most {limit} {unit}", actual)


def not_found(path: str, value: Any, detail: str = "") -> FieldError:
    return FieldError(path, "FieldValueNotFound", detail, value)


def internal(path: str, detail: str) -> FieldError:
    return FieldError(path, "InternalError", detail)


# ---------------------------------------------------------------- names

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric "
                      "characters or '-', and must start and end with an alphanumeric character")
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                          "characters, '-' or '.', and must start and end with an alphanumeric "
                          "character")
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or "
                      "'-', start with an alphabetic character, and end with an alphanumeric "
                      "character")
_WILDCARD_FMT = "\\*\\." + _DNS1123_SUBDOMAIN_FMT
_WILDCARD_MSG = ("a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS "
                 "subdomain, which must consist of lower case alphanumeric characters, '-' or "
                 "'.' and end with an alphanumeric character")

_dns1123_label_re = re.compile(f"^{_DNS1123_LABEL_FMT}$")
_dns1123_subdomain_re = re.compile(f"^{_DNS1123_SUBDOMAIN_FMT}$")
_dns1035_label_re = re.compile(f"^{_DNS1035_LABEL_FMT}$")
_wildcard_re = re.compile(f"^{_WILDCARD_FMT}$")


def _full(regex: re.Pattern[str], value: str) -> bool:
    # Go's `$` matches only at the very end; Python's also before a trailing newline.
    return "\n" not in value and regex.match(value) is not None


def is_dns1123_label(value: str) -> list[str]:
    errs = []
    if len(value.encode()) > 63:
        errs.append(max_len_error(63))
    if not _full(_dns1123_label_re, value):
        if _full(_dns1123_subdomain_re, value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if len(value.encode()) > 253:
        errs.append(max_len_error(253))
    if not _full(_dns1123_subdomain_re, value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def _content_dns1123_subdomain(value: str) -> list[str]:
    """The `validate/content` flavour, whose length message counts bytes."""
    errs = []
    if len(value.encode()) > 253:
        errs.append(max_len_bytes_error(253))
    if not _full(_dns1123_subdomain_re, value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    errs = []
    if len(value.encode()) > 63:
        errs.append(max_len_error(63))
    if not _full(_dns1035_label_re, value):
        errs.append(regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_wildcard_dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if len(value.encode()) > 253:
        errs.append(max_len_error(253))
    if not _full(_wildcard_re, value):
        errs.append(regex_error(_WILDCARD_MSG, _WILDCARD_FMT, "*.example.com"))
    return errs


def _mask_trailing_dash(name: str) -> str:
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


def is_path_segment_name(name: str, prefix: bool) -> list[str]:
    """apimachinery's path.IsValidPathSegmentName (prefix: IsValidPathSegmentPrefix)."""
    if not prefix and name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


# ---------------------------------------------------------------- labels, keys, misc syntax

_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_KEY_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start "
                  "and end with an alphanumeric character")
_label_key_re = re.compile(f"^{_LABEL_KEY_FMT}$")
_LABEL_VALUE_FMT = f"({_LABEL_KEY_FMT})?"
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric "
                    "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                    "character")
_label_value_re = re.compile(f"^{_LABEL_VALUE_FMT}$")


def is_qualified_name(value: str) -> list[str]:
    """apimachinery `IsQualifiedName` (= content.IsLabelKey)."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + empty_error())
        else:
            errs.extend("prefix part " + m for m in _content_dns1123_subdomain(prefix))
    else:
        return ["a valid label key " + regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName",
                                                   "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part " + empty_error())
    elif len(name.encode()) > 63:
        errs.append("name part " + max_len_bytes_error(63))
    if not _full(_label_key_re, name):
        errs.append("name part " + regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName",
                                               "my.name", "123-abc"))
    return errs


def is_valid_label_value(value: str) -> list[str]:
    errs = []
    if len(value.encode()) > 63:
        errs.append(max_len_bytes_error(63))
    if not _full(_label_value_re, value):
        errs.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value",
                                "12345"))
    return errs


_CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+"
_config_map_key_re = re.compile(f"^{_CONFIG_MAP_KEY_FMT}$")


def _ch_dir_prefix(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def is_config_map_key(value: str) -> list[str]:
    errs = []
    if len(value.encode()) > 253:
        errs.append(max_len_error(253))
    if not _full(_config_map_key_re, value):
        errs.append(regex_error("a valid config key must consist of alphanumeric characters, "
                                "'-', '_' or '.'", _CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME",
                                "key-name"))
    return errs + _ch_dir_prefix(value)


_ENV_VAR_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
_env_var_re = re.compile(f"^{_ENV_VAR_FMT}$")


def is_env_var_name(value: str) -> list[str]:
    errs = []
    if not _full(_env_var_re, value):
        errs.append(regex_error("a valid environment variable name must consist of alphabetic "
                                "characters, digits, '_', '-', or '.', and must not start with "
                                "a digit", _ENV_VAR_FMT, "my.env-name", "MY_ENV.NAME",
                                "MyEnvName1"))
    return errs + _ch_dir_prefix(value)


def is_relaxed_env_var_name(value: str) -> list[str]:
    errs = []
    if not value:
        errs.append("environment variable name " + empty_error())
    for ch in value:
        if ord(ch) > 127 or not ch.isprintable() or ch == "=":
            errs.append("a valid environment variable name must consist only of printable "
                        "ASCII characters other than '='")
            break
    return errs


_C_IDENT_FMT = "[A-Za-z_][A-Za-z0-9_]*"
_c_ident_re = re.compile(f"^{_C_IDENT_FMT}$")


def is_c_identifier(value: str) -> list[str]:
    if _full(_c_ident_re, value):
        return []
    return [regex_error("a valid C identifier must start with alphabetic character or '_', "
                        "followed by a string of alphanumeric characters or '_'", _C_IDENT_FMT,
                        "my_name", "MY_NAME", "MyName")]


def is_valid_port_num(port: int) -> list[str]:
    return [] if 1 <= port <= 65535 else [inclusive_range_error(1, 65535)]


_port_name_charset = re.compile("^[-a-z0-9]+$")
_port_name_letter = re.compile("[a-z]")


def is_valid_port_name(port: str) -> list[str]:
    errs = []
    if len(port) > 15:
        errs.append(max_len_error(15))
    if not _full(_port_name_charset, port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _port_name_letter.search(port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


_PERCENT_FMT = "[0-9]+%"
_percent_re = re.compile(f"^{_PERCENT_FMT}$")


def is_valid_percent(value: str) -> list[str]:
    if _full(_percent_re, value):
        return []
    return [regex_error("a valid percent string must be a numeric string followed by an "
                        "ending '%'", _PERCENT_FMT, "1%", "93%")]


_HEADER_FMT = "[-A-Za-z0-9]+"
_header_re = re.compile(f"^{_HEADER_FMT}$")


def is_http_header_name(value: str) -> list[str]:
    if _full(_header_re, value):
        return []
    return [regex_error("a valid HTTP header must consist of alphanumeric characters or '-'",
                        _HEADER_FMT, "X-Header-Name")]


_HTTP_PATH_FMT = "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+"
_http_path_re = re.compile(f"^{_HTTP_PATH_FMT}$")


def is_domain_prefixed_path(path: str, value: str) -> Errors:
    if not value:
        return [FieldError.required(path)]
    segments = value.split("/", 1)
    if len(segments) != 2 or not segments[0] or not segments[1]:
        return [FieldError.invalid(path, value,
                                   'must be a domain-prefixed path (such as "acme.io/foo")')]
    errs = [FieldError.invalid(path, segments[0], m) for m in is_dns1123_subdomain(segments[0])]
    if not _full(_http_path_re, segments[1]):
        errs.append(FieldError.invalid(path, segments[1],
                                       regex_error("Invalid path", _HTTP_PATH_FMT)))
    return errs


def is_valid_ip(path: str, value: str) -> Errors:
    """apimachinery `IsValidIP` (strict: no leading zeros, no IPv4-mapped, canonical)."""
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        if _sloppy_ipv4(value):
            return [FieldError.invalid(path, value, "must not have leading 0s")]
        return [FieldError.invalid(path, value,
                                   "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return [FieldError.invalid(path, value, "must not be an IPv4-mapped IPv6 address")]
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
        return [FieldError.invalid(path, value,
                                   "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
    if str(ip) != value:
        return [FieldError.invalid(path, value, f'must be in canonical form ("{ip}")')]
    return []


def _sloppy_ipv4(value: str) -> bool:
    parts = value.split(".")
    return len(parts) == 4 and all(p.isdigit() and p.isascii() and int(p) < 256 for p in parts)


_CIDR_ERROR = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


def is_valid_cidr(path: str, value: str) -> Errors:
    """apimachinery `IsValidCIDR` (strict)."""
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return [FieldError.invalid(path, value,
                                   _CIDR_ERROR)]
    if "/" not in value:
        return [FieldError.invalid(path, value,
                                   _CIDR_ERROR)]
    addr = ipaddress.ip_address(value.split("/", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return [FieldError.invalid(path, value, "must not have an IPv4-mapped IPv6 address")]
    if addr != net.network_address:
        return [FieldError.invalid(path, value, "must not have bits set beyond the prefix length")]
    if str(net) != value:
        return [FieldError.invalid(path, value, f'must be in canonical form ("{net}")')]
    return []


def is_ipv6(value: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(value), ipaddress.IPv6Address)
    except ValueError:
        return False


# ---------------------------------------------------------------- field helpers

def validate_dns1123_label(value: str, path: str) -> Errors:
    return [FieldError.invalid(path, value, m) for m in is_dns1123_label(value)]


def validate_dns1123_subdomain(value: str, path: str) -> Errors:
    return [FieldError.invalid(path, value, m) for m in is_dns1123_subdomain(value)]


def validate_qualified_name(value: str, path: str) -> Errors:
    return [FieldError.invalid(path, value, m) for m in is_qualified_name(value)]


def validate_nonnegative(value: Any, path: str) -> Errors:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return [FieldError.invalid(path, value, IS_NEGATIVE)]
    return []


def validate_immutable(new: Any, old: Any, path: str) -> Errors:
    if not semantic_equal(new, old):
        return [FieldError.invalid(path, new, FIELD_IMMUTABLE)]
    return []


def validate_label_name(name: str, path: str) -> Errors:
    return [FieldError.invalid(path, name, m) for m in is_qualified_name(name)]


def validate_labels(labels: Any, path: str) -> Errors:
    errs: Errors = []
    for k, v in as_dict(labels).items():
        errs.extend(validate_label_name(k, path))
        errs.extend(FieldError.invalid(path, v, m) for m in is_valid_label_value(as_str(v)))
    return errs


def validate_annotations(annotations: Any, path: str) -> Errors:
    errs: Errors = []
    total = 0
    for k, v in as_dict(annotations).items():
        errs.extend(FieldError.invalid(path, k, m) for m in is_qualified_name(k.lower()))
        total += len(k.encode()) + len(as_str(v).encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def validate_label_selector(selector: Any, path: str, *,
                            allow_invalid_label_value: bool = False) -> Errors:
    if not isinstance(selector, dict):
        return []
    errs = validate_labels(selector.get("matchLabels"), child(path, "matchLabels"))
    for i, expr in enumerate(as_list(selector.get("matchExpressions"))):
        errs.extend(validate_label_selector_requirement(
            as_dict(expr), index(child(path, "matchExpressions"), i),
            allow_invalid_label_value=allow_invalid_label_value))
    return errs


def validate_label_selector_requirement(req: dict[str, Any], path: str, *,
                                        allow_invalid_label_value: bool = False) -> Errors:
    errs: Errors = []
    op = req.get("operator")
    values = as_list(req.get("values"))
    if op in ("In", "NotIn"):
        if not values:
            errs.append(FieldError.required(child(path, "values"),
                                            "must be specified when `operator` is 'In' or 'NotIn'"))
    elif op in ("Exists", "DoesNotExist"):
        if values:
            errs.append(FieldError.forbidden(
                child(path, "values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
    else:
        errs.append(FieldError.invalid(child(path, "operator"), as_str(op),
                                       "not a valid selector operator"))
    errs.extend(validate_label_name(as_str(req.get("key")), child(path, "key")))
    if not allow_invalid_label_value:
        for i, v in enumerate(values):
            errs.extend(FieldError.invalid(index(child(path, "values"), i), v, m)
                        for m in is_valid_label_value(as_str(v)))
    return errs


class SelectorError(ValueError):
    """A label selector that `LabelSelectorAsSelector` rejects."""


def selector_matches(selector: Any, labels: Any) -> bool:
    """`metav1.LabelSelectorAsSelector(selector).Matches(labels)`; nil selects nothing."""
    if selector is None:
        return False
    if not isinstance(selector, dict):
        raise SelectorError("invalid selector")
    labels = as_dict(labels)
    for k, v in as_dict(selector.get("matchLabels")).items():
        if labels.get(k) != v:
            return False
    for expr in as_list(selector.get("matchExpressions")):
        expr = as_dict(expr)
        k = as_str(expr.get("key"))
        op = expr.get("operator")
        values = [as_str(v) for v in as_list(expr.get("values"))]
        present = k in labels
        if op == "In":
            if not values:
                raise SelectorError("values must be non-empty")
            if not present or labels[k] not in values:
                return False
        elif op == "NotIn":
            if not values:
                raise SelectorError("values must be non-empty")
            if present and labels[k] in values:
                return False
        elif op == "Exists":
            if not present:
                return False
        elif op == "DoesNotExist":
            if present:
                return False
        else:
            raise SelectorError(f"{op!r} is not a valid label selector operator")
    return True


def selector_is_empty(selector: Any) -> bool:
    """Whether `LabelSelectorAsSelector` yields the match-everything selector."""
    return isinstance(selector, dict) and not as_dict(selector.get("matchLabels")) and not \
        as_list(selector.get("matchExpressions"))


# ---------------------------------------------------------------- ObjectMeta

STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})


def validate_finalizer_name(value: str, path: str) -> Errors:
    return [FieldError.invalid(path, value, m) for m in is_qualified_name(value)]


def validate_kube_finalizer_name(value: str, path: str) -> Errors:
    if len(value.split("/")) == 1 and value not in STANDARD_FINALIZERS:
        return [FieldError.invalid(path, value,
                                   "name is neither a standard finalizer name nor is it fully "
                                   "qualified")]
    return []


def _validate_finalizers(finalizers: list[Any], path: str) -> Errors:
    errs: Errors = []
    for f in finalizers:
        errs.extend(validate_finalizer_name(as_str(f), path))
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        errs.append(FieldError.invalid(
            path, finalizers, "finalizer orphan and foregroundDeletion cannot be both set"))
    return errs


def _validate_owner_references(refs: list[Any], path: str) -> Errors:
    errs: Errors = []
    first_controller = ""
    for ref in refs:
        ref = as_dict(ref)
        api_version = as_str(ref.get("apiVersion"))
        kind = as_str(ref.get("kind"))
        group, _, version = api_version.rpartition("/")
        if not version:
            errs.append(FieldError.invalid(child(path, "apiVersion"), api_version,
                                           "version must not be empty"))
        if not kind:
            errs.append(FieldError.invalid(child(path, "kind"), kind, "must not be empty"))
        if not as_str(ref.get("name")):
            errs.append(FieldError.invalid(child(path, "name"), as_str(ref.get("name")),
                                           "must not be empty"))
        if not as_str(ref.get("uid")):
            errs.append(FieldError.invalid(child(path, "uid"), as_str(ref.get("uid")),
                                           "must not be empty"))
        if (group, version, kind) == ("", "v1", "Event"):
            errs.append(FieldError.invalid(path, ref,
                                           "/v1, Kind=Event is disallowed from being an owner"))
        if ref.get("controller") is True:
            current = f"{kind}/{as_str(ref.get('name'))}"
            if first_controller:
                errs.append(FieldError.invalid(
                    path, refs, "Only one reference can have Controller set to true. Found "
                    f'"true" in references for {first_controller} and {current}'))
            else:
                first_controller = current
    return errs


def _validate_field_manager(manager: str, path: str) -> Errors:
    errs: Errors = []
    if len(manager) > 128:
        errs.append(too_long(path, 128))
    for i, ch in enumerate(manager):
        if not ch.isprintable() and ch != " ":
            errs.append(FieldError.invalid(path, manager,
                                           f"invalid character U+{ord(ch):04X} (at position {i})"))
    return errs


def _validate_managed_fields(entries: list[Any], path: str) -> Errors:
    errs: Errors = []
    for i, entry in enumerate(entries):
        entry = as_dict(entry)
        p = index(path, i)
        if entry.get("operation") not in ("Apply", "Update"):
            errs.append(FieldError.invalid(child(p, "operation"), as_str(entry.get("operation")),
                                           "must be `Apply` or `Update`"))
        fields_type = as_str(entry.get("fieldsType"))
        if fields_type and fields_type != "FieldsV1":
            errs.append(FieldError.invalid(child(p, "fieldsType"), fields_type,
                                           "must be `FieldsV1`"))
        errs.extend(_validate_field_manager(as_str(entry.get("manager")), child(p, "manager")))
        if len(as_str(entry.get("subresource"))) > 256:
            errs.append(too_long(child(p, "subresource"), 256))
    return errs


def _validate_meta_common(meta: dict[str, Any], namespaced: bool, path: str) -> Errors:
    errs: Errors = []
    namespace = as_str(meta.get("namespace"))
    if namespaced:
        if not namespace:
            errs.append(FieldError.required(child(path, "namespace")))
        else:
            errs.extend(FieldError.invalid(child(path, "namespace"), namespace, m)
                        for m in name_is_dns_label(namespace, False))
    # Cluster-scoped objects have their namespace cleared before validation (rest.BeforeCreate).
    errs.extend(validate_nonnegative(meta.get("generation"), child(path, "generation")))
    errs.extend(validate_labels(meta.get("labels"), child(path, "labels")))
    errs.extend(validate_annotations(meta.get("annotations"), child(path, "annotations")))
    errs.extend(_validate_owner_references(as_list(meta.get("ownerReferences")),
                                           child(path, "ownerReferences")))
    errs.extend(_validate_finalizers(as_list(meta.get("finalizers")), child(path, "finalizers")))
    errs.extend(_validate_managed_fields(as_list(meta.get("managedFields")),
                                         child(path, "managedFields")))
    return errs


def validate_object_meta(obj: dict[str, Any], namespaced: bool, name_fn: NameFn,
                         path: str = "metadata", *, kube_finalizers: bool = True) -> Errors:
    """Upstream ValidateObjectMeta (core flavour: also checks kube finalizer names).

    Name generation happens before validation upstream; when only `generateName` is given,
    the name it would generate (prefix plus five lowercase letters) is what gets checked.
    """
    meta = as_dict(obj.get("metadata")) if path == "metadata" else obj
    errs: Errors = []
    name = as_str(meta.get("name"))
    generate_name = as_str(meta.get("generateName"))
    if generate_name:
        errs.extend(FieldError.invalid(child(path, "generateName"), generate_name, m)
                    for m in name_fn(generate_name, True))
    if not name and generate_name:
        candidate = generate_name[:58] + "xxxxx"
        if not errs:
            errs.extend(FieldError.invalid(child(path, "name"), candidate, m)
                        for m in name_fn(candidate, False))
    elif not name:
        errs.append(FieldError.required(child(path, "name"), "name or generateName is required"))
    else:
        errs.extend(FieldError.invalid(child(path, "name"), name, m)
                    for m in name_fn(name, False))
    errs.extend(_validate_meta_common(meta, namespaced, path))
    if kube_finalizers:
        for i, f in enumerate(as_list(meta.get("finalizers"))):
            errs.extend(validate_kube_finalizer_name(as_str(f),
                                                     index(child(path, "finalizers"), i)))
    return errs


def validate_object_meta_update(new: dict[str, Any], old: dict[str, Any],
                                path: str = "metadata", *, kube_finalizers: bool = True) -> Errors:
    """Upstream ValidateObjectMetaUpdate."""
    nm = as_dict(new.get("metadata")) if path == "metadata" else new
    om = as_dict(old.get("metadata")) if path == "metadata" else old
    errs: Errors = []
    if om.get("deletionTimestamp"):
        extra = sorted(set(map(str, as_list(nm.get("finalizers"))))
                       - set(map(str, as_list(om.get("finalizers")))))
        if extra:
            quoted = ", ".join(f'"{e}"' for e in extra)
            errs.append(FieldError.forbidden(
                child(path, "finalizers"),
                "no new finalizers can be added if the object is being deleted, found new "
                f"finalizers []string{{{quoted}}}"))
    if not as_str(nm.get("resourceVersion")):
        errs.append(FieldError.invalid(child(path, "resourceVersion"), "",
                                       "must be specified for an update"))
    if as_int(nm.get("generation")) < as_int(om.get("generation")):
        errs.append(FieldError.invalid(child(path, "generation"), as_int(nm.get("generation")),
                                       "must not be decremented"))
    for name in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                 "deletionGracePeriodSeconds"):
        new_v, old_v = nm.get(name), om.get(name)
        if name in ("name", "namespace", "uid"):
            new_v, old_v = as_str(new_v), as_str(old_v)
        if not semantic_equal(new_v, old_v):
            errs.append(FieldError.invalid(child(path, name), new_v, FIELD_IMMUTABLE))
    errs.extend(validate_labels(nm.get("labels"), child(path, "labels")))
    errs.extend(validate_annotations(nm.get("annotations"), child(path, "annotations")))
    errs.extend(_validate_owner_references(as_list(nm.get("ownerReferences")),
                                           child(path, "ownerReferences")))
    errs.extend(_validate_managed_fields(as_list(nm.get("managedFields")),
                                         child(path, "managedFields")))
    if kube_finalizers:
        for i, f in enumerate(as_list(nm.get("finalizers"))):
            errs.extend(validate_kube_finalizer_name(as_str(f),
                                                     index(child(path, "finalizers"), i)))
    return errs


# ---------------------------------------------------------------- semantic equality

_QUANTITY_MAPS = frozenset({"limits", "requests", "overhead", "capacity", "allocatable", "hard",
                            "used", "max", "min", "default", "defaultRequest",
                            "maxLimitRequestRatio", "allocatedResources"})


def _normalise(value: Any, parent_key: str = "") -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if parent_key in _QUANTITY_MAPS and isinstance(v, (str, int, float)) and \
                    not isinstance(v, bool):
                try:
                    out[k] = ("q", Quantity.parse(v).amount)
                    continue
                except QuantityError:
                    pass
            nv = _normalise(v, k)
            if not is_empty(nv):
                out[k] = nv
        return out
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def semantic_equal(a: Any, b: Any) -> bool:
    """apiequality.Semantic.DeepEqual over decoded JSON.

    Absent, null and zero values (`""`, `0`, `false`, `[]`, `{}`) are equal, as they are
    once decoded into Go structs; quantities in resource lists compare by value.
    """
    if a == b:
        return True
    return bool(_normalise(a) == _normalise(b)) if not (is_empty(a) and is_empty(b)) else True


def diff(old: Any, new: Any, path: str = "") -> list[str]:
    """A readable stand-in for upstream's `cmp.Diff`: one `-`/`+` pair per changed leaf."""
    lines: list[str] = []
    _diff(_normalise(old), _normalise(new), path, lines)
    return lines


def _render(value: Any) -> str:
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "q":
        return str(value[1])
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _diff(old: Any, new: Any, path: str, lines: list[str]) -> None:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for k in list(old) + [k for k in new if k not in old]:
            _diff(old.get(k), new.get(k), child(path, k), lines)
        return
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (o, n) in enumerate(zip(old, new, strict=True)):
            _diff(o, n, index(path, i), lines)
        return
    lines.append(f"- \t{path}: {_render(old)}")
    lines.append(f"+ \t{path}: {_render(new)}")


def parse_quantity_field(value: Any) -> Quantity | None:
    try:
        return Quantity.parse(value)
    except QuantityError:
        return None


def unique(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
