"""The kubelet's volume manager against a real in-process API server: pods, ConfigMaps,
Secrets, Nodes, PVs and PVCs are real objects (defaulted by the server); volumes are
written under a temporary root. The Memory emptyDir really mounts a tmpfs (the kubelet
runs as root; the test is skipped otherwise)."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kybernetes.client import ApiClient
from kybernetes.kubelet.listers import KubeletListers
from kybernetes.kubelet.volumes import (
    PodVolumes,
    VolumeError,
    VolumeManager,
    VolumeMount,
    container_mounts,
)
from kybernetes.kubelet.volumes.atomic_writer import (
    AtomicWriteError,
    AtomicWriter,
    FileProjection,
)
from kybernetes.kubelet.volumes.emptydir import is_mount_point

pytestmark = pytest.mark.e2e

Obj = dict[str, Any]
PODS = ("", "v1", "pods")
CONFIGMAPS = ("", "v1", "configmaps")
SECRETS = ("", "v1", "secrets")
NODES = ("", "v1", "nodes")
PVS = ("", "v1", "persistentvolumes")
PVCS = ("", "v1", "persistentvolumeclaims")
NODE = "node-a"
NS = "default"
# Memory emptyDirs, and the secret, downwardAPI and projected volumes wrapping one, mount a
# tmpfs, as the kubelet (root) does.
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


async def teardown_all(manager: VolumeManager) -> None:
    """Tear every pod down (secret, downwardAPI and projected volumes are tmpfs mounts),
    and check that nothing stays mounted under the kubelet's root."""
    pods = manager.root / "pods"
    for pod_dir in (pods.iterdir() if pods.is_dir() else ()):
        await manager.teardown(pod_dir.name)
    assert mounts_under(manager.root) == []


def mounts_under(root: Path) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as info:
        return [line.split()[4] for line in info if line.split()[4].startswith(str(root))]


@pytest.fixture
async def manager(api: ApiClient, tmp_path: Path) -> AsyncIterator[VolumeManager]:
    listers = KubeletListers(api, NODE)
    running = VolumeManager(tmp_path / "kubelet", api, listers)
    try:
        yield running
    finally:
        await teardown_all(running)
        await listers.aclose()


async def make_pod(api: ApiClient, volumes: list[Obj], *, mounts: list[Obj] | None = None,
                   name: str = "p", resources: Obj | None = None,
                   labels: dict[str, str] | None = None,
                   annotations: dict[str, str] | None = None) -> Obj:
    container: Obj = {"name": "c", "image": "busybox", "volumeMounts": mounts or []}
    if resources:
        container["resources"] = resources
    pod: Obj = await api.create(PODS, {
        "metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}},
        "spec": {"serviceAccountName": "default", "containers": [container],
                 "volumes": volumes}}, NS)
    return pod


async def make_configmap(api: ApiClient, name: str, data: dict[str, str],
                         binary: dict[str, bytes] | None = None) -> Obj:
    body: Obj = {"metadata": {"name": name}, "data": data}
    if binary:
        body["binaryData"] = {k: base64.b64encode(v).decode() for k, v in binary.items()}
    created: Obj = await api.create(CONFIGMAPS, body, NS)
    return created


async def make_secret(api: ApiClient, name: str, data: dict[str, bytes]) -> Obj:
    created: Obj = await api.create(SECRETS, {
        "metadata": {"name": name},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()}}, NS)
    return created


def vol_dir(manager: VolumeManager, pod: Obj, plugin: str, name: str) -> Path:
    return manager.volumes_dir(pod["metadata"]["uid"]) / f"kubernetes.io~{plugin}" / name


async def setup_error(manager: VolumeManager, pod: Obj) -> str:
    with pytest.raises(VolumeError) as caught:
        await manager.setup(pod)
    return str(caught.value)


# ---------------------------------------------------------------------------- emptyDir


def mount_count(path: Path) -> int:
    with open("/proc/self/mountinfo", encoding="utf-8") as info:
        return sum(line.split()[4] == str(path) for line in info)


