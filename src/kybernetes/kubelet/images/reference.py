"""Image references, parsed and normalised as Docker's `reference.ParseNormalizedNamed`.

    busybox                      -> docker.io/library/busybox:latest
    user/app:1.0                 -> docker.io/user/app:1.0
    localhost:5000/app           -> localhost:5000/app:latest
    registry.example/a/b@sha256:… -> registry.example/a/b@sha256:…

The first path component is a registry only when it contains "." or ":" or is "localhost"
(or has upper-case letters); otherwise the image lives on Docker Hub, where single-component
names are official images under `library/`. With neither tag nor digest the tag is
"latest", as the CRI's pulls default it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kybernetes.kubelet.images.errors import InvalidImageNameError

DEFAULT_DOMAIN = "docker.io"
_LEGACY_DEFAULT_DOMAIN = "index.docker.io"
# Docker Hub's API is not served at docker.io itself.
_DOCKER_HUB_API_HOST = "registry-1.docker.io"
_NAME_MAX = 255

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN = re.compile(r"(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
                     r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
                     r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The repository, with its registry: `docker.io/library/busybox`."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    @property
    def api_host(self) -> str:
        """Where the registry's distribution API is served."""
        return _DOCKER_HUB_API_HOST if self.domain == DEFAULT_DOMAIN else self.domain

    @property
    def manifest_ref(self) -> str:
        """What to ask the manifests endpoint for: the digest when pinned, else the tag."""
        return self.digest or self.tag or "latest"


def split_domain(name: str) -> tuple[str, str]:
    """Docker's splitDockerDomain: the registry and the repository path of `name`."""
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"
                   and first.lower() == first):
        domain, path = DEFAULT_DOMAIN, name
    else:
        domain, path = first, rest
    if domain == _LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"library/{path}"
    return domain, path


def parse_reference(image: str) -> Reference:
    """Parse and normalise `image`; raises InvalidImageNameError (reason InvalidImageName)."""
    if not image or image != image.strip():
        raise InvalidImageNameError(image, "invalid reference format")
    if _IDENTIFIER.fullmatch(image):
        raise InvalidImageNameError(
            image, f"invalid repository name ({image}), cannot specify 64-byte hexadecimal "
                   "strings")
    name, at, digest = image.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        raise InvalidImageNameError(image, "invalid reference format")
    tag: str | None = None
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG.fullmatch(tag):
            raise InvalidImageNameError(image, "invalid reference format")
    if not name or len(name) > _NAME_MAX:
        raise InvalidImageNameError(image, "invalid reference format")
    domain, path = split_domain(name)
    if path.lower() != path:
        raise InvalidImageNameError(image, "invalid reference format: repository name "
                                           "must be lowercase")
    if not _DOMAIN.fullmatch(domain) or not all(
            _COMPONENT.fullmatch(part) for part in path.split("/")):
        raise InvalidImageNameError(image, "invalid reference format")
    if tag is None and not at:
        tag = "latest"
    return Reference(domain=domain, path=path, tag=tag, digest=digest if at else None)
