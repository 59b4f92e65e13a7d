"""`kyb image`: import, ls, pull and rm against a store in a temporary data dir, run as
the real command (a subprocess), with a real registry on loopback for pull."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kybernetes.cli.image import human_size
from tests.kubelet import imagebuild
from tests.kubelet.registry import run_registry

pytestmark = pytest.mark.e2e


def kyb(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kybernetes.cli.main", "image",
                           "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, check=check)


def table(output: str) -> list[list[str]]:
    """The rows of `kyb image ls`, cells split on runs of 2+ spaces."""
    return [re.split(r"\s{2,}", line.strip()) for line in output.splitlines()]


def test_human_size_is_go_units() -> None:
    assert [human_size(n) for n in (0, 999, 1000, 1_029_622, 5_300_000_000)] == [
        "0B", "999B", "1kB", "1.03MB", "5.3GB"]


def test_import_ls_rm(tmp_path: Path) -> None:
    image = imagebuild.busybox_image()
    other = imagebuild.busybox_image(cmd=("echo", "other"))
    oci = imagebuild.write_oci_archive(tmp_path / "oci.tar",
                                       {"docker.io/library/busybox:latest": image})
    docker = imagebuild.write_docker_archive(tmp_path / "docker.tar",
                                             [(["registry.example:5000/team/app:v2"], other)])
    imported = kyb(tmp_path, "import", str(oci), str(docker)).stdout
    assert f"imported {image.config_digest} (docker.io/library/busybox:latest)" in imported
    assert (tmp_path / "images" / "images.json").is_file()

    rows = table(kyb(tmp_path, "ls").stdout)
    size = human_size(len(image.config) + len(image.layers[0]))
    other_size = human_size(len(other.config) + len(imagebuild.uncompress(other.layers[0])))
    assert rows == [
        ["IMAGE", "TAG", "IMAGE ID", "SIZE"],
        ["docker.io/library/busybox", "latest", image.config_digest[7:20], size],
        ["registry.example:5000/team/app", "v2", other.config_digest[7:20], other_size],
    ]

    assert kyb(tmp_path, "rm", "busybox").stdout == "Deleted: busybox\n"
    assert [row[0] for row in table(kyb(tmp_path, "ls").stdout)[1:]] == [
        "registry.example:5000/team/app"]
    missing = kyb(tmp_path, "rm", "busybox", check=False)
    assert missing.returncode == 1
    assert 'image "busybox": not found' in missing.stderr

    bad = kyb(tmp_path, "import", str(tmp_path / "nonexistent.tar"), check=False)
    assert bad.returncode == 1 and "nonexistent.tar" in bad.stderr


def test_pull(tmp_path: Path) -> None:
    image = imagebuild.busybox_image()
    with run_registry(tmp_path / "registry") as registry:
        asyncio.run(imagebuild.push_image(registry.url, "tools/busybox", "1.36", image))
        pulled = kyb(tmp_path, "pull", f"{registry.host}/tools/busybox:1.36")
        assert pulled.stdout == f"Image is up to date for {image.config_digest}\n"
        rows = table(kyb(tmp_path, "ls", "--data-dir", str(tmp_path)).stdout)
        assert rows[1][:3] == [f"{registry.host}/tools/busybox", "1.36",
                               image.config_digest[7:20]]
        failed = kyb(tmp_path, "pull", f"{registry.host}/tools/busybox:none", check=False)
        assert failed.returncode == 1
        assert "not found" in failed.stderr and "tools/busybox:none" in failed.stderr
