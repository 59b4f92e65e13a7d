"""Content negotiation: what a client sends (JSON or YAML) and what it asks back.

A client may ask for the object itself (JSON or YAML), a `Table` (kubectl get), or only
metadata (`PartialObjectMetadata`, used by garbage collectors). Protobuf is not served; a
client that accepts JSON as well gets JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson
import yaml

from kybernetes.api import errors
from kybernetes.api.protobuf import decode_kubernetes_protobuf, is_protobuf

try:
    _YAMLLoader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _YAMLLoader = yaml.SafeLoader

Shape = Literal["object", "table", "metadata"]


@dataclass(frozen=True)
class Wanted:
    shape: Shape = "object"
    yaml: bool = False


def _params(media: str) -> tuple[str, dict[str, str]]:
    head, *rest = [p.strip() for p in media.split(";")]
    params: dict[str, str] = {}
    for part in rest:
        key, _, value = part.partition("=")
        params[key.strip()] = value.strip()
    return head.lower(), params


def negotiate(accept: str) -> Wanted:
    """The first acceptable representation in the client's Accept list."""
    if not accept:
        return Wanted()
    for media in accept.split(","):
        kind, params = _params(media)
        if kind not in ("application/json", "application/yaml", "*/*", "application/*"):
            continue
        as_ = params.get("as", "")
        if as_:
            if params.get("g") != "meta.k8s.io" or params.get("v") not in ("v1", "v1beta1"):
                continue
            if as_ == "Table":
                return Wanted("table")
            if as_ in ("PartialObjectMetadata", "PartialObjectMetadataList"):
                return Wanted("metadata")
            continue
        return Wanted("object", kind == "application/yaml")
    raise errors.not_acceptable(
        "only the following media types are accepted: application/json, application/yaml, "
        "application/json;as=Table;v=v1;g=meta.k8s.io")


_JSON_KINDS = ("application/json", "application/json-patch+json",
               "application/merge-patch+json", "application/strategic-merge-patch+json",
               "*/*", "")


def decode_body(body: bytes, content_type: str) -> Any:
    """Decode a request body as JSON, YAML or Kubernetes protobuf, by its declared type."""
    kind, _ = _params(content_type or "application/json")
    if not body.strip():
        raise errors.bad_request("the request body is empty")
    if is_protobuf(kind):
        decoded = decode_kubernetes_protobuf(body)
    elif kind in ("application/yaml", "application/apply-patch+yaml", "text/yaml"):
        decoded = decode_yaml(body)
    elif kind not in _JSON_KINDS:
        raise errors.unsupported_media_type(content_type)
    else:
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError as err:
            raise errors.bad_request(
                f"couldn't get version/kind; json parse error: {err}") from None
    # A JSON text nests no deeper than it has brackets and braces: counting them (in C) spares
    # walking every ordinary body.
    if kind in _JSON_KINDS and body.count(b"{") + body.count(b"[") <= MAX_DEPTH:
        return decoded
    check_depth(decoded)
    return decoded


def decode_yaml(body: bytes) -> Any:
    """YAML to objects, refusing what sigs.k8s.io/yaml refuses before anything is built:
    alias bombs (upstream's alias-ratio rule) and nesting deeper than `MAX_DEPTH`."""
    try:
        _check_yaml_events(yaml.parse(body, Loader=_YAMLLoader))
        return yaml.load(body, Loader=_YAMLLoader)
    except yaml.YAMLError as err:
        raise errors.bad_request(f"error converting YAML to JSON: {err}") from None


# How deep a request body may nest (a Kubernetes object needs a few dozen levels; storage
# encodes at most 254).
MAX_DEPTH = 100
# goyaml.v2's thresholds: above 100 aliases and 1000 decoded nodes, the share of nodes
# decoded through aliases may not exceed 99% at 400k nodes, falling to 10% at 4M.
_ALIAS_RATIO_LOW = 400_000
_ALIAS_RATIO_HIGH = 4_000_000


def _allowed_alias_ratio(decoded: int) -> float:
    if decoded <= _ALIAS_RATIO_LOW:
        return 0.99
    if decoded >= _ALIAS_RATIO_HIGH:
        return 0.10
    share = (decoded - _ALIAS_RATIO_LOW) / (_ALIAS_RATIO_HIGH - _ALIAS_RATIO_LOW)
    return 0.99 - 0.89 * share


def _check_yaml_events(events: Any) -> None:
    """Walk the parser's events (no objects built): count nodes as they would be decoded,
    an alias counting the whole subtree it repeats, and the nesting depth."""
    sizes: dict[str, int] = {}
    # Per open collection: (its anchor, the decoded count when it started).
    open_: list[tuple[str | None, int]] = []
    decoded = aliased = 0
    for event in events:
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            decoded += 1
            open_.append((event.anchor, decoded))
            if len(open_) > MAX_DEPTH:
                raise errors.bad_request(
                    f"error converting YAML to JSON: yaml: exceeded max depth of {MAX_DEPTH}")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            anchor, started = open_.pop()
            if anchor is not None:
                sizes[anchor] = decoded - started + 1
        elif isinstance(event, yaml.ScalarEvent):
            decoded += 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            repeated = sizes.get(event.anchor or "", 1)
            decoded += repeated
            aliased += repeated
            if aliased > 100 and decoded > 1000 and \
                    aliased / decoded > _allowed_alias_ratio(decoded):
                raise errors.bad_request("error converting YAML to JSON: yaml: document "
                                         "contains excessive aliasing")


def check_depth(obj: Any) -> None:
    """A decoded body nesting deeper than `MAX_DEPTH` is a 400 (iteratively: a deep body
    must not exhaust the interpreter's recursion)."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise errors.bad_request(
                f"the request body nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, (dict, list)))


def encode_yaml(obj: Any) -> bytes:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False).encode()
