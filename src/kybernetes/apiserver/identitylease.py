"""The API server's identity Lease (upstream's APIServerIdentity, pkg/controlplane/apiserver):
`kube-system/apiserver-<hash>`, labelled `apiserver.kubernetes.io/identity=kube-apiserver`,
held as `<name>_<uuid>` for 3600 s and renewed every 10 s, so that anyone can list the API
servers there are and which of them are alive (renewTime), and its garbage collector
(apiserverleasegc): leases of that label expired for good are deleted.

The name hashes the server's host name with "kube-apiserver" as upstream (each length
prefixed in two bytes, SHA-256, the first 16 bytes in lower-case unpadded base32): it
stays the same across restarts, while the holder identity changes with each process.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from kybernetes.api import errors, timeutil
from kybernetes.apiserver.store import DeleteOptions
from kybernetes.storage.interface import StorageError

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

log = logging.getLogger(__name__)

NAMESPACE = "kube-system"
LABEL = "apiserver.kubernetes.io/identity"
COMPONENT = "kube-apiserver"
HOSTNAME_LABEL = "kubernetes.io/hostname"
DURATION_SECONDS = 3600
RENEW_INTERVAL = 10.0
GC_PERIOD = 3600.0


def lease_name(hostname: str) -> str:
    data = b"".join(len(part).to_bytes(2, "big") + part
                    for part in (hostname.encode(), COMPONENT.encode()))
    digest = hashlib.sha256(data).digest()[:16]
    return "apiserver-" + base64.b32encode(digest).decode().rstrip("=").lower()


def _micro_time() -> str:
    return timeutil.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class IdentityLease:
    def __init__(self, server: ApiServer, hostname: str) -> None:
        self.server = server
        self.hostname = hostname
        self.name = lease_name(hostname)
        self.holder = f"{self.name}_{uuid.uuid4()}"
        info = server.registry.get("coordination.k8s.io", "v1", "leases")
        assert info is not None
        self.info = info

    async def renew(self) -> None:
        """Create the lease, or take it over and renew it."""
        spec = {"holderIdentity": self.holder, "leaseDurationSeconds": DURATION_SECONDS,
                "renewTime": _micro_time()}
        labels = {LABEL: COMPONENT, HOSTNAME_LABEL: self.hostname}
        try:
            await self.server.store.create(self.info, NAMESPACE, {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": NAMESPACE, "labels": labels},
                "spec": {**spec, "acquireTime": spec["renewTime"]}})
            return
        except errors.StatusError as err:
            if err.code != 409:
                raise

        def renewed(lease: dict[str, Any]) -> dict[str, Any]:
            meta = lease["metadata"]
            current = lease.get("spec", {})
            taken = current.get("holderIdentity") != self.holder
            return {**lease, "metadata": {**meta, "labels": {**meta.get("labels", {}),
                                                             **labels}},
                    "spec": {**current, **spec,
                             **({"acquireTime": spec["renewTime"]} if taken else {})}}

        await self.server.store.modify(self.info, NAMESPACE, self.name, renewed)

    async def collect(self) -> None:
        """Delete the identity leases of API servers gone for longer than their duration."""
        now = timeutil.now()
        for cached in self.server.cache.scan(self.info.namespace_prefix(NAMESPACE)):
            lease = cached.obj
            if lease["metadata"].get("labels", {}).get(LABEL) != COMPONENT:
                continue
            spec = lease.get("spec", {})
            renewed = timeutil.parse_time(spec.get("renewTime"))
            duration = timedelta(seconds=spec.get("leaseDurationSeconds") or 0)
            if renewed is not None and renewed + duration < now:
                try:
                    await self.server.store.delete(self.info, NAMESPACE,
                                                   lease["metadata"]["name"], DeleteOptions(
                                                       precondition_resource_version=lease[
                                                           "metadata"]["resourceVersion"]))
                except errors.StatusError as err:
                    if err.code not in (404, 409):
                        raise

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        collected = loop.time()
        while True:
            try:
                await self.renew()
                if loop.time() - collected >= GC_PERIOD:
                    collected = loop.time()
                    await self.collect()
            except (StorageError, errors.StatusError) as err:
                log.warning("renewing the API server identity lease: %s", err)
            await asyncio.sleep(RENEW_INTERVAL)
