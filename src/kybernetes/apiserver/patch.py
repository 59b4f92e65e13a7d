"""PATCH bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7386), strategic merge patch.

Each is a pure function of the current object and the patch document. Strategic merge patch
reads the kind's OpenAPI schema for list merge keys; kinds without one (custom resources)
reject it as upstream does.
"""

from __future__ import annotations

from typing import Any

import jsonpatch

from kybernetes.api import errors, schema
from kybernetes.api.registry import ResourceInfo
from kybernetes.api.strategicpatch import json_merge_patch, strategic_merge_patch

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH)


def is_apply(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == APPLY_PATCH


def patch_type(content_type: str) -> str:
    media = content_type.split(";")[0].strip().lower()
    if media not in PATCH_TYPES:
        raise errors.StatusError(
            415, "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types "
            f"include: {', '.join((*PATCH_TYPES, APPLY_PATCH))}")
    return media


def apply_patch(info: ResourceInfo, kind: str, current: dict[str, Any], patch: Any
                ) -> dict[str, Any]:
    if kind == JSON_PATCH:
        if not isinstance(patch, list):
            raise errors.bad_request(
                "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        try:
            result = jsonpatch.apply_patch(current, patch)
        except jsonpatch.JsonPointerException as err:
            raise errors.StatusError(422, "Invalid", f"the server rejected our request due "
                                     f"to an error in our request: {err}") from None
        except (jsonpatch.JsonPatchException, TypeError, KeyError, ValueError) as err:
            raise errors.StatusError(
                422, "Invalid", f"the server rejected our request due to an error in our "
                f"request: {err}") from None
    elif not isinstance(patch, dict):
        raise errors.bad_request("json: cannot unmarshal array into Go value of type "
                                 "map[string]interface {}")
    elif kind == MERGE_PATCH:
        result = json_merge_patch(current, patch)
    else:
        definition = schema.definition_for_kind(info.group, info.version, info.kind)
        if definition is None:
            # Custom resources take every patch type but this one (upstream's patch handler
            # answers with the types it accepts).
            raise errors.StatusError(
                415, "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types "
                f"include: {JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}")
        result = strategic_merge_patch(current, patch, schema.definitions()[definition])
    if not isinstance(result, dict):
        raise errors.bad_request("the patched object is not a JSON object")
    return result
