"""The ingress-nginx annotations kybernetes honours, read from an Ingress into the settings
of each of its locations (`nginx.ingress.kubernetes.io/<name>`, ingress-nginx's names and
defaults):

- `rewrite-target`: the path is matched as a regular expression and rewritten to the
  target (capture groups as `$1`...), as ingress-nginx since 0.22;
- `use-regex`: paths are regular expressions (case-insensitive, as ingress-nginx's `~*`);
- `ssl-redirect` (default true where the host has TLS), `force-ssl-redirect`: plain HTTP
  is answered 308 to https;
- `proxy-body-size` (default 1m): `client_max_body_size`;
- `backend-protocol`: HTTP (default), HTTPS, GRPC or GRPCS;
- `affinity: cookie` with `session-cookie-name` (default INGRESSCOOKIE): a client's
  requests go to one endpoint (a consistent hash of the cookie, set when absent);
- `whitelist-source-range` (and its newer name `allowlist-source-range`): only these
  CIDRs, others get 403.

A malformed value is ignored with a warning for that Ingress, as ingress-nginx does.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

PREFIX = "nginx.ingress.kubernetes.io/"
BACKEND_PROTOCOLS = ("HTTP", "HTTPS", "GRPC", "GRPCS")
DEFAULT_BODY_SIZE = "1m"
DEFAULT_COOKIE = "INGRESSCOOKIE"
_SIZE = re.compile(r"^[0-9]+[kKmMgG]?$")
_COOKIE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Settings:
    rewrite_target: str = ""
    use_regex: bool = False
    ssl_redirect: bool = True
    force_ssl_redirect: bool = False
    body_size: str = DEFAULT_BODY_SIZE
    backend_protocol: str = "HTTP"
    affinity_cookie: str = ""
    allow_cidrs: tuple[str, ...] = ()

    @property
    def regex(self) -> bool:
        return self.use_regex or bool(self.rewrite_target)


def _flag(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.strip().lower() == "true"


def _no_quotes(value: str) -> bool:
    """Values go into nginx's configuration: refuse what could end a directive."""
    return not any(c in value for c in "\"';{}\n\r\\") or value == ""


def parse(annotations: Mapping[str, str], ingress: str) -> Settings:
    def get(name: str) -> str | None:
        value = annotations.get(PREFIX + name)
        return None if value is None else str(value)

    def bad(name: str, value: str) -> None:
        log.warning("ingress %s: annotation %s%s=%r ignored", ingress, PREFIX, name, value)

    rewrite = get("rewrite-target") or ""
    if rewrite and (not _no_quotes(rewrite) or " " in rewrite):
        bad("rewrite-target", rewrite)
        rewrite = ""
    body = (get("proxy-body-size") or DEFAULT_BODY_SIZE).strip()
    if not _SIZE.match(body):
        bad("proxy-body-size", body)
        body = DEFAULT_BODY_SIZE
    protocol = (get("backend-protocol") or "HTTP").strip().upper()
    if protocol not in BACKEND_PROTOCOLS:
        bad("backend-protocol", protocol)
        protocol = "HTTP"
    cookie = ""
    if (get("affinity") or "").strip() == "cookie":
        cookie = (get("session-cookie-name") or DEFAULT_COOKIE).strip()
        if not _COOKIE_NAME.match(cookie):
            bad("session-cookie-name", cookie)
            cookie = DEFAULT_COOKIE
    cidrs: list[str] = []
    ranges = get("allowlist-source-range") or get("whitelist-source-range") or ""
    for item in (part.strip() for part in ranges.split(",")):
        if not item:
            continue
        try:
            cidrs.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            bad("whitelist-source-range", item)
    return Settings(rewrite_target=rewrite, use_regex=_flag(get("use-regex"), False),
                    ssl_redirect=_flag(get("ssl-redirect"), True),
                    force_ssl_redirect=_flag(get("force-ssl-redirect"), False),
                    body_size=body, backend_protocol=protocol, affinity_cookie=cookie,
                    allow_cidrs=tuple(cidrs))
