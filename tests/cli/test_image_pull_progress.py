"""`kyb image pull` on a terminal shows its progress on one line rewritten in place (bytes
of the image fetched of its total, layers in), as `ctr images pull` does, then clears it
for its result; piped, it prints only the result. Run as the real command under a pty
against a local registry."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.terminal import ERASE, run_on_terminal
from tests.kubelet import imagebuild
from tests.kubelet.registry import DOCKER_REGISTRY, RunningRegistry, run_registry

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not DOCKER_REGISTRY.exists(),
                                                  reason="needs docker-registry")]



@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """An image of busybox and two 2 MB layers in a local registry: its ref and id."""
    extra = [imagebuild.layer_tar([imagebuild.Entry(f"data-{i}", os.urandom(2_000_000))])
             for i in range(2)]
    image = imagebuild.busybox_image(extra_layers=extra)
    registry: RunningRegistry
    with run_registry(tmp_path_factory.mktemp("registry")) as registry:
        asyncio.run(imagebuild.push_image(registry.url, "test/app", "1", image))
        yield f"{registry.host}/test/app:1", image.config_digest


def _command(data: Path, ref: str) -> list[str]:
    return [sys.executable, "-m", "kybernetes.cli.main", "image", "--data-dir", str(data),
            "pull", ref]


def test_pull_shows_progress_on_a_terminal(tmp_path: Path, pushed: tuple[str, str]) -> None:
    ref, image_id = pushed
    text = run_on_terminal(_command(tmp_path, ref))
    progress = re.compile(re.escape(ref) + r": (?P<read>[0-9.]+[kMG]?B) / "
                          r"(?P<size>[0-9.]+[kMG]?B), (?P<layers>\d+) layers?")
    updates = [progress.fullmatch(part) for part in text.split(ERASE) if part
               and not part.startswith("Image is up to date")]
    assert len(updates) > 3 and all(updates), text
    layers = [int(m["layers"]) for m in updates if m]
    assert layers == sorted(layers) and layers[-1] == 3, text  # busybox and two more
    reads = [m["read"] for m in updates if m]
    assert len(set(reads)) > 3, text  # bytes reported as they arrive, not per layer only
    last = updates[-1]
    assert last is not None and last["read"] == last["size"], text
    assert all(m["size"] == last["size"] for m in updates if m), text
    assert text.endswith(f"{ERASE}Image is up to date for {image_id}\n"), text


def test_pull_prints_no_progress_without_a_terminal(tmp_path: Path,
                                                    pushed: tuple[str, str]) -> None:
    ref, image_id = pushed
    done = subprocess.run(_command(tmp_path, ref), capture_output=True, text=True,
                          check=True)
    assert done.stdout == f"Image is up to date for {image_id}\n"
