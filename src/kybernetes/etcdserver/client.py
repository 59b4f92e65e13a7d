"""etcd's Cluster and Maintenance APIs over mutual TLS, what the embedded member needs
beyond the key-value store (storage/etcd.py): the member list, adding and removing a member
(etcd's MemberAdd and MemberRemove, as etcdctl and k3s call them), and a snapshot stream.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]
from aetcd import rpc  # type: ignore[import-untyped]

from kybernetes.etcdserver.config import EtcdConfig

_TIMEOUT = 10.0


class EtcdClientError(Exception):
    """etcd could not be reached or refused the request."""


@dataclass(frozen=True)
class Member:
    id: int
    name: str  # empty for a member added that has not started yet
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]


def _member(m: Any) -> Member:
    return Member(int(m.ID), str(m.name), tuple(m.peerURLs), tuple(m.clientURLs))


def _address(endpoint: str) -> str:
    return endpoint.split("://", 1)[-1].rstrip("/")


@contextlib.asynccontextmanager
async def connect(config: EtcdConfig, endpoints: Sequence[str]) -> AsyncIterator[Any]:
    """A channel to the first of `endpoints` (URLs or `host:port`) that answers, as the
    member's client certificate."""
    cert, key = config.cert("client")
    credentials = grpc.ssl_channel_credentials(
        root_certificates=config.ca_cert.read_bytes(), private_key=key.read_bytes(),
        certificate_chain=cert.read_bytes())
    errors: list[str] = []
    for endpoint in endpoints:
        channel = grpc.aio.secure_channel(_address(endpoint), credentials)
        try:
            await rpc.MaintenanceStub(channel).Status(rpc.StatusRequest(), timeout=_TIMEOUT)
        except grpc.aio.AioRpcError as err:
            errors.append(f"{endpoint}: {err.details()}")
            await channel.close()
            continue
        try:
            yield channel
        finally:
            await channel.close()
        return
    raise EtcdClientError(f"no etcd member answers: {'; '.join(errors) or 'none given'}")


async def _call(method: Any, request: Any) -> Any:
    try:
        return await method(request, timeout=_TIMEOUT)
    except grpc.aio.AioRpcError as err:
        raise EtcdClientError(str(err.details())) from None


async def members(channel: Any) -> list[Member]:
    response = await _call(rpc.ClusterStub(channel).MemberList, rpc.MemberListRequest())
    return [_member(m) for m in response.members]


async def add_member(channel: Any, peer_url: str) -> tuple[Member, list[Member]]:
    """Add a voting member at `peer_url`: the new member, and every member after it."""
    response = await _call(rpc.ClusterStub(channel).MemberAdd,
                           rpc.MemberAddRequest(peerURLs=[peer_url]))
    return _member(response.member), [_member(m) for m in response.members]


async def remove_member(channel: Any, member_id: int) -> None:
    await _call(rpc.ClusterStub(channel).MemberRemove, rpc.MemberRemoveRequest(ID=member_id))


async def save_snapshot(channel: Any, path: Path) -> int:
    """Stream the member's backend database (with etcd's sha256 trailer) to `path`; its
    size in bytes."""
    size = 0
    partial = path.with_name(f".{path.name}.part")
    try:
        with partial.open("wb") as file:
            stream = rpc.MaintenanceStub(channel).Snapshot(rpc.SnapshotRequest())
            async for chunk in stream:
                file.write(chunk.blob)
                size += len(chunk.blob)
        partial.rename(path)
    except grpc.aio.AioRpcError as err:
        raise EtcdClientError(str(err.details())) from None
    finally:
        partial.unlink(missing_ok=True)
    return size
