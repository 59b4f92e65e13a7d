"""The pod network of one node: a bridge on the node's pod CIDR, through CNI plugins.

What containerd's CRI plugin does for the kubelet (the `NetworkService` the sync loop
uses): attach a sandbox's network namespace with `lo` and `eth0` (the node's conflist),
return its pod IPs, detach it again, and report whether the network is ready for the
node's `Ready` condition. `lo` is up from the start: the runtime brings it up in-process
as it makes the namespace (as containerd does with `use_internal_loopback`), so no CNI
loopback plugin runs, neither on ADD nor on DEL; `eth0` runs the conflist's plugins, each
one as the conflist says.

The conflist follows k3s' default (flannel delegating to `bridge`, then `portmap` and
`bandwidth`), written out as flannel would: bridge `cni0` with `isGateway`,
`isDefaultGateway`, `hairpinMode`, `forceAddress`, the MTU, and `host-local` IPAM on the
node's /24 with a route to the cluster CIDR; host-local keeps its allocations under the
kubelet's data dir, not /var/lib/cni. `ipMasq` is on by default: in k3s flannel
masquerades traffic leaving the cluster CIDR, and here nothing else does.

Until the node's pod CIDR is known there is no config, and the network reports what
containerd reports then ("cni plugin not initialized"), as when a plugin binary is missing.
hostNetwork pods never reach CNI (`uses_cni`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

from kybernetes.api.quantity import QuantityError, parse_quantity
from kybernetes.kubelet.containers import port_mappings
from kybernetes.kubelet.network.cni import (
    DEFAULT_TIMEOUT,
    CNIError,
    Invoker,
    NetworkList,
    RuntimeConf,
)

Obj = dict[str, Any]
log = logging.getLogger(__name__)

CNI_VERSION = "1.0.0"  # the Debian plugins (v1.1.1) take 0.1.0 .. 1.0.0
NETWORK_NAME = "cbr0"  # k3s' network name
CONFLIST_NAME = "10-kybernetes.conflist"
DEFAULT_IFNAME = "eth0"
INGRESS_BANDWIDTH = "kubernetes.io/ingress-bandwidth"
EGRESS_BANDWIDTH = "kubernetes.io/egress-bandwidth"
MIN_BANDWIDTH = Decimal(1000)  # upstream's 1k
MAX_BANDWIDTH = Decimal(10) ** 15  # upstream's 1P
BURST_UNLIMITED = 2**32 - 1  # containerd sets math.MaxUint32: no burst annotation exists
NOT_INITIALIZED = "cni plugin not initialized"
BANDWIDTH_ERROR = "reading pod bandwidth annotations"


class NetworkError(Exception):
    """Setting up or tearing down a sandbox's network failed; says which and why."""


@dataclass(frozen=True, kw_only=True)
class PodNetworkConfig:
    """The node's pod network; defaults as k3s chose them."""

    data_dir: Path  # <kubelet root>/cni: conflist, host-local's dataDir, result cache
    plugin_dir: Path = Path("/usr/lib/cni")
    cluster_cidr: str = "10.42.0.0/16"
    bridge: str = "cni0"
    mtu: int = 1500
    ip_masq: bool = True
    host_netns: str | None = None  # run the plugins in this network namespace (a path)
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class RuntimeCondition:
    """A CRI runtime condition; `str` is kubelet's RuntimeCondition.String()."""

    type: str
    status: bool
    reason: str = ""
    message: str = ""

    def __str__(self) -> str:
        return (f"{self.type}={str(self.status).lower()} reason:{self.reason} "
                f"message:{self.message}")


def uses_cni(pod: Mapping[str, Any]) -> bool:
    """A hostNetwork pod's sandbox shares the node's namespace: no CNI for it."""
    return not (pod.get("spec") or {}).get("hostNetwork")