async def test_empty_dir_is_a_world_writable_directory_removed_at_teardown(
        api: ApiClient, manager: VolumeManager) -> None:
    pod = await make_pod(api, [{"name": "scratch", "emptyDir": {}}])
    volumes = await manager.setup(pod)
    path = vol_dir(manager, pod, "empty-dir", "scratch")
    assert volumes.volumes["scratch"].path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o777
    (path / "file").write_text("x")
    await manager.setup(pod)  # idempotent: contents survive a second sync
    assert (path / "file").read_text() == "x"
    await manager.teardown(pod["metadata"]["uid"])
    assert not manager.volumes_dir(pod["metadata"]["uid"]).exists()


@needs_root
async def test_memory_empty_dir_mounts_a_sized_tmpfs_and_unmounts_it(
        api: ApiClient, manager: VolumeManager) -> None:
    pod = await make_pod(api, [{"name": "shm", "emptyDir": {"medium": "Memory",
                                                            "sizeLimit": "16Mi"}}])
    path = vol_dir(manager, pod, "empty-dir", "shm")
    try:
        await manager.setup(pod)
        assert is_mount_point(path)
        fs = os.statvfs(path)
        assert fs.f_blocks * fs.f_frsize == 16 * 1024 * 1024
        await manager.setup(pod)  # already mounted: not mounted twice
        assert mount_count(path) == 1
    finally:
        await manager.teardown(pod["metadata"]["uid"])
    assert not is_mount_point(path)
    assert not path.exists()


@needs_root
async def test_memory_empty_dir_is_capped_by_the_pod_memory_limit(
        api: ApiClient, manager: VolumeManager) -> None:
    pod = await make_pod(api, [{"name": "shm", "emptyDir": {"medium": "Memory",
                                                            "sizeLimit": "1Gi"}}],
                         resources={"limits": {"memory": "8Mi"}})
    path = vol_dir(manager, pod, "empty-dir", "shm")
    try:
        await manager.setup(pod)
        fs = os.statvfs(path)
        assert fs.f_blocks * fs.f_frsize == 8 * 1024 * 1024
    finally:
        await manager.teardown(pod["metadata"]["uid"])


# ---------------------------------------------------------------------------- hostPath


async def test_host_path_or_create_types_create_what_is_missing(
        api: ApiClient, manager: VolumeManager, tmp_path: Path) -> None:
    directory, file = tmp_path / "host" / "dir", tmp_path / "file"
    pod = await make_pod(api, [
        {"name": "d", "hostPath": {"path": str(directory), "type": "DirectoryOrCreate"}},
        {"name": "f", "hostPath": {"path": str(file), "type": "FileOrCreate"}},
        {"name": "any", "hostPath": {"path": str(tmp_path / "nothing")}}])
    volumes = await manager.setup(pod)
    assert directory.is_dir() and stat.S_IMODE(directory.stat().st_mode) == 0o755
    assert file.is_file() and stat.S_IMODE(file.stat().st_mode) == 0o644
    assert volumes.volumes["d"].path == directory
    assert not (tmp_path / "nothing").exists()  # an unset type checks nothing
    await manager.teardown(pod["metadata"]["uid"])
    assert directory.is_dir() and file.is_file()  # teardown never touches host paths


@pytest.mark.parametrize(("kind", "target", "wording"), [
    ("Directory", "file", "is not a directory"),
    ("DirectoryOrCreate", "file", "is not a directory"),
    ("File", "dir", "is not a file"),
    ("FileOrCreate", "dir", "is not a file"),
    ("Socket", "file", "is not a socket file"),
    ("CharDevice", "dir", "is not a character device"),
    ("BlockDevice", "/dev/null", "is not a block device"),
    ("Directory", "missing", "is not a directory"),
])
async def test_host_path_type_check_failures_are_worded_as_upstream(
        api: ApiClient, manager: VolumeManager, tmp_path: Path, kind: str, target: str,
        wording: str) -> None:
    (tmp_path / "file").write_text("")
    (tmp_path / "dir").mkdir()
    path = target if target.startswith("/") else str(tmp_path / target)
    pod = await make_pod(api, [{"name": "h", "hostPath": {"path": path, "type": kind}}])
    assert await setup_error(manager, pod) == (
        f'MountVolume.SetUp failed for volume "h" : hostPath type check failed: '
        f'{path} {wording}')


