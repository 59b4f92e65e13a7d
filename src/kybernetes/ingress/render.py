"""The nginx configuration of a `model.Config`, in ingress-nginx's shape: one `upstream` per
Service port (its pod endpoints, kept-alive connections), one `server` per host on the HTTP
and, with TLS, HTTPS ports (SNI picks the certificate; the default HTTPS server carries the
default one and hands requests for other hosts to the HTTP servers),
one `location` per Ingress path, and ingress-nginx's proxy headers, timeouts, retry of
another endpoint on a connection error, and access log format (with the upstream's name).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kybernetes.ingress.model import DEFAULT_SERVER, Config, Location, Server, Upstream, server_name

# ingress-nginx's default log format (`log-format-upstream`).
LOG_FORMAT = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
              '"$http_referer" "$http_user_agent" $request_length $request_time '
              '[$proxy_upstream_name] [] $upstream_addr $upstream_response_length '
              '$upstream_response_time $upstream_status $request_id')


# The request headers every proxied request carries (ingress-nginx's). A location that sets
# headers of its own repeats these: nginx inherits none where a level sets any.
PROXY_HEADERS = (
    ("Upgrade", "$http_upgrade"), ("Connection", "$connection_upgrade"), ("Host", "$host"),
    ("X-Request-ID", "$request_id"), ("X-Real-IP", "$remote_addr"),
    ("X-Forwarded-For", "$proxy_add_x_forwarded_for"), ("X-Forwarded-Host", "$host"),
    ("X-Forwarded-Port", "$server_port"), ("X-Forwarded-Proto", "$scheme"),
    ("X-Scheme", "$scheme"))


@dataclass(frozen=True)
class Listen:
    address: str
    http_port: int
    https_port: int


@dataclass(frozen=True)
class Paths:
    """Where nginx finds its files: the prefix (pid, temp) and certificates."""

    prefix: Path
    certificates: Path
    default_certificate: Path

    def certificate(self, name: str) -> Path:
        return self.certificates / f"{name}.pem"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _listen(listen: Listen, port: int, extra: str) -> str:
    host = f"[{listen.address}]" if ":" in listen.address else listen.address
    return f"        listen {host}:{port}{extra};"


def _upstream(upstream: Upstream) -> list[str]:
    lines = [f"    upstream {upstream.name} {{"]
    if upstream.cookie:
        lines.append(f"        hash $ingress_affinity_{_var(upstream.cookie)} consistent;")
    lines += [f"        server {endpoint} max_fails=0;" for endpoint in upstream.endpoints]
    lines += ["        keepalive 32;", "    }"]
    return lines


def _var(cookie: str) -> str:
    return cookie.replace("-", "_").lower()


def _affinity_maps(cookies: set[str]) -> list[str]:
    """A client without the cookie is hashed on its request id, and told that id."""
    lines = []
    for cookie in sorted(cookies):
        var = _var(cookie)
        lines += [f"    map $cookie_{var} $ingress_affinity_{var} {{",
                  '        "" $request_id;', f"        default $cookie_{var};", "    }",
                  f"    map $cookie_{var} $ingress_set_cookie_{var} {{",
                  f'        "" "{cookie}=$request_id; Path=/; HttpOnly";',
                  '        default "";', "    }"]
    return lines


def _location(location: Location, config: Config, tls: bool) -> list[str]:
    settings = location.settings
    path = _quote(location.path) if location.modifier == "~*" else location.path
    head = f"        location {location.modifier} {path} {{" if location.modifier \
        else f"        location {path} {{"
    lines = [head, f'            set $proxy_upstream_name "{location.upstream or ""}";',
             f"            client_max_body_size {settings.body_size};"]
    if settings.force_ssl_redirect or (tls and settings.ssl_redirect):
        lines.append('            if ($scheme = http) { return 308 https://$host$request_uri; }')
    for cidr in settings.allow_cidrs:
        lines.append(f"            allow {cidr};")
    if settings.allow_cidrs:
        lines.append("            deny all;")
    upstream = config.upstreams.get(location.upstream or "")
    if upstream is None:
        lines += ["            return 503;", "        }"]
        return lines
    if settings.rewrite_target:
        lines.append(f"            rewrite {_quote('(?i)' + location.path)} "
                     f"{_quote(settings.rewrite_target)} break;")
    if upstream.cookie:
        lines.append("            add_header Set-Cookie "
                     f"$ingress_set_cookie_{_var(upstream.cookie)};")
    protocol = upstream.protocol
    if protocol in ("GRPC", "GRPCS"):
        lines.append(f"            grpc_pass {protocol.lower()}://{upstream.name};")
    else:
        lines.append(f"            proxy_pass {protocol.lower()}://{upstream.name};")
    lines.append("        }")
    return lines


def _server(server: Server, config: Config, listen: Listen, paths: Paths) -> list[str]:
    """A host's server: on the HTTPS port too when it has TLS (its own certificate, or the
    default one when its Secret is missing); a host without TLS is reached over HTTPS
    through the default HTTPS server (`_tls_fallback`), as each server with TLS costs nginx
    a TLS context to load at every reload."""
    default = server.host == DEFAULT_SERVER
    tls = server.certificate is not None
    lines = ["    server {", f"        server_name {server_name(server.host)};",
             _listen(listen, listen.http_port, " default_server" if default else "")]
    if tls:
        certificate = paths.certificate(server.certificate) if server.certificate \
            else paths.default_certificate
        lines += [_listen(listen, listen.https_port, " ssl"),
                  f"        ssl_certificate {certificate};",
                  f"        ssl_certificate_key {certificate};"]
    for location in sorted(server.locations.values(),
                           key=lambda loc: (loc.modifier, loc.path)):
        lines += _location(location, config, tls)
    if ("", "/") not in server.locations:
        if server.fallback is not None:
            lines += _location(server.fallback, config, tls)
        else:
            lines += ["        location / {", '            set $proxy_upstream_name "";',
                      "            return 404;", "        }"]
    lines.append("    }")
    return lines


def _tls_fallback(listen: Listen, paths: Paths) -> list[str]:
    """The default HTTPS server: the default certificate, and each request handed to the
    plain HTTP servers with its Host, so every host answers HTTPS as ingress-nginx's do."""
    loopback = "127.0.0.1" if listen.address in ("0.0.0.0", "") else \
        ("[::1]" if listen.address == "::" else listen.address)
    target = f"[{loopback}]" if ":" in loopback and not loopback.startswith("[") else loopback
    headers = dict(PROXY_HEADERS) | {"X-Forwarded-Proto": "https", "X-Scheme": "https",
                                     "X-Forwarded-Port": "$server_port"}
    return ["    server {", "        server_name _;",
            _listen(listen, listen.https_port, " ssl default_server"),
            f"        ssl_certificate {paths.default_certificate};",
            f"        ssl_certificate_key {paths.default_certificate};",
            "        location / {", '            set $proxy_upstream_name "";',
            *(f"            proxy_set_header {name} {value};" for name, value in headers.items()),
            f"            proxy_pass http://{target}:{listen.http_port};", "        }", "    }"]


