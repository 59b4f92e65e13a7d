"""The kubelet server's host over a CRI runtime: ids, running state, attach refusal, and
port-forward dialling into a real network namespace (made by the test; root only)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import pytest

from kybernetes.kubelet import netnsdial
from kybernetes.kubelet.containers import LABEL_POD_UID
from kybernetes.kubelet.runtime.cri import CRIError, SandboxConfig
from kybernetes.kubelet.streaminghost import RuntimeStreamingHost, runtime_id
from tests.kubelet import netns
from tests.kubelet.fakes import FakeRuntime

pytestmark = pytest.mark.e2e

@pytest.fixture
def pod_netns() -> Iterator[tuple[netns.NetNS, int]]:
    """A namespace with a one-shot echo server on its 127.0.0.1, and the server's port."""
    why = netns.available()
    if why:
        pytest.skip(why)
    with netns.with_echo_server("kyb-pf") as pod:
        yield pod


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(b"inside the pod")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


def test_runtime_ids_drop_the_scheme() -> None:
    assert runtime_id("runc://abc123") == "abc123"
    assert runtime_id("abc123") == "abc123"


async def test_dial_reaches_the_namespace_loopback_only(
        pod_netns: tuple[netns.NetNS, int]) -> None:
    ns, port = pod_netns
    # The host's own loopback does not have the port (the server is elsewhere) ...
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    # ... the namespace's does.
    assert await _echo(*await netnsdial.dial(ns.path, port)) == b"INSIDE THE POD"


async def test_connect_uses_the_ready_sandbox_of_the_pod(
        pod_netns: tuple[netns.NetNS, int]) -> None:
    ns, port = pod_netns
    runtime = FakeRuntime()
    sid = await runtime.run_pod_sandbox(SandboxConfig(
        name="web", namespace="ns", uid="u1", labels={LABEL_POD_UID: "u1"}))
    runtime.sandboxes[sid] = replace(runtime.sandboxes[sid], netns_path=ns.path)
    host = RuntimeStreamingHost(runtime, lambda namespace, name: None)
    pod = {"metadata": {"namespace": "ns", "name": "web", "uid": "u1"}}
    assert await _echo(*await host.connect(pod, port)) == b"INSIDE THE POD"
    with pytest.raises(ConnectionError):
        await host.connect({"metadata": {"uid": "other"}}, port)


async def test_unknown_containers_are_not_running_and_attach_is_refused() -> None:
    pods = {("ns", "web"): {"metadata": {"name": "web"}}}
    host = RuntimeStreamingHost(FakeRuntime(), lambda namespace, name: pods.get(
        (namespace, name)))
    assert host.pod("ns", "web") == {"metadata": {"name": "web"}}
    assert host.pod("ns", "nope") is None
    assert not await host.is_running("fake://gone")
    with pytest.raises(CRIError, match="attach is not supported"):
        await host.attach("fake://c1", tty=False, stdin=True)