async def test_host_path_socket_and_char_device_pass(
        api: ApiClient, manager: VolumeManager, tmp_path: Path) -> None:
    sock_path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        pod = await make_pod(api, [
            {"name": "s", "hostPath": {"path": str(sock_path), "type": "Socket"}},
            {"name": "n", "hostPath": {"path": "/dev/null", "type": "CharDevice"}}])
        volumes = await manager.setup(pod)
    assert volumes.volumes["n"].path == Path("/dev/null")


# ---------------------------------------------------------------------- configMap/secret


async def test_config_map_volume_projects_keys_with_modes(
        api: ApiClient, manager: VolumeManager) -> None:
    await make_configmap(api, "cfg", {"a": "A", "b": "B"}, binary={"bin": b"\x00\x01"})
    await make_configmap(api, "cfg2", {"a": "A", "b": "B"})
    pod = await make_pod(api, [
        {"name": "all", "configMap": {"name": "cfg", "defaultMode": 0o600}},
        {"name": "some", "configMap": {"name": "cfg2", "items": [
            {"key": "a", "path": "sub/dir/a.txt", "mode": 0o400}, {"key": "b", "path": "b"}]}}])
    volumes = await manager.setup(pod)
    all_dir = vol_dir(manager, pod, "configmap", "all")
    assert (all_dir / "a").read_text() == "A"
    assert (all_dir / "bin").read_bytes() == b"\x00\x01"
    assert stat.S_IMODE((all_dir / "a").stat().st_mode) == 0o600
    assert os.readlink(all_dir / "a") == "..data/a"
    some = vol_dir(manager, pod, "configmap", "some")
    assert (some / "sub/dir/a.txt").read_text() == "A"
    assert stat.S_IMODE((some / "sub/dir/a.txt").stat().st_mode) == 0o400
    assert stat.S_IMODE((some / "b").stat().st_mode) == 0o644  # the defaulted defaultMode
    assert os.readlink(some / "sub") == "..data/sub"
    assert sorted(p.name for p in some.iterdir() if not p.name.startswith("..")) == \
        ["b", "sub"]
    assert volumes.volumes["all"].read_only
    assert not is_mount_point(all_dir)  # configMap contents are kept on disk, as upstream


async def test_config_map_errors_are_worded_as_upstream(
        api: ApiClient, manager: VolumeManager) -> None:
    pod = await make_pod(api, [{"name": "cfg", "configMap": {"name": "nope"}}])
    assert await setup_error(manager, pod) == \
        'MountVolume.SetUp failed for volume "cfg" : configmap "nope" not found'
    await make_configmap(api, "x", {"a": "A"})
    pod = await make_pod(api, [{"name": "cfg", "configMap": {
        "name": "x", "items": [{"key": "y", "path": "y"}]}}], name="p2")
    assert await setup_error(manager, pod) == (
        'MountVolume.SetUp failed for volume "cfg" : '
        'configmap references non-existent config key: y')


async def test_optional_config_map_and_key_may_be_missing(
        api: ApiClient, manager: VolumeManager) -> None:
    await make_configmap(api, "x", {"a": "A"})
    pod = await make_pod(api, [
        {"name": "gone", "configMap": {"name": "nope", "optional": True}},
        {"name": "part", "configMap": {"name": "x", "optional": True, "items": [
            {"key": "a", "path": "a"}, {"key": "y", "path": "y"}]}}])
    await manager.setup(pod)
    gone = vol_dir(manager, pod, "configmap", "gone")
    assert [p.name for p in gone.iterdir() if not p.name.startswith("..")] == []
    part = vol_dir(manager, pod, "configmap", "part")
    assert (part / "a").read_text() == "A" and not (part / "y").exists()


@needs_root
async def test_secret_volume_decodes_data_and_words_errors_as_upstream(
        api: ApiClient, manager: VolumeManager) -> None:
    await make_secret(api, "creds", {"user": b"admin", "pass": b"s3cret"})
    pod = await make_pod(api, [{"name": "s", "secret": {
        "secretName": "creds", "items": [{"key": "pass", "path": "password"}]}}])
    await manager.setup(pod)
    assert (vol_dir(manager, pod, "secret", "s") / "password").read_bytes() == b"s3cret"
    assert is_mount_point(vol_dir(manager, pod, "secret", "s"))  # secrets stay in memory
    assert not (vol_dir(manager, pod, "secret", "s") / "user").exists()
    pod = await make_pod(api, [{"name": "s", "secret": {"secretName": "nope"}}], name="p2")
    assert await setup_error(manager, pod) == \
        'MountVolume.SetUp failed for volume "s" : secret "nope" not found'
    pod = await make_pod(api, [{"name": "s", "secret": {
        "secretName": "creds", "items": [{"key": "token", "path": "t"}]}}], name="p3")
    assert await setup_error(manager, pod) == \
        'MountVolume.SetUp failed for volume "s" : references non-existent secret key: token'


