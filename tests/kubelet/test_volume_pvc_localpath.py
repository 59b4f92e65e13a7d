"""The kubelet's side of local-path volumes, against the in-process API server.

Intent: the first mount of a local-path volume makes its directory writable by anyone
(0777, as k3s' helper makes it) and the pod gets it at that path; the cleaner removes the
directories of volumes that no longer exist, keeps those of volumes that do, and keeps a
directory it sees for the first time (its volume may be newer than its list).
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from kybernetes.client import ApiClient, ObjectList
from kybernetes.kubelet.listers import KubeletListers
from kybernetes.kubelet.volumes import VolumeManager
from kybernetes.kubelet.volumes.localpath import LocalPathCleaner

Obj = dict[str, Any]
PODS = ("", "v1", "pods")
PVS = ("", "v1", "persistentvolumes")
PVCS = ("", "v1", "persistentvolumeclaims")
NS = "default"


async def local_path_volume(api: ApiClient, name: str, path: Path) -> None:
    claim: Obj = await api.create(PVCS, {"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}, NS)
    await api.create(PVS, {
        "metadata": {"name": name,
                     "annotations": {"pv.kubernetes.io/provisioned-by": "rancher.io/local-path"}},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "claimRef": {"namespace": NS, "name": "data",
                              "uid": claim["metadata"]["uid"]},
                 "hostPath": {"path": str(path), "type": "DirectoryOrCreate"}}})
    claim["spec"]["volumeName"] = name
    claim = await api.update(PVCS, claim, NS)
    await api.update_status(PVCS, {**claim, "status": {"phase": "Bound"}}, NS)


async def test_first_mount_makes_a_world_writable_directory(api: ApiClient,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "storage" / "pvc-1_default_data"
    await local_path_volume(api, "pvc-1", path)
    pod = await api.create(PODS, {"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}],
        "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]}}, NS)
    listers = KubeletListers(api, "node-a")
    manager = VolumeManager(tmp_path / "kubelet", api, listers)
    volumes = await manager.setup(pod)
    assert volumes.volumes["v"].path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o777
    await manager.teardown(pod["metadata"]["uid"])
    await listers.aclose()
    assert path.is_dir()  # the volume outlives the pod


class ListingClient:
    """Lists the given volumes, counting the lists."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.lists = 0

    async def list(self, res: Any) -> ObjectList:
        self.lists += 1
        return ObjectList([{"metadata": {"name": n}} for n in self.names], "1")


async def test_cleaner_removes_directories_of_volumes_that_are_gone(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    kept, gone = root / "pvc-a_default_data", root / "pvc-b_default_logs"
    for path in (kept, gone):
        path.mkdir(parents=True)
        (path / "file").write_text("x")
    (root / "unrelated").mkdir()
    client = ListingClient(["pvc-a"])
    cleaner = LocalPathCleaner(root, client)  # type: ignore[arg-type]
    # First seen: nothing is removed, nothing listed.
    assert await cleaner.sweep() == [] and client.lists == 0
    fresh = root / "pvc-c_default_new"
    fresh.mkdir()
    assert await cleaner.sweep() == [gone] and client.lists == 1
    assert kept.is_dir() and fresh.is_dir() and (root / "unrelated").is_dir()
    assert not gone.exists()
    # The next round judges the new directory too.
    assert await cleaner.sweep() == [fresh]


async def test_cleaner_lists_nothing_without_directories(tmp_path: Path) -> None:
    client = ListingClient([])
    cleaner = LocalPathCleaner(tmp_path / "none", client)  # type: ignore[arg-type]
    assert await cleaner.sweep() == [] and await cleaner.sweep() == []
    assert client.lists == 0
