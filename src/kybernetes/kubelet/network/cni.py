"""Run a CNI network list: libcni's `AddNetworkList`, `DelNetworkList`, `CheckNetworkList`.

A plugin is an executable found in `CNI_PATH`; it reads its network config on stdin, its
parameters from the `CNI_*` environment, prints a result (ADD) or an error object
(`{"code", "msg", "details"}`) on stdout, and exits non-zero on failure (CNI spec 1.0.0).

As libcni does:

- each plugin of a list gets the list's `name` and `cniVersion`, the result of the plugin
  before it as `prevResult` (ADD), and the `runtimeConfig` keys its `capabilities` ask for
  (`portMappings` for portmap, `bandwidth` for bandwidth);
- the ADD result is cached per (network, container, interface) so DEL and CHECK can hand
  it to the plugins as `prevResult`; DEL runs the plugins in reverse order and drops the
  cache; a missing cache is not an error for DEL (it still frees what the plugins hold);
- unlike libcni, DEL goes on past a failing plugin and raises the first error after the
  last one, so one broken plugin does not leak the IPs and rules the others hold;
- errors read `plugin type="bridge" name="cbr0" failed (add): <msg>; <details>`.

When `host_netns` is set the plugins run inside that network namespace (through
`nsenter --net=`), so the bridge, its veths and the iptables rules land there: the node's
namespace when the kubelet runs as a kind-like node, and a test's own namespace in tests.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kybernetes.kubelet import spawn

Obj = dict[str, Any]

DEFAULT_TIMEOUT = 30.0
NSENTER = "nsenter"


class CNIError(Exception):
    """A plugin failed: its CNI error object, prefixed with which plugin and command."""

    def __init__(self, msg: str, *, code: int = 0, details: str = "", plugin: str = "",
                 command: str = "") -> None:
        self.code = code
        self.msg = msg
        self.details = details
        self.plugin = plugin
        self.command = command
        text = f"{msg}; {details}" if details else msg
        if plugin:
            text = f"plugin {plugin} failed ({command.lower()}): {text}"
        super().__init__(text)


@dataclass(frozen=True, kw_only=True)
class RuntimeConf:
    """libcni's RuntimeConf: who is being attached, and the capability arguments."""

    container_id: str
    netns: str  # "" on DEL when the namespace is gone, as the spec allows
    ifname: str
    args: Sequence[tuple[str, str]] = ()  # CNI_ARGS, e.g. K8S_POD_NAME
    capability_args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Invoker:
    """Where plugins are found and how they are run."""

    plugin_dirs: Sequence[Path]
    cache_dir: Path  # cached ADD results: <cache_dir>/results/<network>-<id>-<ifname>
    host_netns: str | None = None  # run plugins in this network namespace (a path)
    timeout: float = DEFAULT_TIMEOUT

    def find(self, plugin_type: str) -> Path | None:
        for directory in self.plugin_dirs:
            path = directory / plugin_type
            if path.is_file() and os.access(path, os.X_OK):
                return path
        return None

    def missing(self, plugin_types: Sequence[str]) -> list[str]:
        return [t for t in plugin_types if self.find(t) is None]

    async def exec(self, command: str, net: Obj, rt: RuntimeConf, desc: str) -> Obj | None:
        """Run one plugin; returns its parsed stdout (None when it printed nothing)."""
        plugin_type = str(net.get("type") or "")
        path = self.find(plugin_type)
        if path is None:
            dirs = " ".join(str(d) for d in self.plugin_dirs)
            raise CNIError(f'failed to find plugin "{plugin_type}" in path [{dirs}]',
                           plugin=desc, command=command)
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               "CNI_COMMAND": command, "CNI_CONTAINERID": rt.container_id,
               "CNI_NETNS": rt.netns, "CNI_IFNAME": rt.ifname,
               "CNI_ARGS": ";".join(f"{k}={v}" for k, v in rt.args),
               "CNI_PATH": os.pathsep.join(str(d) for d in self.plugin_dirs)}
        argv = [str(path)]
        if self.host_netns:
            argv = [NSENTER, f"--net={self.host_netns}", "--", *argv]
        try:
            done = await spawn.run(argv, input=json.dumps(net).encode(), env=env,
                                   limit=self.timeout)
        except TimeoutError:
            raise CNIError(f"netplugin timed out after {self.timeout:g}s",
                           plugin=desc, command=command) from None
        stdout, stderr = done.stdout, done.stderr
        if done.returncode != 0:
            raise _plugin_error(done.returncode, stdout, stderr, desc, command)
        if not stdout.strip():
            return None
        try:
            parsed = json.loads(stdout)
        except ValueError as err:
            raise CNIError(f"netplugin returned an unparsable result {stdout!r}: {err}",
                           plugin=desc, command=command) from None
        return parsed if isinstance(parsed, dict) else None


