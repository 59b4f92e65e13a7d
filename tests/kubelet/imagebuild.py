"""Building small OCI images for tests, and pushing them to a registry.

`busybox_image()` is a one-layer image of Debian's static busybox (/usr/bin/busybox) with
the usual applets as symlinks, `Cmd ["sh"]` and a PATH, built reproducibly (fixed mtimes,
gzip without timestamps), so its digests are the same on every run. Images can be written
as an OCI image-layout archive (as `nerdctl save` does, with containerd's name annotation)
or as a docker-save archive, and pushed to a registry over the distribution API
(monolithic blob uploads, then the manifest).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BUSYBOX = Path("/usr/bin/busybox")
APPLETS = (
    "sh", "ash", "ls", "cat", "echo", "sleep", "wget", "nc", "httpd", "true", "false", "env",
    "id", "ps", "hostname", "mkdir", "rm", "rmdir", "touch", "test", "[", "grep", "kill",
    "ping", "ip", "ifconfig", "nslookup", "date", "uname", "head", "tail", "sed", "mount",
    "umount", "df", "du", "chmod", "chown", "cp", "mv", "ln", "pwd", "printf", "seq", "wc",
    "tee", "top", "free", "whoami", "timeout", "dd", "stat", "find", "xargs", "base64",
    "sha256sum", "md5sum", "sort", "uniq", "cut", "tr", "awk", "vi", "less", "more",
    "readlink", "realpath", "basename", "dirname", "yes", "usleep", "watch", "netstat",
    "route", "traceroute", "hexdump", "od", "tar", "gzip", "gunzip", "zcat", "which",
)
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MTIME = 1_700_000_000

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Entry:
    """One tar member: a file (`data`), a dir, a symlink or hard link (`link`), or a
    device (`kind` "chr"/"blk"/"fifo")."""

    name: str
    data: bytes | None = None
    mode: int = 0o644
    kind: str = "file"  # file, dir, symlink, hardlink, chr, blk, fifo
    link: str = ""
    uid: int = 0
    gid: int = 0
    devmajor: int = 0
    devminor: int = 0
    xattrs: Mapping[str, str] = field(default_factory=dict)


_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
          "hardlink": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE,
          "fifo": tarfile.FIFOTYPE}


def layer_tar(entries: Iterable[Entry]) -> bytes:
    """An uncompressed layer tarball (PAX format, as Docker writes)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = _TYPES[entry.kind]
            info.mode = entry.mode
            info.uid, info.gid = entry.uid, entry.gid
            info.mtime = MTIME
            info.linkname = entry.link
            info.devmajor, info.devminor = entry.devmajor, entry.devminor
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in entry.xattrs.items()}
            data = entry.data or b""
            info.size = len(data) if entry.kind == "file" else 0
            tar.addfile(info, io.BytesIO(data) if entry.kind == "file" else None)
    return out.getvalue()


def busybox_entries() -> list[Entry]:
    entries = [Entry(d, kind="dir", mode=0o755) for d in (
        "bin", "dev", "etc", "proc", "root", "sys", "usr", "usr/bin", "var", "var/run")]
    entries.append(Entry("tmp", kind="dir", mode=0o1777))
    entries.append(Entry("bin/busybox", data=BUSYBOX.read_bytes(), mode=0o755))
    entries += [Entry(f"bin/{applet}", kind="symlink", link="busybox") for applet in APPLETS]
    entries.append(Entry("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n"
                                           b"nobody:x:65534:65534:nobody:/:/bin/false\n"))
    entries.append(Entry("etc/group", data=b"root:x:0:\nnogroup:x:65534:\n"))
    return entries


@dataclass
class OciImage:
    """An image's blobs: its manifest's, config's and layers'."""

    config: bytes
    layers: list[bytes]  # as stored (compressed or not)
    layer_media_types: list[str]
    manifest: bytes = b""

    @property
    def config_digest(self) -> str:
        return sha256(self.config)

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest)

    def blobs(self) -> dict[str, bytes]:
        out = {sha256(layer): layer for layer in self.layers}
        out[self.config_digest] = self.config
        out[self.manifest_digest] = self.manifest
        return out


def build_image(layers: Sequence[bytes], *, compression: str = "gzip",
                cmd: Sequence[str] = ("sh",), env: Sequence[str] = (f"PATH={PATH}",),
                architecture: str = "amd64", labels: Mapping[str, str] | None = None,
                extra_config: Mapping[str, Any] | None = None,
                diff_ids: Sequence[str] | None = None) -> OciImage:
    """An image of the given uncompressed layer tarballs, each stored compressed with
    `compression` ("gzip", "zstd" or "none"). `diff_ids` overrides the config's (to
    test that a store checks them)."""
    stored, media_types = [], []
    for layer in layers:
        if compression == "gzip":
            stored.append(gzip.compress(layer, mtime=0))
            media_types.append(OCI_LAYER + "+gzip")
        elif compression == "zstd":
            stored.append(subprocess.run(["zstd", "-q", "-c"], input=layer,
                                         capture_output=True, check=True).stdout)
            media_types.append(OCI_LAYER + "+zstd")
        else:
            stored.append(layer)
            media_types.append(OCI_LAYER)
    config = {
        "architecture": architecture, "os": "linux", "created": "2023-11-14T22:13:20Z",
        "config": {"Env": list(env), "Cmd": list(cmd), "WorkingDir": "/",
                   "Labels": dict(labels or {}), **(extra_config or {})},
        "rootfs": {"type": "layers",
                   "diff_ids": list(diff_ids or [sha256(layer) for layer in layers])},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "kybernetes tests"}],
    }
    image = OciImage(config=json.dumps(config, sort_keys=True).encode(), layers=stored,
                     layer_media_types=media_types)
    image.manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": image.config_digest,
                   "size": len(image.config)},
        "layers": [{"mediaType": mt, "digest": sha256(blob), "size": len(blob)}
                   for mt, blob in zip(media_types, stored, strict=True)],
    }, sort_keys=True).encode()
    return image


