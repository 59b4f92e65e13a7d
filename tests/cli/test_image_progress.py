"""`kyb image import` on a terminal shows its progress on one line rewritten in place
(bytes of the archive read, layers in), then clears it for its results; piped, it prints
only the results. Run as the real command under a pty."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.terminal import ERASE, run_on_terminal
from tests.kubelet import imagebuild

pytestmark = pytest.mark.e2e

PROGRESS = re.compile(r"app\.tar: (?P<read>[0-9.]+[kMG]?B) / (?P<size>[0-9.]+[kMG]?B), "
                      r"(?P<layers>\d+) layers?")


def _archive(tmp_path: Path) -> tuple[Path, str]:
    extra = [imagebuild.layer_tar([imagebuild.Entry(f"data-{i}", os.urandom(2_000_000))])
             for i in range(2)]
    image = imagebuild.busybox_image(extra_layers=extra)
    return imagebuild.write_oci_archive(tmp_path / "app.tar",
                                        {"docker.io/library/app:1": image}), image.config_digest


def _command(tmp_path: Path, archive: Path) -> list[str]:
    return [sys.executable, "-m", "kybernetes.cli.main", "image", "--data-dir",
            str(tmp_path / "data"), "import", str(archive)]


def test_import_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    archive, image_id = _archive(tmp_path)
    text = run_on_terminal(_command(tmp_path, archive))
    updates = [PROGRESS.fullmatch(part) for part in text.split(ERASE) if part
               and not part.startswith("imported")]
    assert updates and all(updates), text
    layers = [int(m["layers"]) for m in updates if m]
    assert layers == sorted(layers) and layers[-1] == 3, text  # busybox and two more
    last = updates[-1]
    assert last is not None and last["read"] == last["size"], text
    assert all(m["size"] == last["size"] for m in updates if m), text
    # The line is cleared before the results, which stay as they are without a terminal.
    assert text.endswith(f"{ERASE}imported {image_id} (docker.io/library/app:1)\n"), text


def test_import_prints_no_progress_without_a_terminal(tmp_path: Path) -> None:
    archive, image_id = _archive(tmp_path)
    done = subprocess.run(_command(tmp_path, archive), capture_output=True, text=True,
                          check=True)
    assert done.stdout == f"imported {image_id} (docker.io/library/app:1)\n"
