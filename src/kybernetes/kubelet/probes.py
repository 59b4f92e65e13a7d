"""Liveness, readiness and startup probes (upstream's pkg/kubelet/prober).

One worker per (pod, container, probe kind) runs while the container does: it waits
`initialDelaySeconds` from the container's start, then probes every `periodSeconds` with a
`timeoutSeconds` limit; `failureThreshold` failures in a row flip the result to failure and
`successThreshold` successes back. A new container instance (another id) starts over.

- **startup**: until it succeeds the container is not `started`, and liveness and
  readiness wait; failing it condemns the container like liveness does.
- **liveness**: failure condemns the container: the kubelet kills it ("Container x failed
  liveness probe, will be restarted") and restarts it per the restart policy.
- **readiness**: the container's `ready`. Without a readiness probe a started container is
  ready.

Handlers: `exec` (through the runtime, exit 0 succeeds), `httpGet` (2xx/3xx succeeds; the
pod IP unless `host`, named ports resolved from the container's ports), `tcpSocket` (a
connection opens), `grpc` (grpc.health.v1 `Check` answers SERVING). Failures are reported as
`Unhealthy` events worded as upstream's ("Readiness probe failed: HTTP probe failed with
statuscode: 500").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from kybernetes.kubelet.runtime.cri import ContainerId, ContainerRuntime, CRIError

log = logging.getLogger(__name__)

Obj = dict[str, Any]
KINDS = ("startupProbe", "livenessProbe", "readinessProbe")
_LABEL = {"startupProbe": "Startup", "livenessProbe": "Liveness",
          "readinessProbe": "Readiness"}


@dataclass
class ProbeTarget:
    """Where a container can be probed now."""

    container_id: ContainerId
    started_at: float  # epoch seconds
    pod_ip: str


def _port(container: Mapping[str, Any], port: Any) -> int:
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for declared in container.get("ports") or ():
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"unknown port {port!r}")


async def run_probe(runtime: ContainerRuntime, probe: Mapping[str, Any],
                    container: Mapping[str, Any], target: ProbeTarget) -> tuple[bool, str]:
    """(success, output) of one probe attempt."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if "exec" in probe:
            result = await runtime.exec_sync(target.container_id,
                                             list(probe["exec"].get("command") or ()), timeout)
            output = (result.stdout + result.stderr).decode(errors="replace")
            if result.exit_code != 0:
                return False, output or f"command exited with {result.exit_code}"
            return True, output
        if "httpGet" in probe:
            return await _http(probe["httpGet"], container, target, timeout)
        if "tcpSocket" in probe:
            spec = probe["tcpSocket"]
            host = spec.get("host") or target.pod_ip
            port = _port(container, spec.get("port"))
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return True, ""
        if "grpc" in probe:
            return await _grpc(probe["grpc"], target, timeout)
    except TimeoutError:
        return False, f"probe timed out after {timeout:g}s"
    except (OSError, CRIError, ValueError, httpx.HTTPError) as err:
        return False, str(err)
    return False, "probe has no handler"


async def _http(spec: Mapping[str, Any], container: Mapping[str, Any], target: ProbeTarget,
                timeout: float) -> tuple[bool, str]:  # noqa: ASYNC109 - the probe's limit
    scheme = str(spec.get("scheme") or "HTTP").lower()
    host = spec.get("host") or target.pod_ip
    port = _port(container, spec.get("port"))
    path = str(spec.get("path") or "/")
    if not path.startswith("/"):
        path = "/" + path
    headers = {"User-Agent": "kube-probe/1.35", "Accept": "*/*"}
    for header in spec.get("httpHeaders") or ():
        headers[str(header.get("name"))] = str(header.get("value"))
    url = f"{scheme}://{host}:{port}{path}"
    async with httpx.AsyncClient(verify=False, timeout=timeout,
                                 follow_redirects=False) as client:
        response = await client.get(url, headers=headers)
    if 200 <= response.status_code < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {response.status_code}"


async def _grpc(spec: Mapping[str, Any], target: ProbeTarget,
                timeout: float) -> tuple[bool, str]:  # noqa: ASYNC109 - a gRPC deadline
    import grpc.aio  # type: ignore[import-untyped]

    service = str(spec.get("service") or "").encode()
    request = (b"\x0a" + bytes([len(service)]) + service) if service else b""
    address = f"{target.pod_ip}:{int(spec['port'])}"
    async with grpc.aio.insecure_channel(address) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=lambda raw: raw,
                                    response_deserializer=lambda raw: raw)
        try:
            answer: bytes = await check(request, timeout=timeout)
        except grpc.aio.AioRpcError as err:
            return False, f"rpc error: code = {err.code().name} desc = {err.details()}"
    serving = answer[:2] == b"\x08\x01"  # field 1 (status) = SERVING
    if serving:
        return True, ""
    return False, "service unhealthy (responded with \"NOT_SERVING\")"