def _plugin_error(rc: int | None, stdout: bytes, stderr: bytes, desc: str,
                  command: str) -> CNIError:
    """libcni's RawExec.pluginErr: the plugin's JSON error, else what it said on stderr."""
    if not stdout.strip():
        msg = (f"netplugin failed: {stderr.decode(errors='replace')!r}" if stderr.strip()
               else f"netplugin failed with no error message: exit status {rc}")
        return CNIError(msg, plugin=desc, command=command)
    try:
        err = json.loads(stdout)
        if not isinstance(err, dict):
            raise ValueError("not an object")
    except ValueError as perr:
        return CNIError(f"netplugin failed but error parsing its diagnostic message "
                        f"{stdout.decode(errors='replace')!r}: {perr}",
                        plugin=desc, command=command)
    return CNIError(str(err.get("msg") or ""), code=int(err.get("code") or 0),
                    details=str(err.get("details") or ""), plugin=desc, command=command)


def describe(net: Mapping[str, Any]) -> str:
    return f'type="{net.get("type", "")}" name="{net.get("name", "")}"'


def plugin_config(conflist: Mapping[str, Any], plugin: Mapping[str, Any], rt: RuntimeConf,
                  prev_result: Obj | None) -> Obj:
    """One plugin's stdin: libcni's buildOneConfig plus injectRuntimeConfig."""
    net: Obj = {**plugin, "name": conflist["name"], "cniVersion": conflist["cniVersion"]}
    if prev_result is not None:
        net["prevResult"] = prev_result
    wanted = {k for k, on in (plugin.get("capabilities") or {}).items() if on}
    runtime = {k: v for k, v in rt.capability_args.items() if k in wanted}
    if runtime:
        net["runtimeConfig"] = runtime
    return net


class NetworkList:
    """One conflist, run as libcni runs it."""

    def __init__(self, conflist: Mapping[str, Any], invoker: Invoker) -> None:
        self.conflist = dict(conflist)
        self.invoker = invoker

    @property
    def name(self) -> str:
        return str(self.conflist["name"])

    @property
    def plugins(self) -> list[Obj]:
        return list(self.conflist.get("plugins") or ())

    def plugin_types(self) -> list[str]:
        return [str(p.get("type") or "") for p in self.plugins]

    def cache_path(self, container_id: str, ifname: str) -> Path:
        return self.invoker.cache_dir / "results" / f"{self.name}-{container_id}-{ifname}"

    def cached(self, container_id: str, ifname: str) -> Obj | None:
        """The cache entry of an ADD: the conflist used, the runtime conf and the result."""
        try:
            entry = json.loads(self.cache_path(container_id, ifname).read_text())
        except (OSError, ValueError):
            return None
        return entry if isinstance(entry, dict) else None

    def cached_ids(self) -> set[str]:
        """The containers this network has cached ADD results for."""
        directory = self.invoker.cache_dir / "results"
        ids: set[str] = set()
        for path in directory.glob(f"{self.name}-*") if directory.is_dir() else ():
            with contextlib.suppress(OSError, ValueError, AttributeError):
                entry = json.loads(path.read_text())
                if entry.get("networkName") == self.name and entry.get("containerId"):
                    ids.add(str(entry["containerId"]))
        return ids

    async def add(self, rt: RuntimeConf) -> Obj:
        result: Obj | None = None
        for plugin in self.plugins:
            net = plugin_config(self.conflist, plugin, rt, result)
            result = await self.invoker.exec("ADD", net, rt, describe(net)) or result
        final = result or {"cniVersion": self.conflist["cniVersion"]}
        path = self.cache_path(rt.container_id, rt.ifname)
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"kind": "cniCacheV1", "containerId": rt.container_id, "ifName": rt.ifname,
                 "networkName": self.name, "netns": rt.netns, "config": self.conflist,
                 "cniArgs": [list(a) for a in rt.args],
                 "capabilityArgs": dict(rt.capability_args), "result": final}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entry))
        tmp.replace(path)
        return final

    async def delete(self, rt: RuntimeConf) -> None:
        """DEL in reverse order; the cached ADD (if any) supplies config and prevResult."""
        entry = self.cached(rt.container_id, rt.ifname) or {}
        conflist = entry.get("config") or self.conflist
        prev = entry.get("result")
        if "capabilityArgs" in entry:
            # What ADD was given (portmap removes only the mappings it is told about),
            # even when the caller no longer knows the pod, as garbage collection does.
            rt = replace(rt, capability_args=entry["capabilityArgs"])
        errors: list[CNIError] = []
        for plugin in reversed(list(conflist.get("plugins") or ())):
            net = plugin_config(conflist, plugin, rt, prev)
            try:
                await self.invoker.exec("DEL", net, rt, describe(net))
            except CNIError as err:
                errors.append(err)  # go on, so a failing portmap does not leak the IP
        if errors:
            raise errors[0]  # the cache stays, for a later DEL or garbage collection
        with contextlib.suppress(FileNotFoundError):
            self.cache_path(rt.container_id, rt.ifname).unlink()

    async def check(self, rt: RuntimeConf, skip: Collection[str] = ()) -> None:
        """CHECK each plugin against the cached ADD result, but those of types in `skip`."""
        entry = self.cached(rt.container_id, rt.ifname)
        if entry is None:
            raise CNIError(f"no cached result for container {rt.container_id} "
                           f"interface {rt.ifname} in network {self.name}")
        for plugin in self.plugins:
            if plugin.get("type") in skip:
                continue
            net = plugin_config(self.conflist, plugin, rt, entry.get("result"))
            await self.invoker.exec("CHECK", net, rt, describe(net))
