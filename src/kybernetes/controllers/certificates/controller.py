"""The loop both certificate controllers share (upstream's `CertificateController`): every
added or updated CertificateSigningRequest is enqueued by name; `sync` reads it from the
informer cache and, unless it already has a certificate, hands a copy to `handle`.
A `Requeue` from `handle` is upstream's `IgnorableError`: tried again later, quietly.
"""

from __future__ import annotations

import abc
import copy
from typing import Any

from cryptography import x509

from kybernetes.api import certificates as csrs
from kybernetes.client import resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, QueueController

CSRS = resource(csrs.GROUP, "v1", "certificatesigningrequests")
# Upstream starts each certificate controller with five workers.
DEFAULT_WORKERS = 5


def parsed_request(csr: Obj) -> x509.CertificateSigningRequest:
    """The x509 request of `csr`; a ValueError (the request is tried again later) when it
    does not parse."""
    try:
        return csrs.parse_request(csr)
    except csrs.CsrError as err:
        raise ValueError(f"unable to parse csr {csr['metadata']['name']!r}: {err}") from None


def add_condition(csr: Obj, condition: dict[str, Any]) -> None:
    csr.setdefault("status", {}).setdefault("conditions", []).append(condition)


class CertificateController(QueueController):
    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.csrs = ctx.informers.informer(CSRS)
        self.watch(self.csrs, on_add=self.enqueue_object,
                   on_update=lambda _old, new: self.enqueue_object(new))

    async def sync(self, key: str) -> None:
        csr = self.csrs.store.get(key)
        if csr is None or csrs.issued_certificate(csr):
            return
        await self.handle(copy.deepcopy(csr))

    @abc.abstractmethod
    async def handle(self, csr: Obj) -> None:
        """Act on one request without a certificate; raise to retry it."""