@dataclass
class _Result:
    success: bool | None = None  # None: not yet decided
    successes: int = 0
    failures: int = 0


class ProbeManager:
    """Probe workers for running containers and their current results."""

    def __init__(self, runtime: ContainerRuntime, *,
                 on_change: Callable[[str], None],
                 on_event: Callable[[Obj, str, str, str], None]) -> None:
        self.runtime = runtime
        self.on_change = on_change  # wakes the pod's worker
        self.on_event = on_event
        self._workers: dict[tuple[str, str, str], asyncio.Task[None]] = {}
        self._results: dict[tuple[str, str, str], tuple[str, _Result]] = {}

    def _result(self, uid: str, name: str, kind: str, container_id: str) -> _Result | None:
        found = self._results.get((uid, name, kind))
        if found is None or found[0] != container_id:
            return None
        return found[1]

    def started(self, uid: str, container: Mapping[str, Any], container_id: str) -> bool:
        if not container.get("startupProbe"):
            return True
        result = self._result(uid, container["name"], "startupProbe", container_id)
        return result is not None and result.success is True

    def ready(self, uid: str, container: Mapping[str, Any], container_id: str) -> bool:
        if not self.started(uid, container, container_id):
            return False
        if not container.get("readinessProbe"):
            return True
        result = self._result(uid, container["name"], "readinessProbe", container_id)
        return result is not None and result.success is True

    def failed(self, uid: str, container: Mapping[str, Any], container_id: str) -> bool:
        """Whether liveness or startup condemned this container instance."""
        for kind in ("livenessProbe", "startupProbe"):
            if not container.get(kind):
                continue
            result = self._result(uid, container["name"], kind, container_id)
            if result is not None and result.success is False:
                return True
        return False

    def ensure(self, pod: Obj, container: Obj,
               target: Callable[[], Awaitable[ProbeTarget | None]]) -> None:
        """Start the container's probe workers if not running."""
        uid = str(pod["metadata"]["uid"])
        for kind in KINDS:
            probe = container.get(kind)
            key = (uid, str(container["name"]), kind)
            if not probe or key in self._workers:
                continue
            self._workers[key] = asyncio.create_task(
                self._work(pod, container, kind, probe, target), name=f"probe:{key}")

    def forget_pod(self, uid: str) -> None:
        for key in [k for k in self._workers if k[0] == uid]:
            self._workers.pop(key).cancel()
        for key in [k for k in self._results if k[0] == uid]:
            del self._results[key]

    async def stop(self) -> None:
        tasks = list(self._workers.values())
        self._workers.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _work(self, pod: Obj, container: Obj, kind: str, probe: Obj,
                    target: Callable[[], Awaitable[ProbeTarget | None]]) -> None:
        uid = str(pod["metadata"]["uid"])
        name = str(container["name"])
        period = float(probe.get("periodSeconds") or 10)
        delay = float(probe.get("initialDelaySeconds") or 0)
        failures_needed = int(probe.get("failureThreshold") or 3)
        successes_needed = int(probe.get("successThreshold") or 1)
        key = (uid, name, kind)
        try:
            while True:
                where = await target()
                if where is None:
                    await asyncio.sleep(min(period, 1.0))
                    continue
                wait = where.started_at + delay - time.time()
                if wait > 0:
                    await asyncio.sleep(min(wait, period))
                    continue
                if kind != "startupProbe" and not self.started(uid, container,
                                                               where.container_id):
                    await asyncio.sleep(min(period, 1.0))
                    continue
                current = self._result(uid, name, kind, where.container_id)
                if kind == "startupProbe" and current is not None and current.success is True:
                    await asyncio.sleep(period)  # startup succeeded: nothing more to do
                    continue
                success, output = await run_probe(self.runtime, probe, container, where)
                self._record(pod, kind, key, where.container_id, success, output,
                             failures_needed, successes_needed)
                await asyncio.sleep(period)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("probe worker %s failed", key)

    def _record(self, pod: Obj, kind: str, key: tuple[str, str, str], container_id: str,
                success: bool, output: str, failures_needed: int,
                successes_needed: int) -> None:
        found = self._results.get(key)
        if found is None or found[0] != container_id:
            result = _Result()  # a fresh container instance starts undecided
            self._results[key] = (container_id, result)
        else:
            result = found[1]
        if success:
            result.failures = 0
            result.successes += 1
            flip = result.success is not True and result.successes >= successes_needed
        else:
            self.on_event(pod, "Warning", "Unhealthy",
                          f"{_LABEL[kind]} probe failed: {output}".strip())
            result.successes = 0
            result.failures += 1
            flip = result.success is not False and result.failures >= failures_needed
        if flip:
            result.success = success
            self.on_change(key[0])
