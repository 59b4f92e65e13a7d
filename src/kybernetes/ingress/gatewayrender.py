"""The Gateway API's part of the nginx configuration (`gateway.GatewayConfig`): the `map`s
of the branches' header, method and query matches, the `split_clients` of weighted
backends, and a server per Gateway listener port and hostname.

A location of a route's path picks its branch (the highest precedence whose match holds;
404 when none does) and passes the request on, internally, to that branch's location
`/.gw/<n>/<path>`, where the branch's filters apply (redirect, header modifiers, path
rewrite back to the client's path or the rewritten one) before it is proxied.
"""

from __future__ import annotations

import re

from kybernetes.ingress.gateway import INVALID, UNAVAILABLE, Branch, GatewayConfig, GatewayServer
from kybernetes.ingress.model import server_name
from kybernetes.ingress.render import PROXY_HEADERS, Listen, Paths

_INTERNAL = "/.gw"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _regex_literal(value: str) -> str:
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", value)


def _http_level(gateway: GatewayConfig) -> list[str]:
    lines: list[str] = []
    splits: set[str] = set()
    for branch in gateway.branches:
        if branch.condition is not None:
            cond = branch.condition
            lines += [f"    map {_quote(cond.source)} {cond.variable} {{",
                      f"        {_quote('~' + cond.pattern)} 1;", '        default "";', "    }"]
        if branch.split and branch.target not in splits:
            splits.add(branch.target)
            lines.append(f'    split_clients "${{request_id}}" {branch.target} {{')
            for index, (upstream, percent) in enumerate(branch.split):
                share = "*" if index == len(branch.split) - 1 else f"{percent}%"
                lines.append(f"        {share} {upstream};")
            lines.append("    }")
    return lines


def _dispatch(location_modifier: str, path: str, branches: list[Branch]) -> list[str]:
    shown = _quote(path) if location_modifier == "~" else path
    head = f"location {location_modifier} {shown}" if location_modifier else f"location {shown}"
    lines = [f"        {head} {{", '            set $gw_branch "";']
    ordered = list({b.number: b for b in branches}.values())
    for branch in reversed(ordered):
        if branch.condition is None:
            lines.append(f"            set $gw_branch {branch.number};")
        else:
            lines.append(f"            if ({branch.condition.variable}) "
                         f"{{ set $gw_branch {branch.number}; }}")
    lines += ['            if ($gw_branch = "") { return 404; }',
              f"            rewrite ^ {_INTERNAL}/$gw_branch$uri last;", "        }"]
    return lines


def _restore_path(branch: Branch, internal: str) -> list[str]:
    """`rewrite`s from the internal URI to the one sent upstream."""
    modifier = branch.path_modifier
    if modifier is None:
        return [f"            rewrite ^{internal}(/.*)$ $1 break;"]
    kind, value = modifier
    if kind == "ReplaceFullPath":
        return [f"            rewrite ^{internal}/ {_quote(value)} break;"]
    prefix = _regex_literal(branch.prefix)
    replacement = value.rstrip("/")
    return [f"            rewrite ^{internal}{prefix}$ {_quote(value or '/')} break;",
            f"            rewrite ^{internal}{prefix}(/.*)$ {_quote(replacement + '$1')} break;"]


def _redirect(branch: Branch, internal: str) -> list[str]:
    assert branch.redirect is not None
    status, scheme, host, port = branch.redirect
    authority = (host or "$host") + (f":{port}" if port is not None else "")
    origin = f"{scheme or '$scheme'}://{authority}"
    modifier = branch.path_modifier
    if modifier is None:
        return [f'            if ($uri ~ "^{internal}(/.*)$") '
                f"{{ return {status} {origin}$1$is_args$args; }}"]
    kind, value = modifier
    if kind == "ReplaceFullPath":
        return [f"            return {status} {origin}{value}$is_args$args;"]
    prefix = _regex_literal(branch.prefix)
    return [f'            if ($uri ~ "^{internal}{prefix}$") '
            f"{{ return {status} {origin}{value or '/'}$is_args$args; }}",
            f'            if ($uri ~ "^{internal}{prefix}(/.*)$") '
            f"{{ return {status} {origin}{value.rstrip('/')}$1$is_args$args; }}"]