@needs_root
async def test_a_resync_reads_its_objects_from_the_watched_copies(
        api: ApiClient, manager: VolumeManager, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first setup starts the watches (a list each); later syncs read no object from
    the API (upstream's watch-based managers)."""
    await make_configmap(api, "cfg", {"a": "1"})
    await make_secret(api, "sec", {"b": b"2"})
    pod = await make_pod(api, [
        {"name": "cfg", "configMap": {"name": "cfg"}},
        {"name": "sec", "secret": {"secretName": "sec"}},
        {"name": "all", "projected": {"sources": [
            {"configMap": {"name": "cfg"}}, {"secret": {"name": "sec"}},
            {"downwardAPI": {"items": [{"path": "mem", "resourceFieldRef": {
                "containerName": "c", "resource": "limits.memory"}}]}}]}}])
    await manager.setup(pod)
    reads: list[tuple[str, Any]] = []

    def counted(verb: str, method: Any) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            reads.append((verb, args[0]))
            return await method(*args, **kwargs)
        return call

    for verb in ("get", "list"):
        monkeypatch.setattr(api, verb, counted(verb, getattr(api, verb)))
    await manager.setup(pod)
    await manager.refresh(pod)
    assert reads == []
    assert (vol_dir(manager, pod, "projected", "all") / "b").read_text() == "2"


async def test_refresh_swaps_data_atomically(api: ApiClient, manager: VolumeManager) -> None:
    cm = await make_configmap(api, "live", {"a": "1", "b": "1"})
    pod = await make_pod(api, [{"name": "cfg", "configMap": {"name": "live"}}])
    await manager.setup(pod)
    path = vol_dir(manager, pod, "configmap", "cfg")
    first = os.readlink(path / "..data")
    await manager.refresh(pod)
    assert os.readlink(path / "..data") == first  # unchanged payload: nothing rewritten

    # A reader holding the old version open across the swap.
    old_file = await asyncio.to_thread(open, path / "a", encoding="utf-8")
    cm["data"] = {"a": "2", "c": "3"}
    await api.update(CONFIGMAPS, cm, NS)
    # The change reaches the kubelet's copy through a watch, which the in-process transport
    # (it buffers whole responses) never delivers: registering the pod again lists afresh
    # (tests/kubelet/test_objectcache.py follows the watch against a real server).
    await manager.listers.unregister_pod(pod["metadata"]["uid"])
    await manager.refresh(pod)
    second = os.readlink(path / "..data")
    assert second != first and second.startswith("..")
    assert not (path / first).exists()  # the old timestamped directory is gone
    assert (path / "a").read_text() == "2" and (path / "c").read_text() == "3"
    assert not (path / "b").is_symlink()  # a dropped key's symlink is removed
    assert os.readlink(path / "c") == "..data/c"
    with old_file:
        assert old_file.read() == "1"  # the old reader still sees a whole old file
    assert sorted(p.name for p in path.iterdir()) == sorted(["..data", second, "a", "c"])


def test_atomic_writer_rejects_bad_paths(tmp_path: Path) -> None:
    writer = AtomicWriter(tmp_path / "v")
    for bad, message in [
            ("/abs", "invalid path: must be relative path: /abs"),
            ("a/../b", "invalid path: must not contain '..': a/../b"),
            ("..hidden", "invalid path: must not start with '..': ..hidden"),
            ("", 'invalid path: must not be empty: ""'),
            ("x" * 256, "invalid path: filenames must be less than or equal to 255 characters")]:
        with pytest.raises(AtomicWriteError) as caught:
            writer.write({bad: FileProjection(b"")})
        assert str(caught.value) == message


# ------------------------------------------------------------------ downwardAPI, projected


@needs_root
async def test_downward_api_volume_writes_metadata_and_resources(
        api: ApiClient, manager: VolumeManager) -> None:
    await api.create(NODES, {"metadata": {"name": NODE}})
    node = await api.get(NODES, NODE)
    node["status"] = {"allocatable": {"cpu": "4", "memory": "8Gi"}}
    await api.update_status(NODES, node)
    pod = await make_pod(api, [{"name": "info", "downwardAPI": {"items": [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "notes", "fieldRef": {"fieldPath": "metadata.annotations"}},
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "tier", "fieldRef": {"fieldPath": "metadata.labels['tier']"}},
        {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory",
                                             "divisor": "1Mi"}},
        {"path": "cpu", "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu",
                                             "divisor": "1m"}}]}}],
        labels={"tier": "web", "app": "shop"}, annotations={"note": 'say "hi"\n'},
        resources={"limits": {"memory": "64Mi"}})
    await manager.setup(pod)
    path = vol_dir(manager, pod, "downward-api", "info")
    assert (path / "labels").read_text() == 'app="shop"\ntier="web"'
    assert (path / "notes").read_text() == 'note="say \\"hi\\"\\n"'
    assert (path / "name").read_text() == "p"
    assert (path / "tier").read_text() == "web"
    assert (path / "mem").read_text() == "64"
    assert (path / "cpu").read_text() == "4000"  # no limit: the node's allocatable

    pod["metadata"]["labels"]["tier"] = "api"
    pod = await api.update(PODS, pod, NS)
    await manager.refresh(pod)
    assert (path / "tier").read_text() == "api"
    assert (path / "labels").read_text() == 'app="shop"\ntier="api"'


