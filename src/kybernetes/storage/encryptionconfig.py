"""The EncryptionConfiguration file (apiserver.config.k8s.io/v1) of
`--encryption-provider-config`, read and checked as kube-apiserver does.

Each entry of `resources` names resources (`secrets`, `deployments.apps`, `*.apps` for a
whole group, `*.` for the core group, `*.*` for everything) and the providers for them:
`aescbc`, `aesgcm`, `secretbox` (named base64 keys: 16, 24 or 32 bytes for AES, 32 for
secretbox) and `identity`. The first provider, with its first key, writes; every listed
one reads. A resource gets the transformer of its exact entry, else of its group's `*`,
else of `*.*`, else identity. A mistake in the file is a `EncryptionConfigError` with
upstream's wording, so the server refuses to start rather than store in clear text.

`KeyTransformers` maps a storage key to its resource through the registry (built-in
resources live under `/registry/<plural>/`, custom ones under `/registry/<group>/<plural>/`)
and so to its transformer: what `EncryptedStorage` asks for each value.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from kybernetes.api.errors import FieldError
from kybernetes.api.goquote import go_quote
from kybernetes.api.registry import Registry
from kybernetes.storage.encryption import (
    AESCBC,
    AESCBC_PREFIX,
    AESGCM,
    AESGCM_PREFIX,
    IDENTITY,
    SECRETBOX_PREFIX,
    PrefixTransformers,
    Secretbox,
    Transformer,
)

API_VERSION = "apiserver.config.k8s.io/v1"
KIND = "EncryptionConfiguration"

_AES_KEY_SIZES = (16, 24, 32)
_SECRETBOX_KEY_SIZES = (32,)
_PROVIDERS = ("kms", "aesgcm", "aescbc", "secretbox", "identity")
_NO_PROVIDER = ("provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, "
                "Secretbox, Identity")
# The fields each level of the file may have (upstream decodes strictly).
_FIELDS: Mapping[str, frozenset[str]] = {
    "": frozenset({"apiVersion", "kind", "resources"}),
    "resources": frozenset({"resources", "providers"}),
    "provider": frozenset(_PROVIDERS),
    "keys": frozenset({"keys"}),
    "key": frozenset({"name", "secret"}),
    "identity": frozenset(),
    "kms": frozenset({"apiVersion", "name", "cachesize", "endpoint", "timeout"}),
}

_CIPHERS: Mapping[str, tuple[str, Callable[[bytes], Transformer], str]] = {
    "aescbc": (AESCBC_PREFIX, AESCBC, "AES"),
    "aesgcm": (AESGCM_PREFIX, AESGCM, "AES"),
    "secretbox": (SECRETBOX_PREFIX, Secretbox, "Secretbox"),
}

GroupResource = tuple[str, str]  # (group, resource); "*" is a wildcard in either
ANY = ("*", "*")


class EncryptionConfigError(ValueError):
    """The encryption configuration cannot be used."""


class ResourceTransformers:
    """The transformer of each configured group/resource, wildcards included."""

    def __init__(self, overrides: Mapping[GroupResource, Transformer]) -> None:
        self.overrides = dict(overrides)

    def for_resource(self, group: str, resource: str) -> Transformer:
        for candidate in ((group, resource), (group, "*"), ANY):
            found = self.overrides.get(candidate)
            if found is not None:
                return found
        return IDENTITY


class KeyTransformers:
    """The transformer for a storage key: that of the key's resource in the registry
    (custom resources come and go, so the map is rebuilt when the registry changes)."""

    def __init__(self, transformers: ResourceTransformers, registry: Registry) -> None:
        self.transformers = transformers
        self.registry = registry
        self._by_prefix: dict[str, Transformer] = {}
        self._registry_size = -1

    def __call__(self, key: str) -> Transformer:
        found = self._lookup(key)
        if found is None and len(self.registry.resources) != self._registry_size:
            self._rebuild()
            found = self._lookup(key)
        return IDENTITY if found is None else found

    def _lookup(self, key: str) -> Transformer | None:
        # /registry/<plural>/... (built-in) or /registry/<group>/<plural>/... (custom).
        first = key.find("/", 1)
        second = key.find("/", first + 1) if first >= 0 else -1
        if second < 0:
            return None
        found = self._by_prefix.get(key[:second + 1])
        if found is not None:
            return found
        third = key.find("/", second + 1)
        return self._by_prefix.get(key[:third + 1]) if third >= 0 else None

    def _rebuild(self) -> None:
        groups: dict[str, str] = {}
        for info in self.registry.resources.values():
            # Resources served by two groups share one prefix; the core group's name is the
            # one they are stored (and configured) under, as upstream's events are.
            if info.key_prefix not in groups or not info.group:
                groups[info.key_prefix] = info.group
        self._by_prefix = {
            prefix: self.transformers.for_resource(group, prefix.rstrip("/").rsplit("/", 1)[1])
            for prefix, group in groups.items()}
        self._registry_size = len(self.registry.resources)


def load(path: Path) -> ResourceTransformers:
    """The transformers of the configuration file at `path`."""
    try:
        config = _read(path)
    except EncryptionConfigError as err:
        raise EncryptionConfigError(f"error while parsing file: {err}") from None
    try:
        return _build(config)
    except EncryptionConfigError as err:
        raise EncryptionConfigError(f"error while building transformers: {err}") from None


def parse_group_resource(text: str) -> GroupResource:
    """`resource.group` as schema.ParseGroupResource splits it (at the first dot)."""
    resource, dot, group = text.partition(".")
    return (group, resource) if dot else ("", text)


def _yaml_string(group_resource: GroupResource) -> str:
    group, resource = group_resource
    if not group and resource == "*":
        return "*."
    return f"{resource}.{group}" if group else resource


# ---------------------------------------------------------------------------- reading


def _read(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as err:
        reason = (err.strerror or str(err)).lower()
        raise EncryptionConfigError(
            f"error while loading file: error reading encryption provider configuration file "
            f"{go_quote(str(path))}: open {path}: {reason}") from None
    if not data:
        raise EncryptionConfigError(
            f"error while loading file: encryption provider configuration file "
            f"{go_quote(str(path))} is empty")
    try:
        config = yaml.safe_load(data)
    except yaml.YAMLError as err:
        raise EncryptionConfigError(_decoding(path, f"error converting YAML to JSON: {err}")
                                    ) from None
    if not isinstance(config, dict):
        raise EncryptionConfigError(_decoding(path, "the file is not an object"))
    kind, version = config.get("kind"), config.get("apiVersion")
    if not kind:
        raise EncryptionConfigError(_decoding(path, "Object 'Kind' is missing"))
    if kind != KIND or version != API_VERSION:
        raise EncryptionConfigError(_decoding(
            path, f"no kind {go_quote(str(kind))} is registered for version "
                  f"{go_quote(str(version))}"))
    unknown = _unknown_fields(config)
    if unknown:
        raise EncryptionConfigError(_decoding(path, "strict decoding error: " + ", ".join(
            f"unknown field {go_quote(name)}" for name in unknown)))
    errors = _validate(config)
    if errors:
        raise EncryptionConfigError(errors[0] if len(errors) == 1
                                    else f"[{', '.join(errors)}]")
    return config


def _decoding(path: Path, reason: str) -> str:
    return f"error decoding encryption provider configuration file {go_quote(str(path))}: {reason}"


def _unknown_fields(config: dict[str, Any]) -> list[str]:
    found = [name for name in config if name not in _FIELDS[""]]
    for i, entry in enumerate(_list(config.get("resources"))):
        found += _extra(entry, "resources", f"resources[{i}]")
        if not isinstance(entry, dict):
            continue
        for j, provider in enumerate(_list(entry.get("providers"))):
            at = f"resources[{i}].providers[{j}]"
            found += _extra(provider, "provider", at)
            if not isinstance(provider, dict):
                continue
            for name in ("aescbc", "aesgcm", "secretbox"):
                found += _extra(provider.get(name), "keys", f"{at}.{name}")
                keys = provider.get(name)
                if isinstance(keys, dict):
                    for k, key in enumerate(_list(keys.get("keys"))):
                        found += _extra(key, "key", f"{at}.{name}.keys[{k}]")
            found += _extra(provider.get("identity"), "identity", f"{at}.identity")
            found += _extra(provider.get("kms"), "kms", f"{at}.kms")
    return found


def _extra(value: Any, level: str, at: str) -> list[str]:
    if not isinstance(value, dict):
        return []
    return [f"{at}.{name}" for name in value if name not in _FIELDS[level]]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# ---------------------------------------------------------------------------- validation


def _invalid(at: str, value: Any, detail: str) -> str:
    return FieldError.invalid(at, value, detail).message()


def _required(at: str, detail: str) -> str:
    return FieldError.required(at, detail).message()


def _validate(config: dict[str, Any]) -> list[str]:
    """upstream's ValidateEncryptionConfiguration, messages and all."""
    entries = config.get("resources")
    if not isinstance(entries, list) or not entries:
        return [_required("resources", "at least one resources is required")]
    errors: list[str] = []
    for i, entry in enumerate(entries):
        entry = entry if isinstance(entry, dict) else {}
        at_resources, at_providers = f"resources[{i}].resources", f"resources[{i}].providers"
        resources = [str(r) for r in _list(entry.get("resources"))]
        if not resources:
            errors.append(_required(at_resources, f"at least one {at_resources} is required"))
        errors += _validate_overlap(resources, at_resources)
        errors += _validate_names(resources, at_resources)
        providers = _list(entry.get("providers"))
        if not providers:
            errors.append(_required(at_providers, f"at least one {at_providers} is required"))
        for j, provider in enumerate(providers):
            errors += _validate_provider(provider, f"{at_providers}[{j}]")
    return errors


