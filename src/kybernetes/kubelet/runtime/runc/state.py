"""On-disk state of the runc runtime, so that a restarted kubelet adopts what is running.

Nothing lives only in memory: a new `RuncRuntime` over the same directories sees every
sandbox and container the previous one made, and their conmons keep running meanwhile.

    <data_dir>/sandboxes/<id>/sandbox.json   the SandboxConfig and created_at
    <data_dir>/sandboxes/<id>/{resolv.conf,hostname,hosts}
    <data_dir>/containers/<id>/container.json the ContainerConfig, sandbox id, created_at
    <data_dir>/containers/<id>/{upper,work}   the overlay's writable layer
    <data_dir>/containers/<id>/bundle/        config.json, the rootfs mount point, and
                                              conmon's attach socket and ctl fifo
    <run_dir>/runc/                           runc's own --root
    <run_dir>/sandboxes/<id>/ns/{net,ipc,uts} the pinned namespaces
    <run_dir>/sandboxes/<id>/shm              the pod's /dev/shm tmpfs
    <run_dir>/containers/<id>/status.json     pid and monitor pid (with their start times
                                              in /proc), start time (or how the start
                                              failed), written once
    <run_dir>/containers/<id>/{exit,oom}      conmon's: the exit code, an OOM kill
    <run_dir>/containers/<id>/{conmon,init}.pid

`<run_dir>` is a tmpfs (`/run/kybernetes/runc`) as it should be: after a reboot no
namespace or process survives, and neither does their state. JSON files are replaced
atomically (write to a temporary name, rename), as conmon writes its own, because they
are read at any moment.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kybernetes.kubelet.runtime.cri import (
    ContainerConfig,
    DNSConfig,
    Mount,
    Resources,
    SandboxConfig,
    SecurityContext,
)

Obj = dict[str, Any]


def write_json(path: Path, obj: Obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


def read_json(path: Path) -> Obj | None:
    try:
        data: Obj = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data


@dataclass(frozen=True)
class Paths:
    """Where the runtime keeps things; see the module docstring for the layout."""

    data_dir: Path
    run_dir: Path

    @property
    def runc_root(self) -> Path:
        return self.run_dir / "runc"

    def sandbox_dir(self, sandbox_id: str) -> Path:
        return self.data_dir / "sandboxes" / sandbox_id

    def sandbox_run_dir(self, sandbox_id: str) -> Path:
        return self.run_dir / "sandboxes" / sandbox_id

    def container_dir(self, container_id: str) -> Path:
        return self.data_dir / "containers" / container_id

    def container_run_dir(self, container_id: str) -> Path:
        return self.run_dir / "containers" / container_id

    def bundle(self, container_id: str) -> Path:
        return self.container_dir(container_id) / "bundle"

    def status_file(self, container_id: str) -> Path:
        return self.container_run_dir(container_id) / "status.json"

    def sandbox_ids(self) -> list[str]:
        return _ids(self.data_dir / "sandboxes", "sandbox.json")

    def container_dirs(self) -> list[str]:
        """The container directories' names: containers' ids (one being created or removed
        may have no container.json)."""
        try:
            return sorted(os.listdir(self.data_dir / "containers"))
        except FileNotFoundError:
            return []

    def ensure(self) -> None:
        for d in (self.data_dir / "sandboxes", self.data_dir / "containers",
                  self.run_dir / "sandboxes", self.run_dir / "containers", self.runc_root):
            d.mkdir(parents=True, exist_ok=True)


def _ids(parent: Path, marker: str) -> list[str]:
    try:
        return sorted(p.name for p in parent.iterdir() if (p / marker).exists())
    except FileNotFoundError:
        return []


def encode(config: SandboxConfig | ContainerConfig) -> Obj:
    """A config as JSON-able data (paths as strings, tuples as lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))  # type: ignore[no-any-return]


def decode_sandbox(obj: Obj) -> SandboxConfig:
    dns = obj.get("dns")
    return SandboxConfig(**{
        **obj,
        "dns": None if dns is None else DNSConfig(
            servers=tuple(dns["servers"]), searches=tuple(dns["searches"]),
            options=tuple(dns["options"])),
    })


def decode_container(obj: Obj) -> ContainerConfig:
    sec = obj["security"]
    return ContainerConfig(**{
        **obj,
        "image_layers": tuple(Path(p) for p in obj["image_layers"]),
        "command": tuple(obj["command"]),
        "args": tuple(obj["args"]),
        "env": tuple((k, v) for k, v in obj["env"]),
        "mounts": tuple(Mount(**m) for m in obj["mounts"]),
        "resources": Resources(**obj["resources"]),
        "security": SecurityContext(**{
            **sec,
            "capabilities_add": tuple(sec["capabilities_add"]),
            "capabilities_drop": tuple(sec["capabilities_drop"]),
        }),
    })
