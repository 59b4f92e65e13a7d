"""`VolumeManager`: prepares a pod's volumes before its containers start, keeps the
API-backed ones current, and removes them when the pod is gone (upstream's
pkg/kubelet/volumemanager with the in-tree plugins emptydir, hostpath, configmap, secret,
downwardapi, projected, local and the PVC indirection).

Layout (upstream's): `<root>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>` for the
volumes the kubelet makes (emptyDir, configMap, secret, downwardAPI, projected); hostPath
volumes and hostPath/local persistent volumes are used where they are on the host (a
local-path volume's directory is made on its first mount: `localpath.py`).

Design notes:

- No reconciler loop with desired/actual worlds: the kubelet calls `setup(pod)` in its
  pod sync (idempotent: a Memory emptyDir already mounted is kept, an AtomicWriter
  payload equal to the current one is not rewritten), `refresh(pod)` periodically to
  rewrite configMap/secret/downwardAPI/projected contents (as upstream's periodic
  remount does), and `teardown(uid)` once the pod's containers are gone.
- ConfigMaps, Secrets and the Node (allocatable resources) are read from the kubelet's
  local copies (`listers.KubeletListers`, as upstream's watch-based managers and node
  lister): `setup` and `refresh` register the pod there first, so that what it refers to
  is watched, and `teardown` unregisters it. Claims and volumes are read from the API, as
  upstream's populator does. Missing objects are worded as the kubelet's managers word
  them (`configmap "x" not found`), and every failure is a `VolumeError` carrying the
  FailedMount event message.
- Service-account tokens of projected volumes come from the kubelet's `TokenManager`
  (TokenRequest bound to the pod, refreshed at 80% of its lifetime); the periodic
  `refresh` rewrites the file when the token changed, and `teardown` drops the pod's
  tokens. A token that cannot be had fails the volume, as upstream.
- Calls for one pod are serialised by a per-pod lock: AtomicWriter is not safe against a
  concurrent writer of the same directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kybernetes.client import ApiClient, ApiError, ClientError
from kybernetes.kubelet import spawn
from kybernetes.kubelet.objectcache import ObjectCacheError
from kybernetes.kubelet.tokenmanager import BoundPod, TokenError, TokenManager
from kybernetes.kubelet.volumes import emptydir, localpath
from kybernetes.kubelet.volumes.atomic_writer import (
    AtomicWriteError,
    AtomicWriter,
    FileProjection,
)
from kybernetes.kubelet.volumes.hostpath import HostPathError, check_type
from kybernetes.kubelet.volumes.projection import (
    DEFAULT_MODE,
    Payload,
    PayloadError,
    aggregate,
    configmap_payload,
    downward_payload,
    secret_payload,
)
from kybernetes.kubelet.volumes.types import PodVolume, PodVolumes, VolumeError, setup_failed

if TYPE_CHECKING:  # listers imports envvars, which imports this package
    from kybernetes.kubelet.listers import KubeletListers

log = logging.getLogger(__name__)

Obj = dict[str, Any]

PVCS = ("", "v1", "persistentvolumeclaims")
PVS = ("", "v1", "persistentvolumes")

# The volume sources whose contents come from the API and are rewritten by `refresh`.
ATOMIC_PLUGINS = {"configMap": "configmap", "secret": "secret",
                  "downwardAPI": "downward-api", "projected": "projected"}
# The emptyDir medium each of them wraps (upstream's wrappedVolumeSpec): only configMap
# contents are kept on disk.
WRAPPED_MEDIUM = {"configMap": "", "secret": "Memory", "downwardAPI": "Memory",
                  "projected": "Memory"}
DEFAULT_TOKEN_EXPIRATION = 3600


class _SetupError(Exception):
    """A plugin's failure detail, wrapped by `setup` into upstream's event wording."""


class VolumeManager:
    def __init__(self, root: Path, client: ApiClient, listers: KubeletListers, *,
                 tokens: TokenManager | None = None) -> None:
        self.root = root
        self.client = client
        self.listers = listers
        self.tokens = tokens or TokenManager(client)
        self._locks: dict[str, asyncio.Lock] = {}
        self._prepared: dict[str, PodVolumes] = {}

    # -- layout -------------------------------------------------------------------------

    def volumes_dir(self, pod_uid: str) -> Path:
        # A UID is a path component; anything else would point teardown elsewhere.
        if not pod_uid or "/" in pod_uid or pod_uid in (".", ".."):
            raise VolumeError(f"invalid pod UID {pod_uid!r}")
        return self.root / "pods" / pod_uid / "volumes"

    def volume_dir(self, pod_uid: str, plugin: str, name: str) -> Path:
        return self.volumes_dir(pod_uid) / f"kubernetes.io~{plugin}" / name

    # -- the kubelet's calls ------------------------------------------------------------

    async def setup(self, pod: Mapping[str, Any]) -> PodVolumes:
        """Prepare every volume of the pod; raises VolumeError naming the first failure."""
        uid = _uid(pod)
        async with self._lock(uid):
            await self.listers.register_pod(pod)
            result = PodVolumes()
            await spawn.blocking(self.volumes_dir(uid).mkdir, parents=True, exist_ok=True,
                                    mode=0o750)
            for volume in (pod.get("spec") or {}).get("volumes") or ():
                result.volumes[volume["name"]] = await self._setup_volume(pod, volume)
            self._prepared[uid] = result
            return result

    async def refresh(self, pod: Mapping[str, Any]) -> PodVolumes:
        """Rewrite the configMap/secret/downwardAPI/projected volumes from current objects
        (a pod never set up is set up)."""
        uid = _uid(pod)
        if uid not in self._prepared:
            return await self.setup(pod)
        async with self._lock(uid):
            await self.listers.register_pod(pod)
            previous = self._prepared[uid]
            result = PodVolumes(volumes=dict(previous.volumes))
            for volume in (pod.get("spec") or {}).get("volumes") or ():
                if any(key in volume for key in ATOMIC_PLUGINS):
                    result.volumes[volume["name"]] = await self._setup_volume(pod, volume)
            self._prepared[uid] = result
            return result

    async def teardown(self, pod_uid: str) -> None:
        """Unmount the pod's tmpfs volumes (Memory emptyDirs, secret, downwardAPI,
        projected) and remove every volume directory of the pod; host paths are left."""
        async with self._lock(pod_uid):
            base = self.volumes_dir(pod_uid)
            for volume_dir in await spawn.blocking(_volume_dirs, base):
                try:
                    await emptydir.unmount(volume_dir)
                except emptydir.MountError as err:
                    plugin = volume_dir.parent.name.replace("~", "/")
                    raise VolumeError(
                        f'UnmountVolume.TearDown failed for volume "{volume_dir.name}" '
                        f'(UniqueName: "{plugin}/{pod_uid}-{volume_dir.name}") pod '
                        f'"{pod_uid}" (UID: "{pod_uid}") : {err}') from err
            with contextlib.suppress(FileNotFoundError):
                await spawn.blocking(shutil.rmtree, base)
            self._prepared.pop(pod_uid, None)
            self.tokens.delete_pod_tokens(pod_uid)
            await self.listers.unregister_pod(pod_uid)
        self._locks.pop(pod_uid, None)

    # -- plugins ------------------------------------------------------------------------

    def _lock(self, uid: str) -> asyncio.Lock:
        return self._locks.setdefault(uid, asyncio.Lock())

    async def _allocatable_memory(self) -> str | None:
        value = (await self.listers.node_allocatable()).get("memory")
        return str(value) if value is not None else None

    async def _setup_volume(self, pod: Mapping[str, Any], volume: Mapping[str, Any]
                            ) -> PodVolume:
        name = str(volume["name"])
        try:
            return await self._setup_plugin(pod, volume)
        except _SetupError as err:
            raise setup_failed(name, str(err)) from err
        except (HostPathError, PayloadError, AtomicWriteError, emptydir.MountError) as err:
            raise setup_failed(name, str(err)) from err
        except OSError as err:
            detail = f"{err.filename}: {err.strerror}" if err.filename and err.strerror \
                else str(err)
            raise setup_failed(name, detail) from err

    async def _setup_plugin(self, pod: Mapping[str, Any], volume: Mapping[str, Any]
                            ) -> PodVolume:
        uid, name = _uid(pod), str(volume["name"])
        if "emptyDir" in volume:
            source = volume["emptyDir"] or {}
            path = self.volume_dir(uid, "empty-dir", name)
            await spawn.blocking(emptydir.setup, path, str(source.get("medium") or ""),
                                    source.get("sizeLimit"), pod,
                                    await self._allocatable_memory())
            return PodVolume(name, "kubernetes.io/empty-dir", path)
        if "hostPath" in volume:
            source = volume["hostPath"] or {}
            await spawn.blocking(check_type, str(source.get("path") or ""),
                                    source.get("type"))
            return PodVolume(name, "kubernetes.io/host-path", Path(source["path"]))
        for key, plugin in ATOMIC_PLUGINS.items():
            if key in volume:
                payload = await self._payload(pod, key, volume[key] or {})
                path = self.volume_dir(uid, plugin, name)
                await spawn.blocking(_write_wrapped, path, WRAPPED_MEDIUM[key], pod,
                                        await self._allocatable_memory(), payload)
                return PodVolume(name, f"kubernetes.io/{plugin}", path, read_only=True)
        if "persistentVolumeClaim" in volume:
            source = volume["persistentVolumeClaim"] or {}
            return await self._claim_volume(pod, name, str(source.get("claimName") or ""),
                                            bool(source.get("readOnly")), ephemeral=False)
        if "ephemeral" in volume:
            claim = f"{(pod.get('metadata') or {}).get('name')}-{name}"
            return await self._claim_volume(pod, name, claim, False, ephemeral=True)
        raise _SetupError("no volume plugin matched")

    async def _payload(self, pod: Mapping[str, Any], key: str, source: Mapping[str, Any]
                       ) -> Payload:
        mode = int(source.get("defaultMode", DEFAULT_MODE))
        items = source.get("items") or ()
        optional = bool(source.get("optional"))
        if key == "configMap":
            configmap = await self._object("configmap", pod, str(source.get("name") or ""),
                                           optional)
            return configmap_payload(items, configmap, mode, optional)
        if key == "secret":
            secret = await self._object("secret", pod, str(source.get("secretName") or ""),
                                        optional)
            return secret_payload(items, secret, mode, optional)
        if key == "downwardAPI":
            return downward_payload(items, pod, mode, await self.listers.node_allocatable())
        return await self._projected(pod, source, mode)

    async def _projected(self, pod: Mapping[str, Any], source: Mapping[str, Any], mode: int
                         ) -> Payload:
        """Upstream projected `collectData`: every source is tried, failures aggregated."""
        payload: Payload = {}
        errors: list[str] = []
        for projection in source.get("sources") or ():
            try:
                payload.update(await self._projection(pod, projection, mode))
            except (_SetupError, PayloadError, TokenError) as err:
                errors.append(str(err))
        if errors:
            raise _SetupError(aggregate(errors))
        return payload

    async def _projection(self, pod: Mapping[str, Any], projection: Mapping[str, Any],
                          mode: int) -> Payload:
        if "configMap" in projection:
            source = projection["configMap"] or {}
            optional = bool(source.get("optional"))
            configmap = await self._object("configmap", pod, str(source.get("name") or ""),
                                           optional)
            return configmap_payload(source.get("items") or (), configmap, mode, optional)
        if "secret" in projection:
            source = projection["secret"] or {}
            optional = bool(source.get("optional"))
            secret = await self._object("secret", pod, str(source.get("name") or ""),
                                        optional)
            return secret_payload(source.get("items") or (), secret, mode, optional)
        if "downwardAPI" in projection:
            return downward_payload((projection["downwardAPI"] or {}).get("items") or (),
                                    pod, mode, await self.listers.node_allocatable())
        if "serviceAccountToken" in projection:
            source = projection["serviceAccountToken"] or {}
            meta = pod.get("metadata") or {}
            audience = str(source.get("audience") or "")
            token = await self.tokens.get_token(
                _namespace(pod), _service_account(pod),
                [audience] if audience else [],
                int(source.get("expirationSeconds") or DEFAULT_TOKEN_EXPIRATION),
                BoundPod(str(meta.get("name") or ""), _uid(pod)))
            return {str(source.get("path") or ""): FileProjection(token.encode(), mode)}
        kinds = ", ".join(sorted(projection)) or "empty"
        raise _SetupError(f"unsupported volume projection: {kinds}")

    async def _object(self, kind: str, pod: Mapping[str, Any], name: str, optional: bool
                      ) -> Obj:
        """A ConfigMap or Secret of the pod's namespace; an empty one when it is missing
        and optional."""
        namespace = _namespace(pod)
        read = self.listers.get_configmap if kind == "configmap" else self.listers.get_secret
        try:
            obj = await read(namespace, name)
        except ObjectCacheError as err:
            raise _SetupError(str(err)) from err
        if obj is not None:
            return obj
        if optional:
            return {"metadata": {"name": name, "namespace": namespace}}
        raise _SetupError(f'{kind} "{name}" not found')

    async def _claim_volume(self, pod: Mapping[str, Any], name: str, claim_name: str,
                            read_only: bool, *, ephemeral: bool) -> PodVolume:
        """Resolve a PVC to its bound PV (upstream desired_state_of_world_populator's
        `createVolumeSpec`); hostPath and local PVs are used at their path."""
        namespace = _namespace(pod)
        prefix = f"error processing PVC {namespace}/{claim_name}"
        try:
            claim: Obj = await self.client.get(PVCS, claim_name, namespace)
        except ClientError as err:
            detail = err.message if isinstance(err, ApiError) else str(err)
            raise VolumeError(
                f"{prefix}: failed to fetch PVC from API server: {detail}") from err
        meta = claim.get("metadata") or {}
        if ephemeral and not any(ref.get("uid") == (pod.get("metadata") or {}).get("uid")
                                 for ref in meta.get("ownerReferences") or ()):
            raise VolumeError(f"{prefix}: PVC {namespace}/{claim_name} was not created for "
                              f"pod {namespace}/{(pod.get('metadata') or {}).get('name')} "
                              "(pod is not owner)")
        if meta.get("deletionTimestamp"):
            raise VolumeError(f"{prefix}: PVC is being deleted")
        volume_name = str((claim.get("spec") or {}).get("volumeName") or "")
        if (claim.get("status") or {}).get("phase") != "Bound" or not volume_name:
            raise VolumeError(f"{prefix}: PVC is not bound")
        try:
            pv: Obj = await self.client.get(PVS, volume_name)
        except ClientError as err:
            detail = err.message if isinstance(err, ApiError) else str(err)
            raise VolumeError(f"{prefix}: failed to fetch PV {volume_name} from API server: "
                              f"{detail}") from err
        spec = pv.get("spec") or {}
        claim_ref = spec.get("claimRef")
        if claim_ref is None:
            raise VolumeError(f"{prefix}: found PV object {volume_name} but it has a nil "
                              "pv.Spec.ClaimRef indicating it is not yet bound to the claim")
        if claim_ref.get("uid") != meta.get("uid"):
            raise VolumeError(
                f"{prefix}: found PV object {volume_name} but its pv.Spec.ClaimRef.UID "
                f"({claim_ref.get('uid')}) does not point to claim.UID ({meta.get('uid')})")
        read_only = read_only or bool(spec.get("readOnly"))
        if "hostPath" in spec:
            source = spec["hostPath"] or {}
            if localpath.is_local_path(pv):
                await spawn.blocking(localpath.make_dir, Path(str(source.get("path"))))
            try:
                await spawn.blocking(check_type, str(source.get("path") or ""),
                                        source.get("type"))
            except HostPathError as err:
                raise setup_failed(volume_name, str(err)) from err
            return PodVolume(name, "kubernetes.io/host-path", Path(source["path"]), read_only)
        if "local" in spec:
            path = Path(str((spec["local"] or {}).get("path") or ""))
            if not await spawn.blocking(path.exists):
                raise setup_failed(volume_name, f"path {path} does not exist")
            return PodVolume(name, "kubernetes.io/local-volume", path, read_only)
        raise setup_failed(volume_name, "no volume plugin matched")


def _write_wrapped(path: Path, medium: str, pod: Mapping[str, Any],
                   allocatable_memory: str | None, payload: Payload) -> None:
    """An atomically written volume and the emptyDir it wraps (one worker-thread hop)."""
    emptydir.setup(path, medium, None, pod, allocatable_memory)
    AtomicWriter(path).write(payload)


def _volume_dirs(base: Path) -> list[Path]:
    """Every `kubernetes.io~<plugin>/<name>` directory under a pod's volumes directory."""
    if not base.is_dir():
        return []
    return [volume for plugin in base.iterdir() if plugin.is_dir() and not plugin.is_symlink()
            for volume in plugin.iterdir() if volume.is_dir() and not volume.is_symlink()]


def _uid(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("uid") or "")


def _service_account(pod: Mapping[str, Any]) -> str:
    """The pod's account; `default` when unset (the ServiceAccount admission's default)."""
    return str((pod.get("spec") or {}).get("serviceAccountName") or "default")


def _namespace(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("namespace") or "default")