def _validate_overlap(resources: Sequence[str], at: str) -> list[str]:
    parsed = [parse_group_resource(r) for r in resources]
    duplicate = len(set(parsed)) != len(parsed)
    overlap = False
    for i, first in enumerate(parsed):
        for j, second in enumerate(parsed):
            if i == j or first == second:
                continue
            if first == ANY or (first[0] == second[0] and "*" in (first[1], second[1])):
                overlap = True
    errors = []
    if duplicate:
        errors.append(_invalid(at, list(resources),
                               "the same resource cannot be specified multiple times"))
    if overlap:
        errors.append(_invalid(at, list(resources),
                               "using overlapping resources such as 'secrets' and '*.' in the "
                               "same resource list is not allowed as they will be masked"))
    return errors


def _validate_names(resources: Sequence[str], at: str) -> list[str]:
    errors = []
    for j, name in enumerate(resources):
        group, resource = parse_group_resource(name)
        detail = ""
        if name.lower() != name:
            detail = "resource name should not contain capital letters"
        elif name == "*":
            detail = ("use '*.' to encrypt all the resources from core API group or *.* to "
                      "encrypt all resources")
        elif name in ("apiserveripinfo", "serviceipallocations", "servicenodeportallocations"):
            detail = "resources which do not have REST API/s cannot be encrypted"
        elif group == "events.k8s.io":
            detail = ("'*.events.k8s.io' objects are stored using the 'events' API group in "
                      "etcd. Use 'events' instead in the config file")
        elif group == "extensions":
            detail = "'extensions' group has been removed and cannot be used for encryption"
        elif group == "*" and resource != "*":
            detail = "encrypting the same resource across groups is not supported"
        if detail:
            errors.append(_invalid(f"{at}[{j}]", name, detail))
    return errors