@needs_root
async def test_projected_volume_aggregates_source_errors(
        api: ApiClient, manager: VolumeManager) -> None:
    pod = await make_pod(api, [{"name": "pv", "projected": {"sources": [
        {"configMap": {"name": "a"}}, {"secret": {"name": "b"}}]}}])
    assert await setup_error(manager, pod) == ('MountVolume.SetUp failed for volume "pv" : '
                                              '[configmap "a" not found, secret "b" not found]')


# ------------------------------------------------------------------------------------ PVC


async def make_claim(api: ApiClient, name: str, pv_source: Obj | None) -> None:
    claim: Obj = await api.create(PVCS, {"metadata": {"name": name}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}, NS)
    if pv_source is None:
        return
    await api.create(PVS, {"metadata": {"name": f"pv-{name}"}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
        "claimRef": {"namespace": NS, "name": name, "uid": claim["metadata"]["uid"]},
        **pv_source}})
    claim["spec"]["volumeName"] = f"pv-{name}"
    claim = await api.update(PVCS, claim, NS)
    claim["status"] = {"phase": "Bound"}
    await api.update_status(PVCS, claim, NS)


async def test_claims_resolve_to_host_path_and_local_volumes(
        api: ApiClient, manager: VolumeManager, tmp_path: Path) -> None:
    local = tmp_path / "disk"
    local.mkdir()
    await make_claim(api, "hp", {"hostPath": {"path": str(tmp_path / "hp"),
                                              "type": "DirectoryOrCreate"}})
    await make_claim(api, "loc", {"local": {"path": str(local)}, "nodeAffinity": {
        "required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [NODE]}]}]}}})
    pod = await make_pod(api, [
        {"name": "a", "persistentVolumeClaim": {"claimName": "hp"}},
        {"name": "b", "persistentVolumeClaim": {"claimName": "loc", "readOnly": True}}],
        mounts=[{"name": "a", "mountPath": "/a"}, {"name": "b", "mountPath": "/b"}])
    volumes = await manager.setup(pod)
    assert volumes.volumes["a"].path == tmp_path / "hp" and (tmp_path / "hp").is_dir()
    assert container_mounts(pod, pod["spec"]["containers"][0], volumes) == [
        VolumeMount(tmp_path / "hp", "/a", False), VolumeMount(local, "/b", True)]


async def test_unbound_and_missing_claims_fail(api: ApiClient, manager: VolumeManager) -> None:
    await make_claim(api, "pending", None)
    pod = await make_pod(api, [{"name": "a", "persistentVolumeClaim": {"claimName": "pending"}}])
    assert await setup_error(manager, pod) == "error processing PVC default/pending: " \
        "PVC is not bound"
    pod = await make_pod(api, [{"name": "a", "persistentVolumeClaim": {"claimName": "nope"}}],
                         name="p2")
    assert await setup_error(manager, pod) == (
        "error processing PVC default/nope: failed to fetch PVC from API server: "
        'persistentvolumeclaims "nope" not found')


# ----------------------------------------------------------------------- container mounts


def mounts_of(pod: Obj, volumes: PodVolumes, mounts: list[Obj],
              env: list[tuple[str, str]] | None = None) -> list[VolumeMount]:
    container = {"name": "c", "volumeMounts": mounts}
    return container_mounts(pod, container, volumes, env=env or [])


async def test_mounts_honour_read_only_and_sub_paths(
        api: ApiClient, manager: VolumeManager) -> None:
    await make_configmap(api, "cfg", {"app.conf": "x"})
    pod = await make_pod(api, [{"name": "data", "emptyDir": {}},
                               {"name": "cfg", "configMap": {"name": "cfg"}}])
    volumes = await manager.setup(pod)
    data = vol_dir(manager, pod, "empty-dir", "data")
    cfg = vol_dir(manager, pod, "configmap", "cfg")
    result = mounts_of(pod, volumes, [
        {"name": "data", "mountPath": "/data"},
        {"name": "data", "mountPath": "/logs", "subPath": "logs/app", "readOnly": True},
        {"name": "data", "mountPath": "/per-pod", "subPathExpr": "pods/$(POD_NAME)"},
        {"name": "cfg", "mountPath": "/etc/app.conf", "subPath": "app.conf"}],
        env=[("POD_NAME", "p")])
    timestamped = os.readlink(cfg / "..data")
    assert result == [
        VolumeMount(data, "/data", False),
        VolumeMount(data / "logs/app", "/logs", True),
        VolumeMount(data / "pods/p", "/per-pod", False),
        VolumeMount(cfg / timestamped / "app.conf", "/etc/app.conf", True)]
    assert (data / "logs/app").is_dir()
    assert stat.S_IMODE((data / "logs").stat().st_mode) == 0o777  # the volume's mode


async def test_sub_path_may_not_escape_the_volume(
        api: ApiClient, manager: VolumeManager, tmp_path: Path) -> None:
    pod = await make_pod(api, [{"name": "data", "emptyDir": {}}])
    volumes = await manager.setup(pod)
    data = vol_dir(manager, pod, "empty-dir", "data")
    outside = tmp_path / "secret-host-dir"
    outside.mkdir()
    (data / "link").symlink_to(outside)  # what a container could do inside its volume
    (data / "inner").mkdir()
    (data / "ok").symlink_to("inner")

    def refused(mount: Obj, env: list[tuple[str, str]] | None = None) -> str:
        with pytest.raises(VolumeError) as caught:
            mounts_of(pod, volumes, [mount], env)
        return str(caught.value)

    assert refused({"name": "data", "mountPath": "/x", "subPath": "link"}) == \
        'failed to prepare subPath for volumeMount "data" of container "c"'
    assert refused({"name": "data", "mountPath": "/x", "subPath": "link/deeper"}) == \
        'failed to create subPath directory for volumeMount "data" of container "c"'
    assert not (outside / "deeper").exists()
    assert refused({"name": "data", "mountPath": "/x", "subPath": "../../etc"}) == \
        "unable to provision SubPath `../../etc`: must not contain '..'"
    assert refused({"name": "data", "mountPath": "/x", "subPath": "/etc"}) == \
        "error SubPath `/etc` must not be an absolute path"
    assert refused({"name": "data", "mountPath": "/x", "subPathExpr": "$(A)/$(B)"},
                   [("A", "")]) == "missing value for A, B"
    assert refused({"name": "nope", "mountPath": "/x"}) == \
        'cannot find volume "nope" to mount into container "c"'
    # A symlink that stays inside the volume is fine, and resolved.
    assert mounts_of(pod, volumes, [{"name": "data", "mountPath": "/x", "subPath": "ok"}]) \
        == [VolumeMount(data / "inner", "/x", False)]
