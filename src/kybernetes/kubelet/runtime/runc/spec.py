"""The OCI runtime spec (`config.json`) runc runs a container from.

Built from the ContainerConfig and its sandbox the way containerd's CRI plugin builds it:

- process: argv from `resolve_command`, env = image Env + HOSTNAME + the container's env (later
  wins), cwd = workingDir or the image's WorkingDir or "/", the user from runAsUser /
  runAsGroup or the image's `User` (names looked up in the image's /etc/passwd and
  /etc/group), containerd's default capability set with the pod's add/drop applied,
  noNewPrivileges, oomScoreAdj.
- namespaces: a new pid and mount namespace per container; net, ipc and uts joined from the
  sandbox by path (hostNetwork pods stay in the host's net and uts). A container with a
  `pid_target` joins that container's pid namespace instead (`pid_ns`, its /proc path).
- mounts: proc, a tmpfs /dev, devpts, mqueue, sysfs and a read-only cgroup view, the
  sandbox's /dev/shm, /etc/hosts, /etc/hostname and /etc/resolv.conf, then the container's
  own bind mounts (a mount on the same path replaces a default one).
- linux.resources: cpu shares/quota/period, memory limit, pids limit; devices denied but
  runc's defaults; masked and read-only /proc paths as containerd's; cgroupsPath =
  `<sandbox cgroup parent>/<container id>`.

`privileged` grants every capability the kubelet has, lifts the masked paths and the device
rule, and mounts sysfs read-write; host devices are not populated into /dev.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kybernetes.kubelet.runtime.cri import (
    ContainerConfig,
    CreateContainerError,
    SandboxConfig,
    resolve_command,
)

Obj = dict[str, Any]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# containerd's oci.defaultUnixCaps.
DEFAULT_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)

# Every capability of Linux 5.9+, in number order (capability.h).
ALL_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)

MASKED_PATHS = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
    "/sys/devices/virtual/powercap", "/proc/scsi",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def current_capabilities() -> list[str]:
    """The capabilities this process may grant: its bounding set (a container cannot get
    more, so "all" means these, as containerd's WithAllCurrentCapabilities)."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("CapBnd:"))
    mask = int(line.split()[1], 16)
    return [c for bit, c in enumerate(ALL_CAPABILITIES) if mask >> bit & 1]


def capabilities(add: tuple[str, ...], drop: tuple[str, ...], privileged: bool) -> list[str]:
    """containerd's default set, then drop, then add; privileged or an added "ALL" means
    every capability we have."""
    def norm(name: str) -> str:
        name = name.upper()
        return name if name == "ALL" or name.startswith("CAP_") else "CAP_" + name

    if privileged:
        return current_capabilities()
    adds, drops = {norm(c) for c in add}, {norm(c) for c in drop}
    caps = [] if "ALL" in drops else [c for c in DEFAULT_CAPABILITIES if c not in drops]
    extra = current_capabilities() if "ALL" in adds else sorted(adds)
    caps += [c for c in extra if c not in caps]
    return caps


def _entries(table: Path) -> list[list[str]]:
    """The colon-separated entries of an /etc/passwd-style file (none if it is missing)."""
    try:
        return [line.split(":") for line in table.read_text().splitlines()]
    except OSError:
        return []


def _find(table: Path, field: int, value: str) -> list[str] | None:
    return next((e for e in _entries(table) if len(e) >= 4 and e[field] == value), None)


def resolve_user(config: ContainerConfig, image_user: str, rootfs: Path) -> tuple[int, int]:
    """(uid, gid): runAsUser/runAsGroup win over the image's `User` ("uid", "name",
    "uid:gid", "name:group"). A name must exist in the image's /etc/passwd (or
    /etc/group); a numeric uid takes its primary group from /etc/passwd when listed there,
    else 0, as containerd does."""
    user, _, group = image_user.partition(":")
    if config.security.run_as_user is not None:
        user = str(config.security.run_as_user)
    passwd = rootfs / "etc/passwd"
    if user.isdigit() or not user:
        uid = int(user or 0)
        entry = _find(passwd, 2, str(uid))
    else:
        entry = _find(passwd, 0, user)
        if entry is None or not entry[2].isdigit():
            raise CreateContainerError(f"unable to find user {user}: no matching entries in "
                                       "passwd file")
        uid = int(entry[2])
    if config.security.run_as_group is not None:
        return uid, config.security.run_as_group
    if group.isdigit():
        return uid, int(group)
    if group:
        gentry = _find(rootfs / "etc/group", 0, group)
        if gentry is None or not gentry[2].isdigit():
            raise CreateContainerError(f"unable to find group {group}: no matching entries "
                                       "in group file")
        return uid, int(gentry[2])
    return uid, int(entry[3]) if entry is not None and entry[3].isdigit() else 0


def environment(config: ContainerConfig, image_env: list[str], hostname: str) -> list[str]:
    env: dict[str, str] = {}
    for item in image_env:
        key, _, value = item.partition("=")
        env[key] = value
    env.setdefault("PATH", DEFAULT_PATH)
    if hostname:
        env["HOSTNAME"] = hostname
    for key, value in config.env:
        env[key] = value
    return [f"{k}={v}" for k, v in env.items()]


def bind(destination: str, source: str, readonly: bool) -> Obj:
    return {"destination": destination, "type": "bind", "source": source,
            "options": ["rbind", "rprivate", "ro" if readonly else "rw"]}


def mounts(config: ContainerConfig, sandbox_dir: Path, shm: Path, privileged: bool) -> list[Obj]:
    sys_opts = ["nosuid", "noexec", "nodev", "rw" if privileged else "ro"]
    defaults: list[Obj] = [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        bind("/dev/shm", str(shm), False),
        bind("/etc/hosts", str(sandbox_dir / "hosts"), False),
        bind("/etc/hostname", str(sandbox_dir / "hostname"), False),
        bind("/etc/resolv.conf", str(sandbox_dir / "resolv.conf"), False),
    ]
    own = {m.container_path.rstrip("/") or "/" for m in config.mounts}
    result = [m for m in defaults if m["destination"] not in own]
    # Shallower paths first, so a volume mounted inside another lands on top of it.
    for m in sorted(config.mounts, key=lambda m: m.container_path.rstrip("/").count("/")):
        if not Path(m.host_path).exists():
            raise CreateContainerError(f"failed to mount {m.container_path}: host path "
                                       f"{m.host_path} does not exist")
        result.append(bind(m.container_path, m.host_path, m.readonly))
    return result


def resources(config: ContainerConfig, privileged: bool) -> Obj:
    r = config.resources
    out: Obj = {"devices": [{"allow": privileged, "access": "rwm"}]}
    cpu: Obj = {}
    if r.cpu_shares:
        cpu["shares"] = r.cpu_shares
    if r.cpu_quota:
        cpu["quota"] = r.cpu_quota
    if r.cpu_period:
        cpu["period"] = r.cpu_period
    if cpu:
        out["cpu"] = cpu
    if r.memory_limit_bytes:
        out["memory"] = {"limit": r.memory_limit_bytes}
    if r.pids_limit:
        out["pids"] = {"limit": r.pids_limit}
    return out


def build(
    *,
    container_id: str,
    config: ContainerConfig,
    sandbox: SandboxConfig,
    sandbox_dir: Path,
    ns_dir: Path,
    shm: Path,
    rootfs: Path,
    pid_ns: str = "",
) -> Obj:
    """The whole config.json for runc; `rootfs` must already be mounted (user names are
    looked up in it)."""
    image: Mapping[str, Any] = config.image_config
    args = resolve_command(image, config.command, config.args)
    if not args:
        raise CreateContainerError("no command specified")
    sec = config.security
    uid, gid = resolve_user(config, str(image.get("User") or ""), rootfs)
    caps = capabilities(sec.capabilities_add, sec.capabilities_drop, sec.privileged)
    hostname = sandbox.hostname or (
        os.uname().nodename if sandbox.host_network else sandbox.name)
    process: Obj = {
        "terminal": config.tty,
        "user": {"uid": uid, "gid": gid},
        "args": args,
        "env": environment(config, list(image.get("Env") or []), hostname),
        "cwd": config.working_dir or str(image.get("WorkingDir") or "") or "/",
        "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
        "noNewPrivileges": sec.no_new_privileges,
    }
    if config.resources.oom_score_adj:
        process["oomScoreAdj"] = config.resources.oom_score_adj
    pid: Obj = {"type": "pid", "path": pid_ns} if pid_ns else {"type": "pid"}
    namespaces: list[Obj] = [pid, {"type": "mount"},
                             {"type": "ipc", "path": str(ns_dir / "ipc")}]
    if not sandbox.host_network:
        namespaces += [{"type": "network", "path": str(ns_dir / "net")},
                       {"type": "uts", "path": str(ns_dir / "uts")}]
    cgroup_parent = sandbox.cgroup_parent or "kybernetes"
    linux: Obj = {
        "namespaces": namespaces,
        "resources": resources(config, sec.privileged),
        "cgroupsPath": cgroup_parent.rstrip("/") + "/" + container_id,
    }
    if not sec.privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
    return {
        "ociVersion": "1.0.2-dev",
        "process": process,
        "root": {"path": str(rootfs), "readonly": sec.readonly_rootfs},
        "mounts": mounts(config, sandbox_dir, shm, sec.privileged),
        "linux": linux,
        "annotations": {str(k): str(v) for k, v in config.annotations.items()},
    }
