"""`kyb image`: the node's image store from the command line, as `crictl` and `k3s ctr`.

    kyb image import FILE...      docker-save or OCI-layout archives (gzip'd or not)
    kyb image ls                  IMAGE  TAG  IMAGE ID  SIZE, as `crictl images`
    kyb image pull REF [--creds USER:PASS] [--insecure-registry HOST]...
                       [--private-registry FILE]   through registries.yaml's mirrors
    kyb image rm REF...

The store is `<data-dir>/images`, the one the node's kubelet uses. Images imported here
are there for pods with `imagePullPolicy: Never` or `IfNotPresent`, as with
`k3s ctr images import`.

On a terminal, `import` and `pull` show their progress on one line rewritten in place
(bytes of the archive read or of the image fetched, of the total, and layers in), as
`ctr images pull` does; when stdout is not a terminal they print only their results.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from kybernetes.cli import flags

if TYPE_CHECKING:  # the image store is imported only when a command runs
    from kybernetes.kubelet.images import ImageStore

_SIZE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def add_parser(commands: Any) -> None:
    image = flags.command(commands, "image", help="the node's container images")
    image.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                       help="the node's data dir; images live in <data-dir>/images "
                            "(default: /var/lib/kybernetes as root, else "
                            "~/.local/share/kybernetes)")
    actions = image.add_subparsers(dest="image_command", required=True)
    imports = flags.command(actions, "import", help="import docker-save or OCI archives")
    imports.add_argument("files", nargs="+", type=Path, metavar="FILE",
                         help="the archives to import")
    flags.command(actions, "ls", help="list images")
    pull = flags.command(actions, "pull", help="pull an image from its registry")
    pull.add_argument("ref", metavar="REF", help="the image, e.g. docker.io/library/busybox")
    pull.add_argument("--creds", default=None, metavar="USER:PASS",
                      help="credentials for the image's registry (default: anonymous)")
    pull.add_argument("--insecure-registry", action="append", default=[], metavar="HOST",
                      help="speak plain http to this registry (repeatable; default: none, "
                           "only loopback ones)")
    flags.add_private_registry(pull)
    remove = flags.command(actions, "rm", help="remove images")
    remove.add_argument("refs", nargs="+", metavar="REF", help="the images to remove")
    for action in actions.choices.values():
        # Also after the action (`kyb image ls --data-dir D`); SUPPRESS keeps the
        # action's absent flag from hiding one given before it.
        action.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS,
                            help=argparse.SUPPRESS)
    image.set_defaults(run=run)


def human_size(size: float) -> str:
    """go-units' HumanSize, which crictl prints: 4 significant digits, powers of 1000."""
    unit = 0
    while size >= 1000 and unit < len(_SIZE_UNITS) - 1:
        size /= 1000
        unit += 1
    return f"{size:.4g}{_SIZE_UNITS[unit]}"


def _rows(records: list[Any]) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for record in records:
        short_id = record.id.removeprefix("sha256:")[:13]
        size = human_size(record.size)
        names = [tag.rsplit(":", 1) for tag in record.repo_tags] or [
            [digest.split("@")[0], "<none>"] for digest in record.repo_digests
        ] or [["<none>", "<none>"]]
        rows.extend((name, tag, short_id, size) for name, tag in names)
    return rows


def _table(rows: list[tuple[str, str, str, str]]) -> str:
    header = ("IMAGE", "TAG", "IMAGE ID", "SIZE")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(3)]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "   " + row[3] for row in (header, *rows))


class Progress(Protocol):
    """An import's (`ImportProgress`) or a pull's (`PullProgress`): bytes handled of the
    total, layers in."""

    @property
    def read(self) -> int: ...

    @property
    def size(self) -> int: ...

    @property
    def layers(self) -> int: ...


class ProgressLine:
    """An import's or pull's progress on one terminal line, rewritten in place (carriage
    return, erase line) whenever a layer is in or all is read, otherwise at most every
    `interval` seconds; `clear` leaves the line empty for the results that follow."""

    def __init__(self, out: IO[str], name: str, interval: float = 0.1) -> None:
        self._out, self._name, self._interval = out, name, interval
        self._last = -interval
        self._layers = 0
        self._shown = False

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self._last < self._interval and progress.layers == self._layers \
                and progress.read < progress.size:
            return
        self._last, self._layers = now, progress.layers
        layers = "layer" if progress.layers == 1 else "layers"
        self._out.write(f"\r\x1b[K{self._name}: {human_size(progress.read)} / "
                        f"{human_size(progress.size)}, {progress.layers} {layers}")
        self._out.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self._out.write("\r\x1b[K")
            self._out.flush()
            self._shown = False


def _import(store: ImageStore, path: Path) -> None:
    line = ProgressLine(sys.stdout, path.name) if sys.stdout.isatty() else None
    try:
        records = store.import_archive(path, line)
    finally:
        if line is not None:
            line.clear()
    for record in records:
        names = ", ".join(record.repo_tags) or "untagged"
        print(f"imported {record.id} ({names})")


def run(args: argparse.Namespace) -> int:
    from kybernetes.cli.main import default_data_dir
    from kybernetes.kubelet.images import ImageError, ImageStore, RegistryCredential
    from kybernetes.kubelet.images.mirrors import RegistriesConfigError, node_registries
    from kybernetes.kubelet.images.reference import parse_reference

    data_dir = args.data_dir or default_data_dir()
    store = ImageStore(data_dir / "images")
    try:
        if args.image_command == "import":
            for path in args.files:
                _import(store, path)
        elif args.image_command == "ls":
            print(_table(_rows(store.list())))
        elif args.image_command == "pull":
            credentials = []
            if args.creds is not None:
                username, _, password = args.creds.partition(":")
                domain = parse_reference(args.ref).domain
                credentials.append(RegistryCredential(server=domain, username=username,
                                                      password=password))
            registries = node_registries(args.private_registry, data_dir)
            line = ProgressLine(sys.stdout, args.ref) if sys.stdout.isatty() else None
            try:
                record = asyncio.run(store.pull(args.ref, credentials=credentials,
                                                insecure_registries=args.insecure_registry,
                                                registries=registries, progress=line))
            finally:
                if line is not None:
                    line.clear()
            print(f"Image is up to date for {record.id}")
        elif args.image_command == "rm":
            for ref in args.refs:
                store.remove(ref)
                print(f"Deleted: {ref}")
    except (ImageError, OSError, RegistriesConfigError) as err:
        print(f"kyb image: {err}", file=sys.stderr)
        return 1
    return 0
