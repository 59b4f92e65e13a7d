"""The kubelet's node-side services behind the small interfaces the sync loop uses.

`kuberuntime.RuntimeManager` asks for images, networking and volumes through protocols
(`ImageService`, `NetworkService`, `VolumeService`) so that it can be tested with fakes;
this module binds them to the real parts:

- `ApiImageService`: the OCI image store, pulling with the pod's `imagePullSecrets` (read
  from the API; a missing secret is an event, not a failure, as upstream) through the
  node's registries.yaml mirrors (kubelet/images/mirrors.py), and image
  garbage collection by disk usage every `gc_period` for images no container uses.
- `ApiVolumeService`: the volume manager (volumes prepared on every sync, so ConfigMap and
  Secret changes reach running pods) and container environments, both read from the
  kubelet's watched copies of the cluster (`listers.KubeletListers`: Services, the Node,
  and the ConfigMaps and Secrets of the node's pods), never from the API on the way.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from kybernetes.client import ApiClient, ClientError, resource
from kybernetes.kubelet.envvars import container_env
from kybernetes.kubelet.images import (
    DEFAULT_HIGH_THRESHOLD_PERCENT,
    DEFAULT_LOW_THRESHOLD_PERCENT,
    ImageRecord,
    ImageStore,
    RegistryCredential,
    credentials_from_docker_config,
)
from kybernetes.kubelet.images.mirrors import NO_REGISTRIES, RegistriesConfig
from kybernetes.kubelet.listers import KubeletListers
from kybernetes.kubelet.runtime.cri import Mount
from kybernetes.kubelet.volumes import PodVolumes, VolumeManager, container_mounts

log = logging.getLogger(__name__)

Obj = dict[str, Any]
SECRETS = resource("", "v1", "secrets")
DOCKER_CONFIG_KEYS = (".dockerconfigjson", ".dockercfg")


class ApiImageService:
    def __init__(self, store: ImageStore, client: ApiClient, *,
                 insecure_registries: Collection[str] = (),
                 registries: RegistriesConfig = NO_REGISTRIES,
                 events: Callable[[Obj, str, str, str], None] | None = None) -> None:
        self.store = store
        self.client = client
        self.insecure_registries = tuple(insecure_registries)
        self.registries = registries
        self.events = events

    def get(self, ref_or_id: str) -> ImageRecord | None:
        return self.store.get(ref_or_id)

    async def _credentials(self, pod: Obj) -> list[RegistryCredential]:
        namespace = str(pod["metadata"]["namespace"])
        credentials: list[RegistryCredential] = []
        missing: list[str] = []
        for ref in (pod.get("spec") or {}).get("imagePullSecrets") or ():
            name = str(ref.get("name") or "")
            try:
                secret = await self.client.get(SECRETS, name, namespace)
            except ClientError:
                missing.append(name)
                continue
            data = secret.get("data") or {}
            for key in DOCKER_CONFIG_KEYS:
                if key in data:
                    try:
                        credentials += credentials_from_docker_config(
                            base64.b64decode(data[key]))
                    except ValueError as err:
                        log.warning("image pull secret %s/%s: %s", namespace, name, err)
        if missing and self.events is not None:
            self.events(pod, "Warning", "FailedToRetrieveImagePullSecret",
                        f"Unable to retrieve some image pull secrets ({', '.join(missing)}); "
                        "attempting to pull the image may not succeed.")
        return credentials

    async def pull_for_pod(self, ref: str, pod: Obj) -> ImageRecord:
        record = await self.store.pull(ref, credentials=await self._credentials(pod),
                                       insecure_registries=self.insecure_registries,
                                       registries=self.registries)
        self.store.mark_used(record.id)
        return record

    async def garbage_collect_forever(self, in_use: Callable[[], Collection[str]], *,
                                      period: float = 300.0,
                                      high: int = DEFAULT_HIGH_THRESHOLD_PERCENT,
                                      low: int = DEFAULT_LOW_THRESHOLD_PERCENT) -> None:
        while True:
            await asyncio.sleep(period)
            try:
                removed = await asyncio.to_thread(
                    self.store.garbage_collect, high_threshold_percent=high,
                    low_threshold_percent=low, in_use=in_use())
            except Exception:
                log.exception("image garbage collection failed")
                continue
            if removed:
                log.info("image garbage collection removed %s", ", ".join(removed))


class ApiVolumeService:
    def __init__(self, root: Path, client: ApiClient, node_name: str) -> None:
        self.listers = KubeletListers(client, node_name)
        self.manager = VolumeManager(root, client, self.listers)
        self._prepared: dict[str, PodVolumes] = {}

    async def setup(self, pod: Obj) -> None:
        uid = str(pod["metadata"]["uid"])
        self._prepared[uid] = await self.manager.setup(pod)

    async def env(self, pod: Obj, container: Obj, pod_ips: Sequence[str]
                  ) -> list[tuple[str, str]]:
        return await container_env(pod, container, lookups=self.listers,
                                   pod_ips=list(pod_ips) or None)

    def mounts(self, pod: Obj, container: Obj, env: Sequence[tuple[str, str]]
               ) -> list[Mount]:
        volumes = self._prepared.get(str(pod["metadata"]["uid"])) or PodVolumes()
        return [Mount(m.container_path, str(m.host_path), m.read_only)
                for m in container_mounts(pod, container, volumes, env=env)]

    async def teardown(self, pod: Obj) -> None:
        uid = str(pod["metadata"]["uid"])
        self._prepared.pop(uid, None)
        await self.manager.teardown(uid)

    async def aclose(self) -> None:
        await self.listers.aclose()
