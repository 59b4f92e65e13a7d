"""Pod sandboxes without a pause container: namespaces pinned by bind mounts.

A sandbox is what a pod's containers share: the network, IPC and UTS namespaces, a
`/dev/shm` tmpfs, the generated `/etc/resolv.conf`, `/etc/hostname` and `/etc/hosts`, and
the pod's cgroup parent. Upstream runtimes keep the namespaces alive with a pause process;
here a short-lived thread unshares them, sets the hostname and bind-mounts each onto a
file, which keeps it alive with no process at all (as `ip netns` does), and /dev/shm is
mounted by mount(2): system calls, not a process per step (`kubelet.syscalls`). Containers
then join the namespaces by path in their OCI spec, and CNI configures the network
namespace through the same path (`netns_path`).

hostNetwork pods use the host's network and UTS namespaces (upstream: the pod's hostname is
the node's) and still get their own IPC namespace.

The loopback interface is brought up here, in the same thread (as containerd's CRI plugin
does for every sandbox with `use_internal_loopback`: no CNI loopback plugin runs);
everything else about the pod network belongs to CNI (`kubelet/network/`).
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from kybernetes.kubelet import syscalls
from kybernetes.kubelet.runtime.cri import DNSConfig, SandboxConfig
from kybernetes.kubelet.runtime.runc.proc import umount

SHM_SIZE = 64 * 1024 * 1024  # containerd's default /dev/shm size
NAMESPACES = ("net", "ipc", "uts")


def resolv_conf(dns: DNSConfig | None) -> str:
    """The pod's resolv.conf; without a DNS config, the host's (as upstream's Default)."""
    if dns is None:
        try:
            return Path("/etc/resolv.conf").read_text()
        except OSError:
            return ""
    lines = [f"nameserver {s}" for s in dns.servers]
    if dns.searches:
        lines.append("search " + " ".join(dns.searches))
    if dns.options:
        lines.append("options " + " ".join(dns.options))
    return "".join(line + "\n" for line in lines)


def hosts_file(hostname: str) -> str:
    """A default /etc/hosts (the kubelet mounts its managed one over it when it has one)."""
    return ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            f"127.0.1.1\t{hostname}\n" if hostname else
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")


@functools.cache
def _cgroup_mounts() -> tuple[tuple[str, str], ...]:
    """(mount point, hierarchy key: "" for cgroup2, else its controllers) of every mounted
    cgroup hierarchy, read once: the node's mount table grows by a few mounts per pod, and
    its cgroup mounts do not change while the kubelet runs."""
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, post = line.split(" - ", 1)
            fstype, _, super_opts = post.split()[:3]
            if fstype == "cgroup2":
                key = ""
            elif fstype == "cgroup":
                key = ",".join(o for o in super_opts.split(",") if o not in ("rw", "ro"))
            else:
                continue
            mounts.append((pre.split()[4], key))
    return tuple(mounts)


def cgroup_dirs(path: str) -> Iterator[Path]:
    """The directories `path` names in every mounted cgroup hierarchy, resolved the way
    runc resolves a container's cgroupsPath: an absolute path from each hierarchy's root, a
    relative one under the caller's own cgroup in that hierarchy."""
    own: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, cg = line.rstrip("\n").split(":", 2)
            own[controllers] = cg
    for mountpoint, key in _cgroup_mounts():
        base = "/" if path.startswith("/") else own.get(key, "/")
        yield Path(mountpoint + "/" + (base.strip("/") + "/" + path.strip("/")).strip("/"))


def remove_cgroup(path: str) -> None:
    """Remove the pod's cgroup and anything left under it (all must be empty of tasks),
    deepest first. Only directories are looked at (a walk by directory entry types: a
    cgroup holds dozens of control files, none of them worth a stat)."""
    for d in cgroup_dirs(path):
        if not d.is_dir():
            continue
        for parent, subdirs, _ in os.walk(d, topdown=False):
            for sub in subdirs:
                os.rmdir(os.path.join(parent, sub))
        d.rmdir()


async def create(config: SandboxConfig, data_dir: Path, run_dir: Path) -> None:
    """Set up the sandbox's files, namespaces, /dev/shm and cgroup parent."""
    data_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (small local files)
    hostname = config.hostname or config.name
    (data_dir / "resolv.conf").write_text(resolv_conf(config.dns))
    (data_dir / "hostname").write_text(hostname + "\n")
    (data_dir / "hosts").write_text(hosts_file(hostname))
    ns_dir = run_dir / "ns"
    ns_dir.mkdir(parents=True, exist_ok=True)
    shm = run_dir / "shm"
    shm.mkdir(exist_ok=True)
    syscalls.mount("shm", str(shm), "tmpfs",
                   syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC,
                   f"mode=1777,size={SHM_SIZE}")
    pinned = ("ipc",) if config.host_network else NAMESPACES
    await syscalls.pin_namespaces([(ns, ns_dir / ns) for ns in pinned],
                                  "" if config.host_network else hostname)
    if config.cgroup_parent:
        for d in cgroup_dirs(config.cgroup_parent):
            d.mkdir(parents=True, exist_ok=True)


def destroy(config: SandboxConfig, data_dir: Path, run_dir: Path) -> None:
    """Undo `create`; safe on a half-created sandbox and when called twice. Blocking
    (unmounts, file trees): called in `spawn.blocking`."""
    for ns in NAMESPACES:
        umount(str(run_dir / "ns" / ns))
    umount(str(run_dir / "shm"))
    if config.cgroup_parent:
        remove_cgroup(config.cgroup_parent)
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.rmtree(data_dir, ignore_errors=True)


def netns_path(config: SandboxConfig, run_dir: Path) -> str:
    return "" if config.host_network else str(run_dir / "ns" / "net")
