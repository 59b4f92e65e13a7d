"""The image store: references and pull policy, archives, safe overlayfs-ready unpacking,
pulls from a real registry (docker-registry on loopback, with and without token auth),
removal and disk-threshold garbage collection.

Images are built here from Debian's static busybox (see imagebuild); registries are real
`docker-registry` processes on 127.0.0.1 (see registry).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import re
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kybernetes.kubelet.images import (
    ImageContentError,
    ImageNeverPullError,
    ImageNotFoundError,
    ImagePullError,
    ImageStore,
    InvalidImageNameError,
    RegistryCredential,
    credentials_from_docker_config,
    default_pull_policy,
    parse_reference,
)
from kybernetes.kubelet.images.credentials import matching_credentials
from tests.kubelet import imagebuild
from tests.kubelet.imagebuild import Entry, build_image, busybox_image, layer_tar
from tests.kubelet.registry import RunningRegistry, TokenServer, free_port, run_registry

pytestmark = pytest.mark.e2e

BUSYBOX = "docker.io/library/busybox:latest"


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    with run_registry(tmp_path / "registry") as running:
        yield running


def run_busybox(layer: Path, *args: str) -> str:
    return subprocess.run([str(layer / "bin" / "busybox"), *args], capture_output=True,
                          text=True, check=True).stdout


def import_image(store: ImageStore, tmp_path: Path, image: imagebuild.OciImage,
                 name: str = BUSYBOX) -> list[Path]:
    archive = imagebuild.write_oci_archive(tmp_path / f"{image.config_digest[7:19]}.tar",
                                           {name: image})
    (record,) = store.import_archive(archive)
    return list(record.layer_dirs)


# ---------------------------------------------------------------- references, policy, secrets

@pytest.mark.parametrize(("image", "normalised"), [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("user/app:v1", "docker.io/user/app:v1"),
    ("index.docker.io/user/app", "docker.io/user/app:latest"),
    ("localhost/app", "localhost/app:latest"),
    ("localhost:5000/team/app:2", "localhost:5000/team/app:2"),
    ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"),
    ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
    ("quay.io/a/b/c@sha256:" + "a" * 64, "quay.io/a/b/c@sha256:" + "a" * 64),
    ("busybox:1.36@sha256:" + "b" * 64, "docker.io/library/busybox:1.36@sha256:" + "b" * 64),
])
def test_references_normalise_as_docker_does(image: str, normalised: str) -> None:
    assert str(parse_reference(image)) == normalised


@pytest.mark.parametrize("image", [
    "", "Busybox", "busybox:", "busybox@sha256:abc", "-x/y", "a" * 64, "busybox:tag with space",
    "registry.example/UPPER/x",
])
def test_invalid_references_say_invalid_image_name(image: str) -> None:
    with pytest.raises(InvalidImageNameError) as caught:
        parse_reference(image)
    assert caught.value.reason == "InvalidImageName"
    assert f'couldn\'t parse image name "{image}"' in str(caught.value)


@pytest.mark.parametrize(("image", "policy"), [
    ("busybox", "Always"),
    ("busybox:latest", "Always"),
    ("busybox:1.36", "IfNotPresent"),
    ("localhost:5000/app", "Always"),
    ("busybox@sha256:" + "c" * 64, "IfNotPresent"),
    ("busybox:latest@sha256:" + "c" * 64, "Always"),
])
def test_default_pull_policy_is_upstreams(image: str, policy: str) -> None:
    assert default_pull_policy(image) == policy


def test_pull_secrets_apply_to_their_registries() -> None:
    config = json.dumps({"auths": {
        "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hub:pw").decode()},
        "registry.example:5000": {"username": "u", "password": "p"},
        "*.corp.example": {"username": "wild", "password": "w"},
        "corp.example/team": {"username": "team", "password": "t"},
    }}).encode()
    credentials = credentials_from_docker_config(config)
    assert (credentials[0].username, credentials[0].password) == ("hub", "pw")

    def users(image: str) -> list[str]:
        return [c.username for c in matching_credentials(credentials, parse_reference(image))]

    assert users("busybox") == ["hub"]
    assert users("registry.example:5000/app") == ["u"]
    assert users("registry.example/app") == []  # another port
    assert users("a.corp.example/x") == ["wild"]
    assert users("corp.example/team/app") == ["team"]
    assert users("corp.example/other/app") == []
    # The legacy .dockercfg form: the auths map alone.
    legacy = credentials_from_docker_config({"quay.io": {"username": "q", "password": "x"}})
    assert legacy == [RegistryCredential(server="quay.io", username="q", password="x")]


# ---------------------------------------------------------------- archives and layers

def test_oci_archive_import_unpacks_a_runnable_busybox(store: ImageStore,
                                                      tmp_path: Path) -> None:
    image = busybox_image()
    archive = imagebuild.write_oci_archive(tmp_path / "busybox.tar", {BUSYBOX: image})
    (record,) = store.import_archive(archive)
    assert record.id == image.config_digest
    assert record.repo_tags == (BUSYBOX,)
    assert record.repo_digests == (f"docker.io/library/busybox@{image.manifest_digest}",)
    assert record.config["Cmd"] == ["sh"]
    assert record.config["Env"] == [f"PATH={imagebuild.PATH}"]
    assert record.size == len(image.config) + sum(len(layer) for layer in image.layers)
    (layer,) = record.layer_dirs
    assert layer.parent == store.root / "layers"
    assert run_busybox(layer, "echo", "hello") == "hello\n"
    assert os.readlink(layer / "bin" / "sh") == "busybox"
    assert stat.S_IMODE((layer / "tmp").stat().st_mode) == 0o1777
    assert store.get("busybox") == record
    assert store.get(record.id) == record
    assert store.get(record.id[7:19]) == record  # an id prefix, as crictl takes
    assert store.get("busybox:other") is None


def test_docker_save_import_shares_layers_with_the_same_image(store: ImageStore,
                                                              tmp_path: Path) -> None:
    image = busybox_image()
    store.import_archive(imagebuild.write_oci_archive(tmp_path / "oci.tar", {BUSYBOX: image}))
    docker = imagebuild.write_docker_archive(tmp_path / "docker.tar",
                                             [(["busybox:1.36", "example.com/bb:v1"], image)])
    (record,) = store.import_archive(docker)
    # The same config, so the same image, now with all three names; one unpacked layer.
    assert record.id == image.config_digest
    assert set(record.repo_tags) == {BUSYBOX, "docker.io/library/busybox:1.36",
                                     "example.com/bb:v1"}
    assert len(store.list()) == 1
    assert [p.name for p in (store.root / "layers").iterdir()] == [record.layer_dirs[0].name]


def test_a_tag_moves_to_the_newer_image(store: ImageStore, tmp_path: Path) -> None:
    first = busybox_image()
    second = busybox_image(cmd=("sleep", "1"))
    import_image(store, tmp_path, first)
    import_image(store, tmp_path, second)
    assert store.get(BUSYBOX).id == second.config_digest  # type: ignore[union-attr]
    old = store.get(first.config_digest)
    assert old is not None and old.repo_tags == ()
    # Both share the busybox layer: it was unpacked once.
    assert old.layer_dirs == store.get(BUSYBOX).layer_dirs  # type: ignore[union-attr]


@pytest.mark.parametrize("compression", ["gzip", "none", "zstd"])
def test_layers_in_each_compression_unpack_alike(store: ImageStore, tmp_path: Path,
                                                 compression: str) -> None:
    image = busybox_image(compression=compression)
    (layer,) = import_image(store, tmp_path, image)
    assert layer.name == imagebuild.sha256(layer_tar(imagebuild.busybox_entries()))[7:]
    assert run_busybox(layer, "echo", compression) == f"{compression}\n"


def test_unpacking_keeps_owners_modes_links_devices_and_xattrs(store: ImageStore,
                                                               tmp_path: Path) -> None:
    layer = layer_tar([
        Entry("usr", kind="dir", mode=0o755),
        Entry("usr/bin", kind="dir", mode=0o750, uid=0, gid=10),
        Entry("usr/bin/tool", data=b"#!/bin/sh\n", mode=0o4755, uid=1000, gid=1000,
              xattrs={"user.kyb": "yes"}),
        Entry("usr/bin/alias", kind="hardlink", link="usr/bin/tool"),
        Entry("usr/bin/rel", kind="symlink", link="../../etc/target", uid=7, gid=8),
        Entry("dev", kind="dir", mode=0o755),
        Entry("dev/null", kind="chr", mode=0o666, devmajor=1, devminor=3),
        Entry("dev/pipe", kind="fifo", mode=0o600),
        Entry("/abs/inside", data=b"leading slash stays inside"),
        Entry("usr/bin/replaced", data=b"first"),
        Entry("usr/bin/replaced", data=b"second"),
    ])
    (root,) = import_image(store, tmp_path, build_image([layer]))
    tool = (root / "usr/bin/tool").stat()
    assert (tool.st_uid, tool.st_gid, stat.S_IMODE(tool.st_mode)) == (1000, 1000, 0o4755)
    assert tool.st_mtime == imagebuild.MTIME
    assert os.getxattr(root / "usr/bin/tool", "user.kyb") == b"yes"
    assert (root / "usr/bin/alias").stat().st_ino == tool.st_ino
    bin_dir = (root / "usr/bin").stat()
    assert (bin_dir.st_gid, stat.S_IMODE(bin_dir.st_mode)) == (10, 0o750)
    assert bin_dir.st_mtime == imagebuild.MTIME  # set after its children were made
    link = (root / "usr/bin/rel").lstat()
    assert os.readlink(root / "usr/bin/rel") == "../../etc/target"
    assert (link.st_uid, link.st_gid) == (7, 8)
    null = (root / "dev/null").lstat()
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert stat.S_ISFIFO((root / "dev/pipe").lstat().st_mode)
    assert (root / "abs/inside").read_bytes() == b"leading slash stays inside"
    assert (root / "usr/bin/replaced").read_bytes() == b"second"


def test_whiteouts_become_overlayfs_whiteouts(store: ImageStore, tmp_path: Path) -> None:
    lower = layer_tar([
        Entry("etc", kind="dir", mode=0o755), Entry("etc/old", data=b"old"),
        Entry("etc/keep", data=b"keep"), Entry("etc/conf.d", kind="dir", mode=0o755),
        Entry("etc/conf.d/a", data=b"a"),
    ])
    upper = layer_tar([
        Entry("etc", kind="dir", mode=0o755), Entry("etc/.wh.old"),
        Entry("etc/conf.d", kind="dir", mode=0o755), Entry("etc/conf.d/.wh..wh..opq"),
        Entry("etc/conf.d/b", data=b"b"), Entry("etc/.wh..wh.plnk", kind="dir"),
    ])
    low, up = import_image(store, tmp_path, build_image([lower, upper]))
    whiteout = (up / "etc/old").lstat()
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == os.makedev(0, 0)
    assert os.getxattr(up / "etc/conf.d", "trusted.overlay.opaque") == b"y"
    assert not any(p.name.startswith(".wh.") for p in up.rglob("*"))
    # What overlayfs, which the runtime uses, makes of them.
    merged = tmp_path / "merged"
    merged.mkdir()
    mounted = subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                              f"lowerdir={up}:{low}", str(merged)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"overlayfs cannot be mounted here: {mounted.stderr.decode()}")
    try:
        assert sorted(p.name for p in (merged / "etc").iterdir()) == ["conf.d", "keep"]
        assert sorted(p.name for p in (merged / "etc/conf.d").iterdir()) == ["b"]
    finally:
        subprocess.run(["umount", str(merged)], check=True)


@pytest.mark.parametrize("entries", [
    [Entry("../escaped", data=b"x")],
    [Entry("a/../../escaped", data=b"x")],
    [Entry("link", kind="symlink", link="{outside}"), Entry("link/escaped", data=b"x")],
    [Entry("link", kind="symlink", link="../../.."), Entry("link/escaped", data=b"x")],
    [Entry("stolen", kind="hardlink", link="../../../../../../etc/passwd")],
    [Entry("dir", kind="symlink", link="{outside}"), Entry("dir/.wh.escaped")],
], ids=["dotdot", "inner-dotdot", "symlink-absolute", "symlink-relative", "hardlink",
        "whiteout-through-symlink"])
def test_unpacking_never_writes_outside_the_layer(store: ImageStore, tmp_path: Path,
                                                  entries: list[Entry]) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    for entry in entries:
        entry.link = entry.link.replace("{outside}", str(outside))
    image = build_image([layer_tar(entries)])
    archive = imagebuild.write_oci_archive(tmp_path / "evil.tar", {"evil:1": image})
    with pytest.raises(ImageContentError):
        store.import_archive(archive)
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "escaped").exists() and not (store.root / "escaped").exists()
    assert store.list() == []
    assert list((store.root / "layers").iterdir()) == []  # no half-unpacked layer left


def _rewrite_member(archive: Path, name: str, data: bytes) -> None:
    with tarfile.open(archive) as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None)  # type: ignore[union-attr]
                   for m in tar.getmembers()]
    with tarfile.open(archive, "w") as tar:
        for member, content in members:
            if member.name == name:
                content = data
                member.size = len(data)
            tar.addfile(member, io.BytesIO(content) if content is not None else None)


def test_a_tampered_archive_blob_is_refused(store: ImageStore, tmp_path: Path) -> None:
    image = busybox_image()
    archive = imagebuild.write_oci_archive(tmp_path / "busybox.tar", {BUSYBOX: image})
    layer_digest = imagebuild.sha256(image.layers[0])
    _rewrite_member(archive, f"blobs/sha256/{layer_digest[7:]}", image.layers[0][:-1] + b"!")
    with pytest.raises(ImageContentError, match=f"digest mismatch: expected {layer_digest}"):
        store.import_archive(archive)
    assert store.list() == []
    assert not (store.root / "blobs/sha256" / layer_digest[7:]).exists()


def test_a_layer_unlike_its_configs_diff_id_is_refused(store: ImageStore,
                                                      tmp_path: Path) -> None:
    claimed = layer_tar([Entry("file", data=b"what the config promises")])
    actual = layer_tar([Entry("file", data=b"something else")])
    image = build_image([actual], diff_ids=[imagebuild.sha256(claimed)])
    archive = imagebuild.write_oci_archive(tmp_path / "liar.tar", {"liar:1": image})
    with pytest.raises(ImageContentError, match="diff ID mismatch"):
        store.import_archive(archive)
    assert store.list() == []
    assert list((store.root / "layers").iterdir()) == []


def test_a_file_that_is_no_image_archive_is_refused(store: ImageStore,
                                                    tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    with tarfile.open(junk, "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(ImageContentError, match="neither an OCI image layout"):
        store.import_archive(junk)


# ---------------------------------------------------------------- pulling

async def test_pull_from_a_registry(store: ImageStore, registry: RunningRegistry) -> None:
    image = busybox_image()
    digest = await imagebuild.push_image(registry.url, "library/busybox", "1.36", image)
    record = await store.pull(f"{registry.host}/library/busybox:1.36")
    assert record.id == image.config_digest
    assert record.repo_tags == (f"{registry.host}/library/busybox:1.36",)
    assert record.repo_digests == (f"{registry.host}/library/busybox@{digest}",)
    assert run_busybox(record.layer_dirs[0], "echo", "pulled") == "pulled\n"
    # By digest: no tag, and found again by that digest.
    by_digest = await store.pull(f"{registry.host}/library/busybox@{digest}")
    assert by_digest.id == record.id
    assert store.get(f"{registry.host}/library/busybox@{digest}") is not None


async def test_pull_verifies_blob_digests(store: ImageStore, tmp_path: Path,
                                          registry: RunningRegistry) -> None:
    image = busybox_image()
    await imagebuild.push_image(registry.url, "app", "1", image)
    # Corrupt the layer in the registry's storage (it does not check what it serves).
    digest = imagebuild.sha256(image.layers[0])
    data = (tmp_path / "registry/storage/docker/registry/v2/blobs/sha256" / digest[7:9]
            / digest[7:] / "data")
    content = bytearray(data.read_bytes())
    content[-100] ^= 0xFF
    data.write_bytes(bytes(content))
    with pytest.raises(ImagePullError, match=re.escape(
            f"failed to copy {digest}: digest mismatch: expected {digest}")):
        await store.pull(f"{registry.host}/app:1")
    assert store.list() == []
    assert list((store.root / "blobs/sha256").iterdir()) == [
        store.root / "blobs/sha256" / image.config_digest[7:]]  # only the config came


async def test_pull_picks_linux_amd64_from_an_index(store: ImageStore,
                                                    registry: RunningRegistry) -> None:
    amd64 = busybox_image(cmd=("echo", "amd64"))
    arm64 = build_image([layer_tar([Entry("arm", data=b"arm")])], cmd=("echo", "arm64"),
                        architecture="arm64")
    digest = await imagebuild.push_index(registry.url, "multi", "v1",
                                         {"arm64": arm64, "amd64": amd64})
    record = await store.pull(f"{registry.host}/multi:v1")
    assert record.config["Cmd"] == ["echo", "amd64"]
    assert record.repo_digests == (f"{registry.host}/multi@{digest}",)  # the index's


async def test_concurrent_pulls_of_one_image_agree(store: ImageStore,
                                                   registry: RunningRegistry) -> None:
    image = busybox_image()
    await imagebuild.push_image(registry.url, "app", "1", image)
    ref = f"{registry.host}/app:1"
    first, second = await asyncio.gather(store.pull(ref), store.pull(ref))
    assert first.id == second.id == image.config_digest
    assert len(list((store.root / "layers").iterdir())) == 1


async def test_pull_of_a_missing_tag_names_image_and_registry_answer(
        store: ImageStore, registry: RunningRegistry) -> None:
    await imagebuild.push_image(registry.url, "app", "1", busybox_image())
    ref = f"{registry.host}/app:nope"
    with pytest.raises(ImagePullError) as caught:
        await store.pull(ref)
    assert caught.value.reason == "ErrImagePull"
    assert str(caught.value) == (
        f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": '
        f"{ref}: not found: manifest_unknown: manifest unknown")


async def test_pull_from_nowhere_says_the_request_failed(store: ImageStore) -> None:
    ref = f"127.0.0.1:{free_port()}/app:1"
    with pytest.raises(ImagePullError, match=re.escape(
            f'failed to resolve reference "{ref}": failed to do request: GET')):
        await store.pull(ref)


async def test_pull_policies(store: ImageStore, tmp_path: Path) -> None:
    v1, v2 = busybox_image(cmd=("echo", "v1")), busybox_image(cmd=("echo", "v2"))
    with run_registry(tmp_path / "registry") as registry:
        ref = f"{registry.host}/app:stable"
        with pytest.raises(ImageNeverPullError) as caught:
            await store.ensure(ref, "Never")
        assert caught.value.reason == "ErrImageNeverPull"
        assert str(caught.value) == (f'Container image "{ref}" is not present with pull '
                                     "policy of Never")
        await imagebuild.push_image(registry.url, "app", "stable", v1)
        assert (await store.ensure(ref, "IfNotPresent")).id == v1.config_digest
        await imagebuild.push_image(registry.url, "app", "stable", v2)
        # Present: IfNotPresent and Never keep it; Always asks the registry again.
        assert (await store.ensure(ref, "IfNotPresent")).id == v1.config_digest
        assert (await store.ensure(ref, "Never")).id == v1.config_digest
        assert (await store.ensure(ref, "Always")).id == v2.config_digest
    # With the registry gone, a present image still serves IfNotPresent; Always fails.
    assert (await store.ensure(ref, "IfNotPresent")).id == v2.config_digest
    with pytest.raises(ImagePullError):
        await store.ensure(ref, "Always")
    with pytest.raises(InvalidImageNameError):
        await store.ensure("Bad:Name", "IfNotPresent")


async def test_token_auth_anonymous_and_with_pull_secrets(tmp_path: Path) -> None:
    tokens = TokenServer(users={"alice": "s3cret"}, public_repositories={"public/app"})
    image = busybox_image()
    with run_registry(tmp_path / "registry", token_auth=tokens) as registry:
        for repository in ("public/app", "private/app"):
            token = tokens.token_for("alice", repository)
            await imagebuild.push_image(registry.url, repository, "1", image,
                                        headers={"Authorization": f"Bearer {token}"})
        store = ImageStore(tmp_path / "images")

        # Public: an anonymous token suffices.
        record = await store.pull(f"{registry.host}/public/app:1")
        assert record.id == image.config_digest
        assert tokens.requests[-1]["scope"] == "repository:public/app:pull"
        assert tokens.requests[-1]["authorized"] == "False"

        private = f"{registry.host}/private/app:1"
        with pytest.raises(ImagePullError, match="pull access denied, repository does not "
                                                 "exist or may require authorization"):
            await store.pull(private)

        wrong = credentials_from_docker_config(
            {"auths": {registry.host: {"username": "alice", "password": "wrong"}}})
        with pytest.raises(ImagePullError, match=r"failed to authorize: failed to fetch oauth "
                                                 r"token: unexpected status .* 401"):
            await store.pull(private, credentials=wrong)

        secret = json.dumps({"auths": {f"http://{registry.host}": {
            "auth": base64.b64encode(b"alice:s3cret").decode()}}})
        others = [RegistryCredential(server="elsewhere.example", username="x", password="y")]
        record = await store.ensure(private, "Always",
                                    credentials=others + credentials_from_docker_config(secret))
        assert f"{registry.host}/private/app:1" in record.repo_tags
        assert tokens.requests[-1]["authorized"] == "True"


# ---------------------------------------------------------------- removal and GC

def test_remove_frees_what_no_other_image_holds(store: ImageStore, tmp_path: Path) -> None:
    extra = layer_tar([Entry("extra", data=b"only in the second image")])
    plain = busybox_image()
    bigger = busybox_image(extra_layers=[extra], cmd=("cat", "/extra"))
    import_image(store, tmp_path, plain, "plain:1")
    shared, own = import_image(store, tmp_path, bigger, "bigger:1")
    store.remove("bigger:1")
    assert shared.is_dir() and not own.exists()
    assert not (store.root / "blobs/sha256" / imagebuild.sha256(bigger.layers[1])[7:]).exists()
    assert [r.repo_tags for r in store.list()] == [("docker.io/library/plain:1",)]
    store.remove(plain.config_digest)
    assert store.list() == []
    assert list((store.root / "layers").iterdir()) == []
    assert list((store.root / "blobs/sha256").iterdir()) == []
    with pytest.raises(ImageNotFoundError):
        store.remove("plain:1")


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                              str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_gc_removes_unused_images_least_recently_used_first(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "fs", "24m") as fs:
        store = ImageStore(fs / "images")
        ids = []
        for name in ("a", "b", "c", "d"):
            # 2 MiB of noise: 2 MiB as blob, 2 MiB unpacked, nothing shared.
            noise = layer_tar([Entry("noise", data=os.urandom(2 << 20))])
            image = build_image([noise], compression="none", cmd=("echo", name))
            import_image(store, tmp_path, image, f"{name}:1")
            ids.append(image.config_digest)
        a, b, c, d = ids
        store.mark_used(b)
        # ~16 of 24 MiB used (66%): under 85% nothing goes.
        assert store.garbage_collect(high_threshold_percent=85, low_threshold_percent=80,
                                     in_use=(), minimum_age=0) == []
        with pytest.raises(ValueError, match="can not be higher"):
            store.garbage_collect(high_threshold_percent=50, low_threshold_percent=60,
                                  in_use=())
        # Images younger than the minimum age (by default 2 minutes) stay.
        assert store.garbage_collect(high_threshold_percent=60, low_threshold_percent=40,
                                     in_use=()) == []
        # Over 60%: free down to 40% (~6.4 MiB): never-used c and d go first, oldest
        # first; a is in use (by reference), b was used.
        removed = store.garbage_collect(high_threshold_percent=60, low_threshold_percent=40,
                                        in_use=["a:1"], minimum_age=0)
        assert removed == [c, d]
        assert {r.id for r in store.list()} == {a, b}
        # Now under the threshold again.
        assert store.garbage_collect(high_threshold_percent=60, low_threshold_percent=40,
                                     in_use=[a], minimum_age=0) == []
        # Over it with nothing unused enough: b goes (the only one not in use), no more.
        assert store.garbage_collect(high_threshold_percent=10, low_threshold_percent=5,
                                     in_use=[a], minimum_age=0) == [b]
        # 100 turns image GC off.
        assert store.garbage_collect(high_threshold_percent=100, low_threshold_percent=5,
                                     in_use=(), minimum_age=0) == []
