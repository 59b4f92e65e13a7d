"""The string formats a custom resource schema may check (upstream's
apiserver/validation/formats.go: the formats kube-openapi's strfmt registry knows, minus
those that are unsafe to check); a format not listed is not checked."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable

from kybernetes.api import timeutil

_HOSTNAME = re.compile(
    r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}"
    r"[a-zA-Z0-9])?)*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
                   re.IGNORECASE)
_UUID_VERSION = {"uuid3": "3", "uuid4": "4", "uuid5": "5"}
_MAC = re.compile(r"^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d|w))+$")
_HEXCOLOR = re.compile(r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_BSON = re.compile(r"^[0-9a-fA-F]{24}$")


def _uri(value: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", value)) and " " not in value


def _byte(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _ip(version: int) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        try:
            return ipaddress.ip_address(value).version == version
        except ValueError:
            return False
    return check


def _cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return "/" in value


def _datetime(value: str) -> bool:
    return "T" in value.upper() and timeutil.parse_time(value) is not None


def _uuid(fmt: str) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        if not _UUID.match(value):
            return False
        digits = value.replace("-", "")
        return fmt not in _UUID_VERSION or digits[12] == _UUID_VERSION[fmt]
    return check


CHECKS: dict[str, Callable[[str], bool]] = {
    "bsonobjectid": lambda v: bool(_BSON.match(v)),
    "uri": _uri,
    "email": lambda v: bool(_EMAIL.match(v)),
    "hostname": lambda v: len(v) <= 255 and bool(_HOSTNAME.match(v)),
    "ipv4": _ip(4),
    "ipv6": _ip(6),
    "cidr": _cidr,
    "mac": lambda v: bool(_MAC.match(v)),
    "uuid": _uuid("uuid"),
    "uuid3": _uuid("uuid3"),
    "uuid4": _uuid("uuid4"),
    "uuid5": _uuid("uuid5"),
    "hexcolor": lambda v: bool(_HEXCOLOR.match(v)),
    "byte": _byte,
    "date": lambda v: bool(_DATE.match(v)),
    "duration": lambda v: bool(_DURATION.match(v)),
    "datetime": _datetime,
    "date-time": _datetime,
}


def valid(fmt: str, value: str) -> bool:
    """Whether `value` is in `fmt`; formats without a check accept anything."""
    check = CHECKS.get(fmt)
    return check is None or check(value)