def render(config: Config, listen: Listen, paths: Paths, *, workers: str = "auto") -> str:
    prefix = paths.prefix
    cookies = {u.cookie for u in config.upstreams.values() if u.cookie}
    lines = [
        "# Written by the kybernetes ingress controller: changes are overwritten.",
        f"worker_processes {workers};",
        f"pid {prefix / 'nginx.pid'};",
        "error_log stderr notice;",
        "events {", "    worker_connections 16384;", "}",
        "http {",
        f"    client_body_temp_path {prefix / 'client-body'};",
        f"    proxy_temp_path {prefix / 'proxy'};",
        f"    fastcgi_temp_path {prefix / 'fastcgi'};",
        f"    uwsgi_temp_path {prefix / 'uwsgi'};",
        f"    scgi_temp_path {prefix / 'scgi'};",
        f"    log_format upstreaminfo {_quote(LOG_FORMAT)};",
        "    access_log /dev/stdout upstreaminfo;",
        "    server_tokens off;",
        "    server_names_hash_bucket_size 128;",
        "    server_names_hash_max_size 4096;",
        "    map_hash_bucket_size 128;",
        "    variables_hash_bucket_size 256;",
        "    keepalive_timeout 75s;",
        "    keepalive_requests 1000;",
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        "    ssl_session_cache shared:SSL:10m;",
        "    proxy_http_version 1.1;",
        "    proxy_buffering off;",
        "    proxy_request_buffering off;",
        "    proxy_connect_timeout 5s;",
        "    proxy_send_timeout 60s;",
        "    proxy_read_timeout 60s;",
        "    proxy_next_upstream error timeout;",
        "    proxy_next_upstream_tries 3;",
        "    map $http_upgrade $connection_upgrade {",
        "        default upgrade;", "        '' '';", "    }",
        *(f"    proxy_set_header {name} {value};" for name, value in PROXY_HEADERS),
        *_affinity_maps(cookies),
    ]
    for upstream in sorted(config.upstreams.values(), key=lambda u: u.name):
        lines += _upstream(upstream)
    for host in sorted(config.servers):
        lines += _server(config.servers[host], config, listen, paths)
    lines += _tls_fallback(listen, paths)
    if config.gateway is not None:
        from kybernetes.ingress.gatewayrender import render_gateway

        lines += render_gateway(config.gateway, listen, paths)
    lines.append("}")
    return "\n".join(lines) + "\n"
