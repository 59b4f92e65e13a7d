"""The queue keys of the controllers that reconcile claims and volumes together (the
binder, `binder.py`, and the local-path provisioner, `controllers/localpath.py`):
`claim:<namespace>/<name>` and `volume:<name>`, and the sync that reads the object a key
names from its informer and hands it to `sync_claim` or `sync_volume` (nothing when it is
gone).
"""

from __future__ import annotations

import abc

from kybernetes.api.objects import meta
from kybernetes.client.informer import Informer
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import QueueController

CLAIM_PREFIX = "claim:"
VOLUME_PREFIX = "volume:"


def claim_key(obj: Obj) -> str:
    claim = meta(obj)
    return f"{CLAIM_PREFIX}{claim.get('namespace', '')}/{claim.get('name', '')}"


def volume_key(obj: Obj) -> str:
    return f"{VOLUME_PREFIX}{meta(obj).get('name', '')}"


class ClaimsAndVolumesController(QueueController):
    claims: Informer
    volumes: Informer

    async def sync(self, key: str) -> None:
        if key.startswith(CLAIM_PREFIX):
            claim = self.claims.store.get(key[len(CLAIM_PREFIX):])
            if claim is not None:
                await self.sync_claim(claim)
        elif key.startswith(VOLUME_PREFIX):
            volume = self.volumes.store.get(key[len(VOLUME_PREFIX):])
            if volume is not None:
                await self.sync_volume(volume)

    @abc.abstractmethod
    async def sync_claim(self, claim: Obj) -> None: ...

    @abc.abstractmethod
    async def sync_volume(self, volume: Obj) -> None: ...
