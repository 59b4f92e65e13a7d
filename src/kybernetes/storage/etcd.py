"""The etcd v3 backend, for clusters that outgrow one machine (as upstream keeps its state).

The protocol is etcd's own model, so the mapping is direct: our keys are etcd keys
(`/registry/<resource>/<ns>/<name>`), our revision is etcd's revision, `mod_revision` is the
object's `resourceVersion`.

Writes are single transactions, as upstream's `etcd3/store.go` does them:

- create: `create_revision(key) == 0` → put, else KeyExistsError;
- update: `mod_revision(key) == expected` (or `create_revision(key) > 0` for an
  unconditional update) → put with `prev_kv` (for the create revision), else get, which tells
  KeyNotFoundError from ConflictError and hands the caller the current value;
- delete: guarded likewise → delete with `prev_kv`; the deleted value comes back with the
  deletion's revision as its `mod_revision`.

Reads are linearizable ranges. A list's first page reads at the current revision and reports
it; later pages pass it back as `revision`, so every page is of one snapshot. `current_revision`
is the header revision of a count-only range on a single key.

Watches use one gRPC stream each (gRPC multiplexes them on the endpoint's one connection),
from `revision + 1`, with `prev_kv` so that DELETE events carry the last value, with progress
notifications, and with etcd's `hasleader` metadata so a member that loses its leader ends the
stream instead of going quiet. When the stream breaks (a member killed, a partition), the
watch reconnects by itself, to the next endpoint, from the revision after the last event or
progress it delivered: no gap, no duplicate, however far etcd has moved on meanwhile (etcd
replays the backlog in passes of 1000 revisions). It gives up with UnavailableError after
`watch_reconnect_timeout`. A start revision below etcd's compaction is CompactedError (410
Gone above us).

Progress (`watch(..., progress=True)`, `request_progress()`) is only ever reported when it is
true: every event under the prefix up to the reported revision has been yielded before it.
Two things are proof of that. etcd's periodic progress notification for a watcher is sent
only while that watcher is caught up, through the stream behind its events, so it is passed
on as it is. A requested progress notification (`WatchProgressRequest`) is not: etcd before
3.4.31 / 3.5.13 (Debian ships 3.4.23; etcd-io/etcd#15220 and #17507, which is why upstream
serves consistent lists from its cache only on newer etcd) answers it at once with its
current revision, ahead of the events of a watcher still catching up (after a reconnect with
a backlog) or set aside as slow, and a second "fence" watcher caught up in the same pass
proves nothing either. So `request_progress` writes instead: a progress watch also covers
one key outside its prefix, its fence key (`prefix_end(prefix)`, `/registry0` for
`/registry/`), and `request_progress` puts that key. etcd delivers a watcher's events in
revision order without gaps on every version, so when the fence's event arrives, every event
up to its revision has arrived before it: the watch yields progress at that revision and
never passes the fence key on. A fence costs one small write (the watch cache asks at most
every 250 ms, and only when it is behind); API servers sharing an etcd see each other's
fences as progress too.

etcd does not say cheaply how far it was compacted, so `compacted_revision` is what this
client knows: its own compactions and any compaction etcd reported to it. A list that runs
into an unknown compaction asks etcd (a watch from that revision is refused with the
compaction revision) before raising CompactedError.

Endpoints and failure: requests go to one endpoint at a time and move to the next when it
fails. Every request has a deadline (`request_timeout`), so an unreachable etcd is
UnavailableError, never a hang; when no endpoint accepts a connection the error comes at
once. Reads are retried on another endpoint until the deadline. Writes are retried only when
etcd cannot have applied them (the connection was never made, the member had no leader):
a write whose fate is unknown is reported as UnavailableError rather than retried into a
false KeyExistsError or ConflictError. (A write in flight when the leader dies is such a
case: etcd holds it until its own timeout, so it fails after `request_timeout`; killing a
follower the client uses costs nothing but a reconnect.) Channels reconnect by themselves with
a short backoff, so the storage recovers within about a second of etcd coming back.

The client is gRPC (`grpcio`'s asyncio API) with the etcd v3 message and service stubs of the
`aetcd` package (generated from etcd's protos, current protobuf runtime). aetcd's own `Client`
is not used: it has no TLS, one endpoint, no range limit or revision, and its watch hides
progress notifications and response headers.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]
from aetcd import rpc  # type: ignore[import-untyped]

from kybernetes.storage.interface import (
    CompactedError,
    ConflictError,
    Event,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    ListResult,
    StorageError,
    UnavailableError,
    WatchBatch,
    prefix_end,
)

log = logging.getLogger(__name__)

DEFAULT_PORT = 2379

# Backoff between attempts of one request, and between watch reconnects.
_FIRST_BACKOFF = 0.05
_MAX_BACKOFF = 0.5

_CHANNEL_OPTIONS: list[tuple[str, int]] = [
    # A watch response or a large list may exceed gRPC's 4 MiB default.
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
    # Reconnect soon after etcd comes back (gRPC's default backoff grows to 2 minutes).
    # The "min" is also how long one connection attempt may take (default 20 s): long
    # enough for a slow TLS handshake, short enough to notice a healed partition soon.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.min_reconnect_backoff_ms", 5000),
    # Notice a dead peer under an open watch. etcd refuses pings more often than every 5 s
    # (--grpc-keepalive-min-time) and pings without an open stream.
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 0),
]

# Ask etcd to end a watch when its member has no leader (clientv3's WithRequireLeader).
_REQUIRE_LEADER = (("hasleader", "true"),)

# Unavailable errors that prove a request was not applied, so a write may be sent again.
_NOT_APPLIED = ("failed to connect", "connection refused", "no leader", "proposal dropped",
                "not capable", "name resolution", "dns resolution")

_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})

@dataclass
class _Endpoint:
    address: str
    channel: Any
    kv: Any
    watch: Any


def parse_endpoints(text: str | Sequence[str]) -> tuple[builtins.list[str], bool]:
    """`host:port` addresses from `h1:2379,h2` (or a list, or `http(s)://` URLs), and whether
    any was given as `https://`. A missing port is 2379."""
    items = text.split(",") if isinstance(text, str) else list(text)
    addresses: builtins.list[str] = []
    https = False
    for item in (i.strip() for i in items):
        if not item:
            continue
        if item.startswith("https://"):
            https = True
        item = item.split("://", 1)[-1].rstrip("/")
        host, sep, port = item.rpartition(":")
        if not sep or host.endswith(":") or (host.startswith("[") and not host.endswith("]")):
            item = f"{item}:{DEFAULT_PORT}"
        elif not port.isdigit():
            raise ValueError(f"bad etcd endpoint {item!r}")
        addresses.append(item)
    if not addresses:
        raise ValueError("no etcd endpoint given")
    return addresses, https


class EtcdStorage:
    """`Storage` on an etcd v3 cluster.

    `endpoints` are `host:port` addresses of the members (any of them serves every request).
    TLS is used when `ca_file` is given, or when a client certificate is (mutual TLS:
    `cert_file` and `key_file`), or `tls=True` (server verified against the system roots).
    """

    def __init__(self, endpoints: str | Sequence[str], *, ca_file: str | Path | None = None,
                 cert_file: str | Path | None = None, key_file: str | Path | None = None,
                 tls: bool = False, request_timeout: float = 5.0,
                 watch_reconnect_timeout: float = 30.0) -> None:
        self.addresses, https = parse_endpoints(endpoints)
        if (cert_file is None) != (key_file is None):
            raise ValueError("an etcd client certificate needs both cert_file and key_file")
        self.ca_file = Path(ca_file) if ca_file is not None else None
        self.cert_file = Path(cert_file) if cert_file is not None else None
        self.key_file = Path(key_file) if key_file is not None else None
        self.tls = tls or https or self.ca_file is not None or self.cert_file is not None
        self.request_timeout = request_timeout
        self.watch_reconnect_timeout = watch_reconnect_timeout
        self._endpoints: builtins.list[_Endpoint] = []
        self._current = 0
        self._compacted = 0
        self._closed = False
        self._calls: set[Any] = set()
        # The fence keys of open progress watches (how many watch each), and the task
        # that writes them when progress is asked for.
        self._fences: dict[bytes, int] = {}
        self._fence_wanted = False
        self._fence_writer: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def _credentials(self) -> Any:
        def read(path: Path | None) -> bytes | None:
            return path.read_bytes() if path is not None else None
        return grpc.ssl_channel_credentials(
            root_certificates=read(self.ca_file), private_key=read(self.key_file),
            certificate_chain=read(self.cert_file))

    async def start(self) -> None:
        """Open a channel per endpoint. Nothing is sent yet: an etcd that is still starting
        does not fail this, the first request says whether it is reachable."""
        self._closed = False
        credentials = self._credentials() if self.tls else None
        for address in self.addresses:
            if credentials is not None:
                channel = grpc.aio.secure_channel(address, credentials,
                                                  options=_CHANNEL_OPTIONS)
            else:
                channel = grpc.aio.insecure_channel(address, options=_CHANNEL_OPTIONS)
            self._endpoints.append(_Endpoint(address, channel, rpc.KVStub(channel),
                                             rpc.WatchStub(channel)))

    async def close(self) -> None:
        """Close the channels. Watches in progress end (their iteration stops)."""
        self._closed = True
        if self._fence_writer is not None:
            self._fence_writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._fence_writer
            self._fence_writer = None
        for call in list(self._calls):
            call.cancel()
        endpoints, self._endpoints = self._endpoints, []
        for endpoint in endpoints:
            await endpoint.channel.close()

    # -- plumbing ----------------------------------------------------------------------

    def _pick(self) -> _Endpoint:
        if not self._endpoints:
            raise StorageError("etcd storage is closed" if self._closed
                               else "etcd storage is not started")
        return self._endpoints[self._current % len(self._endpoints)]

    def _failed(self, endpoint: _Endpoint) -> None:
        """Move on from a failing endpoint (unless a concurrent request already did)."""
        if self._endpoints and self._endpoints[self._current % len(self._endpoints)] is endpoint:
            self._current = (self._current + 1) % len(self._endpoints)

    async def _kv(self, method: str, request: Any, *, idempotent: bool) -> Any:
        """One KV call, moved to another endpoint on failure while that is safe, within
        `request_timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout
        refused: set[str] = set()
        backoff = _FIRST_BACKOFF
        while True:
            endpoint = self._pick()
            remaining = deadline - loop.time()
            try:
                return await getattr(endpoint.kv, method)(request, timeout=max(remaining, 0.001))
            except grpc.aio.AioRpcError as err:
                code = err.code()
                if code not in _RETRYABLE:
                    raise _translate(err) from None
                self._failed(endpoint)
                details = (err.details() or "").lower()
                not_applied = any(text in details for text in _NOT_APPLIED)
                if not (idempotent or not_applied):
                    raise UnavailableError(
                        f"etcd {endpoint.address}: {method} failed, outcome unknown: "
                        f"{err.details()}") from None
                if "failed to connect" in details or "connection refused" in details:
                    refused.add(endpoint.address)
                remaining = deadline - loop.time()
                if (code == grpc.StatusCode.DEADLINE_EXCEEDED or remaining <= 0
                        or len(refused) == len(self._endpoints)):
                    raise UnavailableError(
                        f"etcd unavailable ({', '.join(self.addresses)}): "
                        f"{err.details()}") from None
                await asyncio.sleep(min(backoff, remaining))
                backoff = min(backoff * 2, _MAX_BACKOFF)

    # -- reads -------------------------------------------------------------------------

    async def current_revision(self) -> int:
        response = await self._kv("Range", rpc.RangeRequest(key=b"\0", count_only=True),
                                  idempotent=True)
        return int(response.header.revision)

    async def compacted_revision(self) -> int:
        return self._compacted

    async def get(self, key: str) -> KeyValue | None:
        response = await self._kv("Range", rpc.RangeRequest(key=key.encode()), idempotent=True)
        return _key_value(response.kvs[0]) if response.kvs else None

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0,
                   start_key: str = "") -> ListResult:
        if revision and revision < self._compacted:
            raise CompactedError(revision, self._compacted)
        request = rpc.RangeRequest(key=max(prefix, start_key).encode(),
                                   range_end=prefix_end(prefix).encode(),
                                   limit=limit, revision=revision)
        try:
            response = await self._kv("Range", request, idempotent=True)
        except CompactedError:
            raise CompactedError(revision, await self._learn_compaction(revision)) from None
        items = [_key_value(kv) for kv in response.kvs]
        remaining = int(response.count) - len(items) if response.more else 0
        return ListResult(items, revision or int(response.header.revision), remaining)

    async def count(self, prefix: str) -> int:
        request = rpc.RangeRequest(key=prefix.encode(), range_end=prefix_end(prefix).encode(),
                                   count_only=True)
        response = await self._kv("Range", request, idempotent=True)
        return int(response.count)

    # -- writes ------------------------------------------------------------------------

    async def _txn(self, compare: Any, success: Any, key: bytes) -> Any:
        """A guarded transaction whose failure branch reads the key."""
        request = rpc.TxnRequest(
            compare=[compare], success=[success],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=key))])
        return await self._kv("Txn", request, idempotent=False)

    @staticmethod
    def _guard(key: bytes, expected_revision: int) -> Any:
        if expected_revision:
            return rpc.Compare(result=rpc.Compare.EQUAL, target=rpc.Compare.MOD, key=key,
                               mod_revision=expected_revision)
        return rpc.Compare(result=rpc.Compare.GREATER, target=rpc.Compare.CREATE, key=key,
                           create_revision=0)

    @staticmethod
    def _refused(key: str, response: Any) -> StorageError:
        found = response.responses[0].response_range.kvs
        if not found:
            return KeyNotFoundError(key)
        return ConflictError(key, _key_value(found[0]))

    async def create(self, key: str, value: bytes) -> KeyValue:
        raw = key.encode()
        response = await self._txn(
            rpc.Compare(result=rpc.Compare.EQUAL, target=rpc.Compare.CREATE, key=raw,
                        create_revision=0),
            rpc.RequestOp(request_put=rpc.PutRequest(key=raw, value=value)), raw)
        if not response.succeeded:
            raise KeyExistsError(key)
        revision = int(response.header.revision)
        return KeyValue(key, value, revision, revision)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        raw = key.encode()
        response = await self._txn(
            self._guard(raw, expected_revision),
            rpc.RequestOp(request_put=rpc.PutRequest(key=raw, value=value, prev_kv=True)), raw)
        if not response.succeeded:
            raise self._refused(key, response)
        previous = response.responses[0].response_put.prev_kv
        return KeyValue(key, value, int(previous.create_revision), int(response.header.revision))

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        raw = key.encode()
        response = await self._txn(
            self._guard(raw, expected_revision),
            rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=raw, prev_kv=True)),
            raw)
        if not response.succeeded:
            raise self._refused(key, response)
        previous = response.responses[0].response_delete_range.prev_kvs[0]
        return KeyValue(key, bytes(previous.value), int(previous.create_revision),
                        int(response.header.revision))

    # -- watch -------------------------------------------------------------------------

    async def request_progress(self) -> None:
        """Put the fence key of every open progress watch (in the background: this returns
        at once). Requests that come while fences are being written get one more round,
        so each is answered by fences written after it."""
        if not self._fences:
            return
        self._fence_wanted = True
        if self._fence_writer is None or self._fence_writer.done():
            self._fence_writer = asyncio.create_task(self._write_fences(), name="etcd-fences")

    async def _write_fences(self) -> None:
        while self._fence_wanted and not self._closed:
            self._fence_wanted = False
            for fence in list(self._fences):
                try:
                    await self._kv("Put", rpc.PutRequest(key=fence), idempotent=True)
                except StorageError as err:
                    # The watch cache asks again while it is behind.
                    log.debug("etcd progress fence %r not written: %s", fence, err)

    async def watch(self, prefix: str, revision: int, *, progress: bool = False
                    ) -> AsyncIterator[WatchBatch]:
        if revision < self._compacted:
            raise CompactedError(revision, self._compacted)
        loop = asyncio.get_running_loop()
        key, end = prefix.encode(), prefix_end(prefix).encode()
        # A progress watch covers its fence key too: `end`, the first key after the prefix.
        fence = end if progress else None
        delivered = revision  # everything up to here was yielded (or known to be empty)
        down_since: float | None = None
        backoff = _FIRST_BACKOFF
        if fence is not None:
            self._fences[fence] = self._fences.get(fence, 0) + 1
        try:
            while not self._closed:
                endpoint = self._pick()
                call = endpoint.watch.Watch(metadata=_REQUIRE_LEADER)
                self._calls.add(call)
                problem = "the stream ended"
                try:
                    await call.write(rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
                        key=key, range_end=end if fence is None else end + b"\0",
                        start_revision=delivered + 1, progress_notify=True, prev_kv=True)))
                    while True:
                        response = await call.read()
                        if response is grpc.aio.EOF:
                            break
                        down_since, backoff = None, _FIRST_BACKOFF
                        if response.created and not response.canceled:
                            continue  # its revision is etcd's, not a proof of ours
                        if response.compact_revision:
                            self._compacted = max(self._compacted,
                                                  int(response.compact_revision))
                            raise CompactedError(delivered, int(response.compact_revision))
                        if response.canceled:
                            raise StorageError(f"etcd canceled the watch on {prefix}: "
                                               f"{response.cancel_reason}")
                        if response.events:
                            for batch in _batches(response.events, fence):
                                if batch or batch.revision > delivered:
                                    delivered = batch.revision
                                    yield batch
                        else:
                            # A periodic progress notification, sent only while our
                            # watcher is caught up, behind its events: nothing more under
                            # the prefix up to here.
                            at = int(response.header.revision)
                            if at > delivered:
                                delivered = at
                                if progress:
                                    yield WatchBatch((), at)
                except grpc.aio.AioRpcError as err:
                    if self._closed:
                        return
                    if err.code() not in _RETRYABLE:
                        raise _translate(err) from None
                    problem = err.details() or str(err.code())
                except asyncio.CancelledError:
                    if self._closed and call.cancelled():
                        return
                    raise
                finally:
                    self._calls.discard(call)
                    call.cancel()
                if self._closed:
                    return
                # The stream broke: resume on the next endpoint after a pause.
                self._failed(endpoint)
                now = loop.time()
                if down_since is None:
                    down_since = now
                    log.info("etcd watch on %s from %s lost (%s); reconnecting", prefix,
                             endpoint.address, problem)
                elif now - down_since > self.watch_reconnect_timeout:
                    raise UnavailableError(f"etcd watch on {prefix} could not reconnect for "
                                           f"{self.watch_reconnect_timeout:.0f}s: {problem}")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
        finally:
            if fence is not None:
                self._fences[fence] -= 1
                if not self._fences[fence]:
                    del self._fences[fence]

    async def _learn_compaction(self, revision: int) -> int:
        """etcd's compaction revision, known to be above `revision`: a watch from `revision`
        is refused with it. Falls back to what is known if etcd does not say in time."""
        endpoint = self._pick()
        call = endpoint.watch.Watch()
        try:
            async with asyncio.timeout(self.request_timeout):
                await call.write(rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
                    key=b"\0", start_revision=max(revision, 1))))
                while True:
                    response = await call.read()
                    if response is grpc.aio.EOF:
                        break
                    if response.compact_revision:
                        self._compacted = max(self._compacted, int(response.compact_revision))
                        break
        except (grpc.aio.AioRpcError, TimeoutError):
            pass
        finally:
            call.cancel()
        return self._compacted

    # -- compaction --------------------------------------------------------------------

    async def compact(self, revision: int) -> None:
        """Forget the history before `revision` (etcd keeps `revision` itself)."""
        revision = min(revision, await self.current_revision())
        if revision <= self._compacted:
            return
        with contextlib.suppress(CompactedError):  # someone compacted as far already
            await self._kv("Compact", rpc.CompactionRequest(revision=revision),
                           idempotent=True)
        self._compacted = max(self._compacted, revision)


def _key_value(kv: Any) -> KeyValue:
    return KeyValue(kv.key.decode(), bytes(kv.value), int(kv.create_revision),
                    int(kv.mod_revision))


def _batches(events: Any, fence: bytes | None) -> Iterator[WatchBatch]:
    """The events of one watch response as batches: runs of events under the prefix, and
    a progress batch for each write of the fence key (which every earlier event precedes)."""
    run: builtins.list[Event] = []
    for event in events:
        if event.kv.key == fence:
            if run:
                yield WatchBatch(run)
                run = []
            yield WatchBatch((), int(event.kv.mod_revision))
        else:
            run.append(_event(event))
    if run:
        yield WatchBatch(run)


def _event(event: Any) -> Event:
    kv = event.kv
    if event.type == rpc.Event.DELETE:
        previous = event.prev_kv  # empty when compacted away: the value is lost
        return Event("DELETE", KeyValue(kv.key.decode(), bytes(previous.value),
                                        int(previous.create_revision), int(kv.mod_revision)))
    return Event("PUT", _key_value(kv), created=kv.version == 1)


def _translate(err: Any) -> StorageError:
    code, details = err.code(), err.details() or ""
    if code == grpc.StatusCode.OUT_OF_RANGE and "compacted" in details:
        return CompactedError(0, 0)
    if code in _RETRYABLE or code == grpc.StatusCode.CANCELLED:
        return UnavailableError(f"etcd: {details}")
    return StorageError(f"etcd: {code.name}: {details}")

