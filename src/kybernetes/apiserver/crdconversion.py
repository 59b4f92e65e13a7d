"""Converting custom resources between the versions of their CRD (upstream's
apiextensions-apiserver `pkg/apiserver/conversion`).

Custom resources are stored in their CRD's storage version and converted as they cross the
storage boundary (apiserver/store.py): a request's object on its way in, what is read on
its way out. `spec.conversion.strategy: None` only rewrites apiVersion; `Webhook` sends the
objects to the CRD's conversion webhook in one ConversionReview (a whole list page or
every watch event ready at once, as upstream converts a list in one call) through the
admission webhooks' client (its TLS, caBundle and Service resolution), and checks the
answer as upstream's webhookConverter does: the review's uid, as many objects as were sent,
each of the desired apiVersion and the same kind, name, namespace and uid, with metadata
changes limited to labels and annotations (the rest of metadata is the original's).
Failures are answered 500 with upstream's `conversion webhook for <gvk> failed: ...`.
Converted objects are pruned and defaulted with their new version's schema, as upstream's
schema coercer and defaulter do.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import orjson

from kybernetes.api import errors
from kybernetes.api.apiextensions import defaulting, pruning
from kybernetes.api.apiextensions.crdvalidation import REVIEW_VERSIONS
from kybernetes.api.validation.meta import validate_annotations, validate_labels
from kybernetes.apiserver import uuids
from kybernetes.apiserver.admission.webhooks.client import CallError, WebhookClient
from kybernetes.apiserver.customresources import CompiledVersion

Obj = dict[str, Any]

GROUP = "apiextensions.k8s.io"
# Upstream's conversion webhooks get 30 seconds.
WEBHOOK_TIMEOUT = 30.0


class ConversionError(Exception):
    """A webhook's answer breaks the rules; the text is upstream's reason."""


class CustomResourceConverter:
    """The converter of one CRD's objects: `versions` by apiVersion, compiled; `webhook`
    the webhook's client, None for conversion strategy None."""

    def __init__(self, crd: Obj, versions: Mapping[str, CompiledVersion],
                 webhook: WebhookClient | None) -> None:
        spec = crd["spec"]
        self.group = str(spec["group"])
        self.kind = str(((crd.get("status") or {}).get("acceptedNames") or spec["names"])
                        ["kind"])
        self.versions = dict(versions)
        self.storage_api_version = next(f"{self.group}/{v['name']}" for v in spec["versions"]
                                        if v.get("storage"))
        conversion = spec.get("conversion") or {}
        self.webhook = webhook if conversion.get("strategy") == "Webhook" else None
        hook = conversion.get("webhook") or {}
        self.client_config: Obj = hook.get("clientConfig") or {}
        offered = [str(v) for v in hook.get("conversionReviewVersions") or ()]
        self.review_version = next((v for v in offered if v in REVIEW_VERSIONS), "")

    async def convert(self, objects: list[Obj], api_version: str) -> list[Obj]:
        """`objects` as `api_version`: those already of it as they are (the same dicts),
        the others new objects, converted in one review."""
        pending = [i for i, o in enumerate(objects) if o.get("apiVersion") != api_version]
        if not pending:
            return objects
        originals = [objects[i] for i in pending]
        if self.webhook is None:
            # Fresh copies (pruning and defaulting change them; orjson copies fastest).
            converted = [{**orjson.loads(orjson.dumps(o)), "apiVersion": api_version}
                         for o in originals]
        else:
            converted = await self._call(self.webhook, originals, api_version)
        target = self.versions.get(api_version)
        out = list(objects)
        for i, obj in zip(pending, converted, strict=True):
            if target is not None:
                pruning.prune(target.schema, obj)
                if target.has_defaults:
                    defaulting.default(target.schema, obj)
            out[i] = obj
        return out

    async def _call(self, webhook: WebhookClient, originals: list[Obj], api_version: str
                    ) -> list[Obj]:
        gvk = f"{originals[0].get('apiVersion', '')}, Kind={self.kind}"
        if not self.review_version:
            raise _failure(gvk, "failed: webhook does not accept v1 or v1beta1 "
                           "ConversionReview")
        uid = uuids.uuid4()
        review_api_version = f"{GROUP}/{self.review_version}"
        review = {"kind": "ConversionReview", "apiVersion": review_api_version,
                  "request": {"uid": uid, "desiredAPIVersion": api_version,
                              "objects": originals}}
        try:
            content = await webhook.post(self.client_config, WEBHOOK_TIMEOUT, review)
            body = orjson.loads(content)
            returned = self._response(body, uid, review_api_version)
        except (CallError, ConversionError, orjson.JSONDecodeError) as err:
            raise _failure(gvk, f"failed: {err}") from None
        if len(returned) != len(originals):
            raise _failure(gvk, f"returned {len(returned)} objects, expected {len(originals)}")
        # Upstream's words for the one object of a get, or one of a list's (counted from 1
        # but for its first check).
        single = len(originals) == 1
        converted: list[Obj] = []
        for index, (original, obj) in enumerate(zip(originals, returned, strict=True)):
            at = "object at index 0" if single else f"converted object at index {index + 1}"
            if not isinstance(obj, dict):
                where = at if single else f"converted object at index {index}"
                raise _failure(gvk, f"returned invalid {where}: invalid type, "
                               f"expected=Unstructured, got={type(obj).__name__}")
            for check, what in ((_check_type, at),
                                (_check_identity, "object" if single else at),
                                (_restore_metadata, "metadata" if single else
                                 f"metadata in object at index {index + 1}")):
                try:
                    obj = check(original, obj, api_version)
                except ConversionError as err:
                    raise _failure(gvk, f"returned invalid {what}: {err}") from None
            converted.append(obj)
        return converted

    @staticmethod
    def _response(body: Any, uid: str, review_api_version: str) -> list[Any]:
        """Upstream's getConvertedObjectsFromResponse."""
        if not isinstance(body, dict):
            raise ConversionError("no response provided")
        if review_api_version.endswith("/v1"):
            got = f"{body.get('apiVersion', '')}, Kind={body.get('kind', '')}"
            if got != f"{review_api_version}, Kind=ConversionReview":
                raise ConversionError(f"expected webhook response of {review_api_version}, "
                                      f"Kind=ConversionReview, got {got}")
        response = body.get("response")
        if not isinstance(response, dict):
            raise ConversionError("no response provided")
        if review_api_version.endswith("/v1") and response.get("uid") != uid:
            raise ConversionError(f'expected response.uid="{uid}", '
                                  f'got "{response.get("uid", "")}"')
        result = response.get("result") or {}
        status = result.get("status", "") if isinstance(result, dict) else ""
        if status != "Success":
            message = result.get("message") if isinstance(result, dict) else ""
            raise ConversionError(str(message) if message else
                                  f"response.result.status was '{status}', not 'Success'")
        objects = response.get("convertedObjects") or []
        if not isinstance(objects, list):
            raise ConversionError("response.convertedObjects must be a list")
        return objects


