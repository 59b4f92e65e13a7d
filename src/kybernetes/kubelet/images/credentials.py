"""Registry credentials from imagePullSecrets, and which of them apply to an image.

A `kubernetes.io/dockerconfigjson` secret's `.dockerconfigjson` is a docker config.json:
`{"auths": {"<server>": {"username", "password", "auth": base64("user:pass")}}}`; the
legacy `kubernetes.io/dockercfg` `.dockercfg` is the `auths` map alone. Both are read.

Matching follows upstream's credential keyring (pkg/credentialprovider/keyring.go): a key
is a host (with optional scheme, port and path), whose labels may be globs (`*.example.com`,
one label per `*`); it applies to an image when the host matches, the port is the same and
the key's path is a prefix of the repository's. More specific keys come first. Docker Hub
keys (`https://index.docker.io/v1/`, `docker.io`) apply to `docker.io` images.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kybernetes.kubelet.images.reference import DEFAULT_DOMAIN, Reference

_DOCKER_HUB_HOSTS = ("index.docker.io", "registry-1.docker.io", DEFAULT_DOMAIN)


@dataclass(frozen=True)
class RegistryCredential:
    server: str  # the key as written in the config: "registry.example:5000", "*.corp"
    username: str = ""
    password: str = ""

    def matches(self, reference: Reference) -> bool:
        key_host, key_port, key_path = _split(self.server)
        image_host, image_port, _ = _split(reference.domain)
        if key_host in _DOCKER_HUB_HOSTS:
            key_host = DEFAULT_DOMAIN
        if key_port != image_port:
            return False
        key_labels, image_labels = key_host.split("."), image_host.split(".")
        if len(key_labels) != len(image_labels) or not all(
                fnmatch.fnmatchcase(label, pattern)
                for label, pattern in zip(image_labels, key_labels, strict=True)):
            return False
        # Docker Hub keys carry the v1 API path ("/v1/"), not a repository.
        if key_host == DEFAULT_DOMAIN and key_path.startswith("v1"):
            return True
        return not key_path or f"{reference.path}/".startswith(f"{key_path}/")


def _split(server: str) -> tuple[str, str, str]:
    """(host, port, path) of a key, with or without a scheme."""
    text = server if "://" in server else f"//{server}"
    parts = urlsplit(text)
    host = (parts.hostname or "").lower()
    port = str(parts.port) if parts.port is not None else ""
    return host, port, parts.path.strip("/")


def credentials_from_docker_config(content: bytes | str | Mapping[str, Any]
                                   ) -> list[RegistryCredential]:
    """The credentials in a `.dockerconfigjson` (or legacy `.dockercfg`) document."""
    doc = json.loads(content) if isinstance(content, bytes | str) else content
    if not isinstance(doc, Mapping):
        raise ValueError("docker config: not a JSON object")
    auths = doc.get("auths", doc)
    if not isinstance(auths, Mapping):
        raise ValueError("docker config: auths is not an object")
    credentials = []
    for server, entry in auths.items():
        if not isinstance(entry, Mapping):
            continue
        username = str(entry.get("username") or "")
        password = str(entry.get("password") or "")
        if entry.get("auth"):
            try:
                decoded = base64.b64decode(str(entry["auth"]), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise ValueError(f"docker config: invalid auth for {server}") from None
            username, _, password = decoded.partition(":")
        credentials.append(RegistryCredential(server=str(server), username=username,
                                              password=password))
    return credentials


def matching_credentials(credentials: Iterable[RegistryCredential], reference: Reference
                         ) -> list[RegistryCredential]:
    """The credentials that apply to the image, most specific key first."""
    found = [c for c in credentials if c.matches(reference)]
    return sorted(found, key=lambda c: len(_split(c.server)[0]) + len(_split(c.server)[2]),
                  reverse=True)