def busybox_image(*, compression: str = "gzip", cmd: Sequence[str] = ("sh",),
                  extra_layers: Sequence[bytes] = ()) -> OciImage:
    return build_image([layer_tar(busybox_entries()), *extra_layers],
                       compression=compression, cmd=cmd)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), MTIME, 0o644
    tar.addfile(info, io.BytesIO(data))


def write_oci_archive(path: Path, images: Mapping[str, OciImage]) -> Path:
    """An OCI image-layout archive of images by name (a full reference), named as
    containerd exports do: `io.containerd.image.name` plus the tag as ref.name."""
    blobs: dict[str, bytes] = {}
    manifests = []
    for name, image in images.items():
        blobs.update(image.blobs())
        annotations = {"io.containerd.image.name": name,
                       "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]}
        manifests.append({"mediaType": OCI_MANIFEST, "digest": image.manifest_digest,
                          "size": len(image.manifest), "annotations": annotations})
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    with tarfile.open(path, "w") as tar:
        _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add_bytes(tar, "index.json", json.dumps(index).encode())
        for digest, data in sorted(blobs.items()):
            _add_bytes(tar, f"blobs/sha256/{digest.removeprefix('sha256:')}", data)
    return path


def write_docker_archive(path: Path, images: Sequence[tuple[Sequence[str], OciImage]]
                         ) -> Path:
    """A docker-save archive of (repo tags, image) pairs (the legacy layout:
    `<id>.json`, `<layer>/layer.tar` uncompressed, manifest.json)."""
    manifest = []
    with tarfile.open(path, "w") as tar:
        written: set[str] = set()
        for tags, img in images:
            config_name = f"{img.config_digest.removeprefix('sha256:')}.json"
            layer_names = []
            for layer in img.layers:
                raw = uncompress(layer)
                layer_name = f"{hashlib.sha256(raw).hexdigest()}/layer.tar"
                if layer_name not in written:
                    _add_bytes(tar, layer_name, raw)
                    written.add(layer_name)
                layer_names.append(layer_name)
            _add_bytes(tar, config_name, img.config)
            manifest.append({"Config": config_name, "RepoTags": list(tags),
                             "Layers": layer_names})
        _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    return path


def uncompress(blob: bytes) -> bytes:
    if blob[:2] == b"\x1f\x8b":
        return gzip.decompress(blob)
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        return subprocess.run(["zstd", "-dcq"], input=blob, capture_output=True,
                              check=True).stdout
    return blob


async def push_image(registry: str, repository: str, tag: str, image: OciImage, *,
                     headers: Mapping[str, str] | None = None) -> str:
    """Push an image to `registry` (e.g. "http://127.0.0.1:5000"); the manifest digest."""
    async with httpx.AsyncClient(base_url=registry, headers=dict(headers or {})) as client:
        for digest, data in image.blobs().items():
            if digest != image.manifest_digest:
                await push_blob(client, repository, data)
        await put_manifest(client, repository, tag, image.manifest, OCI_MANIFEST)
    return image.manifest_digest


async def push_index(registry: str, repository: str, tag: str,
                     images: Mapping[str, OciImage], *,
                     headers: Mapping[str, str] | None = None) -> str:
    """Push images by architecture and an OCI index of them under `tag`; its digest."""
    entries = []
    async with httpx.AsyncClient(base_url=registry, headers=dict(headers or {})) as client:
        for architecture, image in images.items():
            for digest, data in image.blobs().items():
                if digest != image.manifest_digest:
                    await push_blob(client, repository, data)
            await put_manifest(client, repository, image.manifest_digest, image.manifest,
                               OCI_MANIFEST)
            entries.append({"mediaType": OCI_MANIFEST, "digest": image.manifest_digest,
                            "size": len(image.manifest),
                            "platform": {"os": "linux", "architecture": architecture}})
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                            "manifests": entries}).encode()
        await put_manifest(client, repository, tag, index, OCI_INDEX)
    return sha256(index)


async def push_blob(client: httpx.AsyncClient, repository: str, data: bytes) -> None:
    digest = sha256(data)
    head = await client.head(f"/v2/{repository}/blobs/{digest}")
    if head.status_code == 200:
        return
    start = await client.post(f"/v2/{repository}/blobs/uploads/")
    start.raise_for_status()
    location = start.headers["location"]
    separator = "&" if "?" in location else "?"
    done = await client.put(f"{location}{separator}digest={digest}", content=data,
                            headers={"Content-Type": "application/octet-stream"})
    done.raise_for_status()


async def put_manifest(client: httpx.AsyncClient, repository: str, reference: str,
                       manifest: bytes, media_type: str) -> None:
    response = await client.put(f"/v2/{repository}/manifests/{reference}", content=manifest,
                                headers={"Content-Type": media_type})
    response.raise_for_status()
