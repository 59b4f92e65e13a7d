"""The log of an add-on the `kyb` process runs itself, as the log of its mirror pod's one
container: a `logging.Handler` on the add-on's loggers writing CRI log records, where the
kubelet's containerLogs endpoint reads them, so `kubectl logs -n kube-system kube-dns-<node>`
shows that component's lines (and `-f`, `--tail`, `--since`, `--timestamps` work as for any
container).

The file is `<log root>/kube-system_<pod>/<container>/0.log`: no pod uid in the path (the
mirror pod is recreated with a new uid; the component's log goes on). It is rotated at
`max_size` bytes into `0.log.1`, one old file kept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kybernetes.kubelet.logs import STDERR, CriLogWriter
from kybernetes.kubelet.mirrorpods import NAMESPACE, pod_name

DEFAULT_MAX_SIZE = 10 * 1024 * 1024
_FORMAT = "%(levelname)s %(name)s: %(message)s"


def log_file(log_root: Path, node_name: str, addon: str) -> Path:
    """The log of add-on `addon` on node `node_name`."""
    return log_root / f"{NAMESPACE}_{pod_name(addon, node_name)}" / addon / "0.log"


class CriLogHandler(logging.Handler):
    """Each record as CRI `stderr` lines of `path` (a multi-line message, a traceback, is
    one record per line)."""

    def __init__(self, path: Path, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        super().__init__()
        self.writer = CriLogWriter(path)
        self.max_size = max_size
        self.setFormatter(logging.Formatter(_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            path = self.writer.path
            if path.exists() and path.stat().st_size >= self.max_size:
                path.replace(path.with_name(path.name + ".1"))
            self.writer.write(STDERR, text.encode() + b"\n")
        except Exception:
            self.handleError(record)


@contextmanager
def component_log(path: Path, loggers: tuple[str, ...]) -> Iterator[CriLogHandler]:
    """Records of `loggers` (and their children) also go to `path` while inside."""
    handler = CriLogHandler(path)
    for name in loggers:
        logging.getLogger(name).addHandler(handler)
    try:
        yield handler
    finally:
        for name in loggers:
            logging.getLogger(name).removeHandler(handler)
        handler.close()
