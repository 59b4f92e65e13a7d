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


def decode_body(body: bytes, content_type: str) -> Any:
    """Decode a request body as JSON, YAML or Kubernetes protobuf, by its declared type."""
    kind, _ = _params(content_type or "application/json")
    if not body.strip():
        raise errors.bad_request("the request body is empty")
    if is_protobuf(kind):
        return decode_kubernetes_protobuf(body)
    if kind in ("application/yaml", "application/apply-patch+yaml", "text/yaml"):
        return decode_yaml(body)
    if kind not in ("application/json", "application/json-patch+json",
                    "application/merge-patch+json", "application/strategic-merge-patch+json",
                    "*/*", ""):
        raise errors.unsupported_media_type(content_type)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise errors.bad_request(
            f"couldn't get version/kind; json parse error: {err}") from None


def decode_yaml(body: bytes) -> Any:
    try:
        return yaml.load(body, Loader=_YAMLLoader)
    except yaml.YAMLError as err:
        raise errors.bad_request(f"error converting YAML to JSON: {err}") from None


def encode_yaml(obj: Any) -> bytes:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False).encode()
