"""Make one pod's containers match its spec, through the CRI runtime (upstream's
pkg/kubelet/kuberuntime/kuberuntime_manager.go `SyncPod` and `computePodActions`).

Each `sync_pod` reads what the runtime has for the pod (its sandboxes and containers, found
through the pod-uid index `podindex.PodIndex`, itself filled from the runtime by the
`io.kubernetes.pod.uid` label, so a restarted kubelet finds everything again, and never by
walking the whole node) and takes the next steps:

1. **Sandbox**: without a ready sandbox, everything of the pod is killed and a new sandbox is
   made (attempt + 1), its network set up through CNI, its `/etc/hosts` written. CNI runs
   beside the rest of that first sync: the namespaces exist, so containers are created
   (conmon and `runc create`) meanwhile and only started once the network is up (a
   container whose environment names the pod's IP waits for it before its config is
   built). A sandbox whose network never completed (the kubelet died during CNI ADD) is
   not ready.
2. **Init containers** run one at a time in order; a failed one is restarted (backing off)
   unless `restartPolicy` is Never, which fails the pod. Restartable init containers
   (sidecars) start in order and keep running.
3. **Containers**: each one without a live instance is started, unless the restart policy
   says it is done (Never; OnFailure after exit 0) or its back-off has not expired
   (`CrashLoopBackOff`). A running container whose spec hash changed, or that its liveness
   or startup probe condemned, is killed and restarted.

**Ephemeral containers** (`kubectl debug`) start before step 2, as upstream's, so that one can
debug a pod whose init containers fail: each one that never ran starts once and is never
restarted; with `targetContainerName` it joins the PID namespace of that container's newest
instance (CRI's NamespaceMode TARGET), so it sees the target's processes.

Starting a container is upstream's `startContainer`: pull the image per `imagePullPolicy`
(events Pulling / Pulled; `ErrImagePull` then `ImagePullBackOff` on failure), build the
config (command over the image's, env, mounts, resources, security context), create and
start it (events Created / Started; `CreateContainerConfigError`, `CreateContainerError`,
`RunContainerError` on failure). Errors are returned per container as `SyncError`s for the
status, never raised, so one bad container does not stop the others.

`kill_pod` stops every container with the grace period (running preStop hooks first), then
the sandbox, and releases the pod's network.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from kybernetes.kubelet import containers as specs
from kybernetes.kubelet import spawn
from kybernetes.kubelet.backoff import Backoff
from kybernetes.kubelet.images import (
    ImageError,
    ImageNeverPullError,
    ImagePullError,
    default_pull_policy,
    parse_reference,
)
from kybernetes.kubelet.images.policy import should_pull
from kybernetes.kubelet.podindex import PodIndex
from kybernetes.kubelet.podstatus import ContainerRecord, SyncError, all_containers, is_sidecar
from kybernetes.kubelet.probes import ProbeTarget, run_probe
from kybernetes.kubelet.runtime.cri import (
    Container,
    ContainerConfig,
    ContainerId,
    ContainerRuntime,
    ContainerState,
    ContainerStatus,
    CRIError,
    Mount,
    PodSandbox,
    SandboxConfig,
    SandboxId,
    SandboxState,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
EventSink = Callable[[Obj, str, str, str], None]  # (pod, type, reason, message)

RUNTIME_SCHEME = "runc"
DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log"
MAX_TERMINATION_MESSAGE = 4096
FALLBACK_LOG_LINES = 80


class ImageLike(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def repo_digests(self) -> tuple[str, ...]: ...

    @property
    def config(self) -> dict[str, Any]: ...

    @property
    def layer_dirs(self) -> tuple[Path, ...]: ...


class ImageService(Protocol):
    """The image store, as the sync loop needs it."""

    def get(self, ref_or_id: str) -> ImageLike | None: ...

    async def pull_for_pod(self, ref: str, pod: Obj) -> ImageLike:
        """Pull `ref` with the pod's imagePullSecrets; raises ImageError."""
        ...


