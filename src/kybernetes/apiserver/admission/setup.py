"""The admission plugins kube-apiserver enables by default, in its order, built from the
server's configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kybernetes.apiserver.admission.chain import AdmissionPlugin
from kybernetes.apiserver.admission.defaulttolerationseconds import DefaultTolerationSeconds

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer


def install(server: ApiServer) -> list[AdmissionPlugin]:
    cfg = server.config
    return [DefaultTolerationSeconds(
        not_ready_seconds=cfg.default_not_ready_toleration_seconds,
        unreachable_seconds=cfg.default_unreachable_toleration_seconds)]