def bandwidth(pod: Mapping[str, Any]) -> Obj:
    """The bandwidth plugin's runtimeConfig from the pod's annotations (containerd's
    toCNIBandWidth over upstream's ExtractPodBandwidthResources)."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    limits: Obj = {}
    for key, direction in ((INGRESS_BANDWIDTH, "ingress"), (EGRESS_BANDWIDTH, "egress")):
        text = annotations.get(key)
        if text is None:
            continue
        try:
            rate = parse_quantity(text)
        except QuantityError as err:
            raise NetworkError(f"{BANDWIDTH_ERROR}: {err}") from None
        if rate < MIN_BANDWIDTH:
            raise NetworkError(f"{BANDWIDTH_ERROR}: resource is unreasonably small (< 1kbit)")
        if rate > MAX_BANDWIDTH:
            raise NetworkError(f"{BANDWIDTH_ERROR}: resource is unreasonably large (> 1Pbit)")
        limits[f"{direction}Rate"] = int(rate.to_integral_value(ROUND_CEILING))  # .Value()
        limits[f"{direction}Burst"] = BURST_UNLIMITED
    return limits


def pod_ips(result: Mapping[str, Any]) -> list[str]:
    """The addresses of the interfaces inside the sandbox, IPv4 first (the primary)."""
    interfaces = result.get("interfaces") or []
    ips: list[str] = []
    for entry in result.get("ips") or ():
        index = entry.get("interface")
        inside = (index is None or not (0 <= index < len(interfaces))
                  or bool(interfaces[index].get("sandbox")))
        if inside:
            ips.append(str(ipaddress.ip_interface(entry["address"]).ip))
    return sorted(ips, key=lambda ip: ipaddress.ip_address(ip).version)


class PodNetwork:
    """The `NetworkService` of a real node."""

    def __init__(self, config: PodNetworkConfig, pod_cidr: str = "") -> None:
        self.config = config
        self.invoker = Invoker(plugin_dirs=[config.plugin_dir], cache_dir=config.data_dir,
                               host_netns=config.host_netns, timeout=config.timeout)
        self.network: NetworkList | None = None
        self._attaching: set[str] = set()  # sandboxes in setup: never garbage
        if pod_cidr:
            self.set_pod_cidr(pod_cidr)

    @property
    def ipam_dir(self) -> Path:
        """host-local's dataDir; it keeps one file per IP under `<dir>/<network name>/`."""
        return self.config.data_dir / "networks"

    @property
    def conflist_path(self) -> Path:
        return self.config.data_dir / "net.d" / CONFLIST_NAME

    def conflist(self, pod_cidr: str) -> Obj:
        subnet = ipaddress.ip_network(pod_cidr)
        return {
            "cniVersion": CNI_VERSION, "name": NETWORK_NAME,
            "plugins": [
                {"type": "bridge", "bridge": self.config.bridge, "mtu": self.config.mtu,
                 "isGateway": True, "isDefaultGateway": True, "hairpinMode": True,
                 "forceAddress": True, "ipMasq": self.config.ip_masq,
                 "ipam": {"type": "host-local", "dataDir": str(self.ipam_dir),
                          "ranges": [[{"subnet": str(subnet)}]],
                          # the gateway spelled out (host-local's default, the first
                          # address): without it bridge's CHECK looks for a route with no
                          # gateway, which its own ADD never made
                          "routes": [{"dst": self.config.cluster_cidr,
                                      "gw": str(subnet.network_address + 1)}]}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
                {"type": "bandwidth", "capabilities": {"bandwidth": True}},
            ]}

    def set_pod_cidr(self, pod_cidr: str) -> None:
        """The node's pod CIDR became known (kubelet's UpdateRuntimeConfig): write the
        conflist and use it from now on."""
        conflist = self.conflist(pod_cidr)
        self.conflist_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.conflist_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(conflist, indent=2))
        tmp.replace(self.conflist_path)
        self.network = NetworkList(conflist, self.invoker)

    # -- readiness ----------------------------------------------------------------------

    def status(self) -> RuntimeCondition:
        """The CRI NetworkReady condition."""
        if self.network is None or self.invoker.missing(self.network.plugin_types()):
            return RuntimeCondition("NetworkReady", False, "NetworkPluginNotReady",
                                    f"Network plugin returns error: {NOT_INITIALIZED}")
        return RuntimeCondition("NetworkReady", True)

    def ready(self) -> bool:
        return self.status().status

    def not_ready_message(self) -> str:
        """The node's Ready condition message for a network that is not ready ("" if it is)."""
        condition = self.status()
        return "" if condition.status else f"container runtime network not ready: {condition}"

    # -- sandboxes ----------------------------------------------------------------------

    def _eth0(self) -> NetworkList:
        """The network for DEL: before the pod CIDR is known (a restarted kubelet), the
        cached ADD results still say which plugins to run."""
        return self.network or NetworkList(
            {"cniVersion": CNI_VERSION, "name": NETWORK_NAME, "plugins": []}, self.invoker)

    def _require(self) -> NetworkList:
        if self.network is None or not self.ready():
            raise NetworkError(NOT_INITIALIZED)
        return self.network

    @staticmethod
    def _args(sandbox_id: str, pod: Mapping[str, Any]) -> list[tuple[str, str]]:
        meta = pod.get("metadata") or {}
        return [("IgnoreUnknown", "1"), ("K8S_POD_NAMESPACE", str(meta.get("namespace", ""))),
                ("K8S_POD_NAME", str(meta.get("name", ""))),
                ("K8S_POD_INFRA_CONTAINER_ID", sandbox_id),
                ("K8S_POD_UID", str(meta.get("uid", "")))]

    def _runtime(self, sandbox_id: str, netns: str, pod: Mapping[str, Any], ifname: str,
                 ) -> RuntimeConf:
        capability_args: Obj = {}
        if ifname == DEFAULT_IFNAME:
            if mappings := port_mappings(pod):
                capability_args["portMappings"] = mappings
            if limits := bandwidth(pod):
                capability_args["bandwidth"] = limits
        return RuntimeConf(container_id=sandbox_id, netns=netns, ifname=ifname,
                           args=self._args(sandbox_id, pod), capability_args=capability_args)

    async def setup(self, sandbox_id: str, netns: str, pod: Obj) -> list[str]:
        """Attach the sandbox's namespace (`eth0`); returns the pod IPs. A
        failed `eth0` is released again (its IP, its rules) before raising."""
        self._attaching.add(sandbox_id)
        try:
            network = self._require()
            eth0 = self._runtime(sandbox_id, netns, pod, DEFAULT_IFNAME)  # may refuse the pod
            try:
                result = await network.add(eth0)
            except CNIError:
                with contextlib.suppress(CNIError):
                    await network.delete(eth0)
                raise
        except (CNIError, NetworkError) as err:
            raise NetworkError(
                f'failed to setup network for sandbox "{sandbox_id}": {err}') from err
        finally:
            self._attaching.discard(sandbox_id)
        return pod_ips(result)

    async def teardown(self, sandbox_id: str, netns: str, pod: Obj) -> None:
        """Detach the sandbox's `eth0` (its `lo` goes with the namespace); a second
        teardown is harmless."""
        try:
            await self._eth0().delete(self._runtime(sandbox_id, netns, pod, DEFAULT_IFNAME))
        except (CNIError, NetworkError) as err:
            raise NetworkError(
                f'failed to destroy network for sandbox "{sandbox_id}": {err}') from err

    async def check(self, sandbox_id: str, netns: str, pod: Obj) -> None:
        """CNI CHECK of the sandbox's `eth0` against what ADD made."""
        try:
            rt = self._runtime(sandbox_id, netns, pod, DEFAULT_IFNAME)
            # bandwidth v1.1.1 panics on CHECK without limits (a nil dereference in
            # cmdCheck); without limits it set nothing up, so there is nothing to check.
            skip = () if "bandwidth" in rt.capability_args else ("bandwidth",)
            await self._require().check(rt, skip)
        except (CNIError, NetworkError) as err:
            raise NetworkError(
                f'failed to check network for sandbox "{sandbox_id}": {err}') from err

    # -- garbage collection -------------------------------------------------------------

    def allocations(self) -> dict[str, str]:
        """host-local's allocations: IP -> container id (the file's first line)."""
        allocated: dict[str, str] = {}
        directory = self.ipam_dir / NETWORK_NAME
        if not directory.is_dir():
            return allocated
        for path in directory.iterdir():
            try:
                ipaddress.ip_address(path.name)
                allocated[path.name] = path.read_text().splitlines()[0].strip()
            except (ValueError, OSError, IndexError):
                continue  # last_reserved_ip.*, lock
        return allocated

    async def garbage_collect(self, live_container_ids: Collection[str]) -> list[str]:
        """Release the network of sandboxes that no longer exist: DEL for each (no netns,
        so the plugins free what they hold outside it: IPs, port mappings), and the IP
        file itself when the plugins could not. Returns the container ids released.
        Sandboxes being set up right now count as live."""
        live = set(live_container_ids) | self._attaching
        known = set(self.allocations().values()) | self._eth0().cached_ids()
        stale = known - live
        for cid in sorted(stale):
            empty: Obj = {"metadata": {}}
            try:
                await self.teardown(cid, "", empty)
            except NetworkError as err:
                log.warning("garbage collecting sandbox %s: %s", cid, err)
            for ip, owner in self.allocations().items():
                if owner == cid:
                    with contextlib.suppress(FileNotFoundError):
                        (self.ipam_dir / NETWORK_NAME / ip).unlink()
        return sorted(stale)
