"""Local stand-ins for the public images the Python client's e2e suite runs.

Each image is built from this machine's files and pushed to a registry on the node's
loopback, which the kubelet uses as a mirror of the image's own registry (`registries.yaml`),
as an air-gapped k3s node does: images tagged `latest` are pulled on every start (policy
Always), so importing them would not do. `busybox` and `k8s.gcr.io/pause:2.0` are the
static busybox; `nginx` and `nginx:1.15.4` are busybox's httpd serving nginx's welcome
page on port 80; `python` is Debian's python3 with its shared libraries and standard
library (no site-packages), with busybox for a shell.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.kubelet.imagebuild import (
    Entry,
    OciImage,
    build_image,
    busybox_entries,
    layer_tar,
    push_image,
)

WELCOME = (b"<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n"
           b"<body>\n<h1>Welcome to nginx!</h1>\n</body>\n</html>\n")
PYTHON = Path("/usr/bin/python3")
STDLIB_SKIPPED = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
                  "dist-packages", "site-packages", "__pycache__"}


def _busybox_layer() -> bytes:
    return layer_tar([*busybox_entries(), Entry("bin/uptime", kind="symlink", link="busybox")])


def nginx_image() -> OciImage:
    """httpd in the foreground on port 80, serving the welcome page nginx serves."""
    page = layer_tar([Entry(d, kind="dir", mode=0o755) for d in
                      ("usr/share", "usr/share/nginx", "usr/share/nginx/html")]
                     + [Entry("usr/share/nginx/html/index.html", data=WELCOME)])
    return build_image([_busybox_layer(), page],
                       cmd=("httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"))


def _parents(path: Path) -> Iterator[str]:
    for parent in reversed(path.parents[:-1]):
        yield str(parent).lstrip("/")


def _python_entries() -> list[Entry]:
    """Debian's python3, the libraries `ldd` names and the standard library."""
    binary = PYTHON.resolve()
    libraries = [Path(line.split("=>")[-1].split("(")[0].strip())
                 for line in subprocess.run(["ldd", str(binary)], capture_output=True,
                                            text=True, check=True).stdout.splitlines()
                 if "/" in line]
    files = [binary, *libraries]
    stdlib = Path("/usr/lib") / binary.name  # python3.X
    for path in sorted(stdlib.rglob("*")):
        relative = path.relative_to(stdlib).parts
        if (path.is_file() and not path.is_symlink() and not STDLIB_SKIPPED & set(relative)
                and not relative[0].startswith("config-")):
            files.append(path)
    dirs: dict[str, None] = {}
    for path in files:
        dirs.update(dict.fromkeys([*_parents(path), *_parents(path.resolve())]))
    entries = [Entry(d, kind="dir", mode=0o755) for d in dirs if d not in ("bin", "usr")]
    for path in files:
        real = path.resolve()
        entries.append(Entry(str(real).lstrip("/"), data=real.read_bytes(),
                             mode=real.stat().st_mode & 0o777))
        if path != real:
            entries.append(Entry(str(path).lstrip("/"), kind="symlink", link=str(real)))
    entries += [Entry("usr/local", kind="dir", mode=0o755),
                Entry("usr/local/bin", kind="dir", mode=0o755),
                Entry("usr/local/bin/python", kind="symlink", link=str(binary)),
                Entry("usr/local/bin/python3", kind="symlink", link=str(binary))]
    return entries


def python_image() -> OciImage:
    """Its layers zstd-compressed: gzip takes twenty times as long over the standard
    library's 24 MB, for the same size."""
    return build_image([_busybox_layer(), layer_tar(_python_entries())], cmd=("python3",),
                       compression="zstd")


def standin_images() -> dict[tuple[str, str, str], OciImage]:
    """(registry, repository, tag) -> the stand-in for the image the suite names."""
    nginx = nginx_image()
    return {
        ("docker.io", "library/busybox", "latest"): build_image([_busybox_layer()]),
        ("docker.io", "library/nginx", "latest"): nginx,
        ("docker.io", "library/nginx", "1.15.4"): nginx,
        ("docker.io", "library/python", "latest"): python_image(),
        ("k8s.gcr.io", "pause", "2.0"): build_image([_busybox_layer()],
                                                   cmd=("sleep", "2147483647")),
    }


async def push_standins(registry: str) -> None:
    """Every stand-in pushed to the registry at `registry` (http://host:port), which
    `registries.yaml` then names as the mirror of docker.io and k8s.gcr.io."""
    for (_, repository, tag), image in standin_images().items():
        await push_image(registry, repository, tag, image)
