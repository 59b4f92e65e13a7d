"""The values the volume manager hands to the kubelet: a pod's prepared volumes
(`PodVolumes`), one container's bind mounts (`VolumeMount`), and `VolumeError`.

`VolumeError`'s message is what the kubelet puts into the FailedMount event, worded as
upstream's operation executor words it (`MountVolume.SetUp failed for volume "x" : ...`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class VolumeError(Exception):
    """A volume could not be prepared or mounted; `str(err)` is the event message."""


def setup_failed(volume: str, detail: str) -> VolumeError:
    """Upstream's wording for a failed SetUp (operation_generator.go GenerateMountVolumeFunc)."""
    return VolumeError(f'MountVolume.SetUp failed for volume "{volume}" : {detail}')


@dataclass(frozen=True, slots=True)
class VolumeMount:
    """One bind mount of a prepared volume (or a path inside it) into a container."""

    host_path: Path
    container_path: str
    read_only: bool


@dataclass(frozen=True, slots=True)
class PodVolume:
    """One prepared volume: where it lives on the host and whether its plugin forces
    read-only mounts (configMap, secret, downwardAPI and projected do, as upstream's
    `GetAttributes().ReadOnly`; so does a PVC or PV marked readOnly)."""

    name: str
    plugin: str  # upstream's plugin name: kubernetes.io/empty-dir, kubernetes.io/host-path, ...
    path: Path
    read_only: bool = False


@dataclass(slots=True)
class PodVolumes:
    """Every prepared volume of one pod by name."""

    volumes: dict[str, PodVolume] = field(default_factory=dict)

    def get(self, name: str) -> PodVolume | None:
        return self.volumes.get(name)
