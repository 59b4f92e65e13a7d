"""The kubelet's pod volumes: prepare them on the host, turn volumeMounts into bind
mounts, and remove them, free of any container runtime (the runtime bind-mounts what
`container_mounts` returns).

- `manager`: `VolumeManager` (setup / refresh / teardown per pod).
- `mounts`: `container_mounts` (volumeMounts, subPath, subPathExpr).
- `types`: `PodVolumes`, `PodVolume`, `VolumeMount`, `VolumeError`.
- plugins and helpers: `emptydir`, `hostpath`, `projection` (configMap, secret,
  downwardAPI payloads), `atomic_writer`, and the downward API's `fieldpath` and
  `resource`, with `expansion` (`$(VAR)`), which `kybernetes.kubelet.envvars` shares.
"""

from kybernetes.kubelet.volumes.manager import VolumeManager
from kybernetes.kubelet.volumes.mounts import container_mounts
from kybernetes.kubelet.volumes.types import PodVolume, PodVolumes, VolumeError, VolumeMount

__all__ = ["PodVolume", "PodVolumes", "VolumeError", "VolumeManager", "VolumeMount",
           "container_mounts"]
