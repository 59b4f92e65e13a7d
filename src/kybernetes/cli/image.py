"""`kyb image`: the node's image store from the command line, as `crictl` and `k3s ctr`.

    kyb image import FILE...      docker-save or OCI-layout archives (gzip'd or not)
    kyb image ls                  IMAGE  TAG  IMAGE ID  SIZE, as `crictl images`
    kyb image pull REF [--creds USER:PASS] [--insecure-registry HOST]...
    kyb image rm REF...

The store is `<data-dir>/images`, the one the node's kubelet uses. Images imported here
are there for pods with `imagePullPolicy: Never` or `IfNotPresent`, as with
`k3s ctr images import`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from kybernetes.cli import flags

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


def run(args: argparse.Namespace) -> int:
    from kybernetes.cli.main import default_data_dir
    from kybernetes.kubelet.images import ImageError, ImageStore, RegistryCredential
    from kybernetes.kubelet.images.reference import parse_reference

    store = ImageStore((args.data_dir or default_data_dir()) / "images")
    try:
        if args.image_command == "import":
            for path in args.files:
                for record in store.import_archive(path):
                    names = ", ".join(record.repo_tags) or "untagged"
                    print(f"imported {record.id} ({names})")
        elif args.image_command == "ls":
            print(_table(_rows(store.list())))
        elif args.image_command == "pull":
            credentials = []
            if args.creds is not None:
                username, _, password = args.creds.partition(":")
                domain = parse_reference(args.ref).domain
                credentials.append(RegistryCredential(server=domain, username=username,
                                                      password=password))
            record = asyncio.run(store.pull(args.ref, credentials=credentials,
                                            insecure_registries=args.insecure_registry))
            print(f"Image is up to date for {record.id}")
        elif args.image_command == "rm":
            for ref in args.refs:
                store.remove(ref)
                print(f"Deleted: {ref}")
    except (ImageError, OSError) as err:
        print(f"kyb image: {err}", file=sys.stderr)
        return 1
    return 0
