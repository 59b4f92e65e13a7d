"""Registry mirrors and per-host settings from a k3s `registries.yaml`.

    mirrors:
      docker.io:                          # a registry, or "*" for every registry
        endpoint: ["http://127.0.0.1:5000", "mirror.example"]
        rewrite: {"^library/(.*)": "hub/$1"}
    configs:
      mirror.example:                     # an endpoint's (or registry's) host[:port]
        auth: {username: u, password: p}  # or auth: base64(u:p), or identity_token
        tls: {ca_file: …, cert_file: …, key_file: …, insecure_skip_verify: false}

An image is pulled from its registry's mirror endpoints in order, then from the registry
itself (containerd's default endpoint), as k3s configures containerd (pkg/agent/containerd/
config.go). An endpoint without a scheme is https, or http when on loopback or named
insecure; its path "", "/" or "/v2" is the usual API root `/v2`, any other path is the API
root itself (containerd's override_path). Rewrites (Go regexps, `$1` groups; the first
that changes the path wins) apply to the repository path on mirror endpoints only. The
"*" mirror and the "*" config serve registries that have neither a mirror nor a config of
their own, as containerd's `_default` hosts directory. An endpoint's auth and TLS are the
config of its host; the default endpoint's those of the registry.

A bad file raises RegistriesConfigError, one line naming the file and the key; TLS files
are read on loading, so a wrong path fails at startup rather than at the first pull.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
import ssl
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from kybernetes.kubelet.images.credentials import RegistryCredential
from kybernetes.kubelet.images.reference import DEFAULT_DOMAIN, Reference
from kybernetes.kubelet.images.registry import Endpoint, default_endpoint, registry_scheme

FILE_NAME = "registries.yaml"
WILDCARD = "*"
_DOCKER_HUB_API_HOST = "registry-1.docker.io"
_DEFAULT_PATHS = ("", "/", "/v2", "/v2/")
_GO_TEMPLATE = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")

Fail = Callable[[str, str], "RegistriesConfigError"]  # (key, message) -> the error


class RegistriesConfigError(ValueError):
    """registries.yaml is malformed: the message names the file and the key."""


@dataclass(frozen=True)
class Rewrite:
    pattern: re.Pattern[str]
    template: str  # Go's Regexp.Expand syntax: $1, ${1}, $name, $$

    def apply(self, path: str) -> str:
        return self.pattern.sub(lambda match: _expand(self.template, match), path)


def _expand(template: str, match: re.Match[str]) -> str:
    """Go's Regexp.Expand: `$$` is "$"; `$n`, `${n}`, `$name`, `${name}` are groups, empty
    when there is no such group."""
    def group(ref: re.Match[str]) -> str:
        if ref[0] == "$$":
            return "$"
        name = ref[1] or ref[2]
        try:
            return match.group(int(name) if name.isdigit() else name) or ""
        except IndexError:
            return ""
    return _GO_TEMPLATE.sub(group, template)


@dataclass(frozen=True)
class HostConfig:
    """`configs.<host>`: credentials and TLS for one host."""

    credential: RegistryCredential | None = None
    identity_token: str = ""
    tls: ssl.SSLContext | None = field(default=None, compare=False)


@dataclass(frozen=True)
class EndpointURL:
    scheme: str  # "" when the file gave none
    host: str  # host[:port] as requests go to it
    path: str  # the API root: "/v2", or an overriding path

    @property
    def registry(self) -> str:
        """The name the endpoint's config is looked up under (Docker Hub's API host is
        docker.io's)."""
        return DEFAULT_DOMAIN if self.host == _DOCKER_HUB_API_HOST else self.host


@dataclass(frozen=True)
class Mirror:
    endpoints: tuple[EndpointURL, ...] = ()
    rewrites: tuple[Rewrite, ...] = ()

    def repository(self, path: str) -> str:
        for rewrite in self.rewrites:
            rewritten = rewrite.apply(path)
            if rewritten != path and rewritten:
                return rewritten
        return path


@dataclass(frozen=True)
class PullSource:
    """One place to pull an image from, with the credentials registries.yaml gives it."""

    endpoint: Endpoint
    config: HostConfig
    is_default: bool  # the image's own registry: imagePullSecrets apply here


