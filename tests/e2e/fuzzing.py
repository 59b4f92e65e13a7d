"""Fuzzing the API server by its own OpenAPI: schemathesis generates requests for every
operation of every group-version the server publishes (`/openapi/v3`), and each answer is
checked as a hostile client would hope to break it: no 5xx, no broken HTTP, and no write
by a refused request (the storage revision does not move across a write that was answered
with an error, once what a successful write set going in the server itself has settled,
but for the server's own writes meanwhile: its identity Lease, renewed every 10 s, whose
renewals a watch from the earlier revision counts). The revision is a consistent list's
resourceVersion, as clients learn it (the storage's current revision, once the watch cache
has caught up with it): one object's list costs a few milliseconds where a `/metrics`
scrape, which grows with every series the fuzzing makes, costs several times as much.
Shared by tests/e2e/test_fuzz.py and test_fuzz_anonymous.py (bounded, fixed seed) and
bench/fuzz.py (longer).
"""

from __future__ import annotations

import contextlib
import json
import re
import ssl
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from tests.e2e.cluster import Server

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Writes the API server's own controllers answer with writes of theirs.
_SETTLING = re.compile(r"/(customresourcedefinitions|apiservices)(/|$)")
# A consistent list of one object: its resourceVersion is the storage's revision.
_REVISION_LIST = "/api/v1/namespaces"
# What the API server writes by itself: its identity Lease (apiserver/identitylease.py).
_OWN_LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
_OWN_SELECTOR = "apiserver.kubernetes.io/identity=kube-apiserver"


@dataclass
class FuzzResult:
    requests: int = 0
    codes: Counter[int] = field(default_factory=Counter)
    # (method, url, status or exception, body) of answers that break the rules.
    failures: list[tuple[str, str, str, str]] = field(default_factory=list)
    # (method, url) of the requests answered 2xx.
    successes: list[tuple[str, str]] = field(default_factory=list)


@contextlib.contextmanager
def fuzzed_apiserver(data_dir: Path) -> Iterator[Server]:
    """`kyb apiserver` alone (no controllers acting on what the fuzzer creates)."""
    server = Server(data_dir, command="apiserver")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def operations(client: httpx.Client) -> list[Any]:
    """Every operation of every group-version document the server serves."""
    index = client.get("/openapi/v3").json()["paths"]
    found: list[Any] = []
    for name, entry in sorted(index.items()):
        if name in ("api", "apis") or name.startswith(".well-known"):
            continue
        document = client.get(entry["serverRelativeURL"]).json()
        schema = schemathesis.openapi.from_dict(document)
        found += [result.ok() for result in schema.get_all_operations()]
    return found


def storage_revision(client: httpx.Client) -> int:
    response = client.get(_REVISION_LIST, params={"limit": "1"})
    assert response.status_code == 200, (response.status_code, response.text[:300])
    return int(response.json()["metadata"]["resourceVersion"])


def own_writes(client: httpx.Client, after: int, upto: int) -> int:
    """How many of the revisions in (after, upto] are the server's own: its identity
    Lease's renewals, seen by a watch from `after` (which ends after 2 s when fewer come)."""
    found = 0
    with client.stream("GET", _OWN_LEASES, params={
            "labelSelector": _OWN_SELECTOR, "watch": "1", "resourceVersion": str(after),
            "timeoutSeconds": "2"}) as response:
        if response.status_code != 200:
            return 0
        for line in response.iter_lines():
            if not line.strip():
                continue
            revision = int(json.loads(line)["object"]["metadata"]["resourceVersion"])
            if revision > upto:
                break
            found += 1
            if revision == upto:
                break
    return found


def wrote(client: httpx.Client, before: int, after: int) -> bool:
    """Whether anything but the server itself wrote between revisions `before` and
    `after`."""
    return after != before and after - before != own_writes(client, before, after)


def settled_revision(client: httpx.Client, quiet: float = 0.3, timeout: float = 10) -> int:
    """The storage revision once it has not moved for `quiet` seconds (at most `timeout`)."""
    deadline = time.monotonic() + timeout
    revision = storage_revision(client)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = storage_revision(client)
        if now == revision:
            break
        revision = now
    return revision


def fuzz(base_url: str, admin: ssl.SSLContext, caller: ssl.SSLContext, *,
         examples: int, seed: int, shard: tuple[int, int] = (0, 1)) -> FuzzResult:
    """`examples` generated requests per operation, sent with `caller`'s credentials;
    `admin` reads the documents and the storage revision. `shard` (index, count): every
    count-th operation from the index-th, so that several servers share the work."""
    result = FuzzResult()
    with httpx.Client(base_url=base_url, verify=admin, timeout=30) as reader, \
            httpx.Client(base_url=base_url, verify=caller, timeout=30) as sender:
        revision = storage_revision(reader)
        index, count = shard
        for operation in operations(reader)[index::count]:
            @hypothesis.seed(seed)
            @settings(max_examples=examples, database=None, deadline=None,
                      phases=[Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy())
            def send(case: Any) -> None:
                nonlocal revision
                method, url, status, body = _send(sender, case, base_url)
                result.requests += 1
                if isinstance(status, int):
                    result.codes[status] += 1
                    if status < 300:
                        result.successes.append((method, url))
                if not isinstance(status, int) or status >= 500:
                    result.failures.append((method, url, str(status), body))
                if method in _WRITES:
                    if isinstance(status, int) and status < 300:
                        # A CRD or an APIService sets the server's own controllers going
                        # (established, available): wait for them before judging the next.
                        revision = settled_revision(reader) if _SETTLING.search(url) \
                            else storage_revision(reader)
                        return
                    now = storage_revision(reader)
                    if isinstance(status, int) and status >= 400 \
                            and wrote(reader, revision, now):
                        result.failures.append((method, url, f"{status} but wrote", body))
                    revision = now

            send()
    return result


def _send(client: httpx.Client, case: Any, base_url: str
          ) -> tuple[str, str, int | str, str]:
    kwargs = case.as_transport_kwargs(base_url=base_url)
    method = str(kwargs["method"]).upper()
    url = str(kwargs["url"]).removeprefix(base_url)
    params = {k: v for k, v in (kwargs.get("params") or {}).items()}
    # A watch (or a followed log) streams until its timeout: its answer is judged by its
    # status line and first bytes, then the client goes away, as a hostile one would.
    streams = (str(params.get("watch", "")).lower() in ("true", "1") or "/watch/" in url
               or str(params.get("follow", "")).lower() in ("true", "1"))
    headers = {k: v for k, v in (kwargs.get("headers") or {}).items()
               if k.lower() not in ("host", "content-length")}
    content = kwargs.get("data")
    json_body = kwargs.get("json")
    request = client.build_request(
        method, url, params=params, headers=headers,
        content=content if isinstance(content, (bytes, str)) else None,
        json=json_body if content is None else None)
    try:
        response = client.send(request, stream=True)
        try:
            if streams and response.status_code == 200:
                return method, url, 200, ""
            return method, url, response.status_code, response.read()[:300].decode(
                errors="replace")
        finally:
            response.close()
    except (httpx.RemoteProtocolError, httpx.ReadError) as err:
        return method, url, f"broken HTTP: {err!r}", ""
    except httpx.ReadTimeout:
        return method, url, "no answer in 30 s", ""