def _validate_provider(provider: Any, at: str) -> list[str]:
    given = [name for name in _PROVIDERS if isinstance(provider, dict) and name in provider
             and provider[name] is not None]
    if not given:
        return [_invalid(at, provider, _NO_PROVIDER)]
    if len(given) > 1:
        return [_invalid(at, provider, "more than one provider specified in a single element, "
                                       "should split into different list elements")]
    kind = given[0]
    if kind == "kms":
        return [_invalid(f"{at}.kms", provider["kms"],
                         "KMS providers are not supported by kybernetes: use aescbc, aesgcm or "
                         "secretbox")]
    if kind == "identity":
        return []
    sizes = _SECRETBOX_KEY_SIZES if kind == "secretbox" else _AES_KEY_SIZES
    body = provider[kind]
    keys = _list(body.get("keys")) if isinstance(body, dict) else []
    at_keys = f"{at}.{kind}.keys"
    if not keys:
        return [_required(at_keys, "at least one keys is required")]
    errors: list[str] = []
    for k, key in enumerate(keys):
        errors += _validate_key(key if isinstance(key, dict) else {}, f"{at_keys}[{k}]", sizes)
    return errors


def _validate_key(key: dict[str, Any], at: str, sizes: Sequence[int]) -> list[str]:
    errors = []
    if not key.get("name"):
        errors.append(_required(f"{at}.name", "name is a mandatory field for a key"))
    if not key.get("secret"):
        return [*errors, _required(f"{at}.secret", "secret is a mandatory field for a key")]
    secret = _decode_key(key["secret"])
    if secret is None:
        errors.append(_invalid(f"{at}.secret", "REDACTED", "secrets must be base64 encoded"))
    elif len(secret) not in sizes:
        expected = " ".join(str(s) for s in sizes)
        errors.append(_invalid(f"{at}.secret", "REDACTED",
                               f"secret is not of the expected length, got {len(secret)}, "
                               f"expected one of [{expected}]"))
    return errors


def _decode_key(secret: Any) -> bytes | None:
    """Standard base64 as Go's StdEncoding reads it (line breaks ignored)."""
    if not isinstance(secret, str):
        return None
    try:
        return base64.b64decode(secret.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        return None


# ---------------------------------------------------------------------------- building


def _build(config: dict[str, Any]) -> ResourceTransformers:
    lists: dict[GroupResource, list[tuple[str, Transformer]]] = {}
    for entry in config["resources"]:
        providers = [_provider(p) for p in entry["providers"]]
        for name in entry["resources"]:
            group_resource = parse_group_resource(str(name))
            for earlier in ((group_resource[0], "*"), ANY):
                if earlier in lists:
                    raise EncryptionConfigError(
                        f"resource {go_quote(_yaml_string(group_resource))} is masked by "
                        f"earlier rule {go_quote(_yaml_string(earlier))}")
            lists.setdefault(group_resource, []).extend(providers)
    return ResourceTransformers({gr: PrefixTransformers(transformers, "no matching prefix found")
                                 for gr, transformers in lists.items()})


def _provider(provider: dict[str, Any]) -> tuple[str, Transformer]:
    # Validated: exactly one provider, and it is not kms.
    name = next(n for n in _PROVIDERS if provider.get(n) is not None)
    if name == "identity":
        return "", IDENTITY
    prefix, make, kind = _CIPHERS[name]
    keys: list[tuple[str, Transformer]] = []
    for key in provider[name]["keys"]:
        secret = _decode_key(key["secret"])
        assert secret is not None
        keys.append((f"{key['name']}:", make(secret)))
    return prefix, PrefixTransformers(
        keys, f"no matching key was found for the provided {kind} transformer")