def _failure(gvk: str, text: str) -> errors.StatusError:
    return errors.StatusError(500, "", f"conversion webhook for {gvk} {text}")


def _check_type(original: Obj, obj: Obj, api_version: str) -> Obj:
    if obj.get("apiVersion") != api_version:
        raise ConversionError(f"invalid groupVersion (expected {api_version}, "
                              f"received {obj.get('apiVersion', '')})")
    if obj.get("kind") != original.get("kind"):
        raise ConversionError(f"invalid kind (expected {original.get('kind', '')}, "
                              f"received {obj.get('kind', '')})")
    return obj


def _check_identity(original: Obj, obj: Obj, _api_version: str) -> Obj:
    """Upstream's validateConvertedObject: the same object."""
    before, after = original.get("metadata") or {}, obj.get("metadata")
    after = after if isinstance(after, dict) else {}
    for field, name in (("name", "name"), ("namespace", "namespace"), ("uid", "UID")):
        if (after.get(field) or "") != (before.get(field) or ""):
            raise ConversionError(f"must have the same {name}: {before.get(field, '')} != "
                                  f"{after.get(field, '')}")
    return obj


def _restore_metadata(original: Obj, obj: Obj, _api_version: str) -> Obj:
    """Upstream's restoreObjectMeta: the original's metadata with the converted labels and
    annotations."""
    after = obj.get("metadata")
    if after is None:
        raise ConversionError("missing metadata in converted object")
    if not isinstance(after, dict):
        raise ConversionError(f"invalid metadata of type {type(after).__name__} in "
                              "converted object")
    before = original.get("metadata") or {}
    metadata = copy.deepcopy(before)
    # Upstream names the annotations' path `metadata.annotation`.
    for field, validate, path in (("labels", validate_labels, "metadata.labels"),
                                  ("annotations", validate_annotations,
                                   "metadata.annotation")):
        value = after.get(field)
        if value is None:
            metadata.pop(field, None)
            continue
        if not isinstance(value, dict):
            raise ConversionError(f"invalid metadata.{field} of type {type(value).__name__} "
                                  "in converted object")
        for key, item in value.items():
            if not isinstance(item, str):
                raise ConversionError(f"metadata.{field}[{key}] must be a string, but is "
                                      f"{type(item).__name__} in converted object")
        if value != before.get(field):
            failures = [f.message() for f in validate(value, path)]
            if failures:
                raise ConversionError(failures[0] if len(failures) == 1
                                      else f"[{', '.join(failures)}]")
        metadata[field] = value
    return {**obj, "metadata": metadata}