def _branch_location(branch: Branch) -> list[str]:
    location = f"{_INTERNAL}/{branch.number}"
    internal = _regex_literal(location)
    lines = [f"        location ^~ {location}/ {{", "            internal;",
             f'            set $proxy_upstream_name "{branch.target.lstrip("$")}";']
    if branch.redirect is not None:
        return [*lines, *_redirect(branch, internal), "        }"]
    if not branch.split and branch.target in (INVALID, UNAVAILABLE):
        status = 500 if branch.target == INVALID else 503
        return [*lines, f"            return {status};", "        }"]
    names = {name for name, _ in branch.split}
    for name, status in ((INVALID, 500), (UNAVAILABLE, 503)):
        if name in names:
            lines.append(f'            if ({branch.target} = "{name}") {{ return {status}; }}')
    lines += _restore_path(branch, internal)
    custom = {name.lower(): value for name, value in branch.set_headers}
    custom.update({name.lower(): "" for name in branch.remove_headers})
    if branch.host:
        custom["host"] = branch.host
    if custom:
        standard = {name.lower(): (name, value) for name, value in PROXY_HEADERS}
        for lowered, (name, value) in standard.items():
            if lowered not in custom:
                lines.append(f"            proxy_set_header {name} {value};")
        for name, value in custom.items():
            lines.append(f"            proxy_set_header {name} {_quote(value)};")
    for name, value in branch.response_headers:
        lines.append(f"            add_header {name} {_quote(value)} always;")
    lines += [f"            proxy_pass http://{branch.target};", "        }"]
    return lines


def _server(server: GatewayServer, listen: Listen, paths: Paths) -> list[str]:
    host = f"[{listen.address}]" if ":" in listen.address else listen.address
    ssl = " ssl" if server.certificate is not None else ""
    lines = ["    server {", f"        server_name {server_name(server.host)};",
             f"        listen {host}:{server.port}{ssl};"]
    if server.certificate is not None:
        certificate = paths.certificate(server.certificate) if server.certificate \
            else paths.default_certificate
        lines += [f"        ssl_certificate {certificate};",
                  f"        ssl_certificate_key {certificate};"]
    branches: dict[int, Branch] = {}
    for location in sorted(server.locations.values(), key=lambda loc: (loc.modifier, loc.path)):
        chosen = [branch for _, branch in location.branches]
        lines += _dispatch(location.modifier, location.path, chosen)
        branches.update((b.number, b) for b in chosen)
    for number in sorted(branches):
        lines += _branch_location(branches[number])
    if ("", "/") not in server.locations:
        lines += ["        location / {", '            set $proxy_upstream_name "";',
                  "            return 404;", "        }"]
    lines.append("    }")
    return lines


def _default_server(port: int, tls: bool, listen: Listen, paths: Paths) -> list[str]:
    host = f"[{listen.address}]" if ":" in listen.address else listen.address
    lines = ["    server {", "        server_name _;",
             f"        listen {host}:{port}{' ssl' if tls else ''} default_server;"]
    if tls:
        lines += [f"        ssl_certificate {paths.default_certificate};",
                  f"        ssl_certificate_key {paths.default_certificate};"]
    return [*lines, '        set $proxy_upstream_name "";', "        return 404;", "    }"]


def render_gateway(gateway: GatewayConfig, listen: Listen, paths: Paths) -> list[str]:
    """The lines of the http block for the Gateways (none without any)."""
    lines = _http_level(gateway)
    for key in sorted(gateway.servers):
        lines += _server(gateway.servers[key], listen, paths)
    for port, tls in sorted(gateway.ports.items()):
        if port not in (listen.http_port, listen.https_port):
            lines += _default_server(port, tls, listen, paths)
    return lines
