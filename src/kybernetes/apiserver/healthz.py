"""`/livez`, `/readyz` and `/healthz` answers from named checks, as upstream's
`staging/src/k8s.io/apiserver/pkg/server/healthz/healthz.go` writes them.

Every check is run (minus those named by `?exclude=`). All well: `ok`, or with `?verbose`
one `[+]<name> ok` line per check and `<endpoint> check passed`. Any failed: every check's
line, failed ones as `[-]<name> failed: reason withheld` (the reason goes to the log, not
to whoever asks, as upstream), then `<endpoint> check failed`. Upstream answers a failure
with 500; kybernetes keeps 503 (Service Unavailable), which its clients and tests expect.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import parse_qs

from kybernetes.apiserver.http import Response

log = logging.getLogger(__name__)

FAILED_STATUS = 503
_TEXT = "text/plain; charset=utf-8"

# One check's outcome: its name, and None when well or what is wrong.
Outcome = tuple[str, str | None]


def excluded(query_string: str) -> set[str]:
    """The checks `?exclude=a&exclude=b` leaves out."""
    return set(parse_qs(query_string, keep_blank_values=True).get("exclude", []))


def answer(endpoint: str, outcomes: Iterable[Outcome], *, verbose: bool) -> Response:
    """The response of `endpoint` ("livez", "readyz", "healthz") for these outcomes."""
    lines: list[str] = []
    failures: list[str] = []
    for name, problem in outcomes:
        if problem is None:
            lines.append(f"[+]{name} ok")
        else:
            lines.append(f"[-]{name} failed: reason withheld")
            failures.append(f"[-]{name} failed: {problem}")
    headers = [("x-content-type-options", "nosniff")]
    if failures:
        log.info("%s check failed: %s", endpoint, "; ".join(failures))
        body = "\n".join([*lines, f"{endpoint} check failed", ""])
        return Response(FAILED_STATUS, body.encode(), _TEXT, headers)
    if not verbose:
        return Response(200, b"ok", _TEXT, headers)
    body = "\n".join([*lines, f"{endpoint} check passed", ""])
    return Response(200, body.encode(), _TEXT, headers)