class NetworkService(Protocol):
    """Pod networking (CNI), as the sync loop needs it."""

    async def setup(self, sandbox_id: str, netns: str, pod: Obj) -> list[str]:
        """Attach the sandbox's namespace; returns the pod IPs."""
        ...

    async def teardown(self, sandbox_id: str, netns: str, pod: Obj) -> None: ...

    def not_ready_message(self) -> str:
        """Why pods cannot get a network now ("" when they can)."""
        ...


class VolumeService(Protocol):
    """Pod volumes and container environments, as the sync loop needs them."""

    async def setup(self, pod: Obj) -> None:
        """Prepare the pod's volumes (raises `ContainerConfigError` via VolumeError)."""
        ...

    async def env(self, pod: Obj, container: Obj, pod_ips: Sequence[str]
                  ) -> list[tuple[str, str]]: ...

    def mounts(self, pod: Obj, container: Obj, env: Sequence[tuple[str, str]]
               ) -> list[Mount]:
        """The container's volume mounts (`env` expands subPathExpr)."""
        ...

    async def teardown(self, pod: Obj) -> None: ...

    async def aclose(self) -> None:
        """Stop what the service runs in the background (its watches)."""
        ...


class ContainerConfigError(Exception):
    """The container's config cannot be built (a missing ConfigMap key, ...):
    `CreateContainerConfigError`."""


@dataclass
class PodRuntimeState:
    """What the runtime holds for one pod."""

    sandboxes: list[PodSandbox] = field(default_factory=list)  # newest first
    containers: list[ContainerStatus] = field(default_factory=list)

    def ready_sandbox(self) -> PodSandbox | None:
        newest = self.sandboxes[0] if self.sandboxes else None
        return newest if newest is not None and \
            newest.state is SandboxState.SANDBOX_READY else None

    def instances(self, name: str) -> list[ContainerStatus]:
        """A container's instances, newest first."""
        mine = [c for c in self.containers if c.name == name]
        mine.sort(key=lambda c: (c.attempt, c.created_at), reverse=True)
        return mine

    def running(self) -> list[ContainerStatus]:
        return [c for c in self.containers if c.state is ContainerState.CONTAINER_RUNNING]


@dataclass
class SyncResult:
    errors: dict[str, SyncError] = field(default_factory=dict)  # container name -> error
    pod_ips: list[str] = field(default_factory=list)
    sandbox_ready: bool = False