@dataclass(frozen=True)
class RegistriesConfig:
    """A parsed registries.yaml: mirrors by registry ("*": any), configs by host."""

    mirrors: Mapping[str, Mirror] = field(default_factory=dict)
    configs: Mapping[str, HostConfig] = field(default_factory=dict)

    def _config(self, host: str) -> HostConfig | None:
        if host == DEFAULT_DOMAIN and _DOCKER_HUB_API_HOST in self.configs:
            return self.configs[_DOCKER_HUB_API_HOST]
        return self.configs.get(host)

    def sources(self, reference: Reference, insecure_registries: Collection[str] = ()
                ) -> list[PullSource]:
        """Where to pull `reference` from, in order: mirror endpoints, then the registry."""
        domain = reference.domain
        if domain in self.mirrors or self._config(domain) is not None:
            mirror, default_config = self.mirrors.get(domain), self._config(domain)
        else:
            mirror, default_config = (self.mirrors.get(WILDCARD),
                                      self.configs.get(WILDCARD))
        mirror = mirror or Mirror()
        repository = mirror.repository(reference.path)
        default = default_endpoint(reference, insecure_registries)
        sources: list[PullSource] = []
        seen = {default.api_root}  # the registry itself is asked last, as itself
        for url in mirror.endpoints:
            config = self._config(url.registry) or HostConfig()
            scheme = url.scheme or registry_scheme(url.host, insecure_registries)
            endpoint = Endpoint(api_root=f"{scheme}://{url.host}{url.path}",
                                repository=repository, tls=config.tls)
            if endpoint.api_root not in seen:
                seen.add(endpoint.api_root)
                sources.append(PullSource(endpoint, config, is_default=False))
        default_config = default_config or HostConfig()
        sources.append(PullSource(
            Endpoint(default.api_root, default.repository, default_config.tls),
            default_config, is_default=True))
        return sources


NO_REGISTRIES = RegistriesConfig()


def node_registries(path: Path | None, data_dir: Path) -> RegistriesConfig:
    """The node's registries.yaml: `path` (`--private-registry`), which must exist, else
    `<data-dir>/registries.yaml` when it exists, else none."""
    if path is None:
        path = data_dir / FILE_NAME
        if not path.is_file():
            return NO_REGISTRIES
    return load_registries(path)


def load_registries(path: Path) -> RegistriesConfig:
    try:
        text = path.read_text()
    except OSError as err:
        raise RegistriesConfigError(f"{path}: {err.strerror or err}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise RegistriesConfigError(f"{path}: invalid YAML{line}: "
                                    f"{getattr(err, 'problem', None) or err}") from None
    return parse_registries(doc, str(path))


def parse_registries(doc: Any, source: str = FILE_NAME) -> RegistriesConfig:
    """registries.yaml's content (parsed YAML; None for an empty file)."""
    def fail(key: str, message: str) -> RegistriesConfigError:
        return RegistriesConfigError(f"{source}: {key}: {message}")

    top = _mapping(doc if doc is not None else {}, "(top level)", fail,
                   ("mirrors", "configs"))
    mirrors = {host: _mirror(value, f"mirrors.{_quote(host)}", fail)
               for host, value in _mapping(top.get("mirrors") or {}, "mirrors", fail).items()}
    configs = {host: _host_config(host, value, f"configs.{_quote(host)}", fail)
               for host, value in _mapping(top.get("configs") or {}, "configs", fail).items()}
    return RegistriesConfig(mirrors=mirrors, configs=configs)


def _quote(key: str) -> str:
    return f'"{key}"' if "." in key or "*" in key or ":" in key else key


def _mapping(value: Any, key: str, fail: Fail, allowed: tuple[str, ...] = ()
             ) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(key, f"expected a mapping, got {_kind(value)}")
    for name in value:
        if not isinstance(name, str) or not name:
            raise fail(key, f"key {name!r} is not a non-empty string")
        if allowed and name not in allowed:
            raise fail(key, f"unknown key {name!r} (expected {', '.join(allowed)})")
    return value


