"""A container's volume mounts (upstream kubelet_pods.go `makeMounts` and
pkg/volume/util/subpath): each `volumeMounts` entry becomes a `VolumeMount` of a prepared
volume, or of a path inside it for `subPath` / `subPathExpr`.

`subPathExpr` is expanded against the container's environment (`$(VAR)`; a variable
that is missing or empty fails the mount). A sub path must be relative and free of `..`;
a missing one is created (as a directory with the volume's mode), and the final path is
resolved through every symlink and refused unless it stays inside the volume, so a
container cannot point a symlink at `/etc` and have the host path bind-mounted. Upstream
additionally bind-mounts the opened file descriptor to close the race between the check
and the runtime's mount; here the runtime mounts the resolved path the check returned.
`mountPropagation` is not honoured (every mount is private).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kybernetes.kubelet.volumes.expansion import expand
from kybernetes.kubelet.volumes.types import PodVolumes, VolumeError, VolumeMount


def container_mounts(pod: Mapping[str, Any], container: Mapping[str, Any],
                     volumes: PodVolumes, *,
                     env: Sequence[tuple[str, str]] = ()) -> list[VolumeMount]:
    """The bind mounts of `container`'s volumeMounts; raises VolumeError. `env` is the
    container's environment (for subPathExpr), as `envvars.container_env` made it."""
    env_map = dict(env)
    name = str(container.get("name") or "")
    mounts: list[VolumeMount] = []
    for mount in container.get("volumeMounts") or ():
        volume_name = str(mount.get("name") or "")
        volume = volumes.get(volume_name)
        if volume is None:
            raise VolumeError(
                f'cannot find volume "{volume_name}" to mount into container "{name}"')
        sub_path = str(mount.get("subPath") or "")
        if mount.get("subPathExpr"):
            sub_path = expand_sub_path_expr(str(mount["subPathExpr"]), env_map)
        host_path = volume.path
        if sub_path:
            host_path = _prepare_sub_path(volume.path, sub_path, volume_name, name)
        container_path = str(mount.get("mountPath") or "")
        if not container_path.startswith("/"):
            container_path = "/" + container_path
        mounts.append(VolumeMount(host_path=host_path, container_path=container_path,
                                  read_only=bool(mount.get("readOnly")) or volume.read_only))
    return mounts


def expand_sub_path_expr(expr: str, env: Mapping[str, str]) -> str:
    """Upstream `ExpandContainerVolumeMounts`."""
    missing: set[str] = set()

    def lookup(key: str) -> str:
        value = env.get(key, "")
        if not value:
            missing.add(key)
        return value

    expanded = expand(expr, lookup)
    if missing:
        raise VolumeError(f"missing value for {', '.join(sorted(missing))}")
    return expanded


def _within(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip("/") + "/")


def _prepare_sub_path(volume_path: Path, sub_path: str, volume: str, container: str) -> Path:
    if sub_path.startswith("/"):
        raise VolumeError(f"error SubPath `{sub_path}` must not be an absolute path")
    if ".." in sub_path.split("/"):
        raise VolumeError(f"unable to provision SubPath `{sub_path}`: must not contain '..'")
    host_path = volume_path / sub_path
    if not host_path.exists():
        try:
            _safe_make_dir(volume_path, sub_path)
        except OSError as err:
            raise VolumeError(f'failed to create subPath directory for volumeMount "{volume}"'
                              f' of container "{container}"') from err
    base = os.path.realpath(volume_path)
    resolved = os.path.realpath(host_path, strict=False)
    if not os.path.lexists(resolved) or not _within(resolved, base):
        # Upstream keeps the detail (which host path it was) out of the user's event.
        raise VolumeError(f'failed to prepare subPath for volumeMount "{volume}" of '
                          f'container "{container}"')
    return Path(resolved)


def _safe_make_dir(volume_path: Path, sub_path: str) -> None:
    """Create `sub_path` inside the volume one component at a time, refusing any existing
    component that resolves outside it (upstream `SafeMakeDir`)."""
    base = os.path.realpath(volume_path)
    mode = os.stat(base).st_mode & 0o7777
    current = base
    for part in sub_path.split("/"):
        if part in ("", "."):
            continue
        candidate = os.path.join(current, part)
        if os.path.lexists(candidate):
            resolved = os.path.realpath(candidate)
            if not _within(resolved, base) or not os.path.isdir(resolved):
                raise NotADirectoryError(candidate)
            current = resolved
        else:
            os.mkdir(candidate)
            os.chmod(candidate, mode)
            current = candidate