def _rfc3339(nanos: int) -> str:
    if not nanos:
        return ""
    return datetime.fromtimestamp(nanos / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def container_id(status: ContainerStatus) -> str:
    return f"{RUNTIME_SCHEME}://{status.id}"


def to_record(status: ContainerStatus, image_id: str = "") -> ContainerRecord:
    state = {ContainerState.CONTAINER_CREATED: "created",
             ContainerState.CONTAINER_RUNNING: "running",
             ContainerState.CONTAINER_EXITED: "exited"}.get(status.state, "unknown")
    return ContainerRecord(
        name=status.name, container_id=container_id(status), attempt=status.attempt,
        state=state, image=status.image, image_id=image_id or status.image_ref,
        created_at=_rfc3339(status.created_at), started_at=_rfc3339(status.started_at),
        finished_at=_rfc3339(status.finished_at), exit_code=status.exit_code,
        reason=status.reason, message=status.message)


def _should_restart(policy: str, status: ContainerStatus) -> bool:
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return status.exit_code != 0
    return False


@dataclass
class RuntimeManager:
    runtime: ContainerRuntime
    images: ImageService
    network: NetworkService
    volumes: VolumeService
    events: EventSink
    pod_root: Path
    log_root: Path
    cgroup_root: str = "/kubepods"
    cluster_dns: Sequence[str] = ("10.43.0.10",)
    cluster_domain: str = "cluster.local"
    memory_capacity: int = 1 << 34
    pids_limit: int = 0
    crash_backoff: Backoff = field(default_factory=Backoff)
    pull_backoff: Backoff = field(default_factory=Backoff)
    # pod uid -> {container name}: containers the prober condemned (kill and restart).
    condemned: dict[str, set[str]] = field(default_factory=dict)
    _pull_failed_at: dict[str, float] = field(default_factory=dict)
    # pod uid -> its new sandbox's network being set up (CNI ADD) during the first sync.
    _networking: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    index: PodIndex = field(init=False)

    def __post_init__(self) -> None:
        self.index = PodIndex(self.runtime)

    # -- reading the runtime ------------------------------------------------------------

    async def pod_state(self, uid: str) -> PodRuntimeState:
        sandboxes = await self.index.sandboxes(uid)
        sandboxes.sort(key=lambda s: (s.attempt, s.created_at), reverse=True)
        return PodRuntimeState(sandboxes, await self.index.containers(uid))

    async def newest_instance(self, uid: str, name: str) -> ContainerStatus | None:
        """The newest instance of one container of a pod (what a probe looks at each
        period: only that pod's containers are read, not the node's)."""
        instances = await self.index.containers(uid, name)
        return max(instances, key=lambda c: (c.attempt, c.created_at), default=None)

    async def relist(self) -> list[Container]:
        """Every container the runtime holds (the PLEG's relist), noted in the index."""
        return await self.index.refresh()

    def pod_ips(self, uid: str) -> list[str]:
        try:
            return list(json.loads((self._pod_dir(uid) / "ips.json").read_text()))
        except (OSError, ValueError):
            return []

    def records(self, state: PodRuntimeState) -> list[ContainerRecord]:
        return [to_record(c, self._image_id(c.image)) for c in state.containers]

    def _image_id(self, ref: str) -> str:
        image = self.images.get(ref)
        if image is None:
            return ""
        return image.repo_digests[0] if image.repo_digests else image.id

    def _pod_dir(self, uid: str) -> Path:
        return self.pod_root / uid

    # -- sync ---------------------------------------------------------------------------

    async def sync_pod(self, pod: Obj, state: PodRuntimeState) -> SyncResult:
        """One step towards the spec; returns per-container errors for the status."""
        spec = pod.get("spec") or {}
        uid = str(pod["metadata"]["uid"])
        result = SyncResult()
        sandbox = state.ready_sandbox()
        if sandbox is not None and not spec.get("hostNetwork") and \
                not (self._pod_dir(uid) / "ips.json").exists():
            sandbox = None  # its CNI ADD never finished
        not_ready = "" if spec.get("hostNetwork") else self.network.not_ready_message()
        if sandbox is None and not_ready:
            # Upstream's NetworkNotReady: no sandbox until the node's network works.
            self.events(pod, "Warning", "NetworkNotReady",
                        f"network is not ready: {not_ready}")
            return result
        if sandbox is None and state.containers and \
                (spec.get("restartPolicy") or "Always") == "Never":
            return result  # its containers ran and must not run again (upstream's rule)
        if sandbox is None:
            if state.containers or state.sandboxes:
                await self._kill_all(pod, state, grace=0)
            try:
                sandbox = await self._create_sandbox(pod, len(state.sandboxes))
            except Exception as err:
                message = f"Failed to create pod sandbox: {err}"
                self.events(pod, "Warning", "FailedCreatePodSandBox", message)
                log.warning("pod %s: %s", uid, message)
                return result
            state = await self.pod_state(uid)
            return await self._sync_while_networking(pod, sandbox, state, result)
        await self._sync_in_sandbox(pod, sandbox, state, result)
        result.pod_ips = self.pod_ips(uid)
        return result

    async def _sync_while_networking(self, pod: Obj, sandbox: PodSandbox,
                                     state: PodRuntimeState, result: SyncResult) -> SyncResult:
        """The first sync of a new sandbox, while its network is set up (if it has one):
        a failed setup is upstream's FailedCreatePodSandBox, and everything made is removed."""
        uid = str(pod["metadata"]["uid"])
        networking = self._networking.get(uid)
        try:
            await self._sync_in_sandbox(pod, sandbox, state, result)
        except Exception:
            if networking is None or not networking.done() or networking.cancelled() or \
                    networking.exception() is None:
                raise
        finally:
            self._networking.pop(uid, None)
            if networking is not None:
                await asyncio.wait([networking])
        failure = None if networking is None or networking.cancelled() else \
            networking.exception()
        if failure is None:
            result.pod_ips = self.pod_ips(uid)
            return result
        message = f"Failed to create pod sandbox: {failure}"
        self.events(pod, "Warning", "FailedCreatePodSandBox", message)
        log.warning("pod %s: %s", uid, message)
        made = await self.pod_state(uid)
        with contextlib.suppress(Exception):
            for container in made.containers:
                await self.runtime.remove_container(container.id)
            await self.runtime.stop_pod_sandbox(sandbox.id)
            await self.runtime.remove_pod_sandbox(sandbox.id)
        return SyncResult()

    async def _network_ready(self, uid: str) -> None:
        """Wait for the pod's network when its setup is under way; raises its error."""
        networking = self._networking.get(uid)
        if networking is not None:
            await asyncio.shield(networking)

    async def _sync_in_sandbox(self, pod: Obj, sandbox: PodSandbox, state: PodRuntimeState,
                               result: SyncResult) -> None:
        spec = pod.get("spec") or {}
        result.sandbox_ready = True
        try:
            await self.volumes.setup(pod)
        except Exception as err:
            self.events(pod, "Warning", "FailedMount", str(err))
            for container in all_containers(spec):
                result.errors[container["name"]] = SyncError("ContainerCreating", "")
            return
        await self._start_ephemeral_containers(pod, sandbox, state, result)
        policy = spec.get("restartPolicy") or "Always"
        if not await self._sync_init_containers(pod, sandbox, state, policy, result):
            return
        for container in spec.get("containers") or ():
            await self._sync_container(pod, sandbox, state, container, policy, result)

    async def _start_ephemeral_containers(self, pod: Obj, sandbox: PodSandbox,
                                          state: PodRuntimeState, result: SyncResult) -> None:
        """Upstream's EphemeralContainersToStart: those with no instance at all."""
        for container in (pod.get("spec") or {}).get("ephemeralContainers") or ():
            name = container["name"]
            if state.instances(name):
                continue
            target = str(container.get("targetContainerName") or "")
            targets = state.instances(target) if target else []
            if target and not targets:
                result.errors[name] = SyncError("CreateContainerConfigError",
                                                f'container "{target}" not found')
                continue
            error = await self.start_container(pod, sandbox, container, 0,
                                               pid_target=targets[0].id if targets else "")
            if error is not None:
                result.errors[name] = error

    async def _sync_init_containers(self, pod: Obj, sandbox: PodSandbox,
                                    state: PodRuntimeState, policy: str,
                                    result: SyncResult) -> bool:
        """Advance the init sequence; True once every regular init container succeeded
        and every sidecar has started."""
        for container in (pod.get("spec") or {}).get("initContainers") or ():
            name = container["name"]
            instances = state.instances(name)
            newest = instances[0] if instances else None
            if is_sidecar(container):
                await self._sync_container(pod, sandbox, state, container, "Always", result)
                continue
            if newest is not None and newest.state is ContainerState.CONTAINER_EXITED and \
                    newest.exit_code == 0:
                continue
            if newest is not None and newest.state in (ContainerState.CONTAINER_RUNNING,
                                                       ContainerState.CONTAINER_CREATED):
                return False
            if newest is not None and policy == "Never":
                return False  # failed for good: the pod fails
            await self._sync_container(pod, sandbox, state, container, "Always", result)
            return False
        return True

    async def _sync_container(self, pod: Obj, sandbox: PodSandbox, state: PodRuntimeState,
                              container: Obj, policy: str, result: SyncResult) -> None:
        name = container["name"]
        uid = str(pod["metadata"]["uid"])
        instances = state.instances(name)
        newest = instances[0] if instances else None
        if newest is not None and newest.state is ContainerState.CONTAINER_RUNNING:
            condemned = name in self.condemned.get(uid, set())
            changed = newest.annotations.get(specs.ANNOTATION_HASH) != \
                specs.container_hash(container)
            if not condemned and not changed:
                return
            reason = "failed liveness probe" if condemned else "definition changed"
            self.events(pod, "Normal", "Killing",
                        f"Container {name} {reason}, will be restarted")
            await self._stop(pod, container, newest, grace_period(pod))
            self.condemned.get(uid, set()).discard(name)
            newest = await self.runtime.container_status(newest.id)
            if not _should_restart(policy, newest) and not changed:
                return
        if newest is not None and newest.state is ContainerState.CONTAINER_CREATED:
            await self.runtime.remove_container(newest.id)
        elif newest is not None and newest.state is ContainerState.CONTAINER_EXITED:
            if not _should_restart(policy, newest):
                return
            key = f"{uid}/{name}"
            finished = newest.finished_at / 1e9 if newest.finished_at else time.time()
            wait = self.crash_backoff.in_backoff(key, finished)
            if wait > 0:
                delay = self.crash_backoff.current(key)
                meta = pod["metadata"]
                message = (f"back-off {_duration(delay)} restarting failed container={name} "
                           f"pod={meta['name']}_{meta['namespace']}({uid})")
                result.errors[name] = SyncError("CrashLoopBackOff", message)
                self.events(pod, "Warning", "BackOff",
                            f"Back-off restarting failed container {name} in pod "
                            f"{meta['name']}_{meta['namespace']}({uid})")
                return
            self.crash_backoff.next(key)
        attempt = newest.attempt + 1 if newest is not None else 0
        error = await self.start_container(pod, sandbox, container, attempt)
        if error is not None:
            result.errors[name] = error

    # -- sandbox ------------------------------------------------------------------------

    async def _create_sandbox(self, pod: Obj, attempt: int) -> PodSandbox:
        spec = pod.get("spec") or {}
        uid = str(pod["metadata"]["uid"])
        host_network = bool(spec.get("hostNetwork"))
        log_dir = specs.pod_log_dir(self.log_root, pod)
        log_dir.mkdir(parents=True, exist_ok=True)
        config = SandboxConfig(
            name=str(pod["metadata"]["name"]), namespace=str(pod["metadata"]["namespace"]),
            uid=uid, attempt=attempt, hostname=specs.hostname(pod), host_network=host_network,
            dns=specs.dns_config(pod, cluster_dns=self.cluster_dns,
                                 cluster_domain=self.cluster_domain),
            cgroup_parent=specs.cgroup_parent(self.cgroup_root, pod),
            log_directory=str(log_dir), labels=specs.pod_labels(pod),
            annotations={specs.ANNOTATION_GRACE: str(grace_period(pod))})
        sandbox_id = await self.runtime.run_pod_sandbox(config)
        self.index.add_sandbox(uid, sandbox_id)
        pod_dir = self._pod_dir(uid)
        pod_dir.mkdir(parents=True, exist_ok=True)
        (pod_dir / "ips.json").unlink(missing_ok=True)
        if host_network:
            (pod_dir / "ips.json").write_text("[]")
        else:
            # The file is bind-mounted at container create: its content is completed
            # in place once the pod's IPs are known.
            (pod_dir / "etc-hosts").write_text(specs.hosts_file(pod, [], self.cluster_domain))
            self._networking[uid] = asyncio.create_task(
                self._set_up_network(pod, sandbox_id), name=f"cni-add-{uid}")
        return await self.runtime.pod_sandbox_status(sandbox_id)

    async def _set_up_network(self, pod: Obj, sandbox_id: SandboxId) -> None:
        """CNI ADD for the sandbox, then the pod's /etc/hosts and `ips.json` (last: the
        mark that the network is complete)."""
        ips = await self.network.setup(sandbox_id, self.runtime.sandbox_netns_path(sandbox_id),
                                       pod)
        pod_dir = self._pod_dir(str(pod["metadata"]["uid"]))
        # Truncated and written in place: the same inode, which containers have mounted.
        (pod_dir / "etc-hosts").write_text(specs.hosts_file(pod, ips, self.cluster_domain))
        (pod_dir / "ips.json").write_text(json.dumps(ips))

    # -- containers ---------------------------------------------------------------------

    async def _image(self, pod: Obj, container: Obj) -> ImageLike:
        """The container's image, pulled as its imagePullPolicy says; raises ImageError
        (its `reason` is the waiting reason) or _BackOffPulling."""
        ref = str(container.get("image") or "")
        uid = str(pod["metadata"]["uid"])
        parse_reference(ref)
        policy = container.get("imagePullPolicy") or default_pull_policy(ref)
        present = self.images.get(ref)
        if not should_pull(policy, present is not None):
            if present is None:
                raise ImageNeverPullError(ref)
            self.events(pod, "Normal", "Pulled",
                        f'Container image "{ref}" already present on machine')
            return present
        key = f"{uid}/{ref}"
        failed_at = self._pull_failed_at.get(key)
        if failed_at is not None and self.pull_backoff.in_backoff(key, failed_at) > 0:
            raise _BackOffPulling(f'Back-off pulling image "{ref}"')
        self.events(pod, "Normal", "Pulling", f'Pulling image "{ref}"')
        started = time.monotonic()
        try:
            image = await self.images.pull_for_pod(ref, pod)
        except ImageError as err:
            self._pull_failed_at[key] = time.time()
            self.pull_backoff.next(key)
            raise ImagePullError(f'Failed to pull image "{ref}": {err}') from err
        self._pull_failed_at.pop(key, None)
        self.pull_backoff.reset(key)
        took = time.monotonic() - started
        self.events(pod, "Normal", "Pulled",
                    f'Successfully pulled image "{ref}" in {took:.3f}s '
                    f"({took:.3f}s including waiting)")
        return image

    async def start_container(self, pod: Obj, sandbox: PodSandbox, container: Obj,
                              attempt: int, *, pid_target: str = "") -> SyncError | None:
        name = container["name"]
        try:
            image = await self._image(pod, container)
        except _BackOffPulling as err:
            self.events(pod, "Normal", "BackOff", str(err))
            return SyncError("ImagePullBackOff", str(err))
        except ImageError as err:
            event = {"ErrImagePull": "Failed", "InvalidImageName": "InspectFailed"}.get(
                err.reason, err.reason)
            self.events(pod, "Warning", event, str(err))
            return SyncError(err.reason, str(err))
        try:
            config = await self._container_config(pod, container, attempt, image, pid_target)
        except ContainerConfigError as err:
            self.events(pod, "Warning", "Failed", f"Error: {err}")
            return SyncError("CreateContainerConfigError", str(err))
        try:
            created = await self.runtime.create_container(sandbox.id, config)
        except CRIError as err:
            self.events(pod, "Warning", "Failed", f"Error: {err}")
            return SyncError("CreateContainerError", str(err))
        self.index.add_container(str(pod["metadata"]["uid"]), created)
        self.events(pod, "Normal", "Created", f"Created container: {name}")
        await self._network_ready(str(pod["metadata"]["uid"]))
        try:
            await self.runtime.start_container(created)
        except CRIError as err:
            self.events(pod, "Warning", "Failed", f"Error: {err}")
            return SyncError("RunContainerError", str(err))
        self.events(pod, "Normal", "Started", f"Started container {name}")
        await self._post_start(pod, container, created)
        return None

    async def _run_hook(self, pod: Obj, container: Obj, container_id: ContainerId,
                        hook: Obj, limit: float) -> str | None:
        """Run a lifecycle hook (exec, httpGet or sleep) for at most `limit` seconds; its
        failure message, or None."""
        if hook.get("exec"):
            try:
                outcome = await self.runtime.exec_sync(
                    container_id, list(hook["exec"].get("command") or ()), limit)
            except CRIError as err:
                return str(err)
            if outcome.exit_code != 0:
                output = (outcome.stdout + outcome.stderr).decode(errors="replace")
                return (f"command {list(hook['exec'].get('command') or ())!r} exited with "
                        f"{outcome.exit_code}: {output}")
        elif hook.get("httpGet"):
            ips = self.pod_ips(str(pod["metadata"]["uid"]))
            target = ProbeTarget(container_id, 0.0, ips[0] if ips else "127.0.0.1")
            ok, output = await run_probe(self.runtime, {"httpGet": hook["httpGet"],
                                                        "timeoutSeconds": limit},
                                         container, target)
            if not ok:
                return output
        elif hook.get("sleep"):
            await asyncio.sleep(min(limit, float(hook["sleep"].get("seconds") or 0)))
        return None

    async def _post_start(self, pod: Obj, container: Obj, created: ContainerId) -> None:
        hook = (container.get("lifecycle") or {}).get("postStart")
        if not hook:
            return
        failure = await self._run_hook(pod, container, created, hook, grace_period(pod))
        if failure is not None:
            self.events(pod, "Warning", "FailedPostStartHook",
                        f"PostStartHook failed: {failure}".strip())

    async def _container_config(self, pod: Obj, container: Obj, attempt: int,
                                image: ImageLike, pid_target: str = "") -> ContainerConfig:
        uid = str(pod["metadata"]["uid"])
        spec = pod.get("spec") or {}
        pod_dir = self._pod_dir(uid)
        if specs.names_pod_ip(container):
            await self._network_ready(uid)
        try:
            env = await self.volumes.env(pod, container, self.pod_ips(uid))
            mounts = list(self.volumes.mounts(pod, container, env))
        except Exception as err:  # the env and volume modules' own errors
            raise ContainerConfigError(str(err)) from err
        if not spec.get("hostNetwork") and (pod_dir / "etc-hosts").exists():
            mounts.append(Mount("/etc/hosts", str(pod_dir / "etc-hosts")))
        termination_path = container.get("terminationMessagePath") or \
            DEFAULT_TERMINATION_MESSAGE_PATH
        termination_file = pod_dir / "containers" / container["name"] / f"{attempt}.term"
        termination_file.parent.mkdir(parents=True, exist_ok=True)
        termination_file.write_text("")
        mounts.append(Mount(termination_path, str(termination_file)))
        return ContainerConfig(
            name=container["name"], image=str(container.get("image") or ""),
            image_layers=image.layer_dirs, image_config=image.config, attempt=attempt,
            command=tuple(container.get("command") or ()),
            args=tuple(container.get("args") or ()), env=tuple(env),
            working_dir=str(container.get("workingDir") or ""), mounts=tuple(mounts),
            resources=specs.resources(pod, container, memory_capacity=self.memory_capacity,
                                      pids_limit=self.pids_limit),
            security=specs.security_context(pod, container,
                                            str(image.config.get("User") or "")),
            tty=bool(container.get("tty")), stdin=bool(container.get("stdin")),
            stdin_once=bool(container.get("stdinOnce")),
            log_path=specs.container_log_path(container["name"], attempt),
            labels=specs.container_labels(pod, container),
            annotations={specs.ANNOTATION_RESTART_COUNT: str(attempt),
                         specs.ANNOTATION_HASH: specs.container_hash(container),
                         specs.ANNOTATION_TERMINATION_LOG: str(termination_file)},
            pid_target=pid_target)

    def termination_message(self, pod: Obj, container: Obj, status: ContainerStatus) -> str:
        """What the container wrote to its termination log (or its log's tail on error,
        with FallbackToLogsOnError)."""
        path = status.annotations.get(specs.ANNOTATION_TERMINATION_LOG)
        text = ""
        if path:
            with contextlib.suppress(OSError):
                text = Path(path).read_bytes()[:MAX_TERMINATION_MESSAGE].decode(
                    errors="replace")
        if not text and status.exit_code != 0 and \
                container.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            text = _log_tail(Path(status.log_path), FALLBACK_LOG_LINES)
        return text

    # -- stopping -----------------------------------------------------------------------

    async def _stop(self, pod: Obj, container: Obj | None, status: ContainerStatus,
                    grace: float) -> None:
        started = time.monotonic()
        hook = ((container or {}).get("lifecycle") or {}).get("preStop")
        if hook and grace > 0 and container is not None:
            try:
                failure = await asyncio.wait_for(
                    self._run_hook(pod, container, status.id, hook, grace), grace)
            except TimeoutError:
                failure = f"the hook did not finish within {grace:g}s"
            if failure is not None:
                self.events(pod, "Warning", "FailedPreStopHook",
                            f"PreStopHook failed: {failure}".strip())
        remaining = max(2.0 if grace > 0 else 0.0, grace - (time.monotonic() - started))
        await self.runtime.stop_container(status.id, remaining)

    async def _kill_all(self, pod: Obj, state: PodRuntimeState, grace: float) -> None:
        spec = pod.get("spec") or {}
        by_name = {c["name"]: c for c in all_containers(spec)}
        running = state.running()
        regular = [c for c in running if not is_sidecar(by_name.get(c.name, {}))]
        sidecars = [c for c in running if c not in regular]
        for group in (regular, sidecars):  # sidecars stop after the main containers
            await asyncio.gather(*(self._announce_and_stop(pod, by_name.get(c.name), c, grace)
                                   for c in group), return_exceptions=True)
        for sandbox in state.sandboxes:
            if sandbox.state is SandboxState.SANDBOX_READY:
                if sandbox.netns_path:
                    with contextlib.suppress(Exception):
                        await self.network.teardown(sandbox.id, sandbox.netns_path, pod)
                await self.runtime.stop_pod_sandbox(sandbox.id)

    async def _announce_and_stop(self, pod: Obj, container: Obj | None,
                                 status: ContainerStatus, grace: float) -> None:
        self.events(pod, "Normal", "Killing", f"Stopping container {status.name}")
        await self._stop(pod, container, status, grace)

    async def kill_pod(self, pod: Obj, grace: float) -> None:
        """Stop everything the pod runs (grace period, preStop hooks) and its network."""
        state = await self.pod_state(str(pod["metadata"]["uid"]))
        await self._kill_all(pod, state, grace)

    async def release_volumes(self, pod: Obj) -> None:
        """Unmount and remove the stopped pod's volumes."""
        await self.volumes.teardown(pod)

    async def remove_pod(self, pod: Obj) -> None:
        """Remove the stopped pod's containers, sandboxes, volumes and directories."""
        uid = str(pod["metadata"]["uid"])
        state = await self.pod_state(uid)
        await self._kill_all(pod, state, 0)
        for status in state.containers:
            with contextlib.suppress(CRIError):
                await self.runtime.remove_container(status.id)
        for sandbox in state.sandboxes:
            with contextlib.suppress(CRIError):
                await self.runtime.remove_pod_sandbox(sandbox.id)
        await self.volumes.teardown(pod)
        self.crash_backoff.forget_prefix(f"{uid}/")
        self.condemned.pop(uid, None)
        self.index.forget(uid)
        await spawn.blocking(_remove_tree, self._pod_dir(uid))

    async def aclose(self) -> None:
        """The kubelet is stopping: the services' background work stops (the containers
        keep running)."""
        await self.volumes.aclose()

    async def orphaned_pod_uids(self, known: Callable[[str], bool]) -> set[str]:
        """Uids the runtime holds that `known` does not recognise (pods deleted while
        the kubelet was away)."""
        return {uid for uid in await self.index.uids() if not known(uid)}


class _BackOffPulling(Exception):
    pass


def grace_period(pod: Mapping[str, Any]) -> float:
    """The seconds a pod's containers get to stop: the deletion's, else the spec's (30)."""
    meta = pod.get("metadata") or {}
    if meta.get("deletionGracePeriodSeconds") is not None:
        return float(meta["deletionGracePeriodSeconds"])
    value = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return float(30 if value is None else value)


def _duration(seconds: float) -> str:
    """Go's Duration.String() for whole seconds and minutes: 10s, 40s, 1m20s, 5m0s."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    return f"{whole // 60}m{whole % 60}s"


def _log_tail(path: Path, lines: int) -> str:
    try:
        raw = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    out = []
    for line in raw:  # CRI format: <time> <stream> <tag> <content>
        parts = line.split(" ", 3)
        out.append(parts[3] if len(parts) == 4 else line)
    return "\n".join(out)


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)