def _string(value: Any, key: str, fail: Fail) -> str:
    if not isinstance(value, str):
        raise fail(key, f"expected a string, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _mirror(value: Any, key: str, fail: Fail) -> Mirror:
    entry = _mapping(value if value is not None else {}, key, fail, ("endpoint", "rewrite"))
    endpoints = entry.get("endpoint") or []
    if not isinstance(endpoints, list):
        raise fail(f"{key}.endpoint", f"expected a list of URLs, got {_kind(endpoints)}")
    urls = tuple(_endpoint_url(_string(url, f"{key}.endpoint[{i}]", fail),
                               f"{key}.endpoint[{i}]", fail)
                 for i, url in enumerate(endpoints))
    rewrites = []
    for pattern, template in _mapping(entry.get("rewrite") or {}, f"{key}.rewrite",
                                      fail).items():
        where = f"{key}.rewrite.{_quote(pattern)}"
        try:
            compiled = re.compile(pattern)
        except re.error as err:
            raise fail(where, f"invalid regular expression: {err}") from None
        rewrites.append(Rewrite(compiled, _string(template, where, fail)))
    return Mirror(endpoints=urls, rewrites=tuple(rewrites))


def _endpoint_url(text: str, key: str, fail: Fail) -> EndpointURL:
    """As k3s's normalizeEndpointAddress: a URL, with or without scheme and path."""
    try:
        parts = urlsplit(text if "://" in text else f"//{text}")
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as err:
        raise fail(key, f"invalid URL {text!r}: {err}") from None
    if parts.scheme not in ("", "http", "https"):
        raise fail(key, f"unsupported scheme {parts.scheme!r} in {text!r} (http or https)")
    if not parts.hostname:
        raise fail(key, f"no host in {text!r}")
    host = parts.netloc.rpartition("@")[2]
    if host == DEFAULT_DOMAIN:
        host = _DOCKER_HUB_API_HOST
    path = "/v2" if parts.path in _DEFAULT_PATHS else posixpath.normpath(parts.path)
    return EndpointURL(scheme=parts.scheme, host=host, path=path.rstrip("/"))


def _host_config(host: str, value: Any, key: str, fail: Fail) -> HostConfig:
    entry = _mapping(value if value is not None else {}, key, fail, ("auth", "tls"))
    credential, identity_token = _auth(host, entry.get("auth"), f"{key}.auth", fail)
    tls = _tls(entry["tls"], f"{key}.tls", fail) if entry.get("tls") is not None else None
    return HostConfig(credential=credential, identity_token=identity_token, tls=tls)


def _auth(host: str, value: Any, key: str, fail: Fail
          ) -> tuple[RegistryCredential | None, str]:
    if value is None:
        return None, ""
    entry = _mapping(value, key, fail, ("username", "password", "auth", "identity_token"))
    fields = {name: _string(entry[name], f"{key}.{name}", fail) for name in entry
              if entry[name] is not None}
    username, password = fields.get("username", ""), fields.get("password", "")
    if fields.get("auth"):
        try:
            decoded = base64.b64decode(fields["auth"], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise fail(f"{key}.auth", "not base64 of USER:PASSWORD") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise fail(f"{key}.auth", "not base64 of USER:PASSWORD")
    credential = (RegistryCredential(server=host, username=username, password=password)
                  if username or password else None)
    return credential, fields.get("identity_token", "")


def _tls(value: Any, key: str, fail: Fail) -> ssl.SSLContext:
    entry = _mapping(value, key, fail, ("ca_file", "cert_file", "key_file",
                                        "insecure_skip_verify"))
    files = {name: _string(entry[name], f"{key}.{name}", fail)
             for name in ("ca_file", "cert_file", "key_file") if entry.get(name)}
    skip = entry.get("insecure_skip_verify", False)
    if not isinstance(skip, bool):
        raise fail(f"{key}.insecure_skip_verify", f"expected true or false, got {skip!r}")
    if ("cert_file" in files) != ("key_file" in files):
        missing = "key_file" if "cert_file" in files else "cert_file"
        raise fail(f"{key}.{missing}", "cert_file and key_file go together")
    context = ssl.create_default_context()  # the system's CAs, and ca_file's beside them
    try:
        if "ca_file" in files:
            context.load_verify_locations(cafile=files["ca_file"])
    except (OSError, ssl.SSLError) as err:
        raise fail(f"{key}.ca_file", f"{files['ca_file']}: {_reason(err)}") from None
    try:
        if "cert_file" in files:
            context.load_cert_chain(files["cert_file"], files["key_file"])
    except (OSError, ssl.SSLError) as err:
        raise fail(f"{key}.cert_file", f"{files['cert_file']}: {_reason(err)}") from None
    if skip:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _reason(err: OSError | ssl.SSLError) -> str:
    return str(getattr(err, "reason", None) or err.strerror or err)
